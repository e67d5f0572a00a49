"""Slicer metadata of a Prusa job: Prusa-Link's `meta`, binary G-code blocks, G-code comments.

Buddy firmware never returns `meta`, so the job file itself is read, and as little of it as
possible: a `.bgcode` keeps its metadata and thumbnails in blocks before the first G-code block
(read the head, stop there); a plain `.gcode` has PrusaSlicer's summary and config comments at
its end (read the tail). Files come from the printer and are untrusted: every size is bounded,
whatever a header declares (a deflate block is inflated to at most its capped declared size), only
the keys used here are kept, and anything malformed just leaves fields empty. Nothing raises.
"""

from __future__ import annotations

from collections.abc import Mapping
import re
import struct
from typing import Any, Final
import zlib

from ..models import FilamentUsage, JobMetadata
from ..values import number, seconds, text

BGCODE_MAGIC: Final = b"GCDE"
PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
MAX_THUMBNAIL_BYTES: Final = 2 * 1024 * 1024
# PrusaSlicer's metadata blocks and config comments are tens of kB.
MAX_METADATA_BYTES: Final = 1024 * 1024
MAX_TAIL_BYTES: Final = 1024 * 1024
# Five tools (XL, MMU3) in practice.
MAX_TOOLS: Final = 32

# libbgcode block types, compression methods and parameter encodings.
_FILE_METADATA, _GCODE, _SLICER_METADATA, _PRINTER_METADATA, _PRINT_METADATA, _THUMBNAIL = range(6)
_METADATA_BLOCKS: Final = frozenset(
    {_FILE_METADATA, _SLICER_METADATA, _PRINTER_METADATA, _PRINT_METADATA}
)
# What a wanted block may declare; anything larger is skipped without buffering it.
_LIMITS: Final = dict.fromkeys(_METADATA_BLOCKS, MAX_METADATA_BYTES) | {
    _THUMBNAIL: MAX_THUMBNAIL_BYTES
}
_NO_COMPRESSION, _DEFLATE = 0, 1
_INI_ENCODING = 0
_PNG_FORMAT = 0
_CRC32 = 1
_FILE_HEADER: Final = struct.Struct("<4sIH")
_BLOCK_HEADER: Final = struct.Struct("<HHI")
_COMPRESSED_SIZE: Final = struct.Struct("<I")
_THUMBNAIL_PARAMS: Final = struct.Struct("<HHH")

GRAMS: Final = "filament used [g]"
TOTAL_GRAMS: Final = "total filament used [g]"
FILAMENT_TYPE: Final = "filament_type"
NORMAL_TIME: Final = "estimated printing time (normal mode)"
PRINT_SECONDS: Final = "estimated_print_time"
_COLOUR_KEYS: Final = ("filament_colour", "extruder_colour")
KEYS: Final = frozenset(
    {GRAMS, TOTAL_GRAMS, FILAMENT_TYPE, NORMAL_TIME, PRINT_SECONDS, *_COLOUR_KEYS}
)
# `key = value` lines, optionally `;`-commented, for the keys read here only: other lines cost
# no allocation. One unambiguous run of blanks per position keeps the match linear.
_INI_LINE: Final = re.compile(
    r"^[^\S\n]*(?:;[^\S\n]*)?("
    + "|".join(re.escape(key) for key in sorted(KEYS, key=len, reverse=True))
    + r")[^\S\n]*=([^\n]*)",
    re.MULTILINE,
)
_MAX_DURATION_TEXT: Final = 64
_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])", re.IGNORECASE)
_DURATION_UNITS: Final = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_COLOR: Final = re.compile(r"#?([0-9A-Fa-f]{6})(?:[0-9A-Fa-f]{2})?")
_LIST_SEPARATORS: Final = re.compile(r"[,;]")


def parse_duration(value: Any) -> int | None:
    """Seconds from PrusaSlicer's "1d 2h 3m 4s" (any subset), or a plain number of seconds."""
    if isinstance(value, str) and len(value) <= _MAX_DURATION_TEXT:
        parts = _DURATION_PART.findall(value)
        if parts and _DURATION_PART.sub("", value).strip() == "":
            return seconds(
                sum(float(amount) * _DURATION_UNITS[unit.lower()] for amount, unit in parts)
            )
    return seconds(value)


def parse_ini(document: str, values: dict[str, str] | None = None) -> dict[str, str]:
    """The metadata keys of `key = value` lines (optionally `;`-commented); later lines win."""
    values = {} if values is None else values
    for match in _INI_LINE.finditer(document.replace("\r", "\n")):
        values[match.group(1)] = match.group(2).strip()
    return values


def parse_gcode_tail(tail: bytes, *, whole_file: bool) -> dict[str, str]:
    """The metadata comments in the last bytes of a plain G-code file.

    Unless the tail is the whole file its first line is cut somewhere in the middle: drop it.
    """
    if len(tail) > MAX_TAIL_BYTES:
        tail, whole_file = tail[-MAX_TAIL_BYTES:], False
    document = tail.decode("utf-8", "replace")
    if not whole_file:
        document = document.partition("\n")[2]
    return parse_ini(document)


def _grams(value: Any) -> float | None:
    result = number(value)
    return result if result is not None and result >= 0 else None


def _items(value: Any) -> list[Any]:
    """Up to MAX_TOOLS per-tool items from "1.5, 2.0", "PLA;PETG", a JSON list or one number."""
    if isinstance(value, list | tuple):
        return list(value[:MAX_TOOLS])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [value]
    if isinstance(value, str) and value.strip():
        return _LIST_SEPARATORS.split(value, maxsplit=MAX_TOOLS)[:MAX_TOOLS]
    return []


