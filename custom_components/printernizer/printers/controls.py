"""Heater and fan controls an adapter may offer; what a printer cannot do, it does not offer.

Kept apart from the `PrinterAdapter` protocol: Buddy PrusaLink can set no temperature and no
fan, a Bambu A1 has no aux fan. The integration asks an adapter which controls it has (`None`
limits, `has_fan` False) and creates entities only for those.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Heater(StrEnum):
    """A heater with a settable target."""

    NOZZLE = "nozzle"
    BED = "bed"
    CHAMBER = "chamber"


class Fan(StrEnum):
    """A fan with a settable speed."""

    PART = "part"
    AUX = "aux"
    CHAMBER = "chamber"


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The targets a heater accepts, in °C; 0 switches it off."""

    minimum: float = 0.0
    maximum: float
    step: float = 1.0

    def check(self, celsius: float) -> int:
        """The target as the whole degrees firmware takes; ValueError outside the limits."""
        if not self.minimum <= celsius <= self.maximum:
            raise ValueError(f"Target {celsius} °C is outside {self.minimum:g}-{self.maximum:g} °C")
        return round(celsius)


@runtime_checkable
class TemperatureControl(Protocol):
    """An adapter that sets heater targets."""

    def temperature_limits(self, heater: Heater) -> Limits | None:
        """The heater's limits; None where the printer has no such heater or cannot set it."""

    async def set_target_temperature(self, heater: Heater, celsius: float) -> None:
        """Set a heater's target (0: off); ValueError outside its limits."""


@runtime_checkable
class FanControl(Protocol):
    """An adapter that sets fan speeds."""

    def has_fan(self, fan: Fan) -> bool:
        """Whether the printer has this fan and lets us set it."""

    async def set_fan_percent(self, fan: Fan, percent: int) -> None:
        """Run a fan at 0-100 %; ValueError outside that."""
