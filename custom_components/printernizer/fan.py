"""Part cooling, aux and chamber fans, each where the printer has it.

Printers report fan speed in tens of percent, so the entities step in tens; a setting in tens
comes back from the printer as exactly that. A printer that forbids the command (firmware
lockdown) refuses with the translated message every command shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.fan import FanEntity, FanEntityDescription, FanEntityFeature
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import PrinterEntityDescription, PrinternizerEntity
from .printers.controls import Fan, FanControl
from .printers.models import PrinterState

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PrinterFanDescription(FanEntityDescription, PrinterEntityDescription):
    """One fan and the state field reporting its speed."""

    fan: Fan
    value_fn: Callable[[PrinterState], int | None]


FANS: tuple[PrinterFanDescription, ...] = (
    PrinterFanDescription(
        key="part_fan",
        translation_key="part_fan",
        fan=Fan.PART,
        value_fn=lambda state: state.part_fan_percent,
        sources=("part_fan_percent",),
    ),
    PrinterFanDescription(
        key="aux_fan",
        translation_key="aux_fan",
        fan=Fan.AUX,
        value_fn=lambda state: state.aux_fan_percent,
        sources=("aux_fan_percent",),
    ),
    PrinterFanDescription(
        key="chamber_fan",
        translation_key="chamber_fan",
        fan=Fan.CHAMBER,
        value_fn=lambda state: state.chamber_fan_percent,
        sources=("chamber_fan_percent",),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create each fan the printer has and lets us set."""
    coordinator = entry.runtime_data.coordinator
    adapter = coordinator.adapter
    if not isinstance(adapter, FanControl):
        return
    async_add_entities(
        PrinterFan(coordinator, adapter, description)
        for description in FANS
        if adapter.has_fan(description.fan)
    )


class PrinterFan(PrinternizerEntity, FanEntity):
    """A fan with a speed in percent."""

    entity_description: PrinterFanDescription
    _attr_supported_features = (
        FanEntityFeature.SET_SPEED | FanEntityFeature.TURN_ON | FanEntityFeature.TURN_OFF
    )
    _attr_speed_count = 10

    def __init__(
        self,
        coordinator: PrinterCoordinator,
        adapter: FanControl,
        description: PrinterFanDescription,
    ) -> None:
        """Bind to the adapter that sets this fan."""
        super().__init__(coordinator, description)
        self._adapter = adapter

    @property
    def percentage(self) -> int | None:
        """The speed the printer last reported."""
        return self.entity_description.value_fn(self.coordinator.data)

    async def async_set_percentage(self, percentage: int) -> None:
        """Run at this speed; 0 stops the fan."""
        description = self.entity_description
        await self._command(
            description.key, self._adapter.set_fan_percent(description.fan, percentage)
        )

    async def async_turn_on(
        self, percentage: int | None = None, preset_mode: str | None = None, **kwargs: Any
    ) -> None:
        """Run at the given speed, else at full speed."""
        await self.async_set_percentage(100 if percentage is None else percentage)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop the fan."""
        await self.async_set_percentage(0)

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self.percentage)
