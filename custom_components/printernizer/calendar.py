"""A job calendar per printer: HA's calendar panel as a browsable print history.

Each job is an event from its start to its end; a running job ends at the printer's estimate.
The calendar is on while the printer prints, so automations can use it like any calendar.
Events are read from the history on request (never kept), so a year of jobs costs no memory.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .const import DOMAIN, FLEET_UNIQUE_ID
from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import printer_device_info
from .fleet.entry import fleet_device_info
from .history import DATA_HISTORY, JobHistory, read_entry
from .jobs.analytics import money
from .jobs.records import JobRecord, JobStatus
from .settings import is_fleet_entry

PARALLEL_UPDATES = 0

# A running job without an estimate: assume this much more, extended whenever it passes.
_UNKNOWN_REMAINING = timedelta(hours=1)
# A new estimate moves the running event's end by more than this before it is written.
_END_TOLERANCE = timedelta(minutes=5)
_SHORTEST = timedelta(seconds=1)  # HA refuses an event that ends before it starts


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """One job calendar for the printer; the fleet's has every printer's jobs."""
    if is_fleet_entry(entry):
        fleet = JobCalendar(None, hass.data[DATA_HISTORY], device_info=fleet_device_info(entry))
        async_add_entities([fleet])
        return
    async_add_entities([JobCalendar(entry.runtime_data.coordinator, hass.data[DATA_HISTORY])])


def _printer(hass: HomeAssistant, serial: str) -> PrinterCoordinator | None:
    """The loaded printer of this serial (the fleet's calendar asks it for its estimate)."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED and not is_fleet_entry(entry):
            coordinator: PrinterCoordinator = entry.runtime_data.coordinator
            if coordinator.adapter.device_info.serial == serial:
                return coordinator
    return None


class JobCalendar(CalendarEntity):
    """The printer's jobs as calendar events, from the job history (no printer: the fleet's)."""

    _attr_has_entity_name = True
    _attr_translation_key = "jobs"

    def __init__(
        self,
        coordinator: PrinterCoordinator | None,
        history: JobHistory,
        *,
        device_info: DeviceInfo | None = None,
    ) -> None:
        """Bind to the printer; the history is shared by every printer."""
        self._coordinator = coordinator
        self._history = history
        self._serial = None if coordinator is None else coordinator.adapter.device_info.serial
        self._attr_unique_id = f"{self._serial or FLEET_UNIQUE_ID}_jobs"
        self._attr_device_info = device_info or (
            None if coordinator is None else printer_device_info(coordinator)
        )
        self._running: JobRecord | None = None
        # The running job's event, built once for a whole write (HA reads it several times).
        self._pinned: CalendarEvent | None = None
        self._labels: dict[str, str] = {}
        self._written: tuple[Any, ...] | None = None

    async def async_added_to_hass(self) -> None:
        """Find a running job and follow the printer's records from now on."""
        await super().async_added_to_hass()
        self._labels = await _labels(self.hass)
        if self._serial is not None:
            self._running = next(
                (
                    r
                    for r in self._history.restore_set(self._serial)
                    if r.status is JobStatus.ACTIVE
                ),
                None,
            )
        self.async_on_remove(self._history.add_listener(self._serial, self._record_put))

    @callback
    def _record_put(self, record: JobRecord) -> None:
        if record.status is JobStatus.ACTIVE:
            self._running = record
        elif self._running is not None and self._running.id == record.id:
            self._running = None
        else:
            return
        if self._shown() != self._written:
            self.async_write_ha_state()

    def _shown(self) -> tuple[Any, ...]:
        """What a write would change; the estimate counts only in steps of `_END_TOLERANCE`.

        Read from the record, not from a built event with its translated description: the
        record without what a progress step of the running job moves (which no event shows).
        """
        record = self._running
        if record is None:
            return (None,)
        pinned = self._pinned
        end = self._end(record, dt_util.utcnow()) if pinned is None else pinned.end_datetime_local
        steady = replace(record, progress=None, updated_at=record.started_at)
        return (steady, end.timestamp() // _END_TOLERANCE.total_seconds())

    @callback
    def async_write_ha_state(self) -> None:
        """Remember what was written (see `_shown`)."""
        self._pinned = self.event
        try:
            self._written = self._shown()
            super().async_write_ha_state()
        finally:
            self._pinned = None

    @property
    def event(self) -> CalendarEvent | None:
        """The running job, if any: the calendar is on while the printer prints."""
        if self._running is None:
            return None
        if self._pinned is not None:
            return self._pinned
        return self._event(self._running, dt_util.utcnow())

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """The jobs that overlap [start_date, end_date), oldest first."""
        now = dt_util.utcnow()
        serials = None if self._serial is None else {self._serial}
        entries = self._history.entries(
            start_date, end_date, serials=serials, running_at_start=True
        )
        return [
            self._event(record, now)
            for entry in entries
            if (record := read_entry(entry)) is not None
        ]

    def _end(self, record: JobRecord, now: datetime) -> datetime:
        """When the job ended, or the printer's estimate of when it will."""
        start = record.started_at
        if record.ended_at is not None:
            end = record.ended_at
        else:
            coordinator = self._coordinator or _printer(self.hass, record.serial)
            remaining = None if coordinator is None else coordinator.data.job.remaining_minutes
            estimate = _UNKNOWN_REMAINING if remaining is None else timedelta(minutes=remaining)
            end = max(now, start) + max(estimate, _SHORTEST)
        return max(end, start + _SHORTEST)

    def _event(self, record: JobRecord, now: datetime) -> CalendarEvent:
        return CalendarEvent(
            start=record.started_at,
            end=self._end(record, now),
            summary=record.job_name or record.file or self._label("field.job", "Print job"),
            description=self._description(record),
            uid=record.id,
        )

    def _description(self, record: JobRecord) -> str:
        """Status, material, cost, category and who it was for, one per line."""
        status = self._label(f"status.{record.status.value}", record.status.value)
        lines = [f"{self._label('field.status', 'Status')}: {status}"]
        materials = [
            " ".join(
                part
                for part in (
                    use.material,
                    use.color,
                    None if use.grams is None else f"{use.grams:.1f} g",
                )
                if part
            )
            for use in record.materials
        ]
        if any(materials):
            lines.append(
                f"{self._label('field.material', 'Material')}: "
                + ", ".join(m for m in materials if m)
            )
        cost = record.cost if isinstance(record.cost, dict) else {}
        gross = money(cost.get("gross"))
        if gross is not None and isinstance(currency := cost.get("currency"), str):
            lines.append(f"{self._label('field.cost', 'Cost')}: {gross} {currency[:8]}")
        if record.category:
            category = self._label(f"category.{record.category}", record.category)
            lines.append(f"{self._label('field.category', 'Category')}: {category}")
        for field, value in (
            ("customer", record.customer),
            ("project", record.project),
            ("notes", record.notes),
        ):
            if value:
                lines.append(f"{self._label(f'field.{field}', field.title())}: {value}")
        return "\n".join(lines)

    def _label(self, key: str, default: str) -> str:
        return self._labels.get(key, default)


async def _labels(hass: HomeAssistant) -> dict[str, str]:
    """The words of event descriptions in the user's language (from our selectors)."""
    strings = await async_get_translations(hass, hass.config.language, "selector", [DOMAIN])
    prefixes = {
        f"component.{DOMAIN}.selector.job_status.options.": "status.",
        f"component.{DOMAIN}.selector.job_category.options.": "category.",
        f"component.{DOMAIN}.selector.job_field.options.": "field.",
    }
    labels = {}
    for key, text in strings.items():
        for prefix, short in prefixes.items():
            if key.startswith(prefix):
                labels[short + key.removeprefix(prefix)] = text
    return labels
