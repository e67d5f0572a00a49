"""Fleet-wide long-term statistics (`printernizer:cost_business`, …) from the job history.

Imported as external statistics, so they need no entity and survive removing a printer: HA's
statistics-graph card shows cost per category, material, energy and print hours per hour,
day, week or month. A job that ends, or an ended job that is edited (category, cost), restates
the series after a short cooldown; only rows whose value changed are written again.

Money is in the fleet's currency (its option, else Home Assistant's), as in the analytics: a
job priced in another currency is left out of the cost series. Names are in Home Assistant's
language when we have it (external statistics have a name, not a translation key; the texts
live beside the fleet sensors' names in the translations). The facts are taken from the
history in the event loop; the series and their rows are built in the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from homeassistant.helpers.translation import async_get_translations

from ..const import DOMAIN
from ..history import JobHistory
from ..jobs.hourly import SERIES, Ended, Rows, changed_rows, hourly_sums
from ..jobs.records import JobRecord, JobStatus
from ..settings import fleet_currency, fleet_options

LOGGER = logging.getLogger(__name__)
COOLDOWN = 10.0  # seconds between restatements: a farm finishing many jobs writes once
# Newer HA wants the unit class named (None: no unit conversion); 2025.4 does not know it.
_UNIT_CLASS: dict[str, None] = (
    {"unit_class": None} if "unit_class" in StatisticMetaData.__annotations__ else {}
)
# Names when no translation is found (and the keys of those that are: entity.sensor.<key>).
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


def _translation_key(series: str) -> str:
    return f"component.{DOMAIN}.entity.sensor.statistic_{series}.name"


async def async_names(hass: HomeAssistant) -> dict[str, str]:
    """Each series' name in Home Assistant's language; English where there is none."""
    texts = await async_get_translations(hass, hass.config.language, "entity", {DOMAIN})
    return {name: texts.get(_translation_key(name)) or text for name, text in _NAMES.items()}


type _Changed = dict[str, list[StatisticData]]


def _restatement(
    make: Callable[[], list[Ended]], written: Mapping[str, Rows]
) -> tuple[dict[str, Rows], _Changed]:
    """Every series, and per series the rows that changed as the recorder takes them.

    Runs in the executor: for a big history this is most of a restatement.
    """
    series = hourly_sums(make())
    changed: _Changed = {}
    for name in SERIES:
        rows = changed_rows(written.get(name, {}), series[name])
        if rows:
            changed[name] = [
                StatisticData(start=datetime.fromtimestamp(hour, UTC), state=state, sum=total)
                for hour, (state, total) in sorted(rows.items())
            ]
    return series, changed


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
        currency = fleet_currency(self.hass, fleet_options(self.hass))
        make = self._history.ended_jobs(currency)
        series, changed = await self.hass.async_add_executor_job(_restatement, make, self._written)
        names = await async_names(self.hass) if changed else _NAMES
        for name, rows in changed.items():
            metadata = StatisticMetaData(
                mean_type=StatisticMeanType.NONE,
                has_sum=True,
                name=names[name],
                source=DOMAIN,
                statistic_id=statistic_id(name),
                unit_of_measurement=_UNITS.get(name, currency),
                **_UNIT_CLASS,  # type: ignore[typeddict-item]
            )
            async_add_external_statistics(self.hass, metadata, rows)
        self._written = series
