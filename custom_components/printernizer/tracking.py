"""One loaded printer's job tracking: snapshots in; history, costs and bus events out.

The pure `JobTracker` decides what happened; this glue persists each changed record, prices
ended jobs with the entry's cost options, reads the slicer file once per job, follows the
energy meter the user picked, and fires the `events` the event entity and triggers listen to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
import math
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, UnitOfEnergy
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util

from .const import LOGGER, PRINTER_BAMBU
from .costs import (
    CostBreakdown,
    CostSettings,
    amount_figure,
    categorize,
    meter_consumption,
)
from .events import (
    EVENT_JOB_FINISHED,
    EVENT_JOB_PAUSED,
    EVENT_JOB_PROGRESS,
    EVENT_JOB_RESUMED,
    EVENT_JOB_STARTED,
    EVENT_STATUS_CHANGED,
)
from .guard import Listeners
from .history import JobHistory
from .jobs import EventKind, JobEvent, JobRecord, JobTracker, with_metadata
from .jobs.costing import meter_decimals, record_costs, running_costs
from .printers.models import JobMetadata, PrinterState, PrinterStatus
from .settings import cost_settings, energy_price, energy_sensor

METADATA_RETRY = timedelta(minutes=1)
# What `PrinterJobs.async_update` reads, as state parts: the running job's record and figures
# change only with these (a change of `online` is a full update for every listener anyway).
TRACKED_PARTS = (
    "status",
    "material",
    "job.progress",
    "job.job_id",
    "job.name",
    "job.file",
    "job.started_at",
)
_KIND_EVENTS = {
    EventKind.STARTED: EVENT_JOB_STARTED,
    EventKind.PROGRESS: EVENT_JOB_PROGRESS,
    EventKind.PAUSED: EVENT_JOB_PAUSED,
    EventKind.RESUMED: EVENT_JOB_RESUMED,
    EventKind.FINISHED: EVENT_JOB_FINISHED,
}
_TO_KWH: dict[str, Decimal] = {
    UnitOfEnergy.WATT_HOUR: Decimal("0.001"),
    UnitOfEnergy.KILO_WATT_HOUR: Decimal(1),
    UnitOfEnergy.MEGA_WATT_HOUR: Decimal(1000),
}


def meter_kwh(state: State | None) -> Decimal | None:
    """A total energy meter's reading in kWh; None when unknown or not a meter we can read."""
    if state is None or state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
        return None
    unit = state.attributes.get("unit_of_measurement", UnitOfEnergy.KILO_WATT_HOUR)
    factor = _TO_KWH.get(unit) if isinstance(unit, str) else None  # any other entity's attribute
    try:
        value = float(state.state)
    except ValueError:
        return None
    if factor is None or not math.isfinite(value) or value < 0:
        return None
    return Decimal(str(value)) * factor


def _whole_percent(state: PrinterState) -> int | None:
    """Progress in whole percent as job tracking counts it: none while preparing or unknown."""
    progress = state.job.progress
    if state.status is PrinterStatus.PREPARING or progress is None or not progress >= 0.0:
        return None
    return int(min(progress, 100.0))


