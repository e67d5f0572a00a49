"""Fleet-wide long-term statistics (`printernizer:cost_business`, …) from the job history.

Imported as external statistics, so they need no entity and survive removing a printer: HA's
statistics-graph card shows cost per category, material, energy and print hours per hour,
day, week or month. A job that ends, or an ended job that is edited (category, cost), restates
the series after a short cooldown; only rows whose value changed are written again.
"""

from __future__ import annotations

from datetime import UTC, datetime
import logging

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import async_add_external_statistics
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.debounce import Debouncer

from ..const import DOMAIN
from ..history import JobHistory
from ..jobs.hourly import SERIES, Rows, changed_rows, hourly_sums
from ..jobs.records import JobRecord, JobStatus

LOGGER = logging.getLogger(__name__)
COOLDOWN = 10.0  # seconds between restatements: a farm finishing many jobs writes once
# Newer HA wants the unit class named (None: no unit conversion); 2025.4 does not know it.
_UNIT_CLASS: dict[str, None] = (
    {"unit_class": None} if "unit_class" in StatisticMetaData.__annotations__ else {}
)
_NAMES = {
    "cost": "Printernizer cost",
    "cost_business": "Printernizer cost business",
    "cost_private": "Printernizer cost private",
    "material": "Printernizer material",
    "energy": "Printernizer energy",
    "print_hours": "Printernizer print hours",
}
_UNITS = {"material": "g", "energy": "kWh", "print_hours": "h"}


def statistic_id(series: str) -> str:
    """The recorder's id of one series."""
    return f"{DOMAIN}:{series}"


class FleetStatistics:
    """Keeps the recorder's fleet series equal to what the history says."""

    def __init__(self, hass: HomeAssistant, history: JobHistory) -> None:
        """Nothing is written until `async_start`."""
        self.hass = hass
        self._history = history
        self._written: dict[str, Rows] = {}
        self._debouncer = Debouncer(
            hass, LOGGER, cooldown=COOLDOWN, immediate=False, function=self.async_restate
        )

    @callback
    def async_start(self) -> None:
        """Write the series once, then after every job that ends or is edited."""
        self._history.add_listener(None, self._record_put)
        self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._async_stop)
        self._debouncer.async_schedule_call()

    @callback
    def _record_put(self, record: JobRecord) -> None:
        if record.status is not JobStatus.ACTIVE:
            self._debouncer.async_schedule_call()

    async def _async_stop(self, _event: Event) -> None:
        self._debouncer.async_shutdown()

    async def async_restate(self) -> None:
        """Build every series from the history and write the rows that changed."""
        jobs = self._history.ended_jobs()
        series = await self.hass.async_add_executor_job(hourly_sums, jobs)
        currency = self.hass.config.currency
        for name in SERIES:
            rows = changed_rows(self._written.get(name, {}), series[name])
            if not rows:
                continue
            metadata = StatisticMetaData(
                mean_type=StatisticMeanType.NONE,
                has_sum=True,
                name=_NAMES[name],
                source=DOMAIN,
                statistic_id=statistic_id(name),
                unit_of_measurement=_UNITS.get(name, currency),
                **_UNIT_CLASS,  # type: ignore[typeddict-item]
            )
            async_add_external_statistics(
                self.hass,
                metadata,
                [
                    StatisticData(start=datetime.fromtimestamp(hour, UTC), state=state, sum=total)
                    for hour, (state, total) in sorted(rows.items())
                ],
            )
        self._written = series
