"""The fleet's figures for its sensors: running prints, today's jobs, the month, 30 days.

Computed from the job history's column tables (`analytics_snapshot`: the rows of today, the
month and the last 30 days copied and summed in the executor; no record parsed),
again when a job starts, ends or is edited (not per progress step) and at every local midnight;
a cooldown keeps a busy farm to one computation per few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from functools import partial
import logging

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..guard import Listeners
from ..history import JobHistory
from ..jobs.analytics import Period, PeriodKind, calendar_period, custom_period, day_start
from ..jobs.columns import Snapshot, snapshot_overview
from ..jobs.records import JobRecord, JobStatus

LOGGER = logging.getLogger(__name__)
COOLDOWN = 5.0  # seconds between computations while jobs keep changing
SUCCESS_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetFigures:
    """What the fleet sensors show; money in the fleet's currency, gross."""

    running: int
    jobs_today: int
    today_start: datetime
    month_start: datetime
    cost_business: Decimal
    cost_private: Decimal
    jobs_without_cost: int  # ended this month, cost unknown: left out of the sums
    grams: float
    jobs_without_grams: int
    success_rate: float | None  # percent over the last 30 days; None without an ended job


@dataclass(frozen=True, slots=True)
class FleetPeriods:
    """Today, this month and the last 30 days at one instant, in one time zone."""

    today: Period
    month: Period
    window: Period

    @classmethod
    def at(cls, now: datetime, tz: tzinfo) -> FleetPeriods:
        """The periods containing `now` in `tz`."""
        return cls(
            today=calendar_period(PeriodKind.TODAY, now, tz),
            month=calendar_period(PeriodKind.MONTH, now, tz),
            window=custom_period(now - SUCCESS_WINDOW, now, tz),
        )


def fleet_figures(
    periods: FleetPeriods,
    snapshots: tuple[Callable[[], Snapshot], Callable[[], Snapshot], Callable[[], Snapshot]],
    *,
    running: int,
) -> FleetFigures:
    """The figures of the history's snapshots of today, the month and the 30 days (taken now)."""
    today, month, window = (
        snapshot_overview(take(), period)
        for take, period in zip(
            snapshots, (periods.today, periods.month, periods.window), strict=True
        )
    )
    business, private = month.categories["business"], month.categories["private"]
    rate = window.totals.success_rate
    return FleetFigures(
        running=running,
        jobs_today=today.totals.jobs,
        today_start=today.period.start,
        month_start=month.period.start,
        cost_business=business.gross,
        cost_private=private.gross,
        jobs_without_cost=month.totals.without_cost,
        grams=month.totals.grams,
        jobs_without_grams=month.totals.without_grams,
        success_rate=None if rate is None else round(rate * 100, 1),
    )


class FleetSummary:
    """Keeps `figures` current while the fleet entry is loaded."""

    def __init__(self, hass: HomeAssistant, history: JobHistory, currency: str) -> None:
        """Nothing is computed until `async_start`."""
        self.hass = hass
        self.currency = currency
        self.figures: FleetFigures | None = None
        self.computations = 0
        self._history = history
        self._active: set[str] = set()
        self._listeners: list[Callable[[], None]] = []
        self._listener_errors = Listeners(LOGGER, "Fleet sensors")
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._cancel_midnight: CALLBACK_TYPE | None = None
        self._debouncer = Debouncer(
            hass, LOGGER, cooldown=COOLDOWN, immediate=True, function=self.async_refresh
        )

    async def async_start(self) -> None:
        """Compute once, then follow the history and the calendar."""
        self._unsubscribe.append(self._history.add_listener(None, self._record_put))
        # HA stopping unloads no entry: the timers must not outlive it.
        self._unsubscribe.append(
            self.hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, self._async_stopping)
        )
        await self.async_refresh()
        self._arm_midnight()

    @callback
    def async_stop(self) -> None:
        """Stop following; a computation under way finds nobody to tell."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
        if self._cancel_midnight is not None:
            self._cancel_midnight()
            self._cancel_midnight = None
        self._debouncer.async_shutdown()
        self._listeners.clear()

    @callback
    def _async_stopping(self, _event: Event) -> None:
        self.async_stop()

    @callback
    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after each computation."""
        self._listeners.append(listener)

        def remove() -> None:
            # Stopping forgets every listener; an entity removed after that has none to remove.
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    @callback
    def _record_put(self, record: JobRecord) -> None:
        """A job started, ended or was edited; a running job's progress changes no figure."""
        if record.status is JobStatus.ACTIVE:
            if record.id in self._active:
                return
            self._active.add(record.id)
        else:
            self._active.discard(record.id)
        self._debouncer.async_schedule_call()

    @callback
    def _arm_midnight(self) -> None:
        tz = dt_util.get_default_time_zone()
        tomorrow = dt_util.now(tz).date() + timedelta(days=1)
        self._cancel_midnight = async_track_point_in_utc_time(
            self.hass, self._midnight, day_start(tomorrow, tz)
        )

    @callback
    def _midnight(self, _now: datetime) -> None:
        """A new day (and maybe month): today's and the month's figures start again."""
        self._debouncer.async_schedule_call()
        self._arm_midnight()

    def _snapshot(self, period: Period) -> Callable[[], Snapshot]:
        return self._history.analytics_snapshot(period.start, period.end, self.currency)

    def _running(self) -> int:
        """Prints running now on the loaded printers (a removed printer's record runs no more)."""
        count = 0
        for entry in self.hass.config_entries.async_entries(DOMAIN):
            if entry.state is not ConfigEntryState.LOADED:
                continue
            jobs = getattr(entry.runtime_data, "jobs", None)
            if jobs is not None and jobs.active is not None:
                count += 1
        return count

    async def async_refresh(self) -> None:
        """Take the history's snapshots and sum them, in the executor."""
        await self._history.async_analytics_ready()
        periods = FleetPeriods.at(dt_util.utcnow(), dt_util.get_default_time_zone())
        snapshots = (
            self._snapshot(periods.today),
            self._snapshot(periods.month),
            self._snapshot(periods.window),
        )
        running = self._running()
        figures = await self.hass.async_add_executor_job(
            partial(fleet_figures, periods, snapshots, running=running)
        )
        self.computations += 1
        self.figures = figures
        self._listener_errors.call_all(self._listeners)
