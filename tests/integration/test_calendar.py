"""The job calendar: on while printing, every job an event, read from the history."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from homeassistant.const import STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.printernizer.const import DOMAIN
from custom_components.printernizer.events import EVENT_JOB_FINISHED, EVENT_JOB_STARTED
from custom_components.printernizer.history import DATA_HISTORY
from custom_components.printernizer.jobs import JobRecord, JobStatus
from custom_components.printernizer.jobs.records import MaterialUse
from simulator.bambu.printer import BambuSimulator

from .conftest import wait_for_state
from .platform_printers import PRINTERS, entities_of, platform_printer
from .test_jobs import Recorder

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def calendar_id(hass: HomeAssistant, serial: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("calendar", DOMAIN, f"{serial}_jobs")
    assert entity_id is not None
    return entity_id


async def events(
    hass: HomeAssistant, entity_id: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {"entity_id": entity_id, "start_date_time": start, "end_date_time": end},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    found: list[dict[str, Any]] = response[entity_id]["events"]
    return found


def record(job_id: str, serial: str, start: datetime, **fields: Any) -> JobRecord:
    values: dict[str, Any] = {
        "id": job_id,
        "serial": serial,
        "printer_name": "P1S",
        "started_at": start,
        "updated_at": start + timedelta(hours=2),
        "ended_at": start + timedelta(hours=2),
        "duration_seconds": 7200.0,
        "status": JobStatus.COMPLETED,
    }
    return JobRecord(**values | fields)


async def test_on_while_printing_and_every_job_an_event(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    entity_id = calendar_id(hass, bambu_sim.serial)
    assert hass.states.get(entity_id).state == STATE_OFF  # type: ignore[union-attr]
    recorder = Recorder(hass)
    bambu_sim.start_print("Bracket", total_layers=20, minutes=30)
    await recorder.wait(EVENT_JOB_STARTED)
    await wait_for_state(hass, entity_id, STATE_ON)
    running = hass.states.get(entity_id)
    assert running is not None
    assert running.attributes["message"] == "Bracket"
    assert "Status: Running" in running.attributes["description"]

    finished = await recorder.wait(EVENT_JOB_FINISHED)
    await wait_for_state(hass, entity_id, STATE_OFF)
    now = datetime.now(UTC)
    found = await events(hass, entity_id, now - timedelta(days=1), now + timedelta(days=1))
    assert [event["summary"] for event in found] == ["Bracket"]
    assert found[0]["description"].splitlines()[0] == "Status: Completed"
    assert finished["status"] == "completed"
    assert datetime.fromisoformat(found[0]["start"]) < datetime.fromisoformat(found[0]["end"])


async def test_history_jobs_with_their_cost_in_the_users_language(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    hass.config.language = "de"
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    history = hass.data[DATA_HISTORY]
    serial = bambu_sim.serial
    history.put(
        record(
            "a",
            serial,
            T0,
            job_name="Gehäuse",
            materials=(MaterialUse(material="PETG", color="Schwarz", grams=41.3),),
            cost={"gross": "3.57", "currency": "EUR"},
            category="business",
            customer="ACME",
        )
    )
    history.put(record("b", serial, T0 + timedelta(days=40), job_name="Next month"))
    history.put(record("c", "OTHERPRINTER", T0, job_name="Not this printer"))
    # Started the day before, still running into the range: it belongs to it.
    history.put(record("d", serial, T0 - timedelta(hours=3), job_name="Overnight"))
    try:
        found = await events(
            hass, calendar_id(hass, serial), T0 - timedelta(hours=2), T0 + timedelta(days=1)
        )
        assert [event["summary"] for event in found] == ["Overnight", "Gehäuse"]
        assert found[1]["description"].splitlines() == [
            "Status: Abgeschlossen",
            "Material: PETG Schwarz 41.3 g",
            "Kosten: 3.57 EUR",
            "Kategorie: Geschäftlich",
            "Kunde: ACME",
        ]
    finally:
        assert await hass.config_entries.async_unload(bambu_entry.entry_id)
        await hass.async_block_till_done()


async def test_hand_edited_records_never_break_the_calendar(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    history = hass.data[DATA_HISTORY]
    serial = bambu_sim.serial
    history.put(record("backwards", serial, T0, ended_at=T0 - timedelta(hours=5)))
    history.put(record("nan", serial, T0, cost={"gross": "NaN", "currency": 978}))
    history.put(record("junk", serial, T0, cost={"gross": ["1"], "currency": "EUR"}))
    found = await events(
        hass, calendar_id(hass, serial), T0 - timedelta(days=1), T0 + timedelta(days=1)
    )
    assert len(found) == 3
    for event in found:
        assert datetime.fromisoformat(event["start"]) < datetime.fromisoformat(event["end"])
        assert event["summary"] == "Print job"
        assert "Cost" not in event["description"]


@pytest.mark.parametrize("printer", PRINTERS)
@pytest.mark.usefixtures("socket_enabled")
async def test_calendar_entities(
    hass: HomeAssistant, tmp_path: Path, snapshot: SnapshotAssertion, printer: str
) -> None:
    async with platform_printer(hass, tmp_path, printer, Platform.CALENDAR) as (entry, secrets):
        assert entities_of(hass, entry, secrets) == snapshot


async def test_a_running_job_is_written_when_its_event_changes_not_at_each_progress_step(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    entity_id = calendar_id(hass, bambu_sim.serial)
    history = hass.data[DATA_HISTORY]
    start = datetime.now(UTC)
    running = record(
        "run", bambu_sim.serial, start, job_name="Hinge", ended_at=None,
        duration_seconds=None, status=JobStatus.ACTIVE, updated_at=start,
    )  # fmt: skip
    history.put(running)
    await hass.async_block_till_done()
    on = hass.states.get(entity_id)
    assert on is not None
    assert on.state == STATE_ON

    history.put(replace(running, progress=10.0, updated_at=start + timedelta(minutes=3)))
    await hass.async_block_till_done()
    assert hass.states.get(entity_id) == on  # nothing its event shows changed: no write
    assert hass.states.get(entity_id).last_reported == on.last_reported  # type: ignore[union-attr]

    history.put(replace(running, progress=20.0, customer="ACME"))
    await hass.async_block_till_done()
    edited = hass.states.get(entity_id)
    assert edited is not None
    assert "Customer: ACME" in edited.attributes["description"]
