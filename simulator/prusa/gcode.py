r"""What PrusaSlicer writes: plain G-code with comment metadata, and binary G-code (.bgcode).

Plain G-code carries PNG thumbnails near the top (`; thumbnail begin 16x16 <base64 length>`,
base64 in 78-character comment lines, `; thumbnail end`) and its metadata at the END of the file
(`; filament used [g] = 11.71`, `; estimated printing time (normal mode) = 1h 2m 3s`, then the
`; prusaslicer_config = begin` block with `; filament_type = PLA` and friends).

Binary G-code (libbgcode format version 1, every integer little-endian):

    file header  magic b"GCDE" | version u32 = 1 | checksum type u16 (0 none, 1 CRC32)
    block        type u16 | compression u16 | uncompressed size u32
                 | compressed size u32          (ONLY when compression != 0)
                 | parameters                   (6 bytes for thumbnails, 2 bytes otherwise)
                 | payload                      (compressed size bytes if compressed, else
                                                 uncompressed size bytes)
                 | CRC32 u32                    (only when the checksum type is 1; over the block
                                                 header, parameters and payload as stored)

Block types: 0 file metadata, 1 G-code, 2 slicer metadata, 3 printer metadata, 4 print metadata,
5 thumbnail. Metadata parameters are the encoding u16 (0 = INI, "key=value\n" lines); G-code
parameters the encoding u16 (0 = plain text); thumbnail parameters format u16 (0 PNG, 1 JPG,
2 QOI), width u16, height u16. Compression 0 is none, 1 deflate (a zlib stream), 2 and 3
heatshrink. Order: file metadata, printer metadata, thumbnails, print metadata, slicer metadata,
then the G-code blocks, so a reader can stop at the first G-code block. Every block can be
skipped from its header alone. The files here keep metadata uncompressed (unless asked) but
deflate the G-code blocks, so readers meet both header sizes, as in real files.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
import math
import re
import struct
import zlib

MAGIC = b"GCDE"
FILE_METADATA, GCODE, SLICER_METADATA, PRINTER_METADATA, PRINT_METADATA, THUMBNAIL = range(6)
_NO_COMPRESSION, _DEFLATE = 0, 1
_CRC32 = 1
_GCODE_BLOCK = 65_536
_TAIL_BYTES = 64 * 1024  # PrusaSlicer's metadata sits in the last few KiB of plain G-code
_THUMB = re.compile(rb"; thumbnail begin (\d+)x(\d+) \d+\r?\n(.*?); thumbnail end", re.DOTALL)
_COMMENT = re.compile(r"^; ([^=\n]+?) = (.*)$", re.MULTILINE)
PRODUCER = "PrusaSlicer 2.8.1"
THUMBNAIL_SIZES = ((16, 16), (313, 173))


@dataclass(frozen=True, slots=True)
class Sliced:
    """What the slicer knows about a job: everything a client may read back from the file."""

    printer_model: str = "MK4"
    filament_type: str = "PLA"
    filament_mm: float = 3923.86
    filament_g: float = 11.71
    filament_cost: float = 0.29
    seconds: int = 3723
    layer_height: float = 0.2
    nozzle_diameter: float = 0.4
    temperature: int = 215
    bed_temperature: int = 60
    max_layer_z: float = 48.0
    colour: tuple[int, int, int] = (250, 104, 0)

    @property
    def filament_cm3(self) -> float:
        """Volume of 1.75 mm filament."""
        return round(self.filament_mm * math.pi * 0.875**2 / 1000, 2)

    def statistics(self) -> list[tuple[str, str]]:
        """Usage and time lines: the tail of plain G-code, the print metadata block."""
        return [
            ("filament used [mm]", f"{self.filament_mm:.2f}"),
            ("filament used [cm3]", f"{self.filament_cm3:.2f}"),
            ("filament used [g]", f"{self.filament_g:.2f}"),
            ("filament cost", f"{self.filament_cost:.2f}"),
            ("total filament used [g]", f"{self.filament_g:.2f}"),
            ("total layers count", str(round(self.max_layer_z / self.layer_height))),
            ("estimated printing time (normal mode)", format_duration(self.seconds)),
            ("estimated printing time (silent mode)", format_duration(self.seconds * 104 // 100)),
        ]

    def config(self) -> list[tuple[str, str]]:
        """Slicer settings: the prusaslicer_config block, the printer metadata block."""
        return [
            ("bed_temperature", str(self.bed_temperature)),
            ("brim_width", "0"),
            ("filament_type", self.filament_type),
            ("fill_density", "15%"),
            ("layer_height", f"{self.layer_height:g}"),
            ("max_layer_z", f"{self.max_layer_z:g}"),
            ("nozzle_diameter", f"{self.nozzle_diameter:g}"),
            ("printer_model", self.printer_model),
            ("support_material", "0"),
            ("temperature", str(self.temperature)),
        ]


def format_duration(seconds: int) -> str:
    """PrusaSlicer's "1d 2h 3m 4s" style, leading zero units left out."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = ((days, "d"), (hours, "h"), (minutes, "m"))
    parts = [f"{value}{unit}" for value, unit in units if value]
    return " ".join([*parts, f"{secs}s"])


