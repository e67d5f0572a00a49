"""A PrusaLink printer's entities in Home Assistant, driven by the simulated MK4 over HTTP.

The entry polls every FAST_IDLE_POLL seconds while idle; while a job runs the adapter's own
5 s active interval applies, so a test waits at most that long for HA to follow the printer.
"""

from __future__ import annotations

import asyncio
import logging

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import (
    ATTR_ENTITY_ID,
    EVENT_STATE_CHANGED,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.printernizer.const import LOGGER
from custom_components.printernizer.job_sensor import TOTALS
from simulator.prusa import PrusaSimulator

from .conftest import wait_for_state

PREFIX = "mk4_prusa_mk4"
STATUS = f"sensor.{PREFIX}_status"
PROGRESS = f"sensor.{PREFIX}_progress"
ONLINE = f"binary_sensor.{PREFIX}_online"
PRINTING = f"binary_sensor.{PREFIX}_printing"
PAUSED = f"binary_sensor.{PREFIX}_paused"
ATTENTION = f"binary_sensor.{PREFIX}_needs_attention"
PAUSE = f"button.{PREFIX}_pause"
RESUME = f"button.{PREFIX}_resume"
STOP = f"button.{PREFIX}_stop"
# Readings that follow the simulated heaters or the wall clock, not the print's logic.
TIMING_DEPENDENT = {
    f"sensor.{PREFIX}_nozzle_temperature",
    f"sensor.{PREFIX}_bed_temperature",
    f"sensor.{PREFIX}_estimated_finish",
    f"sensor.{PREFIX}_total_print_time",
    f"event.{PREFIX}_print",
    f"image.{PREFIX}_job_preview",
}
# Waits that span a poll of a printing printer (every 5 s) get some slack on a busy machine.
ACTIVE_WAIT = 15


async def press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


def printer_entities(hass: HomeAssistant, entry: MockConfigEntry) -> list[str]:
    """The entity ids of the printer's enabled entities that show what the printer reports.

    The job history's totals, the last print event and the job calendar do not depend on the
    printer being reachable, so they are left out.
    """
    serial = entry.unique_id
    history = {f"{serial}_{d.key}" for d in TOTALS} | {f"{serial}_print_events", f"{serial}_jobs"}
    return [
        entity.entity_id
        for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if entity.disabled_by is None and entity.unique_id not in history
    ]


def job_commands(sim: PrusaSimulator) -> list[tuple[str, int | None]]:
    """The job commands the printer received, with its answers."""
    return [
        (f"{request.method} {request.path}", request.status)
        for request in sim.requests
        if request.path.startswith("/api/v1/job/") and request.auth
    ]


async def test_print_produces_the_expected_states(
    hass: HomeAssistant,
    loaded_prusa_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
    snapshot: SnapshotAssertion,
) -> None:
    assert hass.states.get(STATUS).state == "idle"
    statuses: list[str] = []

    @callback
    def status_changed(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"] == STATUS and (new := event.data["new_state"]):
            statuses.append(new.state)

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, status_changed)
    # Ten simulated minutes plus the heat-up: about 1.5 s, well inside one active interval.
    prusa_sim.start_print(minutes=10)
    await wait_for_state(hass, STATUS, "printing")
    assert hass.states.get(PRINTING).state == STATE_ON
    await wait_for_state(hass, STATUS, "finished", ACTIVE_WAIT)
    unsubscribe()
    assert statuses == ["printing", "finished"]
    shown = {
        state.entity_id: (state.state, state.attributes.get("errors"))
        for state in hass.states.async_all()
        # The fleet's figures follow the history after a cooldown (tests/integration/test_fleet).
        if state.entity_id not in TIMING_DEPENDENT and ".printernizer_fleet_" not in state.entity_id
    }
    assert shown == snapshot


@pytest.mark.usefixtures("loaded_prusa_entry")
async def test_attention_pauses_and_asks_for_the_user(
    hass: HomeAssistant, prusa_sim: PrusaSimulator
) -> None:
    assert hass.states.get(ATTENTION).state == STATE_OFF
    prusa_sim.start_print(minutes=600)
    await wait_for_state(hass, STATUS, "printing")
    await prusa_sim.attention()  # filament runout
    await wait_for_state(hass, ATTENTION, STATE_ON, ACTIVE_WAIT)
    assert hass.states.get(STATUS).state == "paused"
    assert hass.states.get(PAUSED).state == STATE_ON
    assert hass.states.get(RESUME).state != STATE_UNAVAILABLE
    await prusa_sim.resume()  # the user confirmed at the printer
    await wait_for_state(hass, ATTENTION, STATE_OFF, ACTIVE_WAIT)
    assert hass.states.get(STATUS).state == "printing"


async def test_unavailable_while_offline_and_back_afterwards(
    hass: HomeAssistant,
    loaded_prusa_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    entities = printer_entities(hass, loaded_prusa_entry)
    prusa_sim.go_offline()
    await wait_for_state(hass, STATUS, "offline")  # the status says so, not "unavailable"
    assert hass.states.get(ONLINE).state == STATE_OFF
    # What is on this disk (and that no download runs) stays known while the printer is away.
    local = {f"sensor.{PREFIX}_download_activity", f"sensor.{PREFIX}_local_files"}
    assert {
        entity_id: hass.states.get(entity_id).state
        for entity_id in entities
        if entity_id not in (ONLINE, STATUS, *local)
        and hass.states.get(entity_id).state != STATE_UNAVAILABLE
    } == {}
    assert {hass.states.get(entity_id).state for entity_id in local} == {"idle", "0.0"}
    prusa_sim.go_online()
    await wait_for_state(hass, STATUS, "idle")
    assert hass.states.get(ONLINE).state == STATE_ON
    assert hass.states.get(PROGRESS).state != STATE_UNAVAILABLE
    reachability = [
        record.getMessage()
        for record in caplog.records
        if record.name == LOGGER.name and record.levelno == logging.INFO
    ]
    assert reachability == [
        "Printer MK4 prusa-mk4 is offline",
        "Printer MK4 prusa-mk4 is back online",
    ]


@pytest.mark.usefixtures("loaded_prusa_entry")
async def test_buttons_reach_the_printer(hass: HomeAssistant, prusa_sim: PrusaSimulator) -> None:
    prusa_sim.start_print(minutes=600)
    await wait_for_state(hass, STATUS, "printing")
    job = prusa_sim.job
    assert job is not None

    await press(hass, PAUSE)
    assert prusa_sim.state == "PAUSED"
    await wait_for_state(hass, PAUSED, STATE_ON, ACTIVE_WAIT)

    await press(hass, RESUME)
    assert prusa_sim.state == "PRINTING"
    await wait_for_state(hass, STATUS, "printing", ACTIVE_WAIT)

    await press(hass, STOP)
    assert prusa_sim.state == "STOPPED"
    await wait_for_state(hass, STATUS, "cancelled", ACTIVE_WAIT)
    assert job_commands(prusa_sim) == [
        (f"PUT /api/v1/job/{job.id}/pause", 204),
        (f"PUT /api/v1/job/{job.id}/resume", 204),
        (f"DELETE /api/v1/job/{job.id}", 204),
    ]
    assert prusa_sim.max_in_flight == 1  # commands wait for the poll in flight, and vice versa


@pytest.mark.usefixtures("loaded_prusa_entry")
async def test_command_the_printer_refuses_explains_why(
    hass: HomeAssistant, prusa_sim: PrusaSimulator
) -> None:
    prusa_sim.start_print(minutes=600)
    # Right after a poll showed the print: the next one is an active interval away.
    await wait_for_state(hass, STATUS, "printing")
    await prusa_sim.pause()  # someone paused at the printer; HA has not seen it yet
    assert hass.states.get(PAUSE).state != STATE_UNAVAILABLE
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, PAUSE)
    assert err.value.translation_key == "command_conflict"
    # The command by its translated name, not its id.
    assert "cannot run the command “Pause” in its current state" in str(err.value)
    job = prusa_sim.job
    assert job is not None
    assert job_commands(prusa_sim) == [(f"PUT /api/v1/job/{job.id}/pause", 409)]
    assert prusa_sim.state == "PAUSED"
    await wait_for_state(hass, PAUSED, STATE_ON, ACTIVE_WAIT)  # HA catches up at the next poll


async def test_unload_stops_polling(
    hass: HomeAssistant, prusa_entry: MockConfigEntry, prusa_sim: PrusaSimulator
) -> None:
    assert await hass.config_entries.async_setup(prusa_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(STATUS).state == "idle"
    # A few idle polls, each announced by nothing: count them on the printer's side.
    polls = sum(request.path == "/api/v1/status" for request in prusa_sim.requests)
    async with asyncio.timeout(5):
        while sum(r.path == "/api/v1/status" for r in prusa_sim.requests) < polls + 3:
            await asyncio.sleep(0.01)

    assert await hass.config_entries.async_unload(prusa_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(STATUS).state == STATE_UNAVAILABLE
    assert [
        task.get_name()
        for task in asyncio.all_tasks()
        if task.get_name().startswith("printernizer-prusa")
    ] == []
    assert prusa_sim.max_in_flight == 1
