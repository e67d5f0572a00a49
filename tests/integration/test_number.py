"""Heater targets: set in HA, sent to the simulated printer, applied there, reported back."""

from __future__ import annotations

from collections.abc import AsyncIterator
import math
from pathlib import Path

from homeassistant.components.number import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.const import ATTR_ENTITY_ID, ATTR_UNIT_OF_MEASUREMENT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion
import voluptuous as vol

from custom_components.printernizer.const import CONF_IDLE_POLL_SECONDS, DOMAIN
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from ..printers.waiting import wait_until
from .conftest import FAST_IDLE_POLL, prusa_entry_data, wait_for_state
from .platform_printers import BAMBU_PRINTERS, entities_of, platform_printer
from .printer_models import Load, entity_ids, gcode_lines, models


@pytest.fixture
async def load(hass: HomeAssistant, socket_enabled: None, tmp_path: Path) -> AsyncIterator[Load]:
    """Start simulated printers of given models with their entries; gone after the test."""
    async for start in models(hass, tmp_path):
        yield start


async def set_value(hass: HomeAssistant, entity_id: str, value: object) -> None:
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: entity_id, ATTR_VALUE: value},
        blocking=True,
    )


@pytest.mark.usefixtures("loaded_entry")
async def test_p1s_targets_reach_the_printer_and_come_back(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    numbers = entity_ids(hass, NUMBER_DOMAIN, bambu_sim.serial)
    # A P1S heats nozzle and bed; it has no chamber heater, so no chamber target.
    assert set(numbers) == {"nozzle_target", "bed_target"}
    nozzle = hass.states.get(numbers["nozzle_target"])
    assert nozzle.state == "0.0"
    assert nozzle.attributes["min"] == 0
    assert nozzle.attributes["max"] == 320
    assert nozzle.attributes["step"] == 1
    assert nozzle.attributes[ATTR_UNIT_OF_MEASUREMENT] == "°C"
    assert hass.states.get(numbers["bed_target"]).attributes["max"] == 120

    await set_value(hass, numbers["nozzle_target"], 215)
    await wait_for_state(hass, numbers["nozzle_target"], "215.0")
    assert bambu_sim.report["nozzle_target_temper"] == 215.0
    await set_value(hass, numbers["bed_target"], 60)
    await wait_for_state(hass, numbers["bed_target"], "60.0")
    assert bambu_sim.report["bed_target_temper"] == 60.0
    # 0 switches the heater off.
    await set_value(hass, numbers["nozzle_target"], 0)
    await wait_for_state(hass, numbers["nozzle_target"], "0.0")
    assert gcode_lines(bambu_sim) == ["M104 S215\n", "M140 S60\n", "M104 S0\n"]


@pytest.mark.usefixtures("loaded_entry")
async def test_a_target_can_change_while_printing(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    numbers = entity_ids(hass, NUMBER_DOMAIN, bambu_sim.serial)
    bambu_sim.start_print("Long", total_layers=200, minutes=600)
    await wait_until(lambda: bambu_sim.report["gcode_state"] == "RUNNING")
    await set_value(hass, numbers["nozzle_target"], 230)
    await wait_for_state(hass, numbers["nozzle_target"], "230.0")
    assert bambu_sim.report["nozzle_target_temper"] == 230.0


@pytest.mark.usefixtures("loaded_entry")
@pytest.mark.parametrize(
    ("value", "refusal"),
    [
        (321, "out_of_range"),
        (-1, "out_of_range"),
        (1e12, "out_of_range"),
        (math.inf, "out_of_range"),
        (-math.inf, "out_of_range"),
        # Home Assistant's range check lets NaN through; ours stops it.
        (math.nan, "temperature_out_of_limits"),
        ("hot", None),  # not a number: the action's schema refuses it
        (None, None),
    ],
)
async def test_values_outside_the_limits_never_reach_the_printer(
    hass: HomeAssistant, bambu_sim: BambuSimulator, value: object, refusal: str | None
) -> None:
    numbers = entity_ids(hass, NUMBER_DOMAIN, bambu_sim.serial)
    if refusal is None:
        with pytest.raises(vol.Invalid):
            await set_value(hass, numbers["nozzle_target"], value)
    else:
        with pytest.raises(ServiceValidationError) as err:
            await set_value(hass, numbers["nozzle_target"], value)
        assert err.value.translation_key == refusal
    if refusal == "temperature_out_of_limits":
        assert str(err.value).startswith(
            f"Printer {bambu_sim.model} {bambu_sim.serial} accepts targets from 0 to 320 °C, "
            "not nan"
        )
    assert gcode_lines(bambu_sim) == []
    assert hass.states.get(numbers["nozzle_target"]).state == "0.0"


@pytest.mark.usefixtures("loaded_entry")
async def test_lockdown_refuses_with_the_translated_message(
    hass: HomeAssistant, bambu_sim: BambuSimulator, loaded_entry: MockConfigEntry
) -> None:
    numbers = entity_ids(hass, NUMBER_DOMAIN, bambu_sim.serial)
    coordinator = loaded_entry.runtime_data.coordinator
    bambu_sim.set_lockdown(True)
    await wait_until(lambda: coordinator.data.controls_locked)
    with pytest.raises(HomeAssistantError) as err:
        await set_value(hass, numbers["bed_target"], 60)
    assert err.value.translation_key == "controls_locked"
    assert "Developer Mode" in str(err.value)
    # Refused before sending: a locked printer would answer with an HMS error.
    assert gcode_lines(bambu_sim) == []
    assert bambu_sim.report["bed_target_temper"] == 0.0


async def test_the_h2d_heats_its_chamber_within_its_limit(hass: HomeAssistant, load: Load) -> None:
    sim, _ = await load("H2D")
    numbers = entity_ids(hass, NUMBER_DOMAIN, sim.serial)
    assert set(numbers) == {"nozzle_target", "bed_target", "chamber_target"}
    chamber = numbers["chamber_target"]
    assert hass.states.get(chamber).state == "0.0"  # reported off
    assert hass.states.get(chamber).attributes["max"] == 65
    await set_value(hass, chamber, 45)
    await wait_for_state(hass, chamber, "45.0")
    assert sim.report["device"]["ctc"]["info"]["temp"] >> 16 == 45
    assert gcode_lines(sim) == ["M141 S45\n"]
    with pytest.raises(ServiceValidationError):
        await set_value(hass, chamber, 66)
    # The H2D reports its active nozzle packed in `device`: the target comes back through it.
    await set_value(hass, numbers["nozzle_target"], 250)
    await wait_for_state(hass, numbers["nozzle_target"], "250.0")


async def test_a_chamber_sensor_without_heater_has_no_target(
    hass: HomeAssistant, load: Load
) -> None:
    sim, _ = await load("X1C")
    assert set(entity_ids(hass, NUMBER_DOMAIN, sim.serial)) == {"nozzle_target", "bed_target"}


@pytest.mark.usefixtures("loaded_prusa_entry")
async def test_buddy_prusalink_offers_no_targets(
    hass: HomeAssistant, prusa_sim: PrusaSimulator
) -> None:
    # Buddy firmware has no route to set a temperature (PrusaLink issues #4740, #5100).
    assert entity_ids(hass, NUMBER_DOMAIN, prusa_sim.serial) == {}


@pytest.fixture
async def loaded_pi_entry(
    hass: HomeAssistant, pi_sim: PrusaSimulator
) -> AsyncIterator[MockConfigEntry]:
    """The MK3S (Prusa-Link on a Pi) set up; unloaded afterwards."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=pi_sim.serial,
        title="MK3S prusa-mk3s",
        data=prusa_entry_data(pi_sim),
        options={CONF_IDLE_POLL_SECONDS: FAST_IDLE_POLL},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    yield entry
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def target_posts(sim: PrusaSimulator) -> list[str]:
    return [
        request.path
        for request in sim.requests
        if request.method == "POST" and request.path.startswith("/api/printer/")
    ]


@pytest.mark.usefixtures("loaded_pi_entry")
async def test_prusa_link_on_a_pi_sets_nozzle_and_bed(
    hass: HomeAssistant, pi_sim: PrusaSimulator
) -> None:
    numbers = entity_ids(hass, NUMBER_DOMAIN, pi_sim.serial)
    assert set(numbers) == {"nozzle_target", "bed_target"}
    # Prusa-Link's own limits for the printers it drives.
    assert hass.states.get(numbers["nozzle_target"]).attributes["max"] == 305
    assert hass.states.get(numbers["bed_target"]).attributes["max"] == 125
    await set_value(hass, numbers["nozzle_target"], 215)
    await wait_for_state(hass, numbers["nozzle_target"], "215.0")
    assert pi_sim.target_nozzle == 215.0
    await set_value(hass, numbers["bed_target"], 60)
    await wait_for_state(hass, numbers["bed_target"], "60.0")
    assert pi_sim.target_bed == 60.0
    assert target_posts(pi_sim) == ["/api/printer/tool", "/api/printer/bed"]
    with pytest.raises(ServiceValidationError):
        await set_value(hass, numbers["bed_target"], 126)
    assert len(target_posts(pi_sim)) == 2


@pytest.mark.usefixtures("loaded_pi_entry")
@pytest.mark.parametrize(
    ("status", "refusal"), [(409, "command_conflict"), (400, "command_refused")]
)
async def test_a_pi_refusing_a_target_says_so(
    hass: HomeAssistant, pi_sim: PrusaSimulator, status: int, refusal: str
) -> None:
    numbers = entity_ids(hass, NUMBER_DOMAIN, pi_sim.serial)
    problem = {"title": "Temperature Too High", "message": "Temperature too high"}
    pi_sim.faults.serve("/api/printer/bed", problem, status=status)
    with pytest.raises(HomeAssistantError) as err:
        await set_value(hass, numbers["bed_target"], 100)
    assert err.value.translation_key == refusal
    assert err.value.translation_placeholders["command"] == "Set bed target"
    assert pi_sim.target_bed == 0.0


@pytest.mark.parametrize("printer", BAMBU_PRINTERS)
@pytest.mark.usefixtures("socket_enabled")
async def test_number_entities(
    hass: HomeAssistant, tmp_path: Path, snapshot: SnapshotAssertion, printer: str
) -> None:
    async with platform_printer(hass, tmp_path, printer, Platform.NUMBER) as (entry, secrets):
        assert entities_of(hass, entry, secrets) == snapshot
