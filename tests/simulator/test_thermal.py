"""The simulated heaters: sensor noise is a reading error, never heat that accumulates."""

from __future__ import annotations

import random
from typing import Any

from simulator.bambu import thermal
from simulator.bambu.thermal import AMBIENT


def _idle_readings(steps: int, seconds: float) -> list[float]:
    rng = random.Random(7)
    truth: dict[str, tuple[float, float]] = {}
    report: dict[str, Any] = {"nozzle_temper": AMBIENT, "nozzle_target_temper": 0.0}
    report |= {"bed_temper": AMBIENT, "bed_target_temper": 0.0}
    readings = []
    for _ in range(steps):
        report |= thermal.step(report, seconds, rng, truth)
        readings += [float(report["nozzle_temper"]), float(report["bed_temper"])]
    return readings


def test_an_idle_printer_reads_ambient_within_the_noise_for_hours() -> None:
    # Ten simulated hours at a tick of 1.5 s: a random walk would wander degrees away
    # (the soak's "cooled down" wait timed out on an idle bed at 26 °C).
    readings = _idle_readings(24_000, 1.5)
    assert max(abs(r - AMBIENT) for r in readings) <= 0.31


def test_noise_does_not_slow_cooling_and_a_set_reading_wins() -> None:
    rng = random.Random(3)
    truth: dict[str, tuple[float, float]] = {}
    report: dict[str, Any] = {"nozzle_temper": 220.0, "nozzle_target_temper": 0.0}
    report |= {"bed_temper": 60.0, "bed_target_temper": 0.0}
    for _ in range(600):  # ten minutes at 1 s: nozzle tau 90 s, bed tau 400 s
        report |= thermal.step(report, 1.0, rng, truth)
    assert float(report["nozzle_temper"]) < AMBIENT + 1
    assert AMBIENT + 5 < float(report["bed_temper"]) < AMBIENT + 10
    report["nozzle_temper"] = 200.0  # as a test or the simulator's own update sets it
    report |= thermal.step(report, 1.0, rng, truth)
    assert float(report["nozzle_temper"]) > 190
