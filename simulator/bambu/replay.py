"""Report captures as JSON lines: recording what the simulator publishes, reading it back.

A line is either a bare payload object or `{"delay": seconds, "payload": {...}}`, the delay being
printer time since the previous message. Lines that are not JSON are replayed as raw bytes, so a
capture can carry deliberately broken payloads too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

_FLUSH_EVERY = 500


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One message to publish after `delay` printer seconds."""

    delay: float
    payload: bytes
    message: Any  # the parsed JSON, or None for raw bytes


def load_replay(path: Path) -> list[ReplayItem]:
    """Parse a capture (blocking: run in a thread)."""
    items = []
    with path.open("rb") as lines:
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                items.append(ReplayItem(0.0, line, None))
                continue
            if isinstance(message, dict) and message.keys() == {"delay", "payload"}:
                payload = message["payload"]
                encoded = json.dumps(payload, separators=(",", ":")).encode()
                items.append(ReplayItem(float(message["delay"]), encoded, payload))
            else:
                items.append(ReplayItem(0.0, line, message))
    return items


class Recorder:
    """Collects published payloads and appends them to a capture in batches, off the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: list[str] = []
        self._last: float | None = None
        self._started = False
        self._lock = asyncio.Lock()

    @property
    def due(self) -> bool:
        """Enough is buffered to be worth a write."""
        return len(self._lines) >= _FLUSH_EVERY

    def add(self, at: float, payload: bytes) -> None:
        """Note a payload published at simulated time `at`; non-JSON payloads are skipped."""
        try:
            message = json.loads(payload)
        except ValueError:
            return
        delay = 0.0 if self._last is None else round(at - self._last, 3)
        self._last = at
        self._lines.append(json.dumps({"delay": delay, "payload": message}, separators=(",", ":")))

    async def flush(self) -> None:
        """Write what is buffered; the first write truncates the file."""
        async with self._lock:
            lines, self._lines = self._lines, []
            mode = "a" if self._started else "w"
            self._started = True
            await asyncio.to_thread(_write, self.path, mode, lines)


def _write(path: Path, mode: str, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8") as capture:
        capture.writelines(f"{line}\n" for line in lines)
