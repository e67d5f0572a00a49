"""AMS units as devices under their printer, following units plugged in or removed at runtime.

A unit plugged in while Home Assistant runs gets its device and entities at once; a unit that
is gone has its device removed, which removes its entities with it (no reload either way). The
check runs only for pushes that changed the units or their trays (a keyed coordinator listener),
never for each temperature report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import PrinterCoordinator, Reads
from .entity import unit_device_info, unit_identifier
from .printers.models import FilamentSlot, FilamentUnit

PARTS: Final = Reads(frozenset({"filament_units", "filament_slots"}))

type UnitEntities = Callable[[PrinterCoordinator, FilamentUnit], Iterable[Entity]]
type SlotEntities = Callable[[PrinterCoordinator, FilamentSlot], Iterable[Entity]]


class AmsDevices:
    """Keeps one printer's AMS devices and their entities in step with what the printer reports."""

    def __init__(
        self,
        coordinator: PrinterCoordinator,
        add_entities: AddConfigEntryEntitiesCallback,
        unit_entities: UnitEntities,
        slot_entities: SlotEntities,
    ) -> None:
        """Create entities with these factories; nothing happens before `async_start`."""
        self._coordinator = coordinator
        self._add_entities = add_entities
        self._unit_entities = unit_entities
        self._slot_entities = slot_entities
        self._serial = coordinator.adapter.device_info.serial
        self._units: dict[str, FilamentUnit] = {}  # the units that have entities
        self._unit_ids: dict[str, set[str | None]] = {}  # unit -> unique ids of its readings
        self._slots: set[str] = set()  # the slots that have entities
        self._seen: tuple[object, object] | None = None
        # Devices of units gone while HA was stopped are dropped once units are reported: a
        # first message without the AMS part (a delta before the full report) must not empty
        # the registry, losing the user's names and areas.
        self._stale_checked = False

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Add the units reported now; returns the remover of the listener following changes."""
        self._update()
        return self._coordinator.async_add_listener(self._update, PARTS)

    def _remove_stale(self) -> None:
        """Drop devices of units that went away while Home Assistant was not running."""
        self._remove_devices(
            device
            for device in dr.async_entries_for_config_entry(
                dr.async_get(self._coordinator.hass), self._coordinator.config_entry.entry_id
            )
            if self._unit_of(device) not in (None, *self._units)
        )

    def _unit_of(self, device: dr.DeviceEntry) -> str | None:
        """The unit id a device of this entry stands for; None for the printer itself."""
        prefix = unit_identifier(self._serial, "")[1]
        return next(
            (
                key.removeprefix(prefix)
                for domain, key in device.identifiers
                if domain == DOMAIN and key.startswith(prefix)
            ),
            None,
        )

    @callback
    def _update(self) -> None:
        state = self._coordinator.data
        seen = (state.filament_units, state.filament_slots)
        if self._seen is not None and seen[0] is self._seen[0] and seen[1] is self._seen[1]:
            return  # an availability change or a full update: nothing about units
        self._seen = seen
        current = {unit.unit_id: unit for unit in state.filament_units}
        gone = [unit_id for unit_id in self._units if unit_id not in current]
        if gone:
            registry = dr.async_get(self._coordinator.hass)
            self._remove_devices(
                device
                for unit_id in gone
                if (
                    device := registry.async_get_device(
                        identifiers={unit_identifier(self._serial, unit_id)}
                    )
                )
            )
            for unit_id in gone:
                del self._units[unit_id], self._unit_ids[unit_id]
            self._slots = {
                slot.slot_id
                for slot in state.filament_slots
                if slot.unit_id in current and slot.slot_id in self._slots
            }
        new: list[Entity] = []
        for unit_id, unit in current.items():
            known = self._units.get(unit_id)
            if known is None or (known.name, known.model) != (unit.name, unit.model):
                if known is not None:
                    self._rename(unit)
                # A unit that turned out to be an AMS 2 Pro gains its drying readings.
                created = self._unit_ids.setdefault(unit_id, set())
                for entity in self._unit_entities(self._coordinator, unit):
                    if entity.unique_id not in created:
                        created.add(entity.unique_id)
                        new.append(entity)
            self._units[unit_id] = unit
        for slot in state.filament_slots:
            if slot.unit_id in current and slot.slot_id not in self._slots:
                self._slots.add(slot.slot_id)
                new.extend(self._slot_entities(self._coordinator, slot))
        if new:
            self._add_entities(new)
        if not self._stale_checked and current:
            self._stale_checked = True
            self._remove_stale()

    def _rename(self, unit: FilamentUnit) -> None:
        """A unit learned its model from a later version reply: so does its device."""
        registry = dr.async_get(self._coordinator.hass)
        device = registry.async_get_device(
            identifiers={unit_identifier(self._serial, unit.unit_id)}
        )
        if device is not None:
            info = unit_device_info(self._coordinator, unit)
            registry.async_update_device(device.id, name=info.get("name"), model=info.get("model"))

    def _remove_devices(self, devices: Iterable[dr.DeviceEntry]) -> None:
        """Detach devices from this entry; HA deletes them, and their entities, with it."""
        registry = dr.async_get(self._coordinator.hass)
        entry_id = self._coordinator.config_entry.entry_id
        for device in list(devices):
            registry.async_update_device(device.id, remove_config_entry_id=entry_id)