def parse_duration(text: str) -> int | None:
    """Seconds from "1h 2m 3s"; None when it is not that format."""
    found = re.findall(r"(\d+)([dhms])", text)
    scale = {"d": 86_400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * scale[u] for n, u in found) if found else None


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A small valid PNG: a coloured square on a light background."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    side = min(width, height) // 2
    x0, y0 = (width - side) // 2, (height - side) // 2
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            inside = x0 <= x < x0 + side and y0 <= y < y0 + side
            rows += bytes(colour) if inside else b"\xee\xee\xee"
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _moves(sliced: Sliced, moves: int) -> list[str]:
    """A plausible G-code body with M73 progress/remaining-time lines."""
    lines = [
        f"M140 S{sliced.bed_temperature}",
        f"M104 S{sliced.temperature}",
        "G28 ; home all axes",
        f"M190 S{sliced.bed_temperature}",
        f"M109 S{sliced.temperature}",
    ]
    for i in range(moves):
        if i % 20 == 0:
            done = i / moves
            remaining = math.ceil(sliced.seconds * (1 - done) / 60)
            lines.append(f"M73 P{int(done * 100)} R{remaining}")
            lines.append(f"G1 Z{sliced.max_layer_z * done + sliced.layer_height:.2f} F720")
        lines.append(f"G1 X{100 + 20 * math.cos(i / 5):.3f} Y{100 + 20 * math.sin(i / 5):.3f} E.04")
    return [*lines, "M73 P100 R0", "M104 S0", "M140 S0", "M107", "M84"]


def build_gcode(
    sliced: Sliced, *, thumbnails: Sequence[tuple[int, int]] = THUMBNAIL_SIZES, moves: int = 400
) -> bytes:
    """Plain G-code as PrusaSlicer writes it; no thumbnails when `thumbnails` is empty."""
    lines = [f"; generated by {PRODUCER}+linux-x64-GTK3 on 2025-03-01 at 10:00:00 UTC", "", ";"]
    for width, height in thumbnails:
        encoded = base64.b64encode(png(width, height, sliced.colour)).decode()
        lines.append(f"; thumbnail begin {width}x{height} {len(encoded)}")
        lines += [f"; {encoded[i : i + 78]}" for i in range(0, len(encoded), 78)]
        lines += ["; thumbnail end", ";"]
    lines += ["", *_moves(sliced, moves), ""]
    lines += [f"; {key} = {value}" for key, value in sliced.statistics()]
    lines += ["", "; prusaslicer_config = begin"]
    lines += [f"; {key} = {value}" for key, value in sliced.config()]
    lines += ["; prusaslicer_config = end", ""]
    return "\n".join(lines).encode()


def _block(kind: int, params: bytes, payload: bytes, *, compress: bool) -> bytes:
    if compress:
        stored = zlib.compress(payload)
        header = struct.pack("<HHII", kind, _DEFLATE, len(payload), len(stored))
    else:
        stored = payload
        header = struct.pack("<HHI", kind, _NO_COMPRESSION, len(payload))
    body = header + params + stored
    return body + struct.pack("<I", zlib.crc32(body))


def _ini(pairs: Sequence[tuple[str, str]]) -> bytes:
    return "".join(f"{key}={value}\n" for key, value in pairs).encode()


