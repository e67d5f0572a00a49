"""Base entity: device identity, availability, and writes only when something shown changed."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.translation import async_get_translations
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_PRINTER_TYPE, DOMAIN, PRINTER_BAMBU, PRINTER_PRUSA
from .coordinator import PrinterCoordinator, Reads
from .printers.errors import (
    AdapterError,
    CommandConflictError,
    CommandRefusedError,
    ControlsLockedError,
    PrinterOfflineError,
)
from .printers.models import FilamentUnit

ALL_BRANDS = frozenset({PRINTER_BAMBU, PRINTER_PRUSA})


@dataclass(frozen=True, kw_only=True)
class PrinterEntityDescription(EntityDescription):
    """What every description of ours adds: the state parts it reads, the brands that have it."""

    # The state parts the entity reads (fields, or a heater's half such as `nozzle.target`):
    # only a push that changes one updates it.
    sources: tuple[str, ...] = ()
    brands: frozenset[str] = ALL_BRANDS

    def applies_to(self, entry: ConfigEntry) -> bool:
        """Whether a printer of this entry's brand has this entity."""
        return entry.data[CONF_PRINTER_TYPE] in self.brands


MANUFACTURERS = {PRINTER_BAMBU: "Bambu Lab", PRINTER_PRUSA: "Prusa Research"}


def printer_device_info(coordinator: PrinterCoordinator) -> DeviceInfo:
    """The printer's device registry entry."""
    entry = coordinator.config_entry
    info = coordinator.adapter.device_info
    return DeviceInfo(
        identifiers={(DOMAIN, info.serial)},
        manufacturer=MANUFACTURERS.get(entry.data[CONF_PRINTER_TYPE]),
        model=info.model,
        name=entry.title,
        serial_number=info.serial,
        sw_version=info.firmware,
        hw_version=info.hardware,
        # PrusaLink has a web UI of its own; Bambu printers have none on the LAN.
        configuration_url=f"http://{entry.data[CONF_HOST]}"
        if entry.data[CONF_PRINTER_TYPE] == PRINTER_PRUSA
        else None,
    )


def unit_identifier(serial: str, unit_id: str) -> tuple[str, str]:
    """The device registry identifier of one filament unit (AMS) of a printer."""
    return (DOMAIN, f"{serial}_ams_{unit_id}")


def unit_device_info(coordinator: PrinterCoordinator, unit: FilamentUnit) -> DeviceInfo:
    """A filament unit's own device, connected through its printer."""
    serial = coordinator.adapter.device_info.serial
    return DeviceInfo(
        identifiers={unit_identifier(serial, unit.unit_id)},
        manufacturer=MANUFACTURERS.get(coordinator.config_entry.data[CONF_PRINTER_TYPE]),
        model=unit.model,
        name=f"{coordinator.config_entry.title} {unit.name or unit.unit_id}",
        via_device=(DOMAIN, serial),
    )


# Each adapter failure and the error a user is shown for it; the first match wins.
_COMMAND_ERRORS: tuple[tuple[type[AdapterError], str], ...] = (
    (ControlsLockedError, "controls_locked"),
    (CommandConflictError, "command_conflict"),
    (CommandRefusedError, "command_refused"),
    (PrinterOfflineError, "command_timeout"),
    (AdapterError, "cannot_connect"),
)


async def command_label(hass: HomeAssistant, command: str) -> str:
    """A command's name in the user's language (selector `command`), else its id."""
    strings = await async_get_translations(hass, hass.config.language, "selector", [DOMAIN])
    return strings.get(f"component.{DOMAIN}.selector.command.options.{command}", command)


async def run_command(coordinator: PrinterCoordinator, name: str, call: Awaitable[object]) -> None:
    """Run a printer command, turning adapter errors into translated HA errors."""
    try:
        await call
    except AdapterError as err:
        coordinator.issues.command_done(err)
        key = next(key for kind, key in _COMMAND_ERRORS if isinstance(err, kind))
        placeholders = {
            "name": coordinator.name,
            "command": await command_label(coordinator.hass, name),
        }
        if isinstance(err, CommandRefusedError):
            placeholders["reason"] = err.reason or "-"
        raise HomeAssistantError(
            translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
        ) from err
    coordinator.issues.command_done(None)


class PrinternizerEntity(CoordinatorEntity[PrinterCoordinator]):
    """An entity of one printer.

    A push reaches only the entities that read a part it changed (`sources`, see the
    coordinator); availability changes reach all. Each compares what it would show with what it
    last wrote, so a print farm's temperature jitter does not become state writes it does not
    display.
    """

    _attr_has_entity_name = True
    # The PrinterState fields this entity reads; empty means "update on every push".
    _sources: tuple[str, ...] = ()

    def __init__(self, coordinator: PrinterCoordinator, description: EntityDescription) -> None:
        """Bind the description to the printer."""
        if isinstance(description, PrinterEntityDescription):
            self._sources = description.sources
        super().__init__(coordinator, Reads(frozenset(self._sources)) if self._sources else None)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.adapter.device_info.serial}_{description.key}"
        self._attr_device_info = printer_device_info(coordinator)
        self._written: tuple[Any, ...] | None = None

    @property
    def available(self) -> bool:
        """Readings of an offline printer are not current, so they are not shown."""
        return super().available and self.coordinator.data.online

    def _shown(self) -> tuple[Any, ...]:
        """What this entity displays; a change of it is worth a state write."""
        return (self.available,)

    async def async_added_to_hass(self) -> None:
        """Remember what the first write showed."""
        await super().async_added_to_hass()
        self._written = self._shown()

    @callback
    def _handle_coordinator_update(self) -> None:
        shown = self._shown()
        if shown != self._written:
            self._written = shown
            self.async_write_ha_state()

    async def _command(self, name: str, call: Awaitable[object]) -> None:
        """Run a printer command, turning adapter errors into translated HA errors."""
        await run_command(self.coordinator, name, call)
