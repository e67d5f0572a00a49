"""The printer's firmware: installed, and newer where the printer says so. Read only.

Installing stays with the printer's screen or the maker's app: no install feature. Bambu
printers report whether newer firmware exists (`upgrade_state`); when they say none, the
installed version is the latest. PrusaLink does not say, so a Prusa shows its installed
version and an unknown latest one.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.update import (
    UpdateDeviceClass,
    UpdateEntity,
    UpdateEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import PrinternizerEntity

PARALLEL_UPDATES = 0  # read only

FIRMWARE = UpdateEntityDescription(
    key="firmware",
    translation_key="firmware",
    device_class=UpdateDeviceClass.FIRMWARE,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the firmware entity of the printer."""
    async_add_entities([Firmware(entry.runtime_data.coordinator)])


class Firmware(PrinternizerEntity, UpdateEntity):
    """Installed and available firmware."""

    _sources = ("firmware", "firmware_update")

    def __init__(self, coordinator: PrinterCoordinator) -> None:
        """Follow the printer's firmware reports."""
        super().__init__(coordinator, FIRMWARE)

    @property
    def installed_version(self) -> str | None:
        """As the printer reported it last (it changes after an update)."""
        return self.coordinator.data.firmware or self.coordinator.adapter.device_info.firmware

    @property
    def latest_version(self) -> str | None:
        """The newer version the printer names, the installed one if none; None if unknown."""
        update = self.coordinator.data.firmware_update
        if update is None:
            return None
        if not update.available:
            return self.installed_version
        return update.version

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self.installed_version, self.latest_version)
