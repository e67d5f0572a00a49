"""What HACS and Home Assistant check before they show the integration: license and brand images."""

from __future__ import annotations

from pathlib import Path
import tomllib

from PIL import Image
import pytest

ROOT = Path(__file__).parents[1]
BRAND = ROOT / "custom_components/printernizer/brand"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_license_is_the_mit_license_pyproject_names() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "MIT"}
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License\n")
    assert "Copyright (c) 2026 Printernizer contributors" in license_text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in license_text


@pytest.mark.parametrize(("name", "size"), [("icon.png", (256, 256)), ("icon@2x.png", (512, 512))])
def test_icons_are_square_pngs_of_the_sizes_hacs_wants(name: str, size: tuple[int, int]) -> None:
    path = BRAND / name
    assert path.read_bytes().startswith(PNG_SIGNATURE)  # a PNG, not a renamed JPEG
    with Image.open(path) as image:
        image.verify()  # the whole file decodes (no truncated chunk, CRCs right)
    with Image.open(path) as image:
        assert (image.format, image.size, image.mode) == ("PNG", size, "RGBA")
        drawn(image)


def test_logo_is_a_landscape_png_of_a_height_home_assistant_accepts() -> None:
    path = BRAND / "logo.png"
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        assert image.format == "PNG"
        assert 128 <= height <= 256  # the shortest side, per the brands guidelines
        assert width > height
        drawn(image)


def drawn(image: Image.Image) -> None:
    """A glyph on a transparent background: not a blank or filled square."""
    alpha = image.getchannel("A")
    corners = [(0, 0), (image.width - 1, 0), (0, image.height - 1)]
    assert all(alpha.getpixel(corner) == 0 for corner in corners)
    histogram = alpha.histogram()
    opaque = sum(histogram[128:]) / (image.width * image.height)
    assert 0.15 < opaque < 0.8
    colours = image.convert("RGB").getcolors(maxcolors=1 << 16) or []
    assert len([count for count, _ in colours if count > 200]) >= 3  # body, hot tip, layers
