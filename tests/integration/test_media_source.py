"""The media browser: Printernizer -> printer -> month -> file, served only from the files root.

Local copies are laid out on disk as the file manager writes them; the simulated P1S is the
loaded printer whose name the browser shows. Hostile identifiers and URLs (traversal, partial
downloads, dot files, symlinks out of the root, a symlinked printer folder) never list or serve
anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
import io
import os
from pathlib import Path
from typing import Any
import zipfile

from homeassistant.components import media_source
from homeassistant.components.http.auth import async_sign_path
from homeassistant.components.media_player.errors import BrowseError
from homeassistant.components.media_source import Unresolvable
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.printernizer.const import DOMAIN
from simulator.bambu.printer import BambuSimulator

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # enough to be recognised as a PNG
VIDEO = b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096)
SECRET = "password: hunter2-not-served\n"
_DAY = timedelta(days=1)


def threemf(thumbnail: bytes) -> bytes:
    """A minimal sliced 3MF carrying a plate thumbnail."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Metadata/plate_1.png", thumbnail)
        archive.writestr("3D/3dmodel.model", "<model/>")
    return buffer.getvalue()


@pytest.fixture
async def files(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator, tmp_path: Path
) -> AsyncIterator[Path]:
    """The printer loaded, media_source set up, and a printer folder with local copies."""
    hass.config.config_dir = str(tmp_path / "config")
    assert await async_setup_component(hass, "media_source", {})
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    root = Path(hass.config.path(DOMAIN, "files"))
    printer = root / bambu_sim.serial
    (printer / "2026-11").mkdir(parents=True)
    (printer / "2026-12").mkdir()
    (printer / "2026-11" / "Benchy.mp4").write_bytes(VIDEO)
    (printer / "2026-12" / "Benchy.3mf").write_bytes(threemf(PNG))
    (printer / "2026-12" / "cover.png").write_bytes(PNG)
    (printer / "2026-12" / ".Benchy.3mf.0123abcd.part").write_bytes(b"half")
    (printer / "2026-12" / ".hidden").write_text("x")
    (printer / "2026-12" / "subfolder").mkdir()
    secret = Path(hass.config.path("secrets.yaml"))
    secret.write_text(SECRET)
    (printer / "2026-12" / "link.mp4").symlink_to(secret)
    (printer / "not-a-month").mkdir()
    # A printer folder that is a symlink to somewhere else is neither listed nor served.
    outside = tmp_path / "outside" / "2026-12"
    outside.mkdir(parents=True)
    (outside / "stolen.mp4").write_bytes(VIDEO)
    (root / "EVIL").symlink_to(outside.parent)
    (printer / "2026-10").symlink_to(outside)  # a month folder that is a symlink: the same
    yield printer
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def browse(hass: HomeAssistant, identifier: str = "") -> Any:
    uri = f"media-source://{DOMAIN}" + (f"/{identifier}" if identifier else "")
    return await media_source.async_browse_media(hass, uri)


async def resolve(hass: HomeAssistant, identifier: str) -> media_source.PlayMedia:
    return await media_source.async_resolve_media(
        hass, f"media-source://{DOMAIN}/{identifier}", None
    )


