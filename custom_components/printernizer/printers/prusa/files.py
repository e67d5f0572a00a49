"""Files on a PrusaLink printer: folder listings and the routes that serve a file's bytes.

Buddy lists `ro`, the Pi `read_only`; Buddy names files 8.3 (`SHAPE~1.BGC`) with the long name
in `display_name`. Download and thumbnail routes differ per family, so the printer's own
`refs` are preferred and the known routes are only the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..values import mapping, text, timestamp
from .device import Family
from .status import file_path
from .values import Fields, byte_count


@dataclass(frozen=True, slots=True, kw_only=True)
class PrusaFile:
    """One entry of a folder listing."""

    name: str
    display_name: str
    path: str
    kind: str
    size: int | None = None
    modified: datetime | None = None
    read_only: bool = False
    download: str | None = None
    thumbnail: str | None = None


def parse_listing(
    body: dict[str, Any], folder: str, *, fields: Fields | None = None
) -> tuple[PrusaFile, ...]:
    """The children of a folder body (`/api/v1/files/<storage>/<path>`); junk entries dropped.

    A file time outside 2000-2200 is no time (USB sticks without a clock say 1980), not junk.
    """
    fields = fields or Fields()
    children = body.get("children")
    if not isinstance(children, list):
        if children is not None:
            fields.rejected.append("children")
        children = []
    files: list[PrusaFile] = []
    for item in children:
        if not isinstance(item, dict):
            fields.rejected.append("children")
            continue
        name = fields.read(item, "name", text)
        if name is None:
            continue
        refs = fields.mapping(item, "refs")
        files.append(
            PrusaFile(
                name=name,
                display_name=fields.read(item, "display_name", text) or name,
                path=f"{folder.rstrip('/')}/{name}",
                kind=fields.read(item, "type", text) or "FILE",
                size=fields.read(item, "size", byte_count),
                modified=timestamp(item.get("m_timestamp")),
                read_only=item.get("ro") is True or item.get("read_only") is True,
                download=fields.read(refs, "download", text),
                thumbnail=fields.read(refs, "thumbnail", text),
            )
        )
    return tuple(files)


def download_route(file: dict[str, Any], family: Family) -> str | None:
    """Where the printer serves a job file's bytes: Buddy `/usb/<path>`, Pi `.../raw`.

    None when the refs say there is no download (the Pi's SD card, a partial upload).
    """
    refs = mapping(file.get("refs"))
    if ref := text(refs.get("download")):
        return ref
    if "download" in refs or refs.get("icon") is not None or refs.get("thumbnail"):
        return None
    path = file_path(file)
    if path is None:
        return None
    return path if family == "buddy" else f"/api/files{path}/raw"


def thumbnail_route(file: dict[str, Any], family: Family) -> str | None:
    """Where the printer serves the largest preview (Buddy `/thumb/l/usb/<path>`)."""
    if ref := text(mapping(file.get("refs")).get("thumbnail")):
        return ref
    path = file_path(file)
    return f"/thumb/l{path}" if path and family == "buddy" else None


def is_bgcode(file: dict[str, Any]) -> bool:
    """Binary G-code by its long or 8.3 name (`.bgcode` / `.BGC`)."""
    names = (text(file.get("display_name")) or "", text(file.get("name")) or "")
    return any(name.lower().endswith((".bgcode", ".bgc")) for name in names)
