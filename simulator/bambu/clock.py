"""Accelerated time, so a half-hour print takes a second or two in tests."""

from __future__ import annotations

import asyncio
import time


class SimClock:
    """Simulated time running `speed` times faster than real time."""

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin = time.monotonic()
        self._epoch = time.time()

    def now(self) -> float:
        """Simulated seconds since the clock was made."""
        return (time.monotonic() - self._origin) * self.speed

    def wall(self) -> float:
        """Simulated Unix time, for fields like gcode_start_time."""
        return self._epoch + self.now()

    async def sleep(self, seconds: float) -> None:
        """Sleep for `seconds` of simulated time."""
        await asyncio.sleep(seconds / self.speed)
