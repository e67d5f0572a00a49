"""Heater targets: nozzle, bed and, on printers that heat it, the chamber.

Created only for heaters the adapter can set, with the limits it gives; a printer that
forbids the command (firmware lockdown) refuses with the translated message every command
shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math
from typing import Any

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import UnitOfTemperature
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import PrinterEntityDescription, PrinternizerEntity
from .printers.controls import Heater, Limits, TemperatureControl
from .printers.models import PrinterState

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class TargetDescription(NumberEntityDescription, PrinterEntityDescription):
    """One heater's target."""

    heater: Heater
    value_fn: Callable[[PrinterState], float | None]


TARGETS: tuple[TargetDescription, ...] = (
    TargetDescription(
        key="nozzle_target",
        translation_key="nozzle_target",
        heater=Heater.NOZZLE,
        value_fn=lambda state: state.nozzle.target,
        sources=("nozzle.target",),
    ),
    TargetDescription(
        key="bed_target",
        translation_key="bed_target",
        heater=Heater.BED,
        value_fn=lambda state: state.bed.target,
        sources=("bed.target",),
    ),
    TargetDescription(
        key="chamber_target",
        translation_key="chamber_target",
        heater=Heater.CHAMBER,
        value_fn=lambda state: state.chamber.target if state.chamber else None,
        sources=("chamber.target",),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create a target for each heater the printer lets us set."""
    coordinator = entry.runtime_data.coordinator
    adapter = coordinator.adapter
    if not isinstance(adapter, TemperatureControl):
        return
    async_add_entities(
        HeaterTarget(coordinator, adapter, description, limits)
        for description in TARGETS
        if (limits := adapter.temperature_limits(description.heater)) is not None
    )


class HeaterTarget(PrinternizerEntity, NumberEntity):
    """A heater's target in °C; 0 switches it off."""

    entity_description: TargetDescription
    _attr_device_class = NumberDeviceClass.TEMPERATURE
    _attr_native_unit_of_measurement = UnitOfTemperature.CELSIUS
    _attr_mode = NumberMode.BOX

    def __init__(
        self,
        coordinator: PrinterCoordinator,
        adapter: TemperatureControl,
        description: TargetDescription,
        limits: Limits,
    ) -> None:
        """Bind to the adapter that sets this heater, within its limits."""
        super().__init__(coordinator, description)
        self._adapter = adapter
        self._attr_native_min_value = limits.minimum
        self._attr_native_max_value = limits.maximum
        self._attr_native_step = limits.step

    @property
    def native_value(self) -> float | None:
        """The target the printer last reported."""
        return self.entity_description.value_fn(self.coordinator.data)

    async def async_set_native_value(self, value: float) -> None:
        """Ask the printer for another target.

        Home Assistant checks the limits, but lets NaN through: refused here, never sent.
        """
        if not math.isfinite(value):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="temperature_out_of_limits",
                translation_placeholders={
                    "name": self.coordinator.name,
                    "minimum": f"{self.native_min_value:g}",
                    "maximum": f"{self.native_max_value:g}",
                    "value": str(value),
                },
            )
        heater = self.entity_description.heater
        await self._command(
            self.entity_description.key, self._adapter.set_target_temperature(heater, value)
        )

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self.native_value)
