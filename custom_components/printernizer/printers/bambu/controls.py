"""Bambu heater and fan commands: G-code lines for `print.gcode_line`, and the limits per model.

Each line ends in a newline, as Bambu Studio and other clients send them.

Temperatures: M104 (active nozzle), M140 (bed), M141 (chamber heater, H2 family). Fans: M106
with P1 part cooling, P2 aux, P3 chamber and S0-255. Limits as the peer integration sets them:
nozzle 0-320 °C, bed 0-120 °C, chamber 60 °C (65 °C on the H2D); the firmware clamps further
per model.
"""

from __future__ import annotations

import math
from typing import Final

from ..controls import Fan, Heater, Limits

NOZZLE_LIMITS: Final = Limits(maximum=320)
BED_LIMITS: Final = Limits(maximum=120)
CHAMBER_LIMITS: Final = Limits(maximum=60)
_CHAMBER_MAXIMUM: Final = {"H2D": 65}

_TEMPERATURE_CODES: Final = {Heater.NOZZLE: "M104", Heater.BED: "M140", Heater.CHAMBER: "M141"}
_FAN_INDEX: Final = {Fan.PART: 1, Fan.AUX: 2, Fan.CHAMBER: 3}
# Reports give fan speed in 15 steps of 17 PWM units each (15 * 17 = 255).
_STEPS: Final = 15
_PWM_PER_STEP: Final = 17


def temperature_limits(heater: Heater, model: str | None) -> Limits:
    """The targets a heater of this model accepts."""
    if heater is Heater.NOZZLE:
        return NOZZLE_LIMITS
    if heater is Heater.BED:
        return BED_LIMITS
    if model in _CHAMBER_MAXIMUM:
        return Limits(maximum=_CHAMBER_MAXIMUM[model])
    return CHAMBER_LIMITS


def has_enclosure_fans(model: str | None) -> bool:
    """Aux and chamber fans: every model but the open-frame A series (A1, A1 mini, A2...)."""
    return not (model or "").startswith("A")


def temperature_gcode(heater: Heater, celsius: float, limits: Limits) -> str:
    """The G-code line setting a heater's target; ValueError outside the limits."""
    return f"{_TEMPERATURE_CODES[heater]} S{limits.check(celsius)}\n"


def fan_pwm(percent: int) -> int:
    """PWM (0-255) for a percentage, a whole number of report steps, never 0 unless asked.

    Reports round steps up to tens of percent (see `values.fan_percent`); rounding the steps
    down here makes a setting in tens come back as exactly that, not the next ten up.
    """
    if not 0 <= percent <= 100:
        raise ValueError(f"Fan speed {percent} % is outside 0-100 %")
    if percent == 0:
        return 0
    return max(1, math.floor(percent * _STEPS / 100)) * _PWM_PER_STEP


def fan_gcode(fan: Fan, percent: int) -> str:
    """The G-code line running a fan at a percentage; ValueError outside 0-100."""
    return f"M106 P{_FAN_INDEX[fan]} S{fan_pwm(percent)}\n"
