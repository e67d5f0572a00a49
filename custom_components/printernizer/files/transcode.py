"""Playable copies of AVI timelapses: P1/A1 printers write Motion-JPEG AVI, no browser plays it.

After such a timelapse is downloaded, ffmpeg (HA's binary) writes an H.264 MP4 of it beside
the AVI, hidden (`.<name>.mp4`, like the cover), which the media browser then plays; the AVI
stays what the user downloaded. One transcode runs at a time, in the background, with one
thread and a time limit, never more than once per file and run. Without ffmpeg (or when it
fails) the AVI stays a download: a warning is logged once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import logging
import os
from pathlib import Path
import stat
from typing import Any

from .local import playable_path

_LOGGER = logging.getLogger(__name__)

TRANSCODED_SUFFIXES = (".avi",)
TIMEOUT = 30 * 60.0
_ERROR_TAIL = 300

type Executor = Callable[..., Awaitable[Any]]


def needs_playable(name: str) -> bool:
    """A video kind browsers cannot play (the printers' Motion-JPEG AVI)."""
    return name.lower().endswith(TRANSCODED_SUFFIXES)


def playable(path: Path) -> Path | None:
    """The MP4 of a local copy when there is one: a regular file, no symlink; blocking."""
    target = playable_path(path)
    try:
        info = os.lstat(target)
    except (OSError, ValueError):
        return None
    return target if stat.S_ISREG(info.st_mode) and info.st_size > 0 else None


def ffmpeg_arguments(binary: str, source: Path, target: Path) -> list[str]:
    """H.264 (yuv420p, even size, `moov` first) of the first video stream; no audio.

    Paths go as `file:` URLs, so no name is ever read as an option or another protocol.
    """
    return [
        binary, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-i", f"file:{source}", "-map", "0:v:0", "-an",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2:out_range=tv,format=yuv420p",
        "-c:v", "libx264", "-preset", "veryfast", "-threads", "1",
        "-movflags", "+faststart", "-f", "mp4", f"file:{target}",
    ]  # fmt: skip


class Transcoder:
    """Makes the MP4 of AVI local copies, one at a time, in the background.

    `binary` is the ffmpeg to run (HA's configured one). `executor` runs blocking file calls
    (HA passes `hass.async_add_executor_job`).
    """

    def __init__(self, binary: str, executor: Executor, *, timeout: float = TIMEOUT) -> None:
        self.binary = binary
        self._executor = executor
        self._timeout = timeout
        self._queue: asyncio.Queue[Path] = asyncio.Queue()
        self._pending: set[Path] = set()
        self._failed: set[Path] = set()
        self._worker: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[Path], None]] = []
        # None: not tried yet; False: no ffmpeg here (said once in the log).
        self.available: bool | None = None

    def add_listener(self, listener: Callable[[Path], None]) -> Callable[[], None]:
        """Call `listener` with the source path when its MP4 is ready; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def request(self, source: Path) -> bool:
        """Queue the MP4 of an AVI local copy (idempotent); False when it will not be made.

        Not made: not an AVI, no ffmpeg here, or ffmpeg failed on this file before.
        """
        if not needs_playable(source.name) or self.available is False:
            return False
        if source in self._failed:
            return False
        if source not in self._pending:
            self._pending.add(source)
            self._queue.put_nowait(source)
            if self._worker is None or self._worker.done():
                self._worker = asyncio.get_running_loop().create_task(
                    self._work(), name="printernizer-transcode"
                )
        return True

    def pending(self, source: Path) -> bool:
        """Whether the MP4 of `source` is queued or being made."""
        return source in self._pending

    async def stop(self) -> None:
        """End the running transcode (its partial MP4 is deleted) and forget the queue."""
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        self._pending.clear()
        self._queue = asyncio.Queue()

    async def _work(self) -> None:
        while not self._queue.empty():
            source = self._queue.get_nowait()
            try:
                if await self._transcode(source):
                    for listener in list(self._listeners):
                        listener(source)
                else:
                    self._failed.add(source)
            finally:
                self._pending.discard(source)

    async def _transcode(self, source: Path) -> bool:
        """Write the MP4 of `source` through a `.part` file; True when it is there."""
        if self.available is False:
            return False  # no ffmpeg: already said once
        target = playable_path(source)
        if await self._executor(playable, source) is not None:
            return True
        part = target.with_name(f"{target.name}.part")
        try:
            process = await asyncio.create_subprocess_exec(
                *ffmpeg_arguments(self.binary, source, part),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            self.available = False
            _LOGGER.warning(
                "Cannot run ffmpeg (%s: %s): AVI timelapses are offered as downloads, "
                "not played in the media browser",
                self.binary,
                err.strerror or err,
            )
            return False
        self.available = True
        try:
            async with asyncio.timeout(self._timeout):
                _, errors = await process.communicate()
        except TimeoutError:
            await self._abort(process, part)
            _LOGGER.warning("ffmpeg took too long for %s; it stays a download", source.name)
            return False
        except asyncio.CancelledError:
            await asyncio.shield(self._abort(process, part))
            raise
        if process.returncode != 0:
            await self._executor(_remove, part)
            tail = errors.decode(errors="replace").strip()[-_ERROR_TAIL:]
            _LOGGER.warning(
                "ffmpeg could not convert %s (exit %s): %s; it stays a download",
                source.name,
                process.returncode,
                tail,
            )
            return False
        try:
            await self._executor(os.replace, part, target)
        except OSError as err:
            await self._executor(_remove, part)
            _LOGGER.warning("Cannot keep the MP4 of %s: %s", source.name, err)
            return False
        _LOGGER.debug("Playable MP4 of %s written", source.name)
        return True

    async def _abort(self, process: asyncio.subprocess.Process, part: Path) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        await self._executor(_remove, part)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
