"""A real timelapse for the simulated SD card: a small Motion-JPEG AVI, as P1/A1 printers write.

The frames are generated JPEGs (a layer count rising), wrapped in a RIFF AVI with one video
stream and an `idx1` index, which media players and browsers' download handlers accept. The
printer also keeps a JPEG cover in `/timelapse/thumbnail/<name>.jpg`; so does this.
"""

from __future__ import annotations

import io
from pathlib import Path
import struct

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 160, 120
_KEYFRAME = 0x10
_HAS_INDEX = 0x10


def frames(count: int, *, width: int = WIDTH, height: int = HEIGHT) -> list[bytes]:
    """`count` distinct JPEGs: a print growing layer by layer (blocking: PIL)."""
    images: list[bytes] = []
    for index in range(count):
        image = Image.new("RGB", (width, height), (24, 24, 32))
        draw = ImageDraw.Draw(image)
        top = height - 10 - int((height - 30) * (index + 1) / count)
        draw.rectangle((width // 3, top, 2 * width // 3, height - 10), fill=(230, 120, 30))
        draw.text((4, 4), f"layer {index + 1}/{count}", fill=(240, 240, 240))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=80)
        images.append(buffer.getvalue())
    return images


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    pad = b"\0" if len(data) % 2 else b""
    return fourcc + struct.pack("<I", len(data)) + data + pad


def _list(kind: bytes, data: bytes) -> bytes:
    return _chunk(b"LIST", kind + data)


def mjpeg_avi(
    jpegs: list[bytes], *, fps: int = 10, width: int = WIDTH, height: int = HEIGHT
) -> bytes:
    """An AVI 1.0 file with one MJPG video stream holding `jpegs` as key frames."""
    largest = max((len(j) for j in jpegs), default=0)
    avih = struct.pack(
        "<10I16x",
        1_000_000 // fps,
        largest * fps,
        0,
        _HAS_INDEX,
        len(jpegs),
        0,
        1,
        largest,
        width,
        height,
    )
    strh = struct.pack(
        "<4s4sIHHIIIIIIiI4h",
        b"vids",
        b"MJPG",
        0,
        0,
        0,
        0,
        1,
        fps,
        0,
        len(jpegs),
        largest,
        -1,
        0,
        0,
        0,
        width,
        height,
    )
    strf = struct.pack(
        "<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0
    )
    header = _list(
        b"hdrl",
        _chunk(b"avih", avih) + _list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf)),
    )
    movi = bytearray()
    index = bytearray()
    for jpeg in jpegs:
        # Offsets count from the "movi" fourcc, as players read them.
        index += struct.pack("<4sIII", b"00dc", _KEYFRAME, 4 + len(movi), len(jpeg))
        movi += _chunk(b"00dc", jpeg)
    body = header + _list(b"movi", bytes(movi)) + _chunk(b"idx1", bytes(index))
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"AVI " + body


def write_timelapse(sdcard: Path, name: str, *, count: int = 12) -> Path:
    """Write `/timelapse/<name>.avi` and its cover `/timelapse/thumbnail/<name>.jpg`."""
    jpegs = frames(count)
    folder = sdcard / "timelapse"
    (folder / "thumbnail").mkdir(parents=True, exist_ok=True)
    video = folder / f"{name}.avi"
    video.write_bytes(mjpeg_avi(jpegs))
    (folder / "thumbnail" / f"{name}.jpg").write_bytes(jpegs[-1])
    return video