def build_bgcode(
    sliced: Sliced,
    *,
    thumbnails: Sequence[tuple[int, int]] = THUMBNAIL_SIZES,
    compress_metadata: bool = False,
    moves: int = 400,
) -> bytes:
    """Binary G-code with CRC32 checksums (layout in the module docstring)."""
    ini = struct.pack("<H", 0)
    meta = compress_metadata
    parts = [MAGIC + struct.pack("<IH", 1, _CRC32)]
    parts.append(_block(FILE_METADATA, ini, _ini([("Producer", PRODUCER)]), compress=meta))
    printer = [*sliced.config(), *sliced.statistics()]
    parts.append(_block(PRINTER_METADATA, ini, _ini(printer), compress=meta))
    for width, height in thumbnails:
        params = struct.pack("<HHH", 0, width, height)
        parts.append(_block(THUMBNAIL, params, png(width, height, sliced.colour), compress=False))
    parts.append(_block(PRINT_METADATA, ini, _ini(sliced.statistics()), compress=meta))
    slicer = [*sliced.config(), ("gcode_binary", "1"), ("compatible_printers_condition", "")]
    parts.append(_block(SLICER_METADATA, ini, _ini(slicer), compress=meta))
    text = "\n".join(_moves(sliced, moves)).encode() + b"\n"
    for start in range(0, len(text), _GCODE_BLOCK):
        chunk = text[start : start + _GCODE_BLOCK]
        parts.append(_block(GCODE, struct.pack("<H", 0), chunk, compress=True))
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Block:
    """One .bgcode block, payload decompressed when the simulator knows how."""

    kind: int
    compression: int
    params: bytes
    payload: bytes


def bgcode_blocks(data: bytes) -> Iterator[Block]:
    """Walk the blocks of a .bgcode file by their sizes (ValueError if it is not one)."""
    if data[:4] != MAGIC or len(data) < 10:
        raise ValueError("not binary G-code")
    _version, checksum = struct.unpack_from("<IH", data, 4)
    pos = 10
    while pos + 8 <= len(data):
        kind, compression, size = struct.unpack_from("<HHI", data, pos)
        pos += 8
        stored = size
        if compression != _NO_COMPRESSION:
            (stored,) = struct.unpack_from("<I", data, pos)
            pos += 4
        n_params = 6 if kind == THUMBNAIL else 2
        params = data[pos : pos + n_params]
        payload = data[pos + n_params : pos + n_params + stored]
        pos += n_params + stored + (4 if checksum == _CRC32 else 0)
        if compression == _DEFLATE:
            payload = zlib.decompress(payload)
        yield Block(kind, compression, params, payload)


def read_metadata(data: bytes) -> dict[str, str]:
    """Slicer metadata as strings: printer and print blocks of .bgcode, or plain G-code's tail."""
    found: dict[str, str] = {}
    if data[:4] == MAGIC:
        for block in bgcode_blocks(data):
            if block.kind == GCODE:
                break
            if block.kind in (PRINTER_METADATA, PRINT_METADATA) and block.compression <= 1:
                for line in block.payload.decode(errors="replace").splitlines():
                    key, sep, value = line.partition("=")
                    if sep:
                        found[key.strip()] = value.strip()
        return found
    tail = data[-_TAIL_BYTES:].decode(errors="replace")
    return {key.strip(): value.strip() for key, value in _COMMENT.findall(tail)}


def read_thumbnails(data: bytes) -> list[tuple[int, int, bytes]]:
    """(width, height, PNG) for every PNG thumbnail, smallest first."""
    found: list[tuple[int, int, bytes]] = []
    if data[:4] == MAGIC:
        for block in bgcode_blocks(data):
            if block.kind == GCODE:
                break
            if block.kind == THUMBNAIL:
                fmt, width, height = struct.unpack("<HHH", block.params)
                if fmt == 0:  # PNG; JPG and QOI previews are not served as PNG
                    found.append((width, height, block.payload))
    else:
        for width, height, body in _THUMB.findall(data[: 1024 * 1024]):
            encoded = b"".join(line.removeprefix(b";").strip() for line in body.splitlines())
            found.append((int(width), int(height), base64.b64decode(encoded)))
    return sorted(found, key=lambda t: t[0] * t[1])
