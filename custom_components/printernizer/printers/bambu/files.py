"""The printer's SD card as a file source: the folders Bambu users keep files in, over FTPS.

Firmware answers 550 to listings while it prints (and for folders a model lacks); which one it
is can only be guessed from the printer's state, so a 550 during a print (or on `/`, which
always exists) is "busy" and the file manager backs off, otherwise the folder is missing.
Transfers run in worker threads through the adapter, which waits for them on stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import posixpath
from typing import Any, Final

from ...files.errors import PrinterBusyError, RemoteMissingError, ResumeUnsupportedError
from ...files.model import FileKind, RemoteFile, kind_of
from ..base import ChunkSink
from ..errors import PrinterOfflineError
from ..models import ACTIVE_STATUSES, PrinterState
from .ftps import BambuFtpsClient, RemoteEntry, RemoteFileNotFoundError, ResumeRefusedError

FOLDERS: Final = ("/", "/cache", "/model", "/timelapse")
THUMBNAIL_FOLDER: Final = "thumbnail"
MAX_THUMBNAIL_BYTES: Final = 2 * 1024 * 1024

# Runs a blocking FTPS call in a worker thread that the adapter tracks (and awaits on stop).
ThreadRunner = Callable[..., Awaitable[Any]]


class BambuFiles:
    """`FileSource` for one Bambu printer (see `printers.base.FileSource`)."""

    def __init__(
        self,
        client: Callable[[], BambuFtpsClient | None],
        state: Callable[[], PrinterState],
        run: ThreadRunner,
    ) -> None:
        self._client = client
        self._state = state
        self._run = run

    @property
    def file_folders(self) -> tuple[str, ...]:
        """Root (LAN uploads), cache (Studio and cloud jobs), model, timelapse."""
        return FOLDERS

    async def list_folder(self, folder: str) -> list[RemoteFile]:
        """Files of one folder; timelapses learn whether the printer made a thumbnail."""
        client = self._require()
        try:
            entries: list[RemoteEntry] = await self._run(client.list_dir, folder)
        except RemoteFileNotFoundError as err:
            if folder == "/" or self._printing():
                raise PrinterBusyError(f"{folder}: the printer refuses listings now") from err
            raise RemoteMissingError(f"{folder}: no such folder") from err
        thumbnails: set[str] = set()
        if any(entry.is_dir and entry.name == THUMBNAIL_FOLDER for entry in entries):
            try:
                listed = await self._run(client.list_dir, posixpath.join(folder, THUMBNAIL_FOLDER))
            except RemoteFileNotFoundError:
                listed = []
            thumbnails = {entry.name for entry in listed if not entry.is_dir}
        return [
            RemoteFile(
                folder=folder,
                name=entry.name,
                size=entry.size,
                modified=entry.modified,
                kind=(kind := kind_of(entry.name)),
                has_thumbnail=kind is FileKind.TIMELAPSE
                and _thumbnail_name(entry.name) in thumbnails,
                path=entry.path,
            )
            for entry in entries
            if not entry.is_dir
        ]

    async def fetch_file(self, file: RemoteFile, sink: ChunkSink, *, offset: int = 0) -> None:
        """Stream the file in a worker thread; cancelling closes its connection and waits.

        A transfer resumes at `offset` with REST (firmware that refuses it: start again).
        """
        client = self._require()
        transfer = client.transfer()
        call = asyncio.ensure_future(
            self._run(
                client.retrieve, file.path or _path(file), sink, transfer=transfer, offset=offset
            )
        )
        try:
            await asyncio.shield(call)
        except asyncio.CancelledError:
            # A thread cannot be cancelled: end its sockets and let it see that.
            transfer.close()
            await asyncio.wait([call])
            if not call.cancelled():
                call.exception()  # the thread's error after its sockets were shut: expected
            raise
        except ResumeRefusedError as err:
            raise ResumeUnsupportedError(str(err)) from err
        except RemoteFileNotFoundError as err:
            if self._printing():
                raise PrinterBusyError(f"{file.name}: the printer refuses it now") from err
            raise RemoteMissingError(f"{file.name}: not on the printer any more") from err

    async def fetch_thumbnail(self, file: RemoteFile) -> bytes | None:
        """The JPEG the printer keeps for a timelapse in `<folder>/thumbnail/`."""
        if not file.has_thumbnail:
            return None
        client = self._require()
        chunks: list[bytes] = []
        path = posixpath.join(file.folder, THUMBNAIL_FOLDER, _thumbnail_name(file.name))
        try:
            await self._run(client.retrieve, path, chunks.append, max_bytes=MAX_THUMBNAIL_BYTES)
        except RemoteFileNotFoundError:
            return None
        return b"".join(chunks)

    async def delete_file(self, file: RemoteFile) -> None:
        """Delete on the SD card; a missing file is RemoteMissingError."""
        client = self._require()
        try:
            await self._run(client.delete, file.path or _path(file))
        except RemoteFileNotFoundError as err:
            raise RemoteMissingError(f"{file.name}: not on the printer") from err

    def in_use(self, file: RemoteFile) -> bool:
        """The running job's file (by its file or job name); any print file when unknown."""
        state = self._state()
        if state.status not in ACTIVE_STATUSES:
            return False
        job = state.job
        names = {posixpath.basename(job.file)} if job.file else set()
        if job.name:
            names |= {job.name, f"{job.name}.3mf", f"{job.name}.gcode.3mf", f"{job.name}.gcode"}
        if not names:
            return file.kind is FileKind.PRINT
        return file.name in names

    def _printing(self) -> bool:
        return self._state().status in ACTIVE_STATUSES

    def _require(self) -> BambuFtpsClient:
        client = self._client()
        if client is None:
            raise PrinterOfflineError("The printer is not connected")
        return client


def _path(file: RemoteFile) -> str:
    return posixpath.join(file.folder, file.name)


def _thumbnail_name(video: str) -> str:
    """`video_2026-12-01_10-00-00.mp4` -> `video_2026-12-01_10-00-00.jpg`."""
    stem = video.rsplit(".", 1)[0] if "." in video else video
    return f"{stem}.jpg"