async def test_tree_printer_month_file(
    hass: HomeAssistant, files: Path, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    serial = bambu_sim.serial
    root = await browse(hass)
    assert root.title == "Printernizer"
    assert [(child.identifier, child.title) for child in root.children] == [
        (serial, bambu_entry.title)
    ]
    assert all(child.can_expand and not child.can_play for child in root.children)

    printer = await browse(hass, serial)
    assert printer.title == bambu_entry.title
    assert [child.title for child in printer.children] == ["2026-12", "2026-11"]

    december = await browse(hass, f"{serial}/2026-12")
    shown = {child.title: child for child in december.children}
    assert set(shown) == {"Benchy.3mf", "cover.png"}  # no partial, dot file, folder, symlink
    assert shown["Benchy.3mf"].can_play is False
    assert shown["Benchy.3mf"].thumbnail.endswith(f"/{serial}/2026-12/Benchy.3mf")
    assert shown["cover.png"].can_play is True
    assert shown["cover.png"].media_content_type == "image/png"

    november = await browse(hass, f"{serial}/2026-11")
    (video,) = november.children
    assert (video.title, video.can_play, video.media_content_type) == (
        "Benchy.mp4",
        True,
        "video/mp4",
    )
    assert video.media_content_id == f"media-source://{DOMAIN}/{serial}/2026-11/Benchy.mp4"


async def test_timelapse_plays_for_a_signed_in_user_only(
    hass: HomeAssistant,
    files: Path,
    bambu_sim: BambuSimulator,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    media = await resolve(hass, f"{bambu_sim.serial}/2026-11/Benchy.mp4")
    assert media.mime_type == "video/mp4"
    client = await hass_client()
    response = await client.get(media.url)
    assert response.status == 200
    assert await response.read() == VIDEO
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Content-Disposition"].startswith("inline")
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get(media.url)).status == 401
    # What the frontend gets: the path signed (as media_source's websocket signs it).
    signed = await anonymous.get(async_sign_path(hass, media.url, _DAY))
    assert signed.status == 200
    assert await signed.read() == VIDEO


async def test_thumbnails(
    hass: HomeAssistant, files: Path, bambu_sim: BambuSimulator, hass_client: ClientSessionGenerator
) -> None:
    december = await browse(hass, f"{bambu_sim.serial}/2026-12")
    thumbnails = {child.title: child.thumbnail for child in december.children}
    client = await hass_client()
    for name in ("Benchy.3mf", "cover.png"):
        response = await client.get(thumbnails[name])
        assert response.status == 200, name
        assert await response.read() == PNG
        assert response.headers["Content-Type"] == "image/png"
    # A 3MF without a plate image, and a damaged one, have none: 404, not an error.
    (files / "2026-12" / "plain.3mf").write_bytes(threemf(b"not a png"))
    (files / "2026-12" / "broken.3mf").write_bytes(b"PK\x03\x04 not a zip")
    base = thumbnails["cover.png"].rsplit("/", 1)[0]
    for name in ("plain.3mf", "broken.3mf", "missing.3mf"):
        assert (await client.get(f"{base}/{name}")).status == 404, name


HOSTILE_IDENTIFIERS = [
    "../../secrets.yaml",
    "{serial}/../../secrets.yaml",
    "{serial}/2026-12/../../../secrets.yaml",
    "{serial}/2026-12/link.mp4",
    "{serial}/2026-12/.Benchy.3mf.0123abcd.part",
    "{serial}/2026-12/.hidden",
    "{serial}/2026-12/subfolder",
    "{serial}/2026-12/missing.3mf",
    "{serial}/2026-12/Benchy.3mf/",
    "{serial}/2026-12/Benchy.3mf\x00.png",
    "{serial}/2026-13/Benchy.3mf",
    "{serial}/not-a-month/Benchy.3mf",
    "{serial}/2026-12",
    "{serial}",
    "",
    "/etc/passwd",
    "EVIL/2026-12/stolen.mp4",
    "{serial}/2026-10/stolen.mp4",
    ".//2026-12/Benchy.3mf",
    "{serial}/2026-12/" + "A" * 5000,
    "{serial}/2026-12/\ud800.mp4",
    "{serial}\\2026-12\\Benchy.3mf",
]


@pytest.mark.parametrize("identifier", HOSTILE_IDENTIFIERS)
async def test_hostile_identifiers_resolve_nothing(
    hass: HomeAssistant, files: Path, bambu_sim: BambuSimulator, identifier: str
) -> None:
    with pytest.raises(Unresolvable):
        await resolve(hass, identifier.format(serial=bambu_sim.serial))


@pytest.mark.parametrize(
    "identifier",
    [
        "EVIL",
        "EVIL/2026-12",
        "{serial}/2026-10",
        "..",
        "../..",
        "{serial}/..",
        "{serial}/2026-12/Benchy.3mf",
        "{serial}/not-a-month",
        "{serial}/2026-12/../../..",
        "missing-printer",
        "{serial}/2026-12/x/y",
    ],
)
async def test_hostile_identifiers_browse_nothing(
    hass: HomeAssistant, files: Path, bambu_sim: BambuSimulator, identifier: str
) -> None:
    with pytest.raises(BrowseError):
        await browse(hass, identifier.format(serial=bambu_sim.serial))


async def test_view_serves_nothing_outside_the_root(
    hass: HomeAssistant, files: Path, bambu_sim: BambuSimulator, hass_client: ClientSessionGenerator
) -> None:
    client = await hass_client()
    serial = bambu_sim.serial
    for prefix in ("/api/printernizer/files", "/api/printernizer/file_thumbnails"):
        for path in (
            f"{serial}/2026-12/link.mp4",
            f"{serial}/2026-12/.Benchy.3mf.0123abcd.part",
            f"{serial}/2026-12/.hidden",
            f"{serial}/2026-12/%2E%2E",
            f"{serial}/2026-12/..%2F..%2F..%2Fsecrets.yaml",
            f"{serial}/..%2F..%2F/secrets.yaml",
            "EVIL/2026-12/stolen.mp4",
            f"{serial}/2026-10/stolen.mp4",
            f"{serial}/2026-12/%00",
            f"{serial}/2026-12/subfolder",
            f"{serial}/.index.json/x",
            "..%2F..%2F..%2F/2026-12/secrets.yaml",
        ):
            response = await client.get(f"{prefix}/{path}")
            assert response.status in (400, 404), (prefix, path, response.status)
            assert SECRET not in await response.text()
        # Paths of more or fewer parts match no route at all.
        for path in ("secrets.yaml", f"{serial}/secrets.yaml", "../../../secrets.yaml"):
            response = await client.get(f"{prefix}/{path}")
            assert response.status in (400, 404), (prefix, path)


async def test_no_printer_folder_yet(hass: HomeAssistant, tmp_path: Path) -> None:
    """Before any download the browser shows an empty Printernizer folder, not an error."""
    hass.config.config_dir = str(tmp_path / "config")
    assert await async_setup_component(hass, "media_source", {})
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    root = await browse(hass)
    assert root.children == []
