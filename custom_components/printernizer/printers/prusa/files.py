"""Files on a PrusaLink printer: folder listings and the routes that serve a file's bytes.

Buddy lists `ro`, the Pi `read_only`; Buddy names files 8.3 (`SHAPE~1.BGC`) with the long name
in `display_name`. Download and thumbnail routes differ per family, so the printer's own
`refs` are preferred and the known routes are only the fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ...files.errors import PrinterBusyError, RemoteMissingError, ResumeUnsupportedError
from ...files.model import FileKind, RemoteFile, kind_of
from ..base import ChunkSink
from ..models import ACTIVE_STATUSES, PrinterState
from ..values import mapping, text, timestamp
from .client import HttpStatusError, PrusaClient
from .device import Family
from .status import file_path
from .values import Fields, byte_count

MAX_DEPTH: Final = 3
MAX_FILES: Final = 2000
MAX_THUMBNAIL_BYTES: Final = 2 * 1024 * 1024
_SINK_BYTES: Final = 1 << 20
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"


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


class PrusaFiles:
    """`FileSource` for one PrusaLink printer (see `printers.base.FileSource`).

    `folder` is a storage (`/usb` on Buddy, `/local` on a Pi) or a folder in it; subfolders are
    walked a few levels deep. `RemoteFile.name` is the long name, `path` the API path (8.3 on
    Buddy). Listings, thumbnails and deletions share the client's per-printer request lock;
    a download is the client's `transfer`, so polling goes on while it runs.
    """

    def __init__(
        self,
        client: PrusaClient,
        family: Callable[[], Family],
        state: Callable[[], PrinterState],
        listing: Callable[[str], Awaitable[tuple[PrusaFile, ...]]],
    ) -> None:
        self._client = client
        self._family = family
        self._state = state
        self._listing = listing
        self._routes: dict[str, tuple[str | None, str | None]] = {}

    @property
    def file_folders(self) -> tuple[str, ...]:
        """The one writable storage of this family."""
        return ("/usb",) if self._family() == "buddy" else ("/local",)

    async def list_folder(self, folder: str) -> list[RemoteFile]:
        """Print files and others of a storage, subfolders included up to MAX_DEPTH levels."""
        found: list[RemoteFile] = []
        pending = [(folder, "", 0)]
        while pending and len(found) < MAX_FILES:
            current, relative, depth = pending.pop(0)
            try:
                files = await self._listing(relative)
            except HttpStatusError as err:
                if err.status == 404:
                    if current == folder:
                        raise RemoteMissingError(f"{folder}: no such storage") from err
                    continue
                raise
            for item in files:
                if item.kind == "FOLDER":
                    if depth + 1 < MAX_DEPTH:
                        shown = f"{current.rstrip('/')}/{item.display_name}"
                        pending.append((shown, f"{relative}/{item.name}".strip("/"), depth + 1))
                    continue
                if item.read_only and item.download is None and item.size in (None, 0):
                    continue  # a transfer still being written
                self._routes[item.path] = (item.download, item.thumbnail)
                found.append(
                    RemoteFile(
                        folder=current,
                        name=item.display_name,
                        size=item.size,
                        modified=item.modified,
                        kind=kind_of(item.display_name),
                        has_thumbnail=item.thumbnail is not None,
                        path=item.path,
                    )
                )
        return found

    async def fetch_file(self, file: RemoteFile, sink: ChunkSink, *, offset: int = 0) -> None:
        """Stream the file; the sink runs in the executor, a megabyte at a time.

        The body is read in pieces of up to a megabyte (what has arrived, no copying of it
        into a buffer when one read is a whole piece). One piece is handed to the sink while
        the next arrives (never more: memory stays flat). Buddy serves no ranges, so a
        transfer always starts at byte 0.
        """
        if offset:
            raise ResumeUnsupportedError("PrusaLink downloads start at byte 0")
        route = self._download_route(file)
        loop = asyncio.get_running_loop()
        pending: list[bytes] = []
        pending_bytes = 0
        # At most one hand-over in flight (a list, so `finally` sees what the loop left).
        writing: list[asyncio.Future[None]] = []

        async def hand_over() -> None:
            nonlocal pending_bytes
            piece = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            pending_bytes = 0
            if writing:
                await asyncio.shield(writing[0])
                writing.clear()
            writing.append(loop.run_in_executor(None, sink, piece))

        try:
            async with self._client.transfer(route) as download:
                async for chunk in download.chunks(_SINK_BYTES):
                    pending.append(chunk)
                    pending_bytes += len(chunk)
                    if pending_bytes >= _SINK_BYTES:
                        await hand_over()
            if pending:
                await hand_over()
            if writing:
                await asyncio.shield(writing[0])
                writing.clear()
        except HttpStatusError as err:
            if err.status == 404:
                raise RemoteMissingError(f"{file.name}: not on the printer any more") from err
            if err.status == 409:
                raise PrinterBusyError(f"{file.name}: the printer refuses it now") from err
            raise
        finally:
            if writing:
                # Failed or cancelled mid-stream: the sink must not run after we return.
                await asyncio.wait(writing)
                if not writing[0].cancelled():
                    writing[0].exception()

    async def fetch_thumbnail(self, file: RemoteFile) -> bytes | None:
        """The printer's PNG preview of a print file, within the size limit."""
        route = self._routes.get(file.path, (None, None))[1]
        if route is None:
            if self._family() != "buddy" or not file.path:
                return None
            route = f"/thumb/l{file.path}"
        try:
            image = await self._client.get_bytes(route, MAX_THUMBNAIL_BYTES)
        except HttpStatusError:
            return None
        return image if image and image.startswith(_PNG_MAGIC) else None

    async def delete_file(self, file: RemoteFile) -> None:
        """DELETE on the files API; 409 (busy, printing) and 404 become file errors."""
        try:
            await self._client.request("DELETE", f"/api/v1/files{file.path}")
        except HttpStatusError as err:
            if err.status == 404:
                raise RemoteMissingError(f"{file.name}: not on the printer") from err
            if err.status == 409:
                raise PrinterBusyError(f"{file.name}: the printer refuses it now") from err
            raise

    def in_use(self, file: RemoteFile) -> bool:
        """The job's file by API path or long name; any print file when the job has none."""
        state = self._state()
        if state.status not in ACTIVE_STATUSES:
            return False
        job = state.job
        if not (job.file or job.name):
            return file.kind is FileKind.PRINT
        return file.path == job.file or file.name == job.name

    def _download_route(self, file: RemoteFile) -> str:
        ref = self._routes.get(file.path, (None, None))[0]
        if ref:
            return ref
        return file.path if self._family() == "buddy" else f"/api/files{file.path}/raw"
