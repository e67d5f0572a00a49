"""CPU cost of turning a P1S delta stream into PrinterState snapshots.

Floor: `json.loads` plus the dict merge alone, which any client must do. Measured: the adapter's
full per-message path (decode, merge, rebuild only the touched parts, compare). Printed as
microseconds per message and as a ratio to the floor.
"""

from __future__ import annotations

import json
from pathlib import Path
import time
from typing import Any

from custom_components.printernizer.printers.bambu.report import ReportState, merge

CAPTURE = Path(__file__).parent.parent / "tests" / "fixtures" / "bambu" / "p1s_print.jsonl"
ROUNDS = 5


def load_capture(path: Path = CAPTURE) -> list[bytes]:
    """The capture's report payloads as the wire carries them."""
    payloads = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        payload = entry.get("payload", entry)
        payloads.append(json.dumps(payload, separators=(",", ":")).encode())
    return payloads


def floor(payloads: list[bytes]) -> None:
    """Decode and merge, nothing else."""
    cache: dict[str, Any] = {}
    for payload in payloads:
        body = json.loads(payload).get("print")
        if isinstance(body, dict):
            merge(cache, body)


def adapter_path(payloads: list[bytes]) -> int:
    """Decode, merge and derive snapshots like the adapter; returns the number of new states."""
    report = ReportState(model="P1S")
    changes = 0
    previous = report.state
    for payload in payloads:
        body = json.loads(payload).get("print")
        if isinstance(body, dict) and body.get("command") == "push_status":
            state = report.apply(body)
            if state is not previous:
                changes += 1
                previous = state
    return changes


def best_of(func: Any, payloads: list[bytes]) -> float:
    """Best CPU time over ROUNDS, in microseconds per message."""
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.process_time_ns()
        func(payloads)
        best = min(best, time.process_time_ns() - start)
    return best / 1000 / len(payloads)


def main() -> None:
    """Print the figures."""
    payloads = load_capture()
    base = best_of(floor, payloads)
    ours = best_of(adapter_path, payloads)
    changes = adapter_path(payloads)
    size = sum(map(len, payloads)) / len(payloads)
    print(f"bambu parse: {len(payloads)} messages, {size:.0f} B average")
    print(f"  floor (json.loads + merge): {base:7.2f} us/message")
    print(f"  adapter path:               {ours:7.2f} us/message  ({ours / base:.2f}x floor)")
    print(f"  new PrinterState snapshots: {changes} ({changes / len(payloads):.2f} per message)")


if __name__ == "__main__":
    main()
