"""Print speed level of Bambu printers."""

from __future__ import annotations

from typing import Any

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import PrinternizerEntity
from .printers.bambu.adapter import BambuAdapter

PARALLEL_UPDATES = 1

SPEED_LEVELS = {1: "silent", 2: "standard", 3: "sport", 4: "ludicrous"}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the speed select for Bambu printers."""
    coordinator = entry.runtime_data.coordinator
    _remove_speed_level_sensor(hass, coordinator.adapter.device_info.serial)
    if isinstance(coordinator.adapter, BambuAdapter):
        async_add_entities([SpeedSelect(coordinator, coordinator.adapter)])


def _remove_speed_level_sensor(hass: HomeAssistant, serial: str) -> None:
    """Drop the read-only "Speed level" sensor older versions created next to this select.

    Home Assistant keeps a removed entity as "not provided" forever; the select shows the same.
    """
    registry = er.async_get(hass)
    if entity_id := registry.async_get_entity_id(SENSOR_DOMAIN, DOMAIN, f"{serial}_speed_level"):
        registry.async_remove(entity_id)


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
