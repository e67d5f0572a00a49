"""Print speed level of Bambu printers."""

from __future__ import annotations

from typing import Any

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import PrinternizerEntity
from .printers.bambu.adapter import BambuAdapter
from .sensor import SPEED_LEVELS

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the speed select for Bambu printers."""
    coordinator = entry.runtime_data.coordinator
    if isinstance(coordinator.adapter, BambuAdapter):
        async_add_entities([SpeedSelect(coordinator, coordinator.adapter)])


class SpeedSelect(PrinternizerEntity, SelectEntity):
    """Silent, standard, sport or ludicrous."""

    _attr_options = list(SPEED_LEVELS.values())
    _sources = ("speed_level",)

    def __init__(self, coordinator: PrinterCoordinator, adapter: BambuAdapter) -> None:
        """Bind to the Bambu adapter."""
        super().__init__(coordinator, SelectEntityDescription(key="speed", translation_key="speed"))
        self._adapter = adapter

    @property
    def current_option(self) -> str | None:
        """The level the printer reports."""
        return SPEED_LEVELS.get(self.coordinator.data.speed_level or 0)

    async def async_select_option(self, option: str) -> None:
        """Ask the printer for another level."""
        level = next(level for level, name in SPEED_LEVELS.items() if name == option)
        await self._command("speed", self._adapter.set_speed_level(level))

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self.current_option)
