"""Fleet-wide long-term statistics in HA's recorder, restated when a job is re-categorized."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
import re
from typing import Any

from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType, StatisticMetaData
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    list_statistic_ids,
    statistics_during_period,
)
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.printernizer.const import (
    CONF_COSTS,
    CONF_CURRENCY,
    CONF_ENTRY_TYPE,
    DOMAIN,
    ENTRY_TYPE_FLEET,
    FLEET_UNIQUE_ID,
)
from custom_components.printernizer.fleet.statistics import COOLDOWN, statistic_id
from custom_components.printernizer.history import DATA_HISTORY
from custom_components.printernizer.jobs import JobRecord, JobStatus
from custom_components.printernizer.jobs.hourly import material_slug
from custom_components.printernizer.jobs.records import MaterialUse

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """The recorder's database is prepared before HA starts (as HA's own recorder tests do)."""


IDS = {statistic_id(name) for name in ("cost_business", "cost_private", "material")}


def ended(job_id: str, hours: int, category: str, gross: str) -> JobRecord:
    end = T0 + timedelta(hours=hours, minutes=30)
    return JobRecord(
        id=job_id,
        serial="01P00A000000001",
        printer_name="P1S",
        started_at=end - timedelta(hours=1),
        updated_at=end,
        ended_at=end,
        duration_seconds=3600.0,
        status=JobStatus.COMPLETED,
        materials=(MaterialUse(material="PLA", planned_grams=20.0, grams=20.0),),
        cost={"gross": gross, "currency": "EUR"},
        category=category,
    )


async def restated(
    hass: HomeAssistant, ids: set[str] = IDS
) -> dict[str, list[tuple[datetime, float, float]]]:
    """Past the cooldown, once the recorder wrote: each series as (start, state, sum)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=COOLDOWN + 1))
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    found: dict[str, list[Any]] = await hass.async_add_executor_job(
        statistics_during_period, hass, T0, None, ids, "hour", None, {"state", "sum"}
    )
    return {
        key: [(dt_util.utc_from_timestamp(r["start"]), r["state"], r["sum"]) for r in rows]
        for key, rows in found.items()
    }


