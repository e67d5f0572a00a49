"""Heater targets over PrusaLink: only Prusa-Link on a Raspberry Pi (MK2.5/MK3) can set them.

The Pi keeps OctoPrint's legacy routes: POST /api/printer/tool {"command": "target",
"targets": {"tool0": t}} and POST /api/printer/bed {"command": "target", "target": t}, 204 on
success, in any printer state. It refuses targets beyond its own limits (nozzle 0-305 °C, bed
0-125 °C, the same for every model it drives). Buddy firmware has no such route and no chamber
heater is exposed, so those get no limits at all.
"""

from __future__ import annotations

import json
from typing import Final

from ..controls import Heater, Limits
from .device import Family

NOZZLE_LIMITS: Final = Limits(maximum=305)
BED_LIMITS: Final = Limits(maximum=125)
_PI_LIMITS: Final = {Heater.NOZZLE: NOZZLE_LIMITS, Heater.BED: BED_LIMITS}
JSON_HEADERS: Final = {"Content-Type": "application/json"}


def temperature_limits(heater: Heater, family: Family) -> Limits | None:
    """The heater's limits where this PrusaLink can set it; None elsewhere."""
    return _PI_LIMITS.get(heater) if family == "pi" else None


def target_request(heater: Heater, celsius: float, limits: Limits) -> tuple[str, bytes]:
    """The route and JSON body setting a heater's target; ValueError outside the limits."""
    target = limits.check(celsius)
    if heater is Heater.NOZZLE:
        body: dict[str, object] = {"command": "target", "targets": {"tool0": target}}
        return "/api/printer/tool", json.dumps(body).encode()
    if heater is Heater.BED:
        return "/api/printer/bed", json.dumps({"command": "target", "target": target}).encode()
    raise ValueError(f"PrusaLink cannot set a {heater} target")
