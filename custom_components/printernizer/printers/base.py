"""The adapter protocol both brands implement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .errors import AdapterError
from .models import DeviceInfo, JobMetadata, PrinterState

StateListener = Callable[[PrinterState], None]
# Gets each changed snapshot with the names of the `PrinterState` fields it changed (`PARTS`).
ChangeListener = Callable[[PrinterState, frozenset[str]], None]
ErrorListener = Callable[[AdapterError], None]


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
