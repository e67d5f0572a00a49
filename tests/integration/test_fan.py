"""Fans: set in HA, sent as M106, applied by the simulated printer, reported back in tens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from homeassistant.components.fan import (
    ATTR_PERCENTAGE,
    ATTR_PERCENTAGE_STEP,
    DOMAIN as FAN_DOMAIN,
    SERVICE_SET_PERCENTAGE,
)
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion
import voluptuous as vol

from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from ..printers.waiting import wait_until
from .conftest import wait_for_state
from .platform_printers import BAMBU_PRINTERS, entities_of, platform_printer
from .printer_models import Load, entity_ids, gcode_lines, models


@pytest.fixture
async def load(hass: HomeAssistant, socket_enabled: None, tmp_path: Path) -> AsyncIterator[Load]:
    """Start simulated printers of given models with their entries; gone after the test."""
    async for start in models(hass, tmp_path):
        yield start


async def call(hass: HomeAssistant, service: str, entity_id: str, **data: object) -> None:
    await hass.services.async_call(
        FAN_DOMAIN, service, {ATTR_ENTITY_ID: entity_id, **data}, blocking=True
    )


async def wait_for_percentage(hass: HomeAssistant, entity_id: str, percentage: int) -> None:
    await wait_until(
        lambda: (state := hass.states.get(entity_id)) is not None
        and state.attributes.get(ATTR_PERCENTAGE) == percentage
    )


@pytest.mark.usefixtures("loaded_entry")
async def test_p1s_fans_reach_the_printer_and_come_back(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    fans = entity_ids(hass, FAN_DOMAIN, bambu_sim.serial)
    assert set(fans) == {"part_fan", "aux_fan", "chamber_fan"}
    part = hass.states.get(fans["part_fan"])
    assert part.state == STATE_OFF
    assert part.attributes[ATTR_PERCENTAGE] == 0
    assert part.attributes[ATTR_PERCENTAGE_STEP] == 10

    # Each setting in tens comes back as exactly that, not the next ten up.
    for percentage in (30, 50, 70, 10, 100):
        await call(hass, SERVICE_SET_PERCENTAGE, fans["part_fan"], percentage=percentage)
        await wait_for_percentage(hass, fans["part_fan"], percentage)
    assert bambu_sim.report["cooling_fan_speed"] == "15"

    await call(hass, SERVICE_SET_PERCENTAGE, fans["aux_fan"], percentage=40)
    await wait_for_percentage(hass, fans["aux_fan"], 40)
    assert bambu_sim.report["big_fan1_speed"] == "6"
    await call(hass, SERVICE_TURN_ON, fans["chamber_fan"])  # no speed given: full speed
    await wait_for_state(hass, fans["chamber_fan"], "on")
    assert bambu_sim.report["big_fan2_speed"] == "15"
    await call(hass, SERVICE_TURN_OFF, fans["chamber_fan"])
    await wait_for_state(hass, fans["chamber_fan"], STATE_OFF)
    assert bambu_sim.report["big_fan2_speed"] == "0"
    # A speed between two steps still runs the fan: 5 % is one step, not off.
    await call(hass, SERVICE_TURN_ON, fans["chamber_fan"], percentage=5)
    await wait_for_percentage(hass, fans["chamber_fan"], 10)
    assert gcode_lines(bambu_sim)[-5:] == [
        "M106 P1 S255\n",
        "M106 P2 S102\n",
        "M106 P3 S255\n",
        "M106 P3 S0\n",
        "M106 P3 S17\n",
    ]


@pytest.mark.usefixtures("loaded_entry")
@pytest.mark.parametrize("percentage", [101, -1, 1000, "fast", None])
async def test_speeds_outside_0_to_100_never_reach_the_printer(
    hass: HomeAssistant, bambu_sim: BambuSimulator, percentage: object
) -> None:
    fans = entity_ids(hass, FAN_DOMAIN, bambu_sim.serial)
    with pytest.raises(vol.Invalid):
        await call(hass, SERVICE_SET_PERCENTAGE, fans["part_fan"], percentage=percentage)
    assert gcode_lines(bambu_sim) == []


@pytest.mark.usefixtures("loaded_entry")
async def test_lockdown_refuses_with_the_translated_message(
    hass: HomeAssistant, bambu_sim: BambuSimulator, loaded_entry: MockConfigEntry
) -> None:
    fans = entity_ids(hass, FAN_DOMAIN, bambu_sim.serial)
    coordinator = loaded_entry.runtime_data.coordinator
    bambu_sim.set_lockdown(True)
    await wait_until(lambda: coordinator.data.controls_locked)
    for service in (SERVICE_TURN_ON, SERVICE_TURN_OFF):
        with pytest.raises(HomeAssistantError) as err:
            await call(hass, service, fans["aux_fan"])
        assert err.value.translation_key == "controls_locked"
        assert err.value.translation_placeholders["command"] == "Set auxiliary fan"
    assert gcode_lines(bambu_sim) == []
    # Developer Mode on again: the same fan works.
    bambu_sim.set_lockdown(False)
    await wait_until(lambda: not coordinator.data.controls_locked)
    await call(hass, SERVICE_TURN_ON, fans["aux_fan"], percentage=20)
    await wait_for_percentage(hass, fans["aux_fan"], 20)


async def test_an_open_frame_a1_has_only_its_part_fan(hass: HomeAssistant, load: Load) -> None:
    sim, _ = await load("A1")
    fans = entity_ids(hass, FAN_DOMAIN, sim.serial)
    assert set(fans) == {"part_fan"}
    await call(hass, SERVICE_SET_PERCENTAGE, fans["part_fan"], percentage=60)
    await wait_for_percentage(hass, fans["part_fan"], 60)
    assert sim.report["cooling_fan_speed"] == "9"


async def test_the_h2d_fans_come_back_in_its_full_reports(hass: HomeAssistant, load: Load) -> None:
    sim, _ = await load("H2D")
    fans = entity_ids(hass, FAN_DOMAIN, sim.serial)
    assert set(fans) == {"part_fan", "aux_fan", "chamber_fan"}
    await call(hass, SERVICE_SET_PERCENTAGE, fans["chamber_fan"], percentage=80)
    await wait_for_percentage(hass, fans["chamber_fan"], 80)


@pytest.mark.usefixtures("loaded_prusa_entry")
async def test_prusalink_offers_no_fans(hass: HomeAssistant, prusa_sim: PrusaSimulator) -> None:
    # PrusaLink reports fan RPM and has no route to set a fan.
    assert entity_ids(hass, FAN_DOMAIN, prusa_sim.serial) == {}


@pytest.mark.parametrize("printer", BAMBU_PRINTERS)
@pytest.mark.usefixtures("socket_enabled")
async def test_fan_entities(
    hass: HomeAssistant, tmp_path: Path, snapshot: SnapshotAssertion, printer: str
) -> None:
    async with platform_printer(hass, tmp_path, printer, Platform.FAN) as (entry, secrets):
        assert entities_of(hass, entry, secrets) == snapshot
