"""Reads the job metadata Bambu Studio stores inside a sliced 3MF.

The file comes from the printer, so it is untrusted and every step is bounded whatever the
archive declares: the central directory is size-checked before zipfile reads it, only stored
and deflate members are read, in chunks up to a hard cap, and the XML is streamed through expat
without building a tree (a document type declaration ends the parse, so no entity expansion).
Anything damaged or refused just leaves its fields empty; only an archive that cannot be opened,
or declares an absurd directory, raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import math
import os
from pathlib import Path
import re
import struct
from typing import IO, Final
import xml.parsers.expat
import zipfile
import zlib

from .. import values
from ..errors import ProtocolError
from ..models import FilamentUsage, JobMetadata

SLICE_INFO: Final = "Metadata/slice_info.config"
MAX_SLICE_INFO_BYTES: Final = 4 * 1024 * 1024
MAX_THUMBNAIL_BYTES: Final = 2 * 1024 * 1024
# A Bambu Studio 3MF holds a few dozen members. zipfile reads the whole central directory into
# memory and builds an object per entry (~500 bytes) whatever count the end record declares, so
# the directory's size is the real bound: 256 KiB holds 2,000 real entries, costs < 3 MiB.
MAX_ENTRIES: Final = 4096
MAX_DIRECTORY_BYTES: Final = 256 * 1024
MAX_FILAMENTS: Final = 64
_MAX_DEPTH: Final = 32
# Expat hands a whole start tag over at once, all its attributes in one dict: a tag (or any
# stretch without one) longer than this is refused while it is still being buffered.
_MAX_TOKEN_BYTES: Final = 64 * 1024
_CHUNK: Final = 64 * 1024
# bzip2 and lzma inflate a whole input chunk at once, unbounded: only these are read.
_COMPRESSIONS: Final = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_PLATE_KEYS: Final = frozenset({"index", "prediction", "weight"})
_FILAMENT_KEYS: Final = ("id", "type", "color", "used_g")
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
_COLOR: Final = re.compile(r"#?([0-9A-Fa-f]{6})(?:[0-9A-Fa-f]{2})?")

# End of central directory, ZIP64 locator and ZIP64 end record, as zipfile reads them.
_END: Final = struct.Struct("<4s4H2LH")
_END_SIGNATURE: Final = b"PK\x05\x06"
_LOCATOR: Final = struct.Struct("<4sLQL")
_LOCATOR_SIGNATURE: Final = b"PK\x06\x07"
_END64: Final = struct.Struct("<4sQ2H2L4Q")
_END64_SIGNATURE: Final = b"PK\x06\x06"
_SEARCHED: Final = 1 << 16  # how far before the end record zipfile looks for its signature

_ZIP_ERRORS = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
)


class _Refused(Exception):
    """A document the streaming parser stops reading: DTD, too deep, too long a tag."""


def parse_3mf(
    path: Path, plate: int = 1, *, slot_ids: Mapping[int, str] | None = None
) -> JobMetadata:
    """Metadata of one plate of a sliced 3MF; blocking, so run it in an executor.

    `slot_ids` maps the slicer's 1-based filament id to the printer slot it prints from (the
    caller derives it from the job's `ams_mapping`). Colours come back as "#RRGGBB".
    Raises ProtocolError when the file is not a readable zip archive or declares a central
    directory no 3MF has.
    """
    reader = _SliceInfo(plate)
    thumbnail = bytearray()
    try:
        with path.open("rb") as file:
            _check_directory(file)
            with zipfile.ZipFile(file) as archive:
                has_slice_info = _read_member(
                    archive, SLICE_INFO, MAX_SLICE_INFO_BYTES, reader.feed
                )
                has_thumbnail = _read_member(
                    archive, f"Metadata/plate_{plate}.png", MAX_THUMBNAIL_BYTES, thumbnail.extend
                )
    except _ZIP_ERRORS as err:
        raise ProtocolError(f"unreadable 3MF {path.name}: {err}") from err
    png = bytes(thumbnail) if has_thumbnail and thumbnail.startswith(_PNG_MAGIC) else None
    found = reader.close() if has_slice_info else None
    if found is None:
        return JobMetadata(thumbnail_png=png)
    plate_values, filament_attributes = found
    filaments = _filaments(filament_attributes, slot_ids or {})
    total = _grams(plate_values.get("weight"))
    if total is None and filaments and all(f.grams is not None for f in filaments):
        total = values.number(sum(f.grams or 0.0 for f in filaments))
    return JobMetadata(
        filaments=filaments,
        predicted_seconds=values.seconds(plate_values.get("prediction")),
        total_grams=total,
        thumbnail_png=png,
    )


def _check_directory(file: IO[bytes]) -> None:
    """Refuse an archive declaring too many entries or too large a central directory.

    Finds every end record zipfile might use (the last 22 bytes, the last signature within a
    comment's reach, the ZIP64 record before its locator or where the locator points) and
    checks what each declares, so the archive is refused before zipfile reads its directory.
    """
    size = file.seek(0, os.SEEK_END)
    start = max(size - _END.size - _SEARCHED, 0)
    file.seek(start)
    tail = file.read()
    offsets = {tail.rfind(_END_SIGNATURE)}
    if tail[-_END.size :].startswith(_END_SIGNATURE):
        offsets.add(len(tail) - _END.size)
    offsets.discard(-1)
    if not offsets:
        raise zipfile.BadZipFile("no end of central directory")
    for offset in offsets:
        record = tail[offset : offset + _END.size]
        if len(record) < _END.size:
            raise zipfile.BadZipFile("truncated end of central directory")
        _, _, _, here, entries, directory, _, _ = _END.unpack(record)
        zip64, complete = _zip64_records(file, start + offset)
        if complete:  # the ZIP64 record holds what the maximal values stand for
            here, entries = (0 if count == 0xFFFF else count for count in (here, entries))
            directory = 0 if directory == 0xFFFFFFFF else directory
        for count, total, length in [*zip64, (here, entries, directory)]:
            if max(count, total) > MAX_ENTRIES or length > MAX_DIRECTORY_BYTES:
                raise zipfile.BadZipFile(f"declares {total} entries in a {length}-byte directory")
    file.seek(0)


def _zip64_records(file: IO[bytes], end: int) -> tuple[list[tuple[int, int, int]], bool]:
    """(entries on this disk, entries, directory size) of each ZIP64 record an end record has.

    True with them when there is a record both right before the locator and where it points
    (normally one place), so whichever zipfile reads, it was checked here.
    """
    if end < _LOCATOR.size:
        return [], False
    file.seek(end - _LOCATOR.size)
    signature, _, pointer, _ = _LOCATOR.unpack(file.read(_LOCATOR.size))
    if signature != _LOCATOR_SIGNATURE:
        return [], False
    records = []
    positions = {end - _LOCATOR.size - _END64.size, pointer}
    for position in positions:
        if not 0 <= position <= end - _END64.size:
            continue
        file.seek(position)
        data = file.read(_END64.size)
        if len(data) == _END64.size and data.startswith(_END64_SIGNATURE):
            record = _END64.unpack(data)
            records.append((record[6], record[7], record[8]))
    return records, len(records) == len(positions)


def _read_member(
    archive: zipfile.ZipFile, name: str, limit: int, sink: Callable[[bytes], object]
) -> bool:
    """Pass the member's bytes to `sink` in chunks; False when it is missing or refused.

    The declared size is only a shortcut: output is counted as it is inflated, and a member
    producing more than `limit` bytes is abandoned there. Encrypted, bzip2 and lzma members are
    refused, since they cannot be inflated a bounded chunk at a time.
    """
    try:
        info = archive.getinfo(name)
    except KeyError:
        return False
    if (
        info.compress_type not in _COMPRESSIONS
        or info.flag_bits & 0x1
        or info.file_size > limit
        or info.is_dir()
    ):
        return False
    produced = 0
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            produced += len(chunk)
            if produced > limit:
                return False
            sink(chunk)
    return True


class _SliceInfo:
    """Streams slice_info.config and keeps only what one plate says; no tree is built.

    Keeps the wanted `metadata` keys and up to MAX_FILAMENTS filaments of each open `plate`;
    the first plate whose index matches wins, as in document order.
    """

    def __init__(self, plate: int) -> None:
        """A parser that refuses any document type declaration (so any entity).

        Expat decodes UTF-16 itself, so the refusal holds whatever the encoding; fixing UTF-8
        otherwise keeps a declared `encoding` from picking one of Python's codecs.
        """
        self._plate = plate
        self._parser = xml.parsers.expat.ParserCreate(encoding="utf-8")
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.StartDoctypeDeclHandler = self._refuse
        self._parser.EntityDeclHandler = self._refuse
        self._stack: list[str] = []
        self._open: list[tuple[dict[str, str], list[dict[str, str]]]] = []
        self._found: tuple[dict[str, str], list[dict[str, str]]] | None = None
        self._failed = False
        self._fed = 0
        self._event = 0

    def feed(self, data: bytes) -> None:
        """Parse a chunk; a refused or malformed document only stops parsing."""
        if self._failed:
            return
        self._fed += len(data)
        try:
            self._parser.Parse(data, False)
        except (xml.parsers.expat.ExpatError, _Refused):
            self._failed = True
        if self._fed - self._event > _MAX_TOKEN_BYTES:
            self._failed = True

    def close(self) -> tuple[dict[str, str], list[dict[str, str]]] | None:
        """The plate's metadata values and filament attributes, if the document was sound."""
        self.feed(b"")
        if not self._failed:
            try:
                self._parser.Parse(b"", True)
            except (xml.parsers.expat.ExpatError, _Refused):
                self._failed = True
        return None if self._failed else self._found

    def _refuse(self, *_args: object) -> None:
        raise _Refused

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        self._event = self._parser.CurrentByteIndex
        if len(self._stack) >= _MAX_DEPTH:
            raise _Refused
        parent = self._stack[-1] if self._stack else None
        self._stack.append(name)
        if name == "plate":
            self._open.append(({}, []))
        elif parent == "plate":
            plate_values, filaments = self._open[-1]
            if name == "metadata" and (key := attributes.get("key")) in _PLATE_KEYS:
                plate_values[key] = attributes.get("value", "")
            elif name == "filament" and len(filaments) < MAX_FILAMENTS:
                filaments.append({k: attributes[k] for k in _FILAMENT_KEYS if k in attributes})

    def _end(self, name: str) -> None:
        self._event = self._parser.CurrentByteIndex
        self._stack.pop()
        if name == "plate":
            plate_values, filaments = self._open.pop()
            if self._found is None and values.integer(plate_values.get("index")) == self._plate:
                self._found = (plate_values, filaments)


def _filaments(
    attributes: list[dict[str, str]], slot_ids: Mapping[int, str]
) -> tuple[FilamentUsage, ...]:
    numbered: list[tuple[float, FilamentUsage]] = []
    for item in attributes:
        number = values.integer(item.get("id"))
        usage = FilamentUsage(
            material=values.text(item.get("type")),
            grams=_grams(item.get("used_g")),
            color=_color(item.get("color")),
            slot_id=values.text(slot_ids.get(number)) if number is not None else None,
        )
        numbered.append((number if number is not None else math.inf, usage))
    numbered.sort(key=lambda pair: pair[0])
    return tuple(usage for _, usage in numbered)


def _grams(value: str | None) -> float | None:
    """A finite, bounded, non-negative number, or None for anything else."""
    number = values.number(value)
    return number if number is not None and number >= 0 else None


def _color(value: str | None) -> str | None:
    match = _COLOR.fullmatch(values.text(value) or "")
    return f"#{match.group(1).upper()}" if match else None
