"""The fleet benchmark runs end to end with two printers and prints every figure.

`make bench` runs it at 50 printers; this only proves it still works (no timing is asserted):
a printer of each brand reaches HA, and each figure is printed with a number.
"""

from __future__ import annotations

from pathlib import Path
import re
import subprocess
import sys

ROOT = Path(__file__).resolve().parent.parent
FIGURES = (
    r"event-loop busy share +[\d.]+%",
    r"whole-process CPU share +[\d.]+%",
    r"loop lag p50 / p99 / max +[\d.]+ / [\d.]+ / [\d.]+ ms",
    r"memory per printer +-?[\d.]+ MiB",
    r"state_changed per printer-hour +\d+",
)


def test_fleet_bench_prints_every_figure() -> None:
    """Two printers (a P1S and an MK4) for 3 real seconds."""
    command = ["-m", "bench.fleet", "--printers", "2", "--minutes", "0.25", "--warm-up", "1"]
    run = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for figure in FIGURES:
        assert re.search(figure, run.stdout), f"{figure!r} missing from:\n{run.stdout}"
    sent = re.search(r"Bambu messages sent to HA +([\d.]+) /s", run.stdout)
    assert sent is not None, run.stdout
    assert float(sent[1]) > 0
    changes = re.search(r"state_changed per printer-hour +(\d+)", run.stdout)
    assert changes is not None
    assert int(changes[1]) > 0  # what the printers sent reached HA's entities
