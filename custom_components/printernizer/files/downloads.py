"""The blocking half of a download: the sink a source streams into.

A source (FTPS in a worker thread, PrusaLink via the executor) calls the `PartWriter` with
each chunk. The writer checks the limits at once (size, free space, cancel) and stops the
transfer by raising; the bytes themselves are copied into 1 MiB buffers that a thread of the
writer's own writes to the `.part` file and hashes, so SHA-256 and the disk overlap with
receiving instead of adding to it (hashlib and file writes release the GIL for such pieces).
The buffers are a small pool reused for the whole download (fresh megabyte buffers would be
mapped and unmapped by malloc each time, which costs more system time than the copy); when
all are in flight the receiver waits. Memory stays flat: a few megabytes, nothing kept.

The finished file is renamed into place without an fsync of its data: the rename is atomic
for HA restarts and crashes, and a copy the kernel had not written out before a power cut
(shorter than its record says) is found and dropped by the manager's next start. Waiting for
the disk would bound every download by the disk's write speed, which a plain download (a
browser's, curl's) never waits for either.
"""

from __future__ import annotations

from collections.abc import Callable
import errno
import hashlib
import os
from pathlib import Path
import queue
import threading
import time
from typing import Any

from .model import FailureReason

# How often (bytes) the free-space check runs while writing; a check costs a statfs.
SPACE_CHECK_BYTES = 32 * 1024 * 1024
PROGRESS_INTERVAL = 0.5
# The writing thread's unit, and how many pooled buffers a download may hold.
PIECE_BYTES = 1024 * 1024
POOLED_PIECES = 4

# A piece for the writing thread: data, its length, and whether it is a pooled buffer.
type _Piece = tuple[bytes | bytearray, int, bool]


