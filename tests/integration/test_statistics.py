"""Fleet-wide long-term statistics in HA's recorder, restated when a job is re-categorized."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import (
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


async def restated(hass: HomeAssistant) -> dict[str, list[tuple[datetime, float, float]]]:
    """Past the cooldown, once the recorder wrote: each series as (start, state, sum)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=COOLDOWN + 1))
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    found: dict[str, list[Any]] = await hass.async_add_executor_job(
        statistics_during_period, hass, T0, None, IDS, "hour", None, {"state", "sum"}
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
