"""What the file manager hands out: plain, frozen values with no Home Assistant in them.

Printers differ (Bambu folders over FTPS, PrusaLink storages over HTTP); these types are the
one shape both end up in, so the HA glue (actions, sensors, media browser) reads only these.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime as dt
from enum import StrEnum
from pathlib import Path

PRINT_SUFFIXES = (".3mf", ".gcode", ".bgcode", ".gco", ".g", ".bgc", ".gc")
TIMELAPSE_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")


class FileKind(StrEnum):
    """What a file is for, by its name."""

    PRINT = "print"
    TIMELAPSE = "timelapse"
    OTHER = "other"


class FileStatus(StrEnum):
    """Where a file stands, printer and local copy together."""

    ON_PRINTER = "on_printer"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    LOCAL_ONLY = "local_only"
    FAILED = "failed"


class DownloadState(StrEnum):
    """A download's life: queued -> running -> completed | failed | cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True once nothing will change any more."""
        return self in (DownloadState.COMPLETED, DownloadState.FAILED, DownloadState.CANCELLED)


class FailureReason(StrEnum):
    """Why a download failed; stable codes the HA glue turns into translated text."""

    NOT_FOUND = "not_found"
    TOO_LARGE = "too_large"
    DISK_FULL = "disk_full"
    PRINTER_UNAVAILABLE = "printer_unavailable"
    PRINTER_BUSY = "printer_busy"
    TRANSFER_FAILED = "transfer_failed"
    INTERRUPTED = "interrupted"
    LOCAL_ERROR = "local_error"


def kind_of(name: str) -> FileKind:
    """Print file, timelapse or other, by the name's suffix (case-insensitive)."""
    lowered = name.lower()
    if lowered.endswith(PRINT_SUFFIXES):
        return FileKind.PRINT
    if lowered.endswith(TIMELAPSE_SUFFIXES):
        return FileKind.TIMELAPSE
    return FileKind.OTHER


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteFile:
    """One file as a printer lists it.

    `folder` and `name` are what users see and what `FileManager.download` takes (`name` is the
    long name; both are untrusted text from the printer). `path` is the source's own handle for
    fetching it (the FTPS path, the PrusaLink download route); only the source reads it.
    `modified` is naive when the printer's clock has no zone (Bambu).
    """

    folder: str
    name: str
    size: int | None
    modified: dt.datetime | None
    kind: FileKind
    has_thumbnail: bool = False
    path: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FileEntry:
    """The merged view of one file: on the printer, copied locally, or both.

    `progress` is 0-100 while downloading; `local_path`/`sha256` are set for a local copy;
    `reason` is a `FailureReason` value for a failed download.
    """

    name: str
    folder: str
    size: int | None
    modified: dt.datetime | None
    kind: FileKind
    has_thumbnail: bool
    status: FileStatus
    progress: float | None = None
    local_path: Path | None = None
    sha256: str | None = None
    reason: str | None = None
    download_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadStatus:
    """A snapshot of one download, as listeners and `download_status` see it."""

    id: str
    serial: str
    folder: str
    name: str
    state: DownloadState
    bytes_done: int = 0
    bytes_total: int | None = None
    local_path: Path | None = None
    sha256: str | None = None
    error: str | None = None
    attempts: int = 0

    @property
    def progress(self) -> float | None:
        """Percent done, None while the size is unknown."""
        if self.state is DownloadState.COMPLETED:
            return 100.0
        if not self.bytes_total:
            return None
        return min(100.0, 100.0 * self.bytes_done / self.bytes_total)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileLimits:
    """The fleet's file settings.

    `max_parallel` caps downloads across all printers (each printer has one at a time);
    retries back off from `retry_delay` doubling up to `retry_delay_cap` seconds.
    """

    max_file_bytes: int = 2 * 1024**3
    min_free_bytes: int = 512 * 1024**2
    retries: int = 3
    retry_delay: float = 5.0
    retry_delay_cap: float = 120.0
    max_parallel: int = 2
    listing_backoff: float = 60.0
    listing_backoff_cap: float = 900.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanupCandidate:
    """A local file (or, when asked, a printer file) that cleanup would delete, and why.

    `why` is one of "partial", "old", "duplicate", "failed"; `on_printer` marks a printer file.
    """

    serial: str
    folder: str
    name: str
    size: int
    why: str
    local_path: Path | None = None
    on_printer: bool = False
    sha256: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanupResult:
    """What cleanup did (or, in a dry run, would do)."""

    dry_run: bool
    deleted: tuple[CleanupCandidate, ...]
    skipped: tuple[tuple[CleanupCandidate, str], ...] = ()

    @property
    def freed_bytes(self) -> int:
        """Bytes deleted (or that would be)."""
        return sum(candidate.size for candidate in self.deleted)
