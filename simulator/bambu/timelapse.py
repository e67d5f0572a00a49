"""A real timelapse for the simulated SD card, in the model's container.

P1/A1 printers write a Motion-JPEG AVI (browsers cannot play it), X1/H2 an H.264 MP4. The
frames are generated JPEGs (a layer count rising); the AVI is a RIFF file with one video
stream and an `idx1` index, built here; the MP4 is encoded by ffmpeg (the static binary of
the `imageio-ffmpeg` test dependency) as H.264 baseline, yuv420p, `moov` first: what every
browser plays. The printer also keeps a JPEG cover in `/timelapse/thumbnail/<name>.jpg`; so
does this.
"""

from __future__ import annotations

import io
from pathlib import Path
import struct
import subprocess
import tempfile

from PIL import Image, ImageDraw

# Models whose firmware writes MP4 timelapses (the others write AVI).
MP4_MODELS = frozenset({"X1C", "H2D"})

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


def ffmpeg_binary() -> str:
    """The static ffmpeg of the `imageio-ffmpeg` test dependency."""
    import imageio_ffmpeg  # type: ignore[import-untyped]  # only MP4 models need it

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def h264_mp4(jpegs: list[bytes], *, fps: int = 10) -> bytes:
    """An MP4 with one H.264 (baseline, yuv420p) stream of `jpegs`, `moov` at the front."""
    with tempfile.TemporaryDirectory(prefix="sim-timelapse-") as work:
        out = Path(work) / "video.mp4"
        subprocess.run(  # noqa: S603 - our ffmpeg, fixed arguments, no shell
            [
                ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error",
                "-f", "image2pipe", "-c:v", "mjpeg", "-framerate", str(fps), "-i", "pipe:0",
                "-vf", "scale=out_range=tv,format=yuv420p", "-c:v", "libx264",
                "-profile:v", "baseline",
                "-movflags", "+faststart", "-an", str(out),
            ],
            input=b"".join(jpegs),
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        return out.read_bytes()


def write_timelapse(sdcard: Path, name: str, *, count: int = 12, model: str = "P1S") -> Path:
    """Write `/timelapse/<name>.avi` (or `.mp4` for X1/H2) and `/timelapse/thumbnail/<name>.jpg`."""
    jpegs = frames(count)
    folder = sdcard / "timelapse"
    (folder / "thumbnail").mkdir(parents=True, exist_ok=True)
    if model in MP4_MODELS:
        video = folder / f"{name}.mp4"
        video.write_bytes(h264_mp4(jpegs))
    else:
        video = folder / f"{name}.avi"
        video.write_bytes(mjpeg_avi(jpegs))
    (folder / "thumbnail" / f"{name}.jpg").write_bytes(jpegs[-1])
    return video
