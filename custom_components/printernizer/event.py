"""One event entity per printer: its prints starting, pausing and ending, and its errors.

The entity follows the bus events of `events.py`, the same ones the device triggers match, so
it shows what automations react to. It writes its state only when such an event arrives, never
on the printer's status pushes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeassistant.components.event import EventEntity
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import printer_device_info
from .events import ATTR_DEVICE_ID, TRIGGER_TYPES, TRIGGERS

# Nothing here talks to the printer.
PARALLEL_UPDATES = 0

# The bus events behind the types, each once (three types share the job-finished event).
BUS_EVENTS: Final = tuple(dict.fromkeys(bus_event for bus_event, _ in TRIGGERS.values()))
# The fields of a bus event the entity shows next to the event type, where the event has them.
SHOWN_FIELDS: Final = ("job_id", "job_name", "status", "cost", "currency")


def event_type_of(event: Event[Mapping[str, Any]]) -> str | None:
    """The type a bus event is, or None for one no type matches (a job ending "unknown")."""
    data = event.data
    return next(
        (
            event_type
            for event_type, (trigger_event, match) in TRIGGERS.items()
            if trigger_event == event.event_type
            and all(data.get(field) == value for field, value in match.items())
        ),
        None,
    )


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the printer's event entity."""
    data = entry.runtime_data
    async_add_entities([PrinterEventEntity(data.coordinator, data.jobs.device_id)])


class PrinterEventEntity(EventEntity):
    """The printer's print and error events.

    Not a coordinator entity: the status pushes carry nothing it shows, and its last event stays
    shown while the printer is offline.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_translation_key = "print"
    _attr_event_types = list(TRIGGER_TYPES)

    def __init__(self, coordinator: PrinterCoordinator, device_id: str) -> None:
        """Bind the entity to the printer's device."""
        self._attr_unique_id = f"{coordinator.adapter.device_info.serial}_print_events"
        self._attr_device_info = printer_device_info(coordinator)
        self._device_id = device_id

    async def async_added_to_hass(self) -> None:
        """Listen for this printer's events on the bus."""
        await super().async_added_to_hass()
        for bus_event in BUS_EVENTS:
            self.async_on_remove(
                self.hass.bus.async_listen(bus_event, self._on_event, event_filter=self._is_mine)
            )

    @callback
    def _is_mine(self, data: Mapping[str, Any]) -> bool:
        """Whether a bus event is about this printer; runs before the event is dispatched."""
        return bool(data.get(ATTR_DEVICE_ID) == self._device_id)

    @callback
    def _on_event(self, event: Event[Mapping[str, Any]]) -> None:
        if (event_type := event_type_of(event)) is None:
            return
        data = event.data
        self._trigger_event(
            event_type,
            {field: data[field] for field in SHOWN_FIELDS if data.get(field) is not None},
        )
        self.async_write_ha_state()
