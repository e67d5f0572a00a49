"""Fleet-wide long-term statistics (`printernizer:cost_business`, …) from the job history.

Imported as external statistics, so they need no entity and survive removing a printer: HA's
statistics-graph card shows cost per category, material, energy and print hours per hour,
day, week or month, and material per type (`printernizer:material_pla`, `material_petg`, …;
see `jobs.hourly.material_slug`). A job that ends, or an ended job that is edited (category,
cost, materials), restates the series after a short cooldown; only rows whose value changed
are written again. A type no job uses any more (its only job was corrected to another) is
cleared from the recorder, also when that happened before a restart.

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
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    async_list_statistic_ids,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.translation import async_get_translations

from ..const import DOMAIN
from ..history import JobHistory
from ..jobs.analytics import (
    FACT_ENDED,
    FACT_MATERIALS,
    FACT_STARTED,
    FACT_STATUS,
    JobFacts,
)
from ..jobs.hourly import (
    MATERIAL_PREFIX,
    SERIES,
    UNKNOWN_MATERIAL,
    Ended,
    MaterialUsed,
    Rows,
    changed_rows,
    hourly_sums,
    material_sums,
)
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
_TYPE_NAME = "Printernizer material {material}"
_UNKNOWN_NAME = "Printernizer material of unknown type"
# Positions in analytics' `JobFacts` (its layout only ever grows at the end): status, started
# and ended_at (microseconds), and the materials (type, colour, grams or None, line cost).
_ACTIVE = JobStatus.ACTIVE.value
_ALL_TIME = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def statistic_id(series: str) -> str:
    """The recorder's id of one series."""
    return f"{DOMAIN}:{series}"


def _translation_key(series: str) -> str:
    return f"component.{DOMAIN}.entity.sensor.statistic_{series}.name"


async def async_names(hass: HomeAssistant, labels: Mapping[str, str]) -> dict[str, str]:
    """Each series' name in Home Assistant's language; English where there is none.

    `labels`: the material types' series and how each type is spelled in the records.
    """
    texts = await async_get_translations(hass, hass.config.language, "entity", {DOMAIN})
    names = {name: texts.get(_translation_key(name)) or text for name, text in _NAMES.items()}
    typed = texts.get(_translation_key("material_type")) or _TYPE_NAME
    names[MATERIAL_PREFIX + UNKNOWN_MATERIAL] = (
        texts.get(_translation_key("material_unknown")) or _UNKNOWN_NAME
    )
    for name, label in labels.items():
        names[name] = typed.replace("{material}", label)
    return names


def _material_uses(facts: list[JobFacts]) -> list[MaterialUsed]:
    """Each material of each ended job, ending when the job did (as in `Ended`)."""
    return [
        MaterialUsed(ended=ended / 1e6, material=use[0], grams=use[2])
        for job in facts
        if job[FACT_STATUS] != _ACTIVE
        for ended in (job[FACT_STARTED] if job[FACT_ENDED] is None else job[FACT_ENDED],)
        for use in job[FACT_MATERIALS]
    ]


type _Changed = dict[str, list[StatisticData]]


def _restatement(
    make: Callable[[], list[Ended]],
    pick: Callable[[], list[JobFacts]],
    written: Mapping[str, Rows],
) -> tuple[dict[str, Rows], _Changed, dict[str, str]]:
    """Every series, the rows that changed (as the recorder takes them), the types' labels.

    Runs in the executor: for a big history this is most of a restatement.
    """
    series = hourly_sums(make())
    materials, labels = material_sums(_material_uses(pick()))
    series |= materials
    changed: _Changed = {}
    for name in (*SERIES, *materials):
        rows = changed_rows(written.get(name, {}), series[name])
        if rows:
            changed[name] = [
                StatisticData(start=datetime.fromtimestamp(hour, UTC), state=state, sum=total)
                for hour, (state, total) in sorted(rows.items())
            ]
    return series, changed, labels


class FleetStatistics:
    """Keeps the recorder's fleet series equal to what the history says."""

    def __init__(self, hass: HomeAssistant, history: JobHistory) -> None:
        """Nothing is written until `async_start`."""
        self.hass = hass
        self._history = history
        self._written: dict[str, Rows] = {}
        self._orphans_checked = False
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
        pick = self._history.analytics_facts(*_ALL_TIME)
        series, changed, labels = await self.hass.async_add_executor_job(
            _restatement, make, pick, self._written
        )
        await self._async_clear_unused(series)
        names = await async_names(self.hass, labels) if changed else _NAMES
        for name, rows in changed.items():
            metadata = StatisticMetaData(
                mean_type=StatisticMeanType.NONE,
                has_sum=True,
                name=names[name],
                source=DOMAIN,
                statistic_id=statistic_id(name),
                unit_of_measurement="g"
                if name.startswith(MATERIAL_PREFIX)
                else _UNITS.get(name, currency),
                **_UNIT_CLASS,  # type: ignore[typeddict-item]
            )
            async_add_external_statistics(self.hass, metadata, rows)
        self._written = series

    async def _async_clear_unused(self, series: Mapping[str, Rows]) -> None:
        """Clear the series of material types no job uses any more.

        The first time, those the recorder holds from an earlier run are asked for too.
        """
        unused = {
            name for name in self._written if name.startswith(MATERIAL_PREFIX)
        } - series.keys()
        ids = {statistic_id(name) for name in unused}
        if not self._orphans_checked:
            self._orphans_checked = True
            prefix = statistic_id(MATERIAL_PREFIX)
            stored = await async_list_statistic_ids(self.hass, statistic_type="sum")
            ids |= {
                item["statistic_id"]
                for item in stored
                if item["statistic_id"].startswith(prefix)
                and item["statistic_id"][len(DOMAIN) + 1 :] not in series
            }
        if ids:
            get_instance(self.hass).async_clear_statistics(sorted(ids))
