"""Draw the brand images HACS and Home Assistant show: a hotend nozzle laying down layers.

Run with the project's venv (Pillow comes with Home Assistant): `.venv/bin/python
scripts/brand.py` writes icon.png, icon@2x.png and logo.png to custom_components/printernizer/brand.
Drawn at 4x and scaled down, so edges are smooth; the background is transparent.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).parents[1] / "custom_components/printernizer/brand"
SCALE = 4
BODY = (55, 71, 79, 255)  # slate: heater block and filament
HOT = (255, 112, 67, 255)  # orange: the hot nozzle tip and the fresh layer
LAYER = (120, 144, 156, 255)  # grey-blue: layers already printed


def glyph(size: int) -> Image.Image:
    """The nozzle glyph on a transparent square of `size` pixels."""
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return (round(x0 * big), round(y0 * big), round(x1 * big), round(y1 * big))

    # Filament entering from the top.
    draw.rounded_rectangle(box(0.44, 0.04, 0.56, 0.24), radius=big * 0.03, fill=BODY)
    # Heater block with a cooling slot.
    draw.rounded_rectangle(box(0.22, 0.20, 0.78, 0.50), radius=big * 0.06, fill=BODY)
    draw.rounded_rectangle(box(0.30, 0.31, 0.70, 0.37), radius=big * 0.02, fill=HOT)
    # The nozzle cone, narrowing to its tip.
    draw.polygon(
        [
            (0.34 * big, 0.50 * big),
            (0.66 * big, 0.50 * big),
            (0.55 * big, 0.66 * big),
            (0.45 * big, 0.66 * big),
        ],
        fill=HOT,
    )
    # The layer being laid down, and the ones below it.
    draw.rounded_rectangle(box(0.30, 0.70, 0.96, 0.77), radius=big * 0.035, fill=HOT)
    draw.rounded_rectangle(box(0.04, 0.80, 0.96, 0.87), radius=big * 0.035, fill=LAYER)
    draw.rounded_rectangle(box(0.04, 0.90, 0.96, 0.97), radius=big * 0.035, fill=LAYER)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int) -> Image.Image:
    """The glyph with the name beside it, `height` pixels high, transparent."""
    font = ImageFont.load_default(size=round(height * 0.42))
    text = "Printernizer"
    measure = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
    gap = round(height * 0.15)
    image = Image.new("RGBA", (height + gap + round(right - left), height), (0, 0, 0, 0))
    image.alpha_composite(glyph(height))
    ImageDraw.Draw(image).text(
        (height + gap - left, (height - (bottom - top)) / 2 - top), text, font=font, fill=BODY
    )
    return image


def main() -> None:
    """Write the three images."""
    BRAND.mkdir(exist_ok=True)
    glyph(256).save(BRAND / "icon.png", optimize=True)
    glyph(512).save(BRAND / "icon@2x.png", optimize=True)
    logo(256).save(BRAND / "logo.png", optimize=True)


if __name__ == "__main__":
    main()