class StopDownload(Exception):
    """Raised by the sink to end a transfer; `reason` is a FailureReason or None (cancelled)."""

    def __init__(self, reason: FailureReason | None, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PartWriter:
    """Streams chunks into a `.part` file with SHA-256, limits and cancellation.

    `open`, `__call__`, `restart`, `finish` and `discard` block: call them from a worker
    thread, one at a time. `cancel` and the counters are safe from any thread. `bytes_done`
    counts the bytes accepted (a resumed transfer continues there); every accepted byte is
    written before `finish` returns, or the download fails.
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
        self._fd: int | None = None
        self._hash: Any = hashlib.sha256()
        # The buffer being filled, how far, and the pool's buffers not in the writer's hands.
        self._buffer: bytearray | None = None
        self._filled = 0
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._pooled = 0
        self._pieces: queue.Queue[_Piece | None] | None = None
        self._thread: threading.Thread | None = None
        self._error: StopDownload | None = None
        self._drop = False
        # Serialises open/restart/finish/discard: a cancelled download's discard can run
        # while the restart it interrupted still runs in another executor thread.
        self._lock = threading.RLock()
        self._next_check = 0
        self._last_progress = 0.0
        self.bytes_done = 0
        self.cancelled = False

    def cancel(self) -> None:
        """Make the next chunk stop the transfer (the source then closes its connection)."""
        self.cancelled = True

    def open(self) -> None:
        """Open the partial file for writing, refusing a symlink planted in its place."""
        with self._lock:
            if self.cancelled:
                raise StopDownload(None, "cancelled")
            self._fd = os.open(self.part, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
            self._start()

    def restart(self) -> None:
        """Start over for a retry: empty file, fresh hash."""
        with self._lock:
            self._restart()

    def _restart(self) -> None:
        if self._fd is None:
            self.open()  # O_TRUNC: already empty
            return
        self._stop(drop=True)
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self._hash = hashlib.sha256()
        self._filled = 0
        self._error = None
        self.bytes_done = 0
        self._next_check = 0
        self._start()

    def __call__(self, chunk: bytes) -> None:
        """Accept one chunk; raises StopDownload to end the transfer."""
        if self.cancelled or self._fd is None:
            raise StopDownload(None, "cancelled")
        if self._error is not None:
            raise self._error
        size = len(chunk)
        done = self.bytes_done + size
        if done > self._max_bytes:
            raise StopDownload(FailureReason.TOO_LARGE, f"larger than {self._max_bytes} bytes")
        if done >= self._next_check:
            self.check_space(SPACE_CHECK_BYTES)
            self._next_check = done + SPACE_CHECK_BYTES
        if not self._filled and size >= PIECE_BYTES:
            self._hand_over((chunk, size, False))  # already a piece: no copy
        else:
            self._copy(memoryview(chunk))
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
        """Write what is left, close and rename onto `dest`; returns the SHA-256 (hex)."""
        with self._lock:
            return self._finish(dest)

    def _finish(self, dest: Path) -> str:
        if self._fd is None:
            self.open()
        assert self._fd is not None
        if self._filled:
            assert self._buffer is not None
            self._hand_over((self._buffer, self._filled, True))
            self._buffer, self._filled = None, 0
        self._stop(drop=False)
        if self._error is not None:
            raise self._error
        os.close(self._fd)
        self._fd = None
        os.replace(self.part, dest)
        return str(self._hash.hexdigest())

    def discard(self) -> None:
        """Close and delete the partial file (idempotent); later chunks are refused."""
        self.cancelled = True
        with self._lock:
            self._stop(drop=True)
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self.part.unlink(missing_ok=True)

    def _copy(self, data: memoryview) -> None:
        """Copy `data` into pooled buffers, handing each full one to the writing thread."""
        while data:
            if self._buffer is None:
                self._buffer = self._take_buffer()
            room = PIECE_BYTES - self._filled
            taken = data[:room]
            self._buffer[self._filled : self._filled + len(taken)] = taken
            self._filled += len(taken)
            data = data[room:]
            if self._filled == PIECE_BYTES:
                self._hand_over((self._buffer, PIECE_BYTES, True))
                self._buffer, self._filled = None, 0

    def _take_buffer(self) -> bytearray:
        """A free pooled buffer; a new one while the pool is not full, else wait for one."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            if self._pooled < POOLED_PIECES:
                self._pooled += 1
                return bytearray(PIECE_BYTES)
        return self._free.get()

    def _start(self) -> None:
        assert self._fd is not None
        self._pieces = queue.Queue(POOLED_PIECES)
        self._thread = threading.Thread(
            target=self._write_pieces,
            args=(self._fd, self._pieces, self._hash),
            name=f"printernizer-write-{self.part.name}"[:60],
            daemon=True,
        )
        self._thread.start()

    def _stop(self, *, drop: bool) -> None:
        """End the writing thread: after the queued pieces, or dropping them (`drop`)."""
        pieces, thread = self._pieces, self._thread
        if pieces is None or thread is None:
            return
        self._pieces = self._thread = None
        self._drop = drop
        pieces.put(None)
        thread.join()
        self._drop = False
        if drop and self._buffer is not None:
            self._free.put(self._buffer)
            self._buffer, self._filled = None, 0

    def _hand_over(self, piece: _Piece) -> None:
        """Queue a piece for the writing thread; waits while it has POOLED_PIECES queued."""
        assert self._pieces is not None
        self._pieces.put(piece)

    def _write_pieces(self, fd: int, pieces: queue.Queue[_Piece | None], digest: Any) -> None:
        """The writing thread: write and hash each piece until None; a failure is kept."""
        while (piece := pieces.get()) is not None:
            data, length, pooled = piece
            try:
                if self._error is None and not self._drop and not self.cancelled:
                    view = memoryview(data)[:length]
                    _write_all(fd, view)
                    digest.update(view)
            except OSError as err:
                self._error = _write_failure(err)
            finally:
                if pooled:
                    assert isinstance(data, bytearray)
                    self._free.put(data)


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _write_failure(err: OSError) -> StopDownload:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return StopDownload(FailureReason.DISK_FULL, "disk full")
    return StopDownload(FailureReason.LOCAL_ERROR, f"cannot write: {err}")


def backoff(attempt: int, base: float, cap: float) -> float:
    """Delay before retry number `attempt` (1-based): base, 2*base, 4*base ... up to cap."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))
