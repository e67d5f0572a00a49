"""Reads the job metadata Bambu Studio stores inside a sliced 3MF.

The file comes from the printer, so it is untrusted: members are size-checked before they are
decompressed, XML with a DTD is ignored, and anything damaged just leaves its fields empty.
Only an archive that cannot be opened at all raises.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
from pathlib import Path
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib

from ..errors import ProtocolError
from ..models import FilamentUsage, JobMetadata

SLICE_INFO = "Metadata/slice_info.config"
MAX_SLICE_INFO_BYTES = 4 * 1024 * 1024
MAX_THUMBNAIL_BYTES = 2 * 1024 * 1024
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_COLOR = re.compile(r"#?([0-9A-Fa-f]{6})(?:[0-9A-Fa-f]{2})?")
_ZIP_ERRORS = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,  # unknown compression method
    RuntimeError,  # encrypted member
    ValueError,
)


def parse_3mf(
    path: Path, plate: int = 1, *, slot_ids: Mapping[int, str] | None = None
) -> JobMetadata:
    """Metadata of one plate of a sliced 3MF; blocking, so run it in an executor.

    `slot_ids` maps the slicer's 1-based filament id to the printer slot it prints from (the
    caller derives it from the job's `ams_mapping`). Colours come back as "#RRGGBB".
    Raises ProtocolError when the file is not a readable zip archive.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            slice_info = _read_member(archive, SLICE_INFO, MAX_SLICE_INFO_BYTES)
            thumbnail = _read_member(archive, f"Metadata/plate_{plate}.png", MAX_THUMBNAIL_BYTES)
    except _ZIP_ERRORS as err:
        raise ProtocolError(f"unreadable 3MF {path.name}: {err}") from err
    if thumbnail is not None and not thumbnail.startswith(_PNG_MAGIC):
        thumbnail = None
    element = _plate_element(slice_info, plate) if slice_info is not None else None
    if element is None:
        return JobMetadata(thumbnail_png=thumbnail)
    values = {
        item.get("key"): item.get("value")
        for item in element.iterfind("metadata")
        if item.get("key") is not None
    }
    filaments = _filaments(element, slot_ids or {})
    prediction = _number(values.get("prediction"))
    total = _number(values.get("weight"))
    if total is None and filaments and all(f.grams is not None for f in filaments):
        total = sum(f.grams or 0.0 for f in filaments)
    return JobMetadata(
        filaments=filaments,
        predicted_seconds=round(prediction) if prediction is not None else None,
        total_grams=total,
        thumbnail_png=thumbnail,
    )


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes | None:
    """The member's bytes, or None when missing or declared larger than `limit`.

    ZipExtFile never inflates past the declared size, so checking the header bounds memory.
    """
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        return None
    return archive.read(info)


def _plate_element(data: bytes, plate: int) -> ET.Element | None:
    # ElementTree never fetches external entities; refusing any DTD also rules out
    # entity-expansion tricks. Bambu Studio never writes one.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None
    try:
        root = ET.fromstring(data)  # noqa: S314
    except ET.ParseError:
        return None
    for element in root.iter("plate"):
        for item in element.iterfind("metadata"):
            if item.get("key") == "index" and _integer(item.get("value")) == plate:
                return element
    return None


def _filaments(element: ET.Element, slot_ids: Mapping[int, str]) -> tuple[FilamentUsage, ...]:
    numbered: list[tuple[float, FilamentUsage]] = []
    for item in element.iterfind("filament"):
        number = _integer(item.get("id"))
        usage = FilamentUsage(
            material=item.get("type") or None,
            grams=_number(item.get("used_g")),
            color=_color(item.get("color")),
            slot_id=slot_ids.get(number) if number is not None else None,
        )
        numbered.append((number if number is not None else math.inf, usage))
    numbered.sort(key=lambda pair: pair[0])
    return tuple(usage for _, usage in numbered)


def _number(value: str | None) -> float | None:
    """A finite, non-negative number, or None for anything else."""
    try:
        number = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _integer(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _color(value: str | None) -> str | None:
    match = _COLOR.fullmatch(value or "")
    return f"#{match.group(1).upper()}" if match else None