def _color(value: Any) -> str | None:
    match = _COLOR.fullmatch(text(value) or "")
    return f"#{match.group(1).upper()}" if match else None


def metadata_from_values(
    values: Mapping[str, Any], thumbnail_png: bytes | None = None
) -> JobMetadata:
    """JobMetadata from slicer keys, whether from `meta`, a bgcode block or comments.

    Multi-tool jobs list one value per tool ("0.00, 3.71"); tools the job does not use (0 g)
    are left out, and each usage keeps its tool index as slot id.
    """
    grams = [_grams(item) for item in _items(values.get(GRAMS))]
    materials = [text(item) for item in _items(values.get(FILAMENT_TYPE))]
    colours: list[Any] = []
    for key in _COLOUR_KEYS:
        colours = colours or _items(values.get(key))
    tools = max(len(grams), len(materials)) if grams else 0
    usages: list[FilamentUsage] = []
    for index in range(tools):
        used = grams[index] if index < len(grams) else None
        if tools > 1 and not used:
            continue
        usages.append(
            FilamentUsage(
                material=materials[index] if index < len(materials) else None,
                grams=used,
                color=_color(colours[index]) if index < len(colours) else None,
                slot_id=str(index) if tools > 1 else None,
            )
        )
    if not usages and materials and len(set(materials)) == 1 and materials[0]:
        usages.append(FilamentUsage(material=materials[0], grams=None))
    total = _grams(values.get(TOTAL_GRAMS))
    known = [value for value in grams if value is not None]
    if total is None and known:
        total = number(round(sum(known), 2))
    predicted = parse_duration(values.get(NORMAL_TIME))
    if predicted is None:
        predicted = parse_duration(values.get(PRINT_SECONDS))
    return JobMetadata(
        filaments=tuple(usages),
        predicted_seconds=predicted,
        total_grams=total,
        thumbnail_png=thumbnail_png,
    )


class BgcodeReader:
    """Reads a binary G-code stream up to its first G-code block, block by block.

    Feed it chunks as they arrive; `feed` returns True once nothing more is needed (the first
    G-code block began, or the data is not bgcode). Blocks we do not want are skipped without
    being buffered. CRCs are not checked: a damaged block only yields unparsable values.
    """

    def __init__(self) -> None:
        """Nothing read yet."""
        self.done = False
        self.valid: bool | None = None
        self.values: dict[str, str] = {}
        self._slicer: dict[str, str] = {}
        self._thumbnail: tuple[int, bytes] | None = None
        self._buffer = bytearray()
        self._skip = 0
        self._checksum_size = 0

    def feed(self, data: bytes) -> bool:
        """Consume a chunk; True when reading can stop."""
        if self.done:
            return True
        if self._skip:
            used = min(self._skip, len(data))
            self._skip -= used
            data = data[used:]
        self._buffer += data
        self._parse()
        return self.done

    def result(self) -> JobMetadata:
        """What the blocks read so far say; slicer config only fills what the others lack."""
        values = {**self._slicer, **self.values}
        return metadata_from_values(values, self._thumbnail[1] if self._thumbnail else None)

    def _parse(self) -> None:
        buffer = self._buffer
        if self.valid is None:
            if len(buffer) < _FILE_HEADER.size:
                return
            magic, _version, checksum = _FILE_HEADER.unpack_from(buffer)
            if magic != BGCODE_MAGIC:
                self.valid, self.done = False, True
                return
            self.valid = True
            self._checksum_size = 4 if checksum == _CRC32 else 0
            del buffer[: _FILE_HEADER.size]
        while not self.done and len(buffer) >= _BLOCK_HEADER.size:
            kind, compression, size = _BLOCK_HEADER.unpack_from(buffer)
            if kind == _GCODE:
                self.done = True
                return
            header = _BLOCK_HEADER.size
            stored = size
            if compression != _NO_COMPRESSION:
                if len(buffer) < header + _COMPRESSED_SIZE.size:
                    return
                (stored,) = _COMPRESSED_SIZE.unpack_from(buffer, header)
                header += _COMPRESSED_SIZE.size
            params = _THUMBNAIL_PARAMS.size if kind == _THUMBNAIL else 2
            total = header + params + stored + self._checksum_size
            limit = _LIMITS.get(kind, 0)
            wanted = 0 < size <= limit and stored <= limit
            if wanted and len(buffer) < total:
                return
            if wanted:
                block = bytes(buffer[header:total])
                self._block(kind, compression, size, block[:params], block[params:][:stored])
                del buffer[:total]
            elif len(buffer) >= total:
                del buffer[:total]
            else:
                self._skip = total - len(buffer)
                buffer.clear()
                return

    def _block(self, kind: int, compression: int, size: int, params: bytes, data: bytes) -> None:
        if kind == _THUMBNAIL:
            image_format, width, height = _THUMBNAIL_PARAMS.unpack(params)
            area = width * height
            if (
                image_format == _PNG_FORMAT
                and compression == _NO_COMPRESSION
                and data.startswith(PNG_MAGIC)
                and (self._thumbnail is None or area > self._thumbnail[0])
            ):
                self._thumbnail = (area, data)
            return
        (encoding,) = struct.unpack("<H", params)
        if encoding != _INI_ENCODING:
            return
        if compression == _DEFLATE:
            # Never more than the (capped, non-zero) declared size comes out.
            try:
                data = zlib.decompressobj().decompress(data, size)
            except zlib.error:
                return
        elif compression != _NO_COMPRESSION:
            return  # Heatshrink: PrusaSlicer uses it for G-code, not for metadata.
        document = data[:size].decode("utf-8", "replace")
        parse_ini(document, self._slicer if kind == _SLICER_METADATA else self.values)
