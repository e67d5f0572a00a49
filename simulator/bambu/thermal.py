"""Heaters that ramp, settle with sensor noise and cool off slowly, in simulated seconds."""

from __future__ import annotations

from collections.abc import Mapping
import math
import random
from typing import Any

AMBIENT = 25.0
_HEATERS = (  # current key, target key, heating °C/s, cooling time constant s, decimals
    ("nozzle_temper", "nozzle_target_temper", 3.0, 90.0, 1),
    ("bed_temper", "bed_target_temper", 0.5, 400.0, 2),
)
_NOISE = 0.3
_HOT_NOZZLE = 50.0


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def step(
    report: Mapping[str, Any],
    seconds: float,
    rng: random.Random | None,
    truth: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """Fields after `seconds` of heating or cooling; `rng` adds sensor noise (jitter).

    Noise is a reading error, not heat: `truth` keeps each heater's noiseless temperature
    next to the reading it produced, so the next step starts from the heater, not from the
    noisy reading (which would random-walk away from ambient). A reading someone else set
    since then is taken as the truth.
    """
    fields: dict[str, Any] = {}
    for current_key, target_key, rate, tau, decimals in _HEATERS:
        current = _number(report.get(current_key), AMBIENT)
        if truth is not None and current_key in truth:
            shown, true = truth[current_key]
            current = true if report.get(current_key) == shown else current
        target = _number(report.get(target_key), 0.0) or AMBIENT
        if current < target:
            current = min(target, current + rate * seconds)
        else:
            current = target + (current - target) * math.exp(-seconds / tau)
            if abs(current - target) < 0.05:
                current = target
        reading = current + rng.uniform(-_NOISE, _NOISE) if rng is not None else current
        fields[current_key] = round(reading, decimals)
        if truth is not None:
            truth[current_key] = (fields[current_key], current)
    # The heatbreak fan runs whenever the hotend is hot, printing or not.
    hot = fields["nozzle_temper"] > _HOT_NOZZLE
    fields["heatbreak_fan_speed"] = "15" if hot else "0"
    return fields
