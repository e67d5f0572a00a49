"""The file manager: one per Home Assistant, for every printer's files and their local copies.

HA-free and asyncio-only. Printers register a `FileSource` (their adapter); the manager lists
their folders (cached, refreshed on demand, a refusing folder backed off), merges the listing
with the local copies under `<root>/<serial>/<YYYY-MM>/`, and downloads in the background:
one transfer per printer, a small global limit, streamed through a `.part` file with SHA-256
on the way, an atomic rename, a size limit, a free-space check, retries with backoff, and
cancellation. Every blocking file operation goes through the `executor` given (HA passes
`hass.async_add_executor_job`); nothing touches the disk in the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
import contextlib
from dataclasses import dataclass, field, replace
import datetime as dt
import logging
import os
from pathlib import Path
import time
from typing import Any, Protocol, TypeVar
import uuid

from ..printers.base import FileSource
from ..printers.errors import (
    AdapterError,
    AuthenticationError,
    PrinterOfflineError,
    ProtocolError,
)
from . import local
from .downloads import PartWriter, StopDownload, backoff
from .errors import (
    FileInUseError,
    FileTooLargeError,
    NotEnoughSpaceError,
    PrinterBusyError,
    RemoteMissingError,
    ResumeUnsupportedError,
    UnknownDownloadError,
    UnknownFileError,
    UnknownPrinterError,
)
from .local import LocalRecord
from .model import (
    CleanupCandidate,
    CleanupResult,
    DownloadState,
    DownloadStatus,
    FailureReason,
    FileEntry,
    FileLimits,
    FileStatus,
    RemoteFile,
    kind_of,
)
from .names import UnsafePathError, contained

_LOGGER = logging.getLogger(__name__)

_T = TypeVar("_T")
DownloadListener = Callable[[DownloadStatus], None]
# Finished downloads kept for `download_status` after they end.
_KEEP_FINISHED = 200

# How old a scan of a printer's folder may be when only its local copies are asked for.
LOCAL_SCAN_TTL = 30.0


class Executor(Protocol):
    """Runs a blocking callable off the event loop (`hass.async_add_executor_job`)."""

    def __call__(self, target: Callable[..., _T], *args: Any) -> Awaitable[_T]:
        """Schedule `target(*args)` in a worker thread."""


def _default_executor(target: Callable[..., _T], *args: Any) -> Awaitable[_T]:
    return asyncio.get_running_loop().run_in_executor(None, target, *args)


@dataclass(slots=True)
class _Listing:
    """One printer's last remote listing per folder, and each folder's backoff."""

    folders: dict[str, tuple[RemoteFile, ...]] = field(default_factory=dict)
    listed_at: float | None = None
    retry_at: dict[str, float] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Printer:
    """What the manager holds for one printer."""

    serial: str
    source: FileSource
    directory: Path | None = None
    records: dict[tuple[str, str], LocalRecord] = field(default_factory=dict)
    local_files: dict[str, local.LocalFile] = field(default_factory=dict)
    listing: _Listing = field(default_factory=_Listing)
    transfer_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    list_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    loaded: bool = False
    scanned_at: float | None = None  # monotonic time of the last folder scan


@dataclass(slots=True)
class _Download:
    """A running or finished download (mutable; listeners get frozen snapshots)."""

    status: DownloadStatus
    remote: RemoteFile
    task: asyncio.Task[None] | None = None
    writer: PartWriter | None = None


class FileManager:
    """Listings, downloads and cleanup for every printer; see the module docstring.

    Call `start()` once before use and `stop()` on shutdown. Methods must be called from the
    event loop. Listeners get a `DownloadStatus` on every state change and on progress (at
    most twice a second per download), on the loop.
    """

    def __init__(
        self,
        root: Path,
        limits: FileLimits | None = None,
        *,
        executor: Executor | None = None,
        free_space: Callable[[Path], int] = local.free_bytes,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        """`free_space(path)` (blocking) reports free bytes; tests pass a fake disk."""
        self.root = root
        self.limits = limits or FileLimits()
        self._executor: Executor = executor or _default_executor
        self._free_space = free_space
        self._clock = clock
        self._printers: dict[str, _Printer] = {}
        self._downloads: dict[str, _Download] = {}
        self._listeners: list[DownloadListener] = []
        self._slots = asyncio.Semaphore(self.limits.max_parallel)
        self._started = False
        self._stopping = False

    # --- life cycle and printers

    async def start(self) -> None:
        """Clean up after a previous run: leftover `.part` files are deleted, marked failed."""
        self._stopping = False
        await self._executor(self.root.mkdir, 0o755, True, True)
        self._started = True
        for printer in list(self._printers.values()):
            await self._load(printer)

    async def stop(self) -> None:
        """Cancel every download and wait until none is left running."""
        self._stopping = True
        tasks = [d.task for d in self._downloads.values() if d.task and not d.task.done()]
        for download in self._downloads.values():
            if download.task in tasks and download.writer:
                download.writer.cancel()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def update_limits(self, limits: FileLimits) -> None:
        """New limits for downloads started from now on (the global slot count included)."""
        if limits.max_parallel != self.limits.max_parallel:
            self._slots = asyncio.Semaphore(limits.max_parallel)
        self.limits = limits

    def add_printer(self, serial: str, source: FileSource) -> None:
        """Register (or replace, after a reconnect) a printer's file source."""
        known = self._printers.get(serial)
        if known is not None:
            known.source = source
            return
        self._printers[serial] = _Printer(serial=serial, source=source)

    async def remove_printer(self, serial: str) -> None:
        """Forget a printer: its downloads are cancelled; its local copies stay on disk."""
        printer = self._printers.pop(serial, None)
        if printer is None:
            return
        tasks = []
        for download in self._downloads.values():
            if download.status.serial == serial and download.task and not download.task.done():
                if download.writer:
                    download.writer.cancel()
                download.task.cancel()
                tasks.append(download.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def add_listener(self, listener: DownloadListener) -> Callable[[], None]:
        """Call `listener` with download updates; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # --- listing

    async def list_files(self, serial: str, *, refresh: bool = False) -> list[FileEntry]:
        """The printer's files merged with their local copies, newest first.

        The remote listing is cached: fetched on the first call and when `refresh` is True
        (folders that refused recently are skipped until their backoff ends and keep their
        last listing). Raises an `AdapterError` only when the printer cannot be listed and no
        earlier listing exists; local copies are listed even then via `local_entries`.
        """
        printer = self._printer(serial)
        await self._load(printer)
        if refresh or printer.listing.listed_at is None:
            await self._refresh(printer)
        return self._merge(printer)

    async def local_entries(self, serial: str) -> list[FileEntry]:
        """Only the local copies of a printer (no printer contact); works for removed ones.

        Served from what the manager knows (its downloads and cleanups keep it current); the
        folder is read again only when the last scan is older than LOCAL_SCAN_TTL, which is
        how a copy deleted by hand stops being shown.
        """
        printer = self._printers.get(serial)
        if printer is None:
            printer = _Printer(serial=serial, source=_NoSource())
        scanned = printer.scanned_at
        stale = scanned is None or time.monotonic() - scanned >= LOCAL_SCAN_TTL
        await self._load(printer, rescan=stale)
        return [entry for entry in self._merge(printer) if entry.local_path is not None]

    def invalidate(self, serial: str) -> None:
        """Make the next `list_files` fetch afresh (e.g. after a print ended)."""
        if printer := self._printers.get(serial):
            printer.listing.listed_at = None

    def listed_at(self, serial: str) -> float | None:
        """Monotonic time of the last successful listing, None before the first."""
        printer = self._printers.get(serial)
        return printer.listing.listed_at if printer else None

    async def _refresh(self, printer: _Printer) -> None:
        async with printer.list_lock:
            listing = printer.listing
            now = time.monotonic()
            errors: list[AdapterError] = []
            listed = 0
            for folder in printer.source.file_folders:
                if listing.retry_at.get(folder, 0) > now:
                    continue
                try:
                    files = await printer.source.list_folder(folder)
                except PrinterBusyError as err:
                    self._back_off(listing, folder, now)
                    _LOGGER.debug(
                        "%s: %s busy, next try in %.0f s: %s",
                        printer.serial,
                        folder,
                        listing.delay[folder],
                        err,
                    )
                    continue
                except RemoteMissingError:
                    listing.folders[folder] = ()
                    listed += 1
                    continue
                except AuthenticationError:
                    raise
                except AdapterError as err:
                    errors.append(err)
                    break
                listing.folders[folder] = tuple(files)
                listing.retry_at.pop(folder, None)
                listing.delay.pop(folder, None)
                listed += 1
            if listed:
                listing.listed_at = now
            elif errors and listing.listed_at is None:
                raise errors[0]
            await self._load(printer, rescan=True)

    def _back_off(self, listing: _Listing, folder: str, now: float) -> None:
        limits = self.limits
        delay = listing.delay.get(folder)
        delay = (
            limits.listing_backoff if delay is None else min(delay * 2, limits.listing_backoff_cap)
        )
        listing.delay[folder] = delay
        listing.retry_at[folder] = now + delay

    def _merge(self, printer: _Printer) -> list[FileEntry]:
        active = {
            (d.status.folder, d.status.name): d
            for d in self._downloads.values()
            if d.status.serial == printer.serial and not d.status.state.finished
        }
        entries: list[FileEntry] = []
        seen_local: set[str] = set()
        for files in printer.listing.folders.values():
            for remote in files:
                key = (remote.folder, remote.name)
                record = printer.records.get(key)
                entries.append(self._remote_entry(printer, remote, record, active.get(key)))
                if record is not None:
                    seen_local.add(record.relpath)
        listed = {
            key
            for files in printer.listing.folders.values()
            for key in ((f.folder, f.name) for f in files)
        }
        for key, record in printer.records.items():
            if key in listed or record.state != "done":
                continue
            file = printer.local_files.get(record.relpath)
            if file is None:
                continue
            seen_local.add(record.relpath)
            entries.append(
                FileEntry(
                    name=record.name,
                    folder=record.folder,
                    size=file.size,
                    modified=_parse_time(record.remote_modified) or file.modified,
                    kind=kind_of(record.name),
                    has_thumbnail=file.has_cover,
                    status=FileStatus.LOCAL_ONLY,
                    local_path=self._local_path(printer, record.relpath),
                    sha256=record.sha256,
                )
            )
        for relpath, file in printer.local_files.items():
            if relpath in seen_local:
                continue
            entries.append(
                FileEntry(
                    name=relpath.rpartition("/")[2],
                    folder="",
                    size=file.size,
                    modified=file.modified,
                    kind=kind_of(relpath),
                    has_thumbnail=file.has_cover,
                    status=FileStatus.LOCAL_ONLY,
                    local_path=self._local_path(printer, relpath),
                )
            )
        epoch = dt.datetime.min
        entries.sort(
            key=lambda e: (e.modified.replace(tzinfo=None) if e.modified else epoch, e.name),
            reverse=True,
        )
        return entries

    def _remote_entry(
        self,
        printer: _Printer,
        remote: RemoteFile,
        record: LocalRecord | None,
        download: _Download | None,
    ) -> FileEntry:
        entry = FileEntry(
            name=remote.name,
            folder=remote.folder,
            size=remote.size,
            modified=remote.modified,
            kind=remote.kind,
            has_thumbnail=remote.has_thumbnail,
            status=FileStatus.ON_PRINTER,
        )
        if download is not None:
            status = download.status
            return replace(
                entry,
                status=FileStatus.DOWNLOADING,
                progress=status.progress or 0.0,
                download_id=status.id,
            )
        if record is None:
            return entry
        if record.state == "done" and record.relpath in printer.local_files:
            return replace(
                entry,
                status=FileStatus.DOWNLOADED,
                local_path=self._local_path(printer, record.relpath),
                sha256=record.sha256,
            )
        if record.state in ("failed", "partial"):
            return replace(
                entry, status=FileStatus.FAILED, reason=record.reason or FailureReason.INTERRUPTED
            )
        return entry

    def _local_path(self, printer: _Printer, relpath: str) -> Path | None:
        return printer.directory / relpath if printer.directory else None

    # --- downloads

    async def download(self, serial: str, folder: str, name: str) -> str:
        """Start downloading a listed file in the background; returns the download id.

        A download of the same file already under way returns its id. Refuses at once a file
        over the size limit (FileTooLargeError), one the disk has no room for
        (NotEnoughSpaceError) and one not in the listing (UnknownFileError, after one refresh).
        """
        printer = self._printer(serial)
        for known in self._downloads.values():
            status = known.status
            if (status.serial, status.folder, status.name) == (serial, folder, name) and (
                not status.state.finished
            ):
                return status.id
        remote = self._find(printer, folder, name)
        if remote is None:
            await self.list_files(serial, refresh=True)
            remote = self._find(printer, folder, name)
        if remote is None:
            raise UnknownFileError(f"{folder}/{name} is not on {serial}", folder=folder, name=name)
        limits = self.limits
        if remote.size is not None and remote.size > limits.max_file_bytes:
            raise FileTooLargeError(
                f"{name} has {remote.size} bytes, the limit is {limits.max_file_bytes}",
                size=str(remote.size),
                limit=str(limits.max_file_bytes),
            )
        await self._load(printer)
        free = await self._executor(self._free_space, printer.directory or self.root)
        if free - (remote.size or 0) < limits.min_free_bytes:
            raise NotEnoughSpaceError(
                f"{free} bytes free, {limits.min_free_bytes} must stay free",
                free=str(free),
            )
        download_id = uuid.uuid4().hex
        download = _Download(
            status=DownloadStatus(
                id=download_id,
                serial=serial,
                folder=folder,
                name=name,
                state=DownloadState.QUEUED,
                bytes_total=remote.size,
            ),
            remote=remote,
        )
        self._downloads[download_id] = download
        self._prune()
        download.task = asyncio.get_running_loop().create_task(
            self._run(printer, download), name=f"printernizer-download-{serial}"
        )
        # A task cancelled before its first step never enters `_run`: end it here instead.
        download.task.add_done_callback(lambda task: self._cancelled(download, task))
        self._notify(download)
        return download_id

    def download_status(self, download_id: str) -> DownloadStatus:
        """The latest status of a download; UnknownDownloadError for an unknown id."""
        download = self._downloads.get(download_id)
        if download is None:
            raise UnknownDownloadError(f"no download {download_id}", id=download_id)
        return download.status

    def downloads(self, serial: str | None = None) -> list[DownloadStatus]:
        """All known downloads (running and recently finished), optionally of one printer."""
        return [
            d.status
            for d in self._downloads.values()
            if serial is None or d.status.serial == serial
        ]

    async def cancel(self, download_id: str) -> DownloadStatus:
        """Cancel a download and wait until its transfer has ended; returns the final status.

        Cancelling a finished download changes nothing.
        """
        download = self._downloads.get(download_id)
        if download is None:
            raise UnknownDownloadError(f"no download {download_id}", id=download_id)
        task = download.task
        if task is not None and not task.done():
            if download.writer:
                download.writer.cancel()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._cancelled(download, task)
        return download.status

    def _cancelled(self, download: _Download, task: asyncio.Task[None]) -> None:
        """Mark a cancelled download that never got to say so itself (it was still queued)."""
        if task.cancelled() and not download.status.state.finished:
            self._set(download, state=DownloadState.CANCELLED, error="cancelled")

    async def _run(self, printer: _Printer, download: _Download) -> None:
        """Wait for a slot and the printer, then transfer with retries."""
        try:
            async with self._slots, printer.transfer_lock:
                await self._transfer(printer, download)
        except asyncio.CancelledError:
            self._set(download, state=DownloadState.CANCELLED, error="cancelled")
            raise
        except Exception as err:  # a bug must still end the download visibly
            _LOGGER.exception("%s: download of %s failed", printer.serial, download.remote.name)
            self._set(download, state=DownloadState.FAILED, error=FailureReason.LOCAL_ERROR)
            raise err from None

    async def _transfer(self, printer: _Printer, download: _Download) -> None:
        remote = download.remote
        limits = self.limits
        directory = printer.directory
        assert directory is not None
        month = self._clock().strftime("%Y-%m")
        key = (remote.folder, remote.name)
        taken = {r.relpath for k, r in printer.records.items() if k != key}
        own = printer.records[key].relpath if key in printer.records else None
        try:
            dest, relpath = await self._executor(
                local.target, directory, remote.name, month, taken.__contains__, own
            )
            part = await self._executor(local.part_path, dest)
        except (OSError, UnsafePathError) as err:
            _LOGGER.warning("%s: cannot store %s: %s", printer.serial, remote.name, err)
            await self._fail(printer, download, FailureReason.LOCAL_ERROR, None)
            return
        loop = asyncio.get_running_loop()

        def progress(done: int) -> None:
            loop.call_soon_threadsafe(self._progress, download, done)

        writer = download.writer = PartWriter(
            part,
            max_bytes=limits.max_file_bytes,
            min_free_bytes=limits.min_free_bytes,
            free_space=self._free_space,
            on_progress=progress,
        )
        previous = printer.records.get(key)
        await self._record(
            printer,
            LocalRecord(
                folder=remote.folder,
                name=remote.name,
                relpath=relpath,
                state="partial",
                part=part.name,
                saved_at=self._clock().isoformat(),
            ),
        )
        attempt = 0
        resumable = True
        try:
            while True:
                attempt += 1
                # A retry continues where the cut transfer stopped, when the source can.
                offset = writer.bytes_done if attempt > 1 and resumable else 0
                self._set(
                    download, state=DownloadState.RUNNING, bytes_done=offset, attempts=attempt
                )
                try:
                    if not offset:
                        await self._executor(writer.restart)
                    await printer.source.fetch_file(remote, writer, offset=offset)
                    if remote.size is not None and writer.bytes_done != remote.size:
                        raise ProtocolError(
                            f"got {writer.bytes_done} of {remote.size} bytes of {remote.name}"
                        )
                    sha256 = await self._executor(writer.finish, dest)
                except StopDownload as err:
                    if err.reason is None:
                        raise asyncio.CancelledError from err
                    await self._fail(printer, download, err.reason, relpath)
                    return
                except OSError as err:
                    _LOGGER.warning("%s: cannot store %s: %s", printer.serial, remote.name, err)
                    await self._fail(printer, download, FailureReason.LOCAL_ERROR, relpath)
                    return
                except ResumeUnsupportedError:
                    if not offset:
                        raise
                    resumable = False  # start again from byte 0; not counted as a try
                    attempt -= 1
                    continue
                except AdapterError as err:
                    reason = _reason(err)
                    # A vanished file and refused credentials stay so: no retry.
                    final = isinstance(err, AuthenticationError | RemoteMissingError)
                    if attempt > limits.retries or final:
                        await self._fail(printer, download, reason, relpath)
                        return
                    delay = backoff(attempt, limits.retry_delay, limits.retry_delay_cap)
                    _LOGGER.debug(
                        "%s: download of %s failed (%s), retry %d in %.1f s",
                        printer.serial,
                        remote.name,
                        err,
                        attempt,
                        delay,
                    )
                    self._set(download, error=reason)
                    await asyncio.sleep(delay)
                    continue
                break
        except BaseException:
            await asyncio.shield(self._forget(printer, writer, key, previous))
            raise
        info = await self._executor(dest.stat)
        record = LocalRecord(
            folder=remote.folder,
            name=remote.name,
            relpath=relpath,
            state="done",
            size=info.st_size,
            sha256=sha256,
            remote_modified=remote.modified.isoformat() if remote.modified else None,
            saved_at=self._clock().isoformat(),
        )
        printer.local_files[relpath] = local.LocalFile(
            relpath=relpath,
            size=info.st_size,
            modified=dt.datetime.fromtimestamp(info.st_mtime, dt.UTC),
        )
        await self._record(printer, record)
        if remote.has_thumbnail:
            await self._keep_cover(printer, remote, dest, relpath)
        self._set(
            download,
            state=DownloadState.COMPLETED,
            bytes_done=info.st_size,
            bytes_total=info.st_size,
            local_path=dest,
            sha256=sha256,
            error=None,
        )

    async def _keep_cover(
        self, printer: _Printer, remote: RemoteFile, dest: Path, relpath: str
    ) -> None:
        """Keep the printer's preview beside the local copy (the media browser shows it)."""
        try:
            image = await printer.source.fetch_thumbnail(remote)
        except AdapterError as err:
            _LOGGER.debug("%s: no preview for %s: %s", printer.serial, remote.name, err)
            return
        if not image or len(image) > local.MAX_COVER_BYTES:
            return
        try:
            await self._executor(local.write_cover, dest, image)
        except OSError as err:
            _LOGGER.debug("%s: cannot keep the preview of %s: %s", printer.serial, remote.name, err)
            return
        if file := printer.local_files.get(relpath):
            printer.local_files[relpath] = replace(file, has_cover=True)

    async def _fail(
        self, printer: _Printer, download: _Download, reason: FailureReason, relpath: str | None
    ) -> None:
        if download.writer is not None:
            await self._executor(download.writer.discard)
        remote = download.remote
        key = (remote.folder, remote.name)
        old = printer.records.get(key)
        if old is not None and old.state == "done" and old.relpath in printer.local_files:
            pass  # an earlier complete copy stays what the listing shows
        else:
            await self._record(
                printer,
                LocalRecord(
                    folder=remote.folder,
                    name=remote.name,
                    relpath=relpath or "",
                    state="failed",
                    reason=reason,
                    saved_at=self._clock().isoformat(),
                ),
            )
        self._set(download, state=DownloadState.FAILED, error=reason)

    async def _forget(
        self,
        printer: _Printer,
        writer: PartWriter,
        key: tuple[str, str],
        previous: LocalRecord | None,
    ) -> None:
        """After a cancel: no partial file, and the record as it was before."""
        await self._executor(writer.discard)
        if previous is None:
            printer.records.pop(key, None)
        else:
            printer.records[key] = previous
        if printer.directory is not None:
            await self._executor(local.save_index, printer.directory, dict(printer.records))

    async def _record(self, printer: _Printer, record: LocalRecord) -> None:
        printer.records[(record.folder, record.name)] = record
        if printer.directory is not None:
            await self._executor(local.save_index, printer.directory, dict(printer.records))

    def _progress(self, download: _Download, done: int) -> None:
        if download.status.state is DownloadState.RUNNING and done != download.status.bytes_done:
            self._set(download, bytes_done=done)

    def _set(self, download: _Download, **changes: Any) -> None:
        download.status = replace(download.status, **changes)
        self._notify(download)

    def _notify(self, download: _Download) -> None:
        for listener in list(self._listeners):
            try:
                listener(download.status)
            except Exception:
                _LOGGER.exception("Download listener failed")

    def _prune(self) -> None:
        finished = [k for k, d in self._downloads.items() if d.status.state.finished]
        for key in finished[: max(0, len(self._downloads) - _KEEP_FINISHED)]:
            del self._downloads[key]

    # --- printer files

    async def delete_remote(self, serial: str, folder: str, name: str) -> None:
        """Delete a file on the printer (explicit user request); never the one being printed."""
        printer = self._printer(serial)
        remote = self._find(printer, folder, name)
        if remote is None:
            await self.list_files(serial, refresh=True)
            remote = self._find(printer, folder, name)
        if remote is None:
            raise UnknownFileError(f"{folder}/{name} is not on {serial}", folder=folder, name=name)
        if printer.source.in_use(remote):
            raise FileInUseError(f"{name} is being printed", name=name)
        async with printer.transfer_lock:
            await printer.source.delete_file(remote)
        for key, files in printer.listing.folders.items():
            if remote in files:
                printer.listing.folders[key] = tuple(f for f in files if f is not remote)

    async def thumbnail(self, serial: str, folder: str, name: str) -> bytes | None:
        """A file's preview: the one kept with its local copy, else the printer's; or None."""
        printer = self._printer(serial)
        record = printer.records.get((folder, name))
        if record is not None and record.state == "done" and printer.directory is not None:
            file = printer.local_files.get(record.relpath)
            if file is not None and file.has_cover:
                image = await self._executor(local.read_cover, printer.directory / record.relpath)
                if image is not None:
                    return image
        remote = self._find(printer, folder, name)
        if remote is None or not remote.has_thumbnail:
            return None
        return await printer.source.fetch_thumbnail(remote)

    async def local_thumbnail(self, path: Path) -> bytes | None:
        """The preview kept with a local copy (by its path, e.g. from the media browser).

        None unless `path` is a local copy in a printer's month folder under the root.
        """
        parts = path.parts[-3:]
        base = path.parent.parent.parent
        if len(parts) != 3 or (
            base != self.root and base != Path(await self._executor(os.path.realpath, self.root))
        ):
            return None
        try:
            checked = await self._executor(contained, self.root, *parts)
        except UnsafePathError:
            return None
        return await self._executor(local.read_cover, checked)

    # --- cleanup

    async def cleanup_candidates(
        self,
        older_than_days: float | None = None,
        *,
        serial: str | None = None,
        min_bytes: int = 0,
        duplicates: bool = True,
        failed: bool = True,
        include_printer: bool = False,
    ) -> list[CleanupCandidate]:
        """What cleanup would delete: leftovers, old and duplicate local copies.

        Local copies older than `older_than_days` (by when they were saved) and at least
        `min_bytes` big; later copies with the same SHA-256 as an earlier one; partial files
        no download is writing. With `include_printer`, printer files older than the age too
        (still deleted only when `cleanup` is told `on_printer=True`).
        """
        now = self._clock()
        cutoff = now - dt.timedelta(days=older_than_days) if older_than_days is not None else None
        candidates: list[CleanupCandidate] = []
        for printer in await self._cleanup_printers(serial):
            writing = {
                d.writer.part
                for d in self._downloads.values()
                if d.writer and d.status.serial == printer.serial and not d.status.state.finished
            }
            assert printer.directory is not None
            _, partials = await self._executor(local.scan, printer.directory)
            if failed:
                for part in partials:
                    if part in writing:
                        continue
                    size = await self._executor(_size, part)
                    candidates.append(
                        CleanupCandidate(
                            serial=printer.serial,
                            folder="",
                            name=part.name,
                            size=size,
                            why="partial",
                            local_path=part,
                        )
                    )
            by_path = {r.relpath: r for r in printer.records.values() if r.state == "done"}
            hashes: dict[str, str] = {}
            ordered = sorted(printer.local_files.values(), key=lambda f: (f.modified, f.relpath))
            for file in ordered:
                record = by_path.get(file.relpath)
                candidate = CleanupCandidate(
                    serial=printer.serial,
                    folder=record.folder if record else "",
                    name=record.name if record else file.relpath.rpartition("/")[2],
                    size=file.size,
                    why="old",
                    local_path=printer.directory / file.relpath,
                    sha256=record.sha256 if record else None,
                )
                saved = _parse_time(record.saved_at) if record else None
                when = saved or file.modified
                if duplicates and record and record.sha256:
                    first = hashes.setdefault(record.sha256, file.relpath)
                    if first != file.relpath:
                        candidates.append(replace(candidate, why="duplicate"))
                        continue
                if cutoff is not None and _aware(when) < cutoff and file.size >= min_bytes:
                    candidates.append(candidate)
            if include_printer and cutoff is not None:
                for files in printer.listing.folders.values():
                    for remote in files:
                        if remote.modified is None or _aware(remote.modified) >= cutoff:
                            continue
                        if (remote.size or 0) < min_bytes or printer.source.in_use(remote):
                            continue
                        candidates.append(
                            CleanupCandidate(
                                serial=printer.serial,
                                folder=remote.folder,
                                name=remote.name,
                                size=remote.size or 0,
                                why="old",
                                on_printer=True,
                            )
                        )
        return candidates

    async def cleanup(
        self,
        candidates: Iterable[CleanupCandidate],
        *,
        dry_run: bool = True,
        on_printer: bool = False,
    ) -> CleanupResult:
        """Delete candidates (from `cleanup_candidates`); a dry run by default.

        Each local path is checked again: it must still be a file in a printer's folder under
        the root (a candidate is caller data). Printer files are deleted only with
        `on_printer=True`, and never the file being printed.
        """
        deleted: list[CleanupCandidate] = []
        skipped: list[tuple[CleanupCandidate, str]] = []
        for candidate in candidates:
            if candidate.on_printer:
                reason = await self._cleanup_remote(candidate, dry_run=dry_run, allowed=on_printer)
            else:
                reason = await self._cleanup_local(candidate, dry_run=dry_run)
            if reason is None:
                deleted.append(candidate)
            else:
                skipped.append((candidate, reason))
        return CleanupResult(dry_run=dry_run, deleted=tuple(deleted), skipped=tuple(skipped))

    async def _cleanup_remote(
        self, candidate: CleanupCandidate, *, dry_run: bool, allowed: bool
    ) -> str | None:
        if not allowed:
            return "printer_not_allowed"
        printer = self._printers.get(candidate.serial)
        if printer is None:
            return "unknown_printer"
        remote = self._find(printer, candidate.folder, candidate.name)
        if remote is None:
            return "not_found"
        if printer.source.in_use(remote):
            return "in_use"
        if dry_run:
            return None
        try:
            await self.delete_remote(candidate.serial, candidate.folder, candidate.name)
        except FileInUseError:
            return "in_use"
        except AdapterError as err:
            _LOGGER.debug("%s: cannot delete %s: %s", candidate.serial, candidate.name, err)
            return "printer_error"
        return None

    async def _cleanup_local(self, candidate: CleanupCandidate, *, dry_run: bool) -> str | None:
        path = candidate.local_path
        if path is None:
            return "no_local_copy"
        printer = self._printers.get(candidate.serial) or _Printer(
            serial=candidate.serial, source=_NoSource()
        )
        await self._load(printer)
        directory = printer.directory
        if directory is None or path.parent.parent != directory:
            return "outside_folder"
        if any(d.writer and d.writer.part == path for d in self._downloads.values()):
            return "in_use"
        try:
            await self._executor(contained, directory, path.parent.name, path.name)
        except UnsafePathError:
            return "outside_folder"
        if dry_run:
            return None
        if not await self._executor(local.remove, path):
            return "not_found"
        relpath = f"{path.parent.name}/{path.name}"
        printer.local_files.pop(relpath, None)
        stale = [k for k, r in printer.records.items() if r.relpath == relpath]
        for key in stale:
            del printer.records[key]
        if stale:
            await self._executor(local.save_index, directory, dict(printer.records))
        return None

    async def _cleanup_printers(self, serial: str | None) -> list[_Printer]:
        printers = [self._printer(serial)] if serial else [*self._printers.values()]
        for printer in printers:
            await self._load(printer, rescan=True)
        return printers

    async def usage(self, serial: str) -> int:
        """Bytes of complete local copies of one printer."""
        printer = self._printers.get(serial) or _Printer(serial=serial, source=_NoSource())
        await self._load(printer, rescan=True)
        return sum(file.size for file in printer.local_files.values())

    # --- helpers

    def _printer(self, serial: str) -> _Printer:
        printer = self._printers.get(serial)
        if printer is None:
            raise UnknownPrinterError(f"no file source for {serial}", serial=serial)
        return printer

    @staticmethod
    def _find(printer: _Printer, folder: str, name: str) -> RemoteFile | None:
        """The listed file; a source may list subfolders' files under their storage."""
        listing = printer.listing.folders
        for files in (listing.get(folder, ()), *listing.values()):
            for remote in files:
                if remote.folder == folder and remote.name == name:
                    return remote
        return None

    @staticmethod
    def _cut_short(printer: _Printer, record: LocalRecord) -> bool:
        """A complete copy whose file on disk is not as long as it was written."""
        file = printer.local_files.get(record.relpath)
        return file is not None and file.size != record.size

    async def _load(self, printer: _Printer, *, rescan: bool = False) -> None:
        """Read the printer's index and folder once (and rescan on request).

        The first load also turns leftovers of a previous run into failed downloads: their
        `.part` files are deleted and their records say "interrupted".
        """
        if printer.loaded and not rescan:
            return
        if printer.directory is None:
            printer.directory = await self._executor(local.printer_dir, self.root, printer.serial)
        directory = printer.directory
        if not printer.loaded:
            printer.records = await self._executor(local.load_index, directory)
        files, partials = await self._executor(local.scan, directory)
        printer.local_files = {file.relpath: file for file in files}
        printer.scanned_at = time.monotonic()
        if printer.loaded:
            return
        printer.loaded = True
        writing = {d.writer.part for d in self._downloads.values() if d.writer}
        leftovers = [part for part in partials if part not in writing]
        for part in leftovers:
            await self._executor(local.remove, part)
        changed = False
        for key, record in list(printer.records.items()):
            if record.state == "partial":
                printer.records[key] = replace(
                    record, state="failed", reason=FailureReason.INTERRUPTED, part=None
                )
                changed = True
            elif record.state == "done" and self._cut_short(printer, record):
                # Written but not yet on disk at a power cut (downloads do not fsync).
                _LOGGER.warning(
                    "%s: %s is shorter than downloaded (power cut?), removed",
                    printer.serial,
                    record.relpath,
                )
                await self._executor(local.remove, directory / record.relpath)
                del printer.local_files[record.relpath]
                printer.records[key] = replace(
                    record, state="failed", reason=FailureReason.INTERRUPTED, sha256=None
                )
                changed = True
        if changed:
            await self._executor(local.save_index, directory, dict(printer.records))
        if leftovers or changed:
            _LOGGER.info(
                "%s: %d partial download(s) from before the restart removed",
                printer.serial,
                len(leftovers),
            )


class _NoSource:
    """The source of a printer that is not connected: no files, nothing to fetch."""

    file_folders: tuple[str, ...] = ()

    async def list_folder(self, folder: str) -> list[RemoteFile]:
        return []

    async def fetch_file(
        self, file: RemoteFile, sink: Callable[[bytes], None], *, offset: int = 0
    ) -> None:
        raise RemoteMissingError("printer not connected")

    async def fetch_thumbnail(self, file: RemoteFile) -> bytes | None:
        return None

    async def delete_file(self, file: RemoteFile) -> None:
        raise RemoteMissingError("printer not connected")

    def in_use(self, file: RemoteFile) -> bool:
        return True


def _reason(err: AdapterError) -> FailureReason:
    if isinstance(err, RemoteMissingError):
        return FailureReason.NOT_FOUND
    if isinstance(err, PrinterBusyError):
        return FailureReason.PRINTER_BUSY
    if isinstance(err, PrinterOfflineError):
        return FailureReason.PRINTER_UNAVAILABLE
    return FailureReason.TRANSFER_FAILED


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    with contextlib.suppress(ValueError):
        return dt.datetime.fromisoformat(text)
    return None


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _size(path: Path) -> int:
    try:
        return path.stat(follow_symlinks=False).st_size
    except FileNotFoundError:
        return 0
