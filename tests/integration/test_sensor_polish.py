"""What an experienced Home Assistant user notices on the sensors: states, units, logbook, icons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
import json
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import patch

from homeassistant.components.logbook.helpers import is_sensor_continuous
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer import sensor
from custom_components.printernizer.const import DOMAIN
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from .conftest import _set_up, bambu_entry_data, wait_for_state

# Read at import: file reads inside the event loop fail the test (blocking-call detector).
ICONS = json.loads(
    (Path(__file__).parents[2] / "custom_components/printernizer/icons.json").read_text(
        encoding="utf-8"
    )
)


def entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


@pytest.fixture
async def a1_sim(socket_enabled: None, tmp_path: Path) -> AsyncIterator[BambuSimulator]:
    """An idle A1: its firmware reports stage 0 ("printing") while idle."""
    async with BambuSimulator(
        serial="03919A000000001", model="A1", workdir=tmp_path / "a1", speed=600, jitter=False
    ) as sim:
        yield sim


@pytest.fixture
async def a1_entry(hass: HomeAssistant, a1_sim: BambuSimulator) -> AsyncIterator[MockConfigEntry]:
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=a1_sim.serial, title="A1 0001", data=bambu_entry_data(a1_sim)
    )
    entry.add_to_hass(hass)
    async for loaded in _set_up(hass, entry):
        yield loaded


async def test_idle_a1_shows_stage_idle_next_to_status_idle(
    hass: HomeAssistant, a1_entry: MockConfigEntry, a1_sim: BambuSimulator
) -> None:
    assert a1_sim.report["stg_cur"] == 0  # what the A1 sends while idle
    status = entity_id(hass, "sensor", f"{a1_sim.serial}_status")
    stage = entity_id(hass, "sensor", f"{a1_sim.serial}_stage")
    assert hass.states.get(status).state == "idle"
    assert hass.states.get(stage).state == "idle"
    # While a job runs the stage is the printer's again.
    a1_sim.start_print("Cube", total_layers=200, minutes=600)
    await wait_for_state(hass, status, "printing")
    await wait_for_state(hass, stage, "printing")


async def test_speed_is_one_select_and_the_old_sensor_leaves_the_registry(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    registry = er.async_get(hass)
    # What an older version left in the registry of an existing install.
    old = registry.async_get_or_create(
        "sensor", DOMAIN, f"{bambu_sim.serial}_speed_level", config_entry=bambu_entry
    )
    async for _ in _set_up(hass, bambu_entry):
        assert registry.async_get(old.entity_id) is None  # no "not provided" orphan
        assert hass.states.get(old.entity_id) is None
        select = entity_id(hass, "select", f"{bambu_sim.serial}_speed")
        assert hass.states.get(select).state == "standard"
        shown = [
            entry.entity_id
            for entry in er.async_entries_for_config_entry(registry, bambu_entry.entry_id)
            if "speed" in entry.unique_id
        ]
        assert shown == [select]


@pytest.mark.usefixtures("loaded_entry")
async def test_layers_are_measurements_the_logbook_skips(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    layer = entity_id(hass, "sensor", f"{bambu_sim.serial}_current_layer")
    bambu_sim.start_print("Cube", total_layers=200, minutes=600)
    await wait_for_state(hass, layer, "1")
    state = hass.states.get(layer)
    assert state.attributes["state_class"] == SensorStateClass.MEASUREMENT
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "layers"
    # HA's logbook: a continuous sensor gets no entry per change (488 of 979 in the demo).
    assert is_sensor_continuous(hass, er.async_get(hass), layer)


@pytest.mark.usefixtures("loaded_entry")
async def test_nozzle_diameter_is_a_distance(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    diameter = entity_id(hass, "sensor", f"{bambu_sim.serial}_nozzle_diameter")
    state = hass.states.get(diameter)
    assert state.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.DISTANCE
    assert (state.state, state.attributes[ATTR_UNIT_OF_MEASUREMENT]) == ("0.4", "mm")


async def test_prusa_has_no_fan_percent_sensors(
    hass: HomeAssistant, loaded_prusa_entry: MockConfigEntry, prusa_sim: PrusaSimulator
) -> None:
    """PrusaLink reports fan RPM only: percent sensors would be unknown forever."""
    keys = {
        entry.unique_id.removeprefix(f"{prusa_sim.serial}_")
        for entry in er.async_entries_for_config_entry(
            er.async_get(hass), loaded_prusa_entry.entry_id
        )
    }
    assert keys.isdisjoint({"part_fan", "aux_fan", "chamber_fan"})
    assert {"hotend_fan", "print_fan"} <= keys  # what it does report


async def test_every_entity_has_a_meaningful_icon(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    loaded_prusa_entry: MockConfigEntry,
) -> None:
    """An icon from icons.json, or the one HA gives the entity's device class; never generic."""
    icons = ICONS["entity"]
    registry = er.async_get(hass)
    generic = []
    for entry in (loaded_entry, loaded_prusa_entry):
        for registered in er.async_entries_for_config_entry(registry, entry.entry_id):
            key = registered.translation_key
            if key in icons.get(registered.domain, {}):
                continue
            device_class = registered.original_device_class  # disabled ones have no state
            # Lights get their bulb, and every device class but enum an icon of its own.
            if registered.domain == "light" or device_class not in (None, "enum"):
                continue
            generic.append(registered.entity_id)
    assert generic == []


