"""Waiting for what an adapter reports, driven by its own listener, bounded in time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from custom_components.printernizer.printers.base import PrinterAdapter
from custom_components.printernizer.printers.models import PrinterState


async def wait_for(
    adapter: PrinterAdapter, predicate: Callable[[PrinterState], bool], timeout: float = 10
) -> PrinterState:
    """Resolve with the first snapshot (current or delivered) that satisfies predicate."""
    if predicate(adapter.state):
        return adapter.state
    future: asyncio.Future[PrinterState] = asyncio.get_running_loop().create_future()

    def listener(state: PrinterState) -> None:
        if predicate(state) and not future.done():
            future.set_result(state)

    remove = adapter.add_listener(listener)
    try:
        async with asyncio.timeout(timeout):
            return await future
    finally:
        remove()


async def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    """Poll a condition no message announces (simulator bookkeeping)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
