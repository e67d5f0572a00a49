"""The adapter protocol both brands implement."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from .errors import AdapterError
from .models import DeviceInfo, JobMetadata, PrinterState

if TYPE_CHECKING:
    from ..files.model import RemoteFile

StateListener = Callable[[PrinterState], None]
# Gets each changed snapshot with the names of the `PrinterState` fields it changed (`PARTS`).
ChangeListener = Callable[[PrinterState, frozenset[str]], None]
ErrorListener = Callable[[AdapterError], None]
# Takes each chunk of a file being downloaded; blocking: call it from a worker thread.
ChunkSink = Callable[[bytes], None]


class PrinterAdapter(Protocol):
    """A live connection to one printer.

    `start` returns once the first full state has arrived (or raises a typed error); from then
    on every changed snapshot goes to the listeners, on the event loop, never an unchanged one;
    change listeners also learn which parts (field names) changed since the previous snapshot.
    """

    @property
    def state(self) -> PrinterState:
        """The latest snapshot."""

    @property
    def device_info(self) -> DeviceInfo:
        """Identity reported by the printer."""

    @property
    def files(self) -> FileSource:
        """The printer's files, as the file manager reads them."""

    def add_listener(self, listener: StateListener) -> Callable[[], None]:
        """Call listener with each changed snapshot; returns the remover."""

    def add_change_listener(self, listener: ChangeListener) -> Callable[[], None]:
        """Call listener with each changed snapshot and the parts it changed; the remover."""

    def add_error_listener(self, listener: ErrorListener) -> Callable[[], None]:
        """Call listener when the printer refuses us for good; returns the remover."""

    async def start(self) -> None:
        """Connect and wait for the first full state."""

    async def stop(self) -> None:
        """Disconnect and release every thread, task and timer."""

    async def refresh(self) -> bool:
        """Ask the printer for a full state; False when rate-limited."""

    async def pause(self) -> None:
        """Pause the running job."""

    async def resume(self) -> None:
        """Resume the paused job."""

    async def stop_print(self) -> None:
        """Cancel the running job."""

    async def job_metadata(self) -> JobMetadata | None:
        """Slicer metadata of the current job, read once per job; None when unavailable."""


class FileSource(Protocol):
    """A printer's files: listings, streamed downloads, deletion (the file manager's view).

    Names in what it returns are the printer's, untrusted. A folder the printer refuses to
    list right now raises `files.errors.PrinterBusyError` (Bambu while printing), a missing
    file or folder `files.errors.RemoteMissingError`; otherwise the usual adapter errors.
    """

    @property
    def file_folders(self) -> tuple[str, ...]:
        """The folders (Bambu) or storages (PrusaLink) that hold the printer's files."""

    async def list_folder(self, folder: str) -> list[RemoteFile]:
        """The files in one of `file_folders` (with its subfolders' where the source walks them)."""

    async def fetch_file(self, file: RemoteFile, sink: ChunkSink, *, offset: int = 0) -> None:
        """Stream the file's bytes from `offset` into `sink`, never calling it in the loop.

        Whatever `sink` raises ends the transfer and propagates; cancelling ends it too. A
        source that cannot start at `offset` > 0 raises `files.errors.ResumeUnsupportedError`.
        """

    async def fetch_thumbnail(self, file: RemoteFile) -> bytes | None:
        """A small preview image (JPEG or PNG), None when the printer has none."""

    async def delete_file(self, file: RemoteFile) -> None:
        """Delete the file on the printer."""

    def in_use(self, file: RemoteFile) -> bool:
        """True when the printer is printing (or may be printing) this very file."""
