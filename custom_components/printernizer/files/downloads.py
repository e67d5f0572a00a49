"""The blocking half of a download: the sink a source streams into.

A source (FTPS in a worker thread, PrusaLink via the executor) calls the `PartWriter` with
each chunk; it writes the `.part` file, hashes on the way, and stops the transfer by raising
when the file grows past the size limit, the disk gets too full, or the user cancelled.
Memory stays flat: one chunk at a time, nothing kept.
"""

from __future__ import annotations

from collections.abc import Callable
import errno
import hashlib
import os
from pathlib import Path
import time
from typing import BinaryIO

from .model import FailureReason

# How often (bytes) the free-space check runs while writing; a check costs a statfs.
SPACE_CHECK_BYTES = 32 * 1024 * 1024
PROGRESS_INTERVAL = 0.5


class StopDownload(Exception):
    """Raised by the sink to end a transfer; `reason` is a FailureReason or None (cancelled)."""

    def __init__(self, reason: FailureReason | None, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PartWriter:
    """Streams chunks into a `.part` file with SHA-256, limits and cancellation.

    `open`, `__call__`, `restart`, `finish` and `discard` block: call them from a worker
    thread. `cancel` and the counters are safe from any thread.
    """

    def __init__(
        self,
        part: Path,
        *,
        max_bytes: int,
        min_free_bytes: int,
        free_space: Callable[[Path], int],
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.part = part
        self._max_bytes = max_bytes
        self._min_free = min_free_bytes
        self._free_space = free_space
        self._on_progress = on_progress
        self._file: BinaryIO | None = None
        self._hash = hashlib.sha256()
        self._next_check = 0
        self._last_progress = 0.0
        self.bytes_done = 0
        self.cancelled = False

    def cancel(self) -> None:
        """Make the next chunk stop the transfer (the source then closes its connection)."""
        self.cancelled = True

    def open(self) -> None:
        """Open the partial file for writing, refusing a symlink planted in its place."""
        fd = os.open(self.part, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
        self._file = os.fdopen(fd, "wb")

    def restart(self) -> None:
        """Start over for a retry: empty file, fresh hash."""
        if self._file is None:
            self.open()
        assert self._file is not None
        self._file.seek(0)
        self._file.truncate()
        self._hash = hashlib.sha256()
        self.bytes_done = 0
        self._next_check = 0

    def __call__(self, chunk: bytes) -> None:
        """Write one chunk; raises StopDownload to end the transfer."""
        if self.cancelled or self._file is None:
            raise StopDownload(None, "cancelled")
        done = self.bytes_done + len(chunk)
        if done > self._max_bytes:
            raise StopDownload(FailureReason.TOO_LARGE, f"larger than {self._max_bytes} bytes")
        if done >= self._next_check:
            self.check_space(SPACE_CHECK_BYTES)
            self._next_check = done + SPACE_CHECK_BYTES
        try:
            self._file.write(chunk)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StopDownload(FailureReason.DISK_FULL, "disk full") from err
            raise StopDownload(FailureReason.LOCAL_ERROR, f"cannot write: {err}") from err
        self._hash.update(chunk)
        self.bytes_done = done
        if self._on_progress is not None:
            now = time.monotonic()
            if now - self._last_progress >= PROGRESS_INTERVAL:
                self._last_progress = now
                self._on_progress(done)

    def check_space(self, needed: int) -> None:
        """Refuse when writing `needed` more bytes would leave less than the minimum free."""
        try:
            free = self._free_space(self.part.parent)
        except OSError as err:
            raise StopDownload(
                FailureReason.LOCAL_ERROR, f"cannot check free space: {err}"
            ) from err
        if free - needed < self._min_free:
            raise StopDownload(FailureReason.DISK_FULL, f"only {free} bytes free")

    def finish(self, dest: Path) -> str:
        """Flush, close and rename the partial file onto `dest`; returns the SHA-256 (hex)."""
        if self._file is None:
            self.open()
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self.part, dest)
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Close and delete the partial file (idempotent); later chunks are refused."""
        self.cancelled = True
        if self._file is not None:
            self._file.close()
            self._file = None
        self.part.unlink(missing_ok=True)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Delay before retry number `attempt` (1-based): base, 2*base, 4*base ... up to cap."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))
