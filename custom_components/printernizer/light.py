"""The chamber light of printers that report one."""

from __future__ import annotations

from typing import Any

from homeassistant.components.light import LightEntity, LightEntityDescription
from homeassistant.components.light.const import ColorMode
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import PrinternizerEntity
from .printers.bambu.adapter import BambuAdapter

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the light where the printer has one."""
    coordinator = entry.runtime_data.coordinator
    if isinstance(coordinator.adapter, BambuAdapter) and coordinator.data.chamber_light is not None:
        async_add_entities([ChamberLight(coordinator, coordinator.adapter)])


class ChamberLight(PrinternizerEntity, LightEntity):
    """On/off chamber light; works even on firmware that locks other controls."""

    _attr_color_mode = ColorMode.ONOFF
    _attr_supported_color_modes = {ColorMode.ONOFF}
    _sources = ("chamber_light",)

    def __init__(self, coordinator: PrinterCoordinator, adapter: BambuAdapter) -> None:
        """Bind to the Bambu adapter, the only one with a light command."""
        super().__init__(
            coordinator,
            LightEntityDescription(key="chamber_light", translation_key="chamber_light"),
        )
        self._adapter = adapter

    @property
    def is_on(self) -> bool | None:
        """As the printer last reported."""
        return self.coordinator.data.chamber_light

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch on."""
        await self._command("light_on", self._adapter.set_chamber_light(True))

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch off."""
        await self._command("light_off", self._adapter.set_chamber_light(False))

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self.is_on)