async def test_cost_by_category_restated_when_a_job_changes_category(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    hass.config.currency = "EUR"
    assert await async_setup_component(hass, DOMAIN, {})
    history = hass.data[DATA_HISTORY]
    history.put(ended("a", 0, "business", "10.00"))
    history.put(ended("b", 2, "private", "2.50"))
    history.put(ended("c", 3, "business", "1.25"))
    series = await restated(hass)
    h = [T0 + timedelta(hours=n) for n in (0, 2, 3)]
    assert series[statistic_id("cost_business")] == [
        (h[0], 10.0, 10.0),
        (h[1], 0.0, 10.0),
        (h[2], 1.25, 11.25),
    ]
    assert series[statistic_id("cost_private")][-1] == (h[2], 0.0, 2.5)
    assert [row[2] for row in series[statistic_id("material")]] == [20.0, 40.0, 60.0]
    ids = await hass.async_add_executor_job(list_statistic_ids, hass, IDS)
    units = {item["statistic_id"]: item["statistics_unit_of_measurement"] for item in ids}
    assert units == {
        statistic_id("cost_business"): "EUR",
        statistic_id("cost_private"): "EUR",
        statistic_id("material"): "g",
    }

    # The user files the first job as private: both series change from its hour on, the
    # totals are not counted twice.
    await hass.services.async_call(
        DOMAIN,
        "update_job",
        {"job_id": "a", "category": "private"},
        blocking=True,
        return_response=True,
    )
    series = await restated(hass)
    assert series[statistic_id("cost_business")] == [
        (h[0], 0.0, 0.0),
        (h[1], 0.0, 0.0),
        (h[2], 1.25, 1.25),
    ]
    assert series[statistic_id("cost_private")] == [
        (h[0], 10.0, 10.0),
        (h[1], 2.5, 12.5),
        (h[2], 0.0, 12.5),
    ]
    assert [row[2] for row in series[statistic_id("material")]] == [20.0, 40.0, 60.0]


async def test_running_jobs_write_nothing(recorder_mock: Recorder, hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    history = hass.data[DATA_HISTORY]
    running = ended("r", 0, "business", "1.00")
    history.put(replace(running, status=JobStatus.ACTIVE, ended_at=None, duration_seconds=None))
    assert await restated(hass) == {}


async def test_money_in_the_fleet_currency_and_names_in_the_language(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    """The fleet's currency, not HA's, is the cost unit; a job priced in another is left out.

    Names follow Home Assistant's language (German here), not always English.
    """
    hass.config.currency = "EUR"
    hass.config.language = "de"
    MockConfigEntry(
        domain=DOMAIN,
        unique_id=FLEET_UNIQUE_ID,
        title="Fleet",
        minor_version=2,
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_FLEET},
        options={CONF_COSTS: {CONF_CURRENCY: "CHF"}},
    ).add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    history = hass.data[DATA_HISTORY]
    history.put(
        replace(ended("a", 0, "business", "10.00"), cost={"gross": "10.00", "currency": "CHF"})
    )
    history.put(ended("b", 1, "business", "99.00"))  # in EUR: not in a CHF series
    series = await restated(hass)
    assert [row[2] for row in series[statistic_id("cost_business")]] == [10.0, 10.0]
    assert [row[2] for row in series[statistic_id("material")]] == [20.0, 40.0]
    ids = await hass.async_add_executor_job(list_statistic_ids, hass, IDS)
    found = {item["statistic_id"]: item for item in ids}
    assert found[statistic_id("cost_business")]["statistics_unit_of_measurement"] == "CHF"
    assert {item["name"] for item in ids} == {
        "Printernizer Kosten geschäftlich",
        "Printernizer Kosten privat",
        "Printernizer Material",
    }


def plate(job_id: str, hours: int, *uses: tuple[str, float]) -> JobRecord:
    """An ended job of these materials (type, grams), e.g. a multi-colour AMS plate."""
    return replace(
        ended(job_id, hours, "business", "1.00"),
        materials=tuple(
            MaterialUse(material=material, planned_grams=grams, grams=grams)
            for material, grams in uses
        ),
    )


async def material_series(hass: HomeAssistant) -> dict[str, dict[str, Any]]:
    """Past the cooldown, our material-per-type series: id -> name, unit, (start, state, sum)."""
    await restated(hass)
    listed = await hass.async_add_executor_job(list_statistic_ids, hass)
    found = {
        item["statistic_id"]: item
        for item in listed
        if item["statistic_id"].startswith(statistic_id("material_"))
    }
    series = await restated(hass, set(found)) if found else {}
    return {
        key: {
            "name": item["name"],
            "unit": item["statistics_unit_of_measurement"],
            "rows": series.get(key, []),
        }
        for key, item in found.items()
    }


LONG = "Silk PLA " + "x" * 200  # a printer may report anything; no action limits it here


async def test_material_per_type_split_restated_and_cleared(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    """PLA and PETG jobs, a multi-material plate and hostile names, read back from the recorder.

    A corrected job restates its types; a type no job uses any more is cleared.
    """
    assert await async_setup_component(hass, DOMAIN, {})
    history = hass.data[DATA_HISTORY]
    history.put(plate("a", 0, ("PLA", 20.0)))
    history.put(plate("b", 1, ("PLA", 5.0), ("PETG", 30.0), ("PLA", 2.5)))  # AMS: 3 slots
    history.put(plate("c", 2, (" pétg ", 4.0)))  # the same type, as someone typed it
    history.put(plate("d", 3, ("../PLA/聚乳酸", 7.0), ("", 1.5), (LONG, 3.0)))
    series = await material_series(hass)
    h = [T0 + timedelta(hours=n) for n in range(4)]
    odd = statistic_id("material_" + material_slug("../PLA/聚乳酸"))
    assert re.fullmatch(r"printernizer:material_pla_[0-9a-f]{8}", odd)  # hash: not PLA itself
    long_id = statistic_id("material_" + material_slug(LONG))
    assert series.keys() == {
        statistic_id("material_pla"),
        statistic_id("material_petg"),
        statistic_id("material_unknown"),
        odd,
        long_id,
    }
    assert series[statistic_id("material_pla")]["rows"] == [(h[0], 20.0, 20.0), (h[1], 7.5, 27.5)]
    assert series[statistic_id("material_petg")]["rows"] == [(h[1], 30.0, 30.0), (h[2], 4.0, 34.0)]
    assert series[odd]["rows"] == [(h[3], 7.0, 7.0)]
    assert series[statistic_id("material_unknown")]["rows"] == [(h[3], 1.5, 1.5)]
    assert series[long_id]["rows"] == [(h[3], 3.0, 3.0)]
    names = {key: item["name"] for key, item in series.items()}
    assert names[statistic_id("material_pla")] == "Printernizer material PLA"
    assert names[statistic_id("material_petg")] == "Printernizer material PETG"
    assert names[odd] == "Printernizer material ../PLA/聚乳酸"
    assert names[statistic_id("material_unknown")] == "Printernizer material of unknown type"
    assert names[long_id] == "Printernizer material " + LONG[:59] + "\u2026"
    assert {item["unit"] for item in series.values()} == {"g"}
    total = await restated(hass, {statistic_id("material")})
    assert [row[2] for row in total[statistic_id("material")]] == [20.0, 57.5, 61.5, 73.0]

    # The plate's grams were wrong (PETG 30 -> 12 g, one PLA slot was ABS) and the odd job
    # was PLA: each type restated from that hour on; its own odd type is gone.
    history.put(plate("b", 1, ("PLA", 5.0), ("PETG", 12.0), ("ABS", 2.5)))
    history.put(plate("d", 3, ("PLA", 7.0), ("", 1.5), (LONG, 3.0)))
    series = await material_series(hass)
    assert odd not in series
    assert series[statistic_id("material_pla")]["rows"] == [
        (h[0], 20.0, 20.0),
        (h[1], 5.0, 25.0),
        (h[3], 7.0, 32.0),
    ]
    assert series[statistic_id("material_petg")]["rows"] == [(h[1], 12.0, 12.0), (h[2], 4.0, 16.0)]
    assert series[statistic_id("material_abs")]["rows"] == [(h[1], 2.5, 2.5)]
    total = await restated(hass, {statistic_id("material")})
    assert [row[2] for row in total[statistic_id("material")]] == [20.0, 39.5, 43.5, 55.0]


async def test_a_type_left_over_from_an_earlier_run_is_cleared(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    """A type whose last job changed just before a restart has no job now: not kept."""
    stale = statistic_id("material_nylon")
    metadata: Any = {
        "mean_type": StatisticMeanType.NONE, "has_sum": True, "name": "Printernizer material Nylon",
        "source": DOMAIN, "statistic_id": stale, "unit_of_measurement": "g",
    }  # fmt: skip
    if "unit_class" in StatisticMetaData.__annotations__:
        metadata["unit_class"] = None
    async_add_external_statistics(hass, metadata, [{"start": T0, "state": 5.0, "sum": 5.0}])
    await async_wait_recording_done(hass)
    assert await material_series(hass) == {
        stale: {"name": "Printernizer material Nylon", "unit": "g", "rows": [(T0, 5.0, 5.0)]}
    }
    assert await async_setup_component(hass, DOMAIN, {})
    hass.data[DATA_HISTORY].put(plate("a", 0, ("PLA", 20.0)))
    series = await material_series(hass)
    assert series.keys() == {statistic_id("material_pla")}


async def test_material_type_names_in_german(recorder_mock: Recorder, hass: HomeAssistant) -> None:
    hass.config.language = "de"
    assert await async_setup_component(hass, DOMAIN, {})
    hass.data[DATA_HISTORY].put(plate("a", 0, ("PETG", 20.0), ("", 1.0)))
    series = await material_series(hass)
    assert {key: item["name"] for key, item in series.items()} == {
        statistic_id("material_petg"): "Printernizer Material PETG",
        statistic_id("material_unknown"): "Printernizer Material unbekannter Art",
    }
