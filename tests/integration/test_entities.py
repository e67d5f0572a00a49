"""The printer's entities in Home Assistant, driven by the simulated printer."""

from __future__ import annotations

import logging

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.components.light import DOMAIN as LIGHT_DOMAIN
from homeassistant.components.select import (
    ATTR_OPTION,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import (
    ATTR_ENTITY_ID,
    EVENT_STATE_CHANGED,
    SERVICE_TURN_OFF,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from simulator.bambu.printer import BambuSimulator

from .conftest import wait_for_state

PREFIX = "p1s_01p00a000000001"
STATUS = f"sensor.{PREFIX}_status"
PROGRESS = f"sensor.{PREFIX}_progress"
NOZZLE = f"sensor.{PREFIX}_nozzle_temperature"
ONLINE = f"binary_sensor.{PREFIX}_online"
PAUSED = f"binary_sensor.{PREFIX}_paused"
LOCKED = f"binary_sensor.{PREFIX}_controls_need_developer_mode"
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
    f"sensor.{PREFIX}_ams_1_temperature",
}


async def press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


@pytest.mark.usefixtures("loaded_entry")
async def test_full_print_produces_the_expected_states(
    hass: HomeAssistant, bambu_sim: BambuSimulator, snapshot: SnapshotAssertion
) -> None:
    statuses: list[str] = []

    @callback
    def status_changed(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"] == STATUS and (new := event.data["new_state"]):
            statuses.append(new.state)

    hass.bus.async_listen(EVENT_STATE_CHANGED, status_changed)
    await bambu_sim.start_print("Cube", total_layers=20, minutes=20)
    await wait_for_state(hass, STATUS, "finished")
    await wait_for_state(hass, PROGRESS, "100.0")
    assert statuses == ["preparing", "printing", "finished"]
    shown = {
        state.entity_id: (state.state, state.attributes.get("errors"))
        for state in hass.states.async_all()
        # The fleet's figures follow the history after a cooldown (tests/integration/test_fleet).
        if state.entity_id not in TIMING_DEPENDENT and ".printernizer_fleet_" not in state.entity_id
    }
    assert shown == snapshot


@pytest.mark.usefixtures("loaded_entry")
async def test_unavailable_while_disconnected_and_back_afterwards(
    hass: HomeAssistant, bambu_sim: BambuSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await bambu_sim.restart_broker()
    await wait_for_state(hass, STATUS, "offline")  # the status says so, not "unavailable"
    assert hass.states.get(NOZZLE).state == STATE_UNAVAILABLE  # readings are not current
    assert hass.states.get(ONLINE).state == STATE_OFF
    await wait_for_state(hass, STATUS, "idle")
    assert hass.states.get(ONLINE).state == STATE_ON
    assert caplog.text.count("is offline") == 1
    assert caplog.text.count("is back online") == 1


@pytest.mark.usefixtures("loaded_entry")
async def test_buttons_reach_the_printer(hass: HomeAssistant, bambu_sim: BambuSimulator) -> None:
    bambu_sim.start_print("Long", total_layers=200, minutes=600)
    await wait_for_state(hass, STATUS, "printing")
    await press(hass, PAUSE)
    await wait_for_state(hass, PAUSED, STATE_ON)
    assert bambu_sim.paused
    await press(hass, RESUME)
    await wait_for_state(hass, STATUS, "printing")
    await press(hass, STOP)
    await wait_for_state(hass, STATUS, "cancelled")


@pytest.mark.usefixtures("loaded_entry")
async def test_light_and_speed(hass: HomeAssistant, bambu_sim: BambuSimulator) -> None:
    light = f"light.{PREFIX}_chamber_light"
    await hass.services.async_call(
        LIGHT_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: light}, blocking=True
    )
    await wait_for_state(hass, light, STATE_OFF)
    speed = f"select.{PREFIX}_print_speed"
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: speed, ATTR_OPTION: "sport"},
        blocking=True,
    )
    await wait_for_state(hass, speed, "sport")
    assert bambu_sim.report["spd_lvl"] == 3


@pytest.mark.usefixtures("loaded_entry")
async def test_lockdown_is_shown_and_commands_explain_why(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    bambu_sim.start_print("Long", total_layers=200, minutes=600)
    await wait_for_state(hass, STATUS, "printing")
    bambu_sim.set_lockdown(True)
    await wait_for_state(hass, LOCKED, STATE_ON)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, PAUSE)
    assert err.value.translation_key == "controls_locked"
    assert "Developer Mode" in str(err.value)


@pytest.mark.usefixtures("loaded_entry")
async def test_jitter_below_the_display_precision_writes_no_state(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    writes: list[str] = []

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        writes.append(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
    # Only the readings below reach HA: the simulator's own next reading could land in the same
    # MQTT read as the last one, and readings of one read are published as one state.
    bambu_sim.go_silent()
    base = float(hass.states.get(NOZZLE).state)
    for jitter in (0.1, 0.2, -0.1, 0.3):
        await bambu_sim.publish_report({"nozzle_temper": base + jitter})
    await bambu_sim.publish_report({"mc_percent": 1})
    await wait_for_state(hass, PROGRESS, "1.0")
    assert writes == [PROGRESS]
    await bambu_sim.publish_report({"nozzle_temper": base + 0.8})
    await wait_for_state(hass, NOZZLE, str(float(round(base + 0.8))))


async def test_unload_disconnects(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    assert bambu_sim.connected_clients() == 1
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(STATUS).state == STATE_UNAVAILABLE