class PrinterJobs:
    """The job side of one printer entry; lives while the entry is loaded."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        options: dict[str, Any],
        printer_type: str,
        serial: str,
        name: str,
        device_id: str,
        history: JobHistory,
        metadata: Callable[[], Awaitable[JobMetadata | None]],
        on_change: Callable[[], None],
    ) -> None:
        """Track `serial`'s jobs into `history`; `metadata` reads the current job's file."""
        self.hass = hass
        self.serial = serial
        self.name = name
        self.device_id = device_id
        self.history = history
        self._options = options
        # Parsed once, not per push: they change by a reload or `async_set_options`.
        self._settings = cost_settings(hass, options)
        self._metadata = metadata
        self._on_change = on_change
        self.tracker = JobTracker(
            serial,
            name,
            now=dt_util.utcnow,
            match_start_time=printer_type == PRINTER_BAMBU,
        )
        self._status: PrinterStatus | None = None
        self._material: str | None = None
        self._fetching = False  # a read of the job's file is under way
        self._read_job: str | None = None  # the job whose file this session has read
        # The slicer's preview of the job last read; kept after it ends, until the next starts.
        self.thumbnail: bytes | None = None
        self.thumbnail_at: datetime | None = None
        self._next_read: dict[str, datetime] = {}  # job id -> earliest next try after a miss
        self.metadata_failures = 0
        self._meter_entity = energy_sensor(options)
        self._meter_last: Decimal | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        # What of the last snapshot the tracker read; an equal one has nothing new for it.
        self._seen: tuple[object, ...] | None = None
        # Whole percent of the running job's progress, for its running cost.
        self.percent: int | None = None
        # The last `running_costs` inputs and breakdown.
        self._priced: tuple[tuple[object, ...], CostBreakdown | None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self._listener_errors = Listeners(LOGGER, f"Jobs of {name}")

    @property
    def active(self) -> JobRecord | None:
        """The running job's record."""
        return self.tracker.active

    def settings(self) -> CostSettings:
        """Cost settings of this printer, priced with the energy price entity when it has one."""
        price = energy_price(self.hass, self._options, self._settings)
        if price is self._settings.energy_price_per_kwh:  # no price entity, or it is unusable
            return self._settings
        return replace(self._settings, energy_price_per_kwh=price)

    @callback
    def async_set_options(self, options: dict[str, Any]) -> None:
        """Price with new options from now on (the fleet's changed; the machine's did not).

        Options the cost model refuses are logged and the current ones kept.
        """
        try:
            settings = cost_settings(self.hass, options)
        except ValueError as err:
            LOGGER.warning("Cost options of %s not applied: %s", self.name, err)
            return
        self._options, self._settings = options, settings
        self._on_change()

    @callback
    def async_start(self, state: PrinterState) -> None:
        """Resume from the history, then take the printer's current state."""
        self._handle(self.tracker.restore(self.history.restore_set(self.serial)))
        if self._meter_entity:
            self._meter_last = meter_kwh(self.hass.states.get(self._meter_entity))
            self._unsubscribe.append(
                async_track_state_change_event(self.hass, self._meter_entity, self._on_meter)
            )
        self._status = state.status
        self.async_update(state)

    @callback
    def async_stop(self) -> None:
        """Stop following the meter; records are already in the history."""
        while self._unsubscribe:
            self._unsubscribe.pop()()

    @property
    def meter_reading(self) -> Decimal | None:
        """The energy meter's latest reading in kWh, when the entry follows one."""
        return self._meter_last

    @callback
    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call listener when the running job's figures change between pushes (the meter)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_update(self, state: PrinterState) -> None:
        """Fold in a snapshot; persist what changed and fire what happened.

        Only what the tracker reads is compared: a snapshot that differs elsewhere (a
        remaining-time tick) costs one tuple, not a tracker update.
        """
        job = state.job
        seen = (
            state.online,
            state.status,
            state.material,
            job.progress,
            job.job_id,
            job.name,
            job.file,
            job.started_at,
        )
        if seen == self._seen:
            return
        self._seen = seen
        self._material = state.material or self._material
        before = self.tracker.active
        events = self.tracker.update(state)
        self._handle(events)
        active = self.tracker.active
        if (
            active is not None
            and active is not before
            and not any(event.kind is EventKind.STARTED for event in events)
        ):
            self.history.put(active)
        if active is not None and active.id != self._read_job and state.online:
            self._fetch_metadata(active.id)
        self.percent = _whole_percent(state) if active is not None else None
        if state.status is not self._status:
            previous, self._status = self._status, state.status
            self._fire(
                EVENT_STATUS_CHANGED,
                {"status": state.status.value, "previous_status": previous and previous.value},
            )

    @callback
    def async_amend(self, record: JobRecord, *, reprice: bool) -> JobRecord:
        """Store a user's edit: through the tracker while the job runs; `reprice` an ended one.

        Only corrected materials re-price an ended job: a note must not change a bill because
        prices changed since. The history takes the record first: one it refuses (it raises)
        leaves the tracker as it was.
        """
        active = self.tracker.active
        if active is not None and active.id == record.id:
            self.history.put(record)
            self.tracker.amend(record)
            self._on_change()
            return record
        if reprice:
            record = record_costs(record, self.settings(), fallback_material=self._material)
        self.history.put(record)
        return record

    def running_costs(self, inputs: tuple[object, ...] | None = None) -> CostBreakdown | None:
        """Cost of the running job so far, at the whole percent of progress the printer shows.

        The record itself moves in 10 % steps (its progress events); a user watching the cost
        sees every percent. `inputs`: what the caller prices at; a caller with the same ones as
        the last (the job's material and cost sensors, woken by one push) gets that breakdown.
        """
        if inputs is not None and self._priced is not None and self._priced[0] == inputs:
            return self._priced[1]
        record = self.tracker.active
        breakdown = None
        if record is not None:
            used = None
            readings = meter_decimals(record.meter_readings)
            if self._meter_last is not None and readings:
                used = meter_consumption([*readings, self._meter_last])
            breakdown = running_costs(
                record,
                self.settings(),
                now=dt_util.utcnow(),
                meter_kwh=used,
                fallback_material=self._material,
                progress=self.percent,
            )
        self._priced = None if inputs is None else (inputs, breakdown)
        return breakdown

    def _handle(self, events: list[JobEvent]) -> None:
        for event in events:
            record = event.record
            if event.kind is EventKind.STARTED:
                self.thumbnail = self.thumbnail_at = None
                record = self._started(record)
            elif event.kind is EventKind.FINISHED:
                record = self._finished(record)
            data: dict[str, Any] = {}
            if event.percent is not None:
                data["percent"] = event.percent
            self._fire(_KIND_EVENTS[event.kind], self._job_data(record) | data)

    def _category(self, record: JobRecord) -> str:
        return categorize(
            record.started_at, self._settings.category, dt_util.get_default_time_zone()
        ).value

    def _started(self, record: JobRecord) -> JobRecord:
        readings = () if self._meter_last is None else (float(self._meter_last),)
        record = replace(record, category=self._category(record), meter_readings=readings)
        self.history.put(record)
        self.tracker.amend(record)
        return record

    def _finished(self, record: JobRecord) -> JobRecord:
        if (
            self._meter_last is not None
            and record.meter_readings
            and not record.closed_after_restart
        ):
            record = replace(
                record, meter_readings=(*record.meter_readings, float(self._meter_last))
            )
        if record.category is None:  # a print only seen at its end never got a start event
            record = replace(record, category=self._category(record))
        priced = record_costs(record, self.settings(), fallback_material=self._material)
        self.history.put(priced)
        LOGGER.debug("Job %s on %s ended %s", priced.id, self.name, priced.status)
        return priced

    def _job_data(self, record: JobRecord) -> dict[str, Any]:
        cost = record.cost or {}
        return {
            "job_id": record.id,
            "job_name": record.job_name,
            "file": record.file,
            "status": record.status.value,
            "progress": record.progress,
            "started_at": record.started_at.isoformat(),
            "ended_at": None if record.ended_at is None else record.ended_at.isoformat(),
            "duration_seconds": record.duration_seconds,
            "category": record.category,
            "cost": amount_figure(cost.get("gross")),  # a number, as action responses give it
            "currency": cost.get("currency"),
            "closed_after_restart": record.closed_after_restart,
        }

    def _fire(self, event_type: str, data: dict[str, Any]) -> None:
        self.hass.bus.async_fire(
            event_type,
            {"device_id": self.device_id, "serial": self.serial, "printer_name": self.name, **data},
        )

    def _fetch_metadata(self, record_id: str) -> None:
        """Read the job's slicer file; after a miss, a job change a minute later tries again.

        The printer may not have the file yet (Bambu writes it late), and every try costs it
        requests, so misses are spaced out. Job changes (progress, status) are what job
        tracking sees; a temperature push does not reach it.
        """
        now = dt_util.utcnow()
        if self._fetching or now < self._next_read.get(record_id, now):
            return
        self._fetching = True
        self._next_read = {record_id: now + METADATA_RETRY}
        self.hass.async_create_background_task(
            self._read_metadata(record_id), f"printernizer metadata {self.serial}"
        )

    async def _read_metadata(self, record_id: str) -> None:
        """Read the file; a read that raises counts as a miss, logged the first time only."""
        try:
            metadata = await self._metadata()
        except Exception:  # a miss: tried again after METADATA_RETRY
            self.metadata_failures += 1
            if self.metadata_failures == 1:
                LOGGER.exception("Reading the job file of %s failed (logged once)", self.name)
            return
        finally:
            self._fetching = False
        if metadata is None:
            return
        self._read_job = record_id
        active = self.tracker.active
        if active is not None and active.id == record_id:
            if metadata.thumbnail_png:
                self.thumbnail, self.thumbnail_at = metadata.thumbnail_png, dt_util.utcnow()
            if not active.materials:
                # Materials the user corrected before a restart are not read over.
                updated = self.tracker.attach_metadata(metadata, record_id=record_id)
                if updated is not None:
                    self.history.put(updated)
            self._on_change()
            return
        stored = self.history.get(record_id)
        if stored is not None and not stored.materials:
            ended = with_metadata(stored, metadata, fallback_material=self._material)
            self.history.put(record_costs(ended, self.settings(), fallback_material=self._material))

    @callback
    def _on_meter(self, event: Event[EventStateChangedData]) -> None:
        reading = meter_kwh(event.data["new_state"])
        if reading is None:
            return
        last, self._meter_last = self._meter_last, reading
        record = self.tracker.active
        if record is None:
            return
        amended: JobRecord | None = None
        if not record.meter_readings:
            amended = replace(record, meter_readings=(float(reading),))
        elif last is not None and reading < last:
            # The meter restarted from 0: keep its last count before the reset.
            amended = replace(
                record, meter_readings=(*record.meter_readings, float(last), float(reading))
            )
        if amended is not None:
            self.history.put(amended)
            self.tracker.amend(amended)
        # The running cost counts the new reading.
        self._listener_errors.call_all(self._listeners)
