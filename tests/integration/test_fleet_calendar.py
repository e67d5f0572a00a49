"""The fleet's job calendar shows a running job as its printer's calendar does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import DOMAIN, FLEET_UNIQUE_ID
from custom_components.printernizer.events import EVENT_JOB_STARTED
from simulator.bambu.printer import BambuSimulator

from ..printers.waiting import wait_until
from .test_calendar import calendar_id, events
from .test_jobs import Recorder


async def test_a_running_job_ends_at_the_printers_estimate_in_the_fleet_calendar(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    recorder = Recorder(hass)
    bambu_sim.start_print("Long bracket", total_layers=200, minutes=600)
    await recorder.wait(EVENT_JOB_STARTED)
    coordinator = loaded_entry.runtime_data.coordinator
    await wait_until(lambda: (coordinator.data.job.remaining_minutes or 0) > 60)
    fleet = er.async_get(hass).async_get_entity_id("calendar", DOMAIN, f"{FLEET_UNIQUE_ID}_jobs")
    assert fleet is not None
    now = datetime.now(UTC)
    window = (now - timedelta(days=1), now + timedelta(days=2))
    (own,) = await events(hass, calendar_id(hass, bambu_sim.serial), *window)
    (shared,) = await events(hass, fleet, *window)
    assert shared["summary"] == own["summary"] == "Long bracket"
    # Not the hour a calendar assumes without an estimate: the printer's hours-long estimate.
    end = datetime.fromisoformat(shared["end"])
    assert end - datetime.fromisoformat(own["end"]) < timedelta(minutes=10)
    assert end - now > timedelta(hours=1, minutes=30)