def test_icons_exist_in_the_frontend() -> None:
    """Every mdi: name in icons.json is one the frontend draws (a typo shows nothing)."""
    frontend = pytest.importorskip("hass_frontend")
    names = json.loads(
        (Path(frontend.where()) / "static/mdi/iconList.json").read_text(encoding="utf-8")
    )
    known = {f"mdi:{icon['name']}" for icon in names}
    used = set()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            for value in node.values():
                collect(value)
        elif isinstance(node, str) and node.startswith("mdi:"):
            used.add(node)

    collect(ICONS)
    assert used
    assert sorted(used - known) == []


async def test_status_stays_available_as_offline(
    hass: HomeAssistant, loaded_prusa_entry: MockConfigEntry, prusa_sim: PrusaSimulator
) -> None:
    status = entity_id(hass, "sensor", f"{prusa_sim.serial}_status")
    progress = entity_id(hass, "sensor", f"{prusa_sim.serial}_progress")
    prusa_sim.go_offline()
    await wait_for_state(hass, status, "offline")
    assert hass.states.get(progress).state == STATE_UNAVAILABLE
    prusa_sim.go_online()
    await wait_for_state(hass, status, "idle")


@pytest.mark.usefixtures("loaded_entry")
async def test_estimated_finish_does_not_move_with_every_layer(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    """A timestamp is always in the logbook (no state class allowed): it must stay put.

    HA's clock is tied to the simulator's, as a real printer's countdown is to the wall clock
    (the demo's 15x clock is not, and moves it every few seconds).
    """
    start = dt_util.utcnow()
    clock = SimpleNamespace(utcnow=lambda: start + timedelta(seconds=bambu_sim.clock.now()))
    layer = entity_id(hass, "sensor", f"{bambu_sim.serial}_current_layer")
    finish = entity_id(hass, "sensor", f"{bambu_sim.serial}_estimated_finish")
    status = entity_id(hass, "sensor", f"{bambu_sim.serial}_status")
    writes: dict[str, list[str]] = {layer: [], finish: []}

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) and event.data["entity_id"] in writes:
            writes[event.data["entity_id"]].append(new.state)

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
    with patch.object(sensor, "dt_util", clock):
        bambu_sim.start_print("Tall", total_layers=200, minutes=20)
        await wait_for_state(hass, status, "finished", timeout=30)
    unsubscribe()
    assert len(writes[layer]) > 100  # many layers went by
    times = [value for value in writes[finish] if value not in ("unknown", STATE_UNAVAILABLE)]
    # Set when printing starts, corrected when the printer's countdown drifts by more than the
    # 2-minute damping (a loaded machine's simulator lags its clock): never once per layer.
    assert 1 <= len(times) <= 5
    assert len(times) * 20 < len(writes[layer])
