"""AMS units in Home Assistant: named like the printer names them, one device each under the
printer, plugged in and pulled out while HA runs, and hostile AMS reports dropped.

Everything runs against the simulated printer over MQTT/TLS on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import copy
from pathlib import Path
from typing import Any

from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer import ams
from custom_components.printernizer.const import DOMAIN
from simulator.bambu.printer import BambuSimulator

from .conftest import bambu_entry_data, wait_for_state

PREFIX = "sensor.p1s_01p00a000000001"
AMS_1 = f"{PREFIX}_ams_1"
AMS_2 = f"{PREFIX}_ams_2"
AMS_HT_1 = f"{PREFIX}_ams_ht_1"
ACTIVE_SLOT = f"{PREFIX}_active_filament_slot"
LAYER = f"{PREFIX}_current_layer"


def _device(hass: HomeAssistant, serial: str, unit_id: str) -> dr.DeviceEntry | None:
    return dr.async_get(hass).async_get_device(identifiers={(DOMAIN, f"{serial}_ams_{unit_id}")})


def _friendly_name(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, f"{entity_id} does not exist"
    return str(state.attributes["friendly_name"])


async def _wait_for_entity(hass: HomeAssistant, entity_id: str, timeout: float = 10) -> None:
    """Wait until an entity appears, driven by HA's own state-change events."""
    if hass.states.get(entity_id) is not None:
        return
    appeared = hass.loop.create_future()

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if event.data["new_state"] is not None and not appeared.done():
            appeared.set_result(None)

    unsubscribe = async_track_state_change_event(hass, entity_id, changed)
    try:
        async with asyncio.timeout(timeout):
            await appeared
    finally:
        unsubscribe()


async def _wait_for_removal(hass: HomeAssistant, entity_id: str, timeout: float = 10) -> None:
    """Wait until an entity's state is removed (its new state is None)."""
    if hass.states.get(entity_id) is None:
        return
    removed = hass.loop.create_future()

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if event.data["new_state"] is None and not removed.done():
            removed.set_result(None)

    unsubscribe = async_track_state_change_event(hass, entity_id, changed)
    try:
        async with asyncio.timeout(timeout):
            await removed
    finally:
        unsubscribe()


async def test_each_unit_is_a_device_under_the_printer(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    registry = dr.async_get(hass)
    printer = registry.async_get_device(identifiers={(DOMAIN, bambu_sim.serial)})
    unit = _device(hass, bambu_sim.serial, "0")
    assert printer is not None
    assert unit is not None
    assert unit.via_device_id == printer.id
    assert (unit.name, unit.model, unit.manufacturer) == (
        "P1S 01P00A000000001 AMS 1",
        "AMS",
        "Bambu Lab",
    )
    on_unit = {
        entry.entity_id for entry in er.async_entries_for_device(er.async_get(hass), unit.id)
    }
    assert on_unit == {
        f"{AMS_1}_humidity",
        f"{AMS_1}_humidity_index",
        f"{AMS_1}_temperature",
        *(f"{AMS_1}_slot_{n}_{kind}" for n in range(1, 5) for kind in ("material", "remaining")),
    }
    assert _friendly_name(hass, f"{AMS_1}_slot_3_material") == (
        "P1S 01P00A000000001 AMS 1 Slot 3 material"
    )
    assert hass.states.get(f"{AMS_1}_humidity").state == "31"  # type: ignore[union-attr]
    assert hass.states.get(f"{AMS_1}_slot_3_material").state == "PETG"  # type: ignore[union-attr]


async def test_units_plugged_in_at_runtime_appear_without_a_reload(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    await bambu_sim.plug_ams(1)
    await wait_for_state(hass, f"{AMS_2}_slot_3_material", "PETG")
    assert _friendly_name(hass, f"{AMS_2}_slot_3_material") == (
        "P1S 01P00A000000001 AMS 2 Slot 3 material"
    )
    await bambu_sim.plug_ams(128, "AMS HT")
    await wait_for_state(hass, f"{AMS_HT_1}_slot_1_material", "PLA")
    assert _friendly_name(hass, f"{AMS_HT_1}_humidity_index") == (
        "P1S 01P00A000000001 AMS HT 1 Humidity index"
    )
    printer = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, bambu_sim.serial)})
    for unit_id, name, model in (("1", "AMS 2", "AMS"), ("128", "AMS HT 1", "AMS HT")):
        device = _device(hass, bambu_sim.serial, unit_id)
        assert device is not None
        assert printer is not None
        assert (device.name, device.model, device.via_device_id) == (
            f"P1S 01P00A000000001 {name}",
            model,
            printer.id,
        )
    # An AMS HT dries filament: state and time left; a classic AMS has neither.
    assert hass.states.get(f"{AMS_HT_1}_drying").state == "idle"  # type: ignore[union-attr]
    assert hass.states.get(f"{AMS_2}_drying") is None
    await bambu_sim.set_ams_drying(128, 90)
    await wait_for_state(hass, f"{AMS_HT_1}_drying", "drying")
    assert hass.states.get(f"{AMS_HT_1}_drying_time_left").state == "90"  # type: ignore[union-attr]
    # No raw ids anywhere: not "AMS 129", not "Slot 513".
    names = [str(state.attributes.get("friendly_name")) for state in hass.states.async_all()]
    assert not [name for name in names if "AMS 129" in name or "Slot 5" in name]
    assert loaded_entry.runtime_data.coordinator.listener_errors.failures == 0


async def test_unit_removed_at_runtime_loses_its_device_and_entities(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await bambu_sim.plug_ams(1)
    await wait_for_state(hass, f"{AMS_2}_slot_1_material", "PLA")
    on_unit = [
        entry.entity_id
        for entry in er.async_entries_for_device(
            er.async_get(hass),
            _device(hass, bambu_sim.serial, "1").id,  # type: ignore[union-attr]
        )
    ]
    assert len(on_unit) == 11
    await bambu_sim.unplug_ams(1)
    await _wait_for_removal(hass, f"{AMS_2}_humidity_index")
    await hass.async_block_till_done()
    assert _device(hass, bambu_sim.serial, "1") is None
    assert [entity_id for entity_id in on_unit if er.async_get(hass).async_get(entity_id)] == []
    assert [entity_id for entity_id in on_unit if hass.states.get(entity_id)] == []
    # The unit that stays keeps its device and readings.
    assert _device(hass, bambu_sim.serial, "0") is not None
    assert hass.states.get(f"{AMS_1}_slot_1_material").state == "PLA"  # type: ignore[union-attr]
    # Plugged in again, it comes back; also when pulled and plugged in back to back.
    await bambu_sim.plug_ams(1)
    await wait_for_state(hass, f"{AMS_2}_slot_3_material", "PETG")
    back = hass.loop.create_future()
    seen: list[bool] = []  # whether each new state of the entity exists

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        seen.append(event.data["new_state"] is not None)
        if seen[-2:] == [False, True] and not back.done():
            back.set_result(None)

    unsubscribe = async_track_state_change_event(hass, f"{AMS_2}_humidity_index", changed)
    await bambu_sim.unplug_ams(1)
    await bambu_sim.plug_ams(1)
    async with asyncio.timeout(10):
        await back
    unsubscribe()
    await hass.async_block_till_done()
    assert sorted(
        entry.entity_id
        for entry in er.async_entries_for_device(
            er.async_get(hass),
            _device(hass, bambu_sim.serial, "1").id,  # type: ignore[union-attr]
        )
    ) == sorted(on_unit)
    assert [entity_id for entity_id in on_unit if hass.states.get(entity_id) is None] == []
    assert "already exists" not in caplog.text


async def test_an_ams_2_pro_plugged_in_at_runtime_is_recognised_and_dries(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    await bambu_sim.plug_ams(1, "AMS 2 Pro")
    # Only the version reply tells an AMS 2 Pro from an AMS: the printer is asked again.
    await _wait_for_entity(hass, f"{AMS_2}_drying_time_left")
    device = _device(hass, bambu_sim.serial, "1")
    assert device is not None
    assert (device.name, device.model) == ("P1S 01P00A000000001 AMS 2", "AMS 2 Pro")
    await bambu_sim.set_ams_drying(1, 240)
    await wait_for_state(hass, f"{AMS_2}_drying", "drying")
    assert hass.states.get(f"{AMS_2}_drying_time_left").state == "240"  # type: ignore[union-attr]
    # Asked once for the new unit, not for every report after it.
    await bambu_sim.update({"ams": bambu_sim.report["ams"] | {"tray_now": "4"}})
    await wait_for_state(hass, ACTIVE_SLOT, "AMS 2 slot 1")
    asked = [r for r in bambu_sim.requests if r.get("info", {}).get("command") == "get_version"]
    assert len(asked) == 2


async def test_devices_of_units_gone_while_ha_was_stopped_are_removed(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    registry = dr.async_get(hass)
    registry.async_get_or_create(
        config_entry_id=bambu_entry.entry_id, identifiers={(DOMAIN, bambu_sim.serial)}
    )
    registry.async_get_or_create(
        config_entry_id=bambu_entry.entry_id,
        identifiers={(DOMAIN, f"{bambu_sim.serial}_ams_3")},
        name="P1S 01P00A000000001 AMS 4",
        via_device=(DOMAIN, bambu_sim.serial),
    )
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    assert _device(hass, bambu_sim.serial, "3") is None
    assert _device(hass, bambu_sim.serial, "0") is not None
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def test_a_report_without_units_at_setup_keeps_the_devices_until_units_are_reported(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    """A first message without the AMS part must not wipe the devices (names, areas) away."""
    registry = dr.async_get(hass)
    registry.async_get_or_create(
        config_entry_id=bambu_entry.entry_id, identifiers={(DOMAIN, bambu_sim.serial)}
    )
    for unit_id in ("0", "3"):
        registry.async_get_or_create(
            config_entry_id=bambu_entry.entry_id,
            identifiers={(DOMAIN, f"{bambu_sim.serial}_ams_{unit_id}")},
            via_device=(DOMAIN, bambu_sim.serial),
        )
    await bambu_sim.unplug_ams(0)
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    assert _device(hass, bambu_sim.serial, "0") is not None
    assert _device(hass, bambu_sim.serial, "3") is not None
    await bambu_sim.plug_ams(0)
    await _wait_for_entity(hass, f"{AMS_1}_humidity_index")
    assert _device(hass, bambu_sim.serial, "0") is not None
    assert _device(hass, bambu_sim.serial, "3") is None
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def test_active_slot_is_named_like_the_slot_entities(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    await bambu_sim.update({"ams": bambu_sim.report["ams"] | {"tray_now": "1"}})
    await wait_for_state(hass, ACTIVE_SLOT, "AMS 1 slot 2")
    await bambu_sim.plug_ams(1)
    await bambu_sim.update({"ams": bambu_sim.report["ams"] | {"tray_now": "6"}})
    await wait_for_state(hass, ACTIVE_SLOT, "AMS 2 slot 3")
    await bambu_sim.plug_ams(128, "AMS HT")
    await bambu_sim.update({"ams": bambu_sim.report["ams"] | {"tray_now": "128"}})
    await wait_for_state(hass, ACTIVE_SLOT, "AMS HT 1 slot 1")
    await bambu_sim.update({"ams": bambu_sim.report["ams"] | {"tray_now": "254"}})
    await wait_for_state(hass, ACTIVE_SLOT, "External spool")


async def test_the_ams_check_runs_only_when_the_units_change(
    hass: HomeAssistant,
    bambu_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks = 0
    update = ams.AmsDevices._update

    def counted(self: ams.AmsDevices) -> None:
        nonlocal checks
        checks += 1
        update(self)

    monkeypatch.setattr(ams.AmsDevices, "_update", counted)
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    before = checks
    for layer in range(1, 6):
        await bambu_sim.update({"layer_num": layer})
        await wait_for_state(hass, LAYER, str(layer))
    assert checks == before  # pushes of other parts never reach the AMS check
    await bambu_sim.plug_ams(1)
    await _wait_for_entity(hass, f"{AMS_2}_humidity_index")
    assert checks == before + 1
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


HOSTILE_UNITS: list[Any] = [
    "not a unit",
    None,
    {"id": "200", "humidity": "3", "tray": [{"id": "0", "tray_type": "PLA"}]},  # no such id
    {"id": "64", "humidity": "3"},  # 64 x 4 would collide with the AMS HT ids
    {"id": "-1", "humidity": "3"},
    {"id": "1", "humidity": "77", "humidity_raw": "400", "temp": "9e99", "tray": "trays"},
    {"id": "1", "humidity": "2"},  # a second unit 1
    {
        "id": "0",
        "humidity": "4",
        "temp": "24.6",
        "tray": [
            {"id": "0", "tray_type": "PLA"},
            {"id": "0", "tray_type": "ABS"},  # a second tray 0
            {"id": "7", "tray_type": "PETG"},  # an AMS has four slots
            {"id": {"nested": 1}},
            "tray",
        ],
    },
]


async def test_hostile_ams_reports_are_dropped_and_the_rest_keeps_flowing(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    coordinator = loaded_entry.runtime_data.coordinator
    await bambu_sim.publish_report({"ams": {"ams": HOSTILE_UNITS, "tray_now": "1"}})
    await _wait_for_entity(hass, f"{AMS_2}_humidity_index")
    # Unit 1's absurd readings are unknown, not shown; its duplicate is ignored.
    assert hass.states.get(f"{AMS_2}_humidity_index").state == "unknown"  # type: ignore[union-attr]
    assert hass.states.get(f"{AMS_2}_humidity") is None  # never a reading: no entity
    assert hass.states.get(f"{AMS_2}_temperature").state == "unknown"  # type: ignore[union-attr]
    assert hass.states.get(f"{AMS_1}_slot_1_material").state == "PLA"  # type: ignore[union-attr]
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), loaded_entry.entry_id)
    assert sorted(str(device.name) for device in devices) == [
        "P1S 01P00A000000001",
        "P1S 01P00A000000001 AMS 1",
        "P1S 01P00A000000001 AMS 2",
    ]
    names = [str(state.attributes.get("friendly_name")) for state in hass.states.async_all()]
    assert not [name for name in names if "AMS 201" in name or "AMS 65" in name]
    # A top-level `ams` that is no object, then a unit list that is no list.
    await bambu_sim.publish_report({"ams": "garbage"})
    await bambu_sim.publish_report({"ams": {"ams": {"id": "0"}}})
    # Everything else keeps flowing.
    await bambu_sim.update({"layer_num": 7})
    await wait_for_state(hass, LAYER, "7")
    adapter: Any = coordinator.adapter
    assert adapter.malformed >= 1
    assert coordinator.listener_errors.failures == 0
    assert adapter.callback_errors == 0


async def test_hostile_ams_report_at_setup_creates_no_bogus_units(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    bambu_sim.report["ams"] = {"ams": copy.deepcopy(HOSTILE_UNITS), "tray_now": "255"}
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), bambu_entry.entry_id)
    assert sorted(str(device.name) for device in devices) == [
        "P1S 01P00A000000001",
        "P1S 01P00A000000001 AMS 1",
        "P1S 01P00A000000001 AMS 2",
    ]
    names = [str(state.attributes.get("friendly_name")) for state in hass.states.async_all()]
    assert [name for name in names if "AMS" in name and " AMS 1 " not in name + " "] == [
        "P1S 01P00A000000001 AMS 2 Humidity index",
        "P1S 01P00A000000001 AMS 2 Temperature",
    ]
    assert hass.states.get(f"{AMS_2}_humidity_index").state == "unknown"  # type: ignore[union-attr]
    # Unit 0 keeps its first tray 0 and nothing of the junk trays.
    assert hass.states.get(f"{AMS_1}_slot_1_material").state == "PLA"  # type: ignore[union-attr]
    assert hass.states.get(f"{AMS_1}_slot_2_material") is None
    assert bambu_entry.runtime_data.coordinator.adapter.malformed == 1  # type: ignore[attr-defined]
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def a1_sim(socket_enabled: None, tmp_path: Path) -> AsyncIterator[BambuSimulator]:
    """An A1 with its AMS Lite."""
    async with BambuSimulator(
        serial="03919A000000002", model="A1", workdir=tmp_path / "a1", speed=600, jitter=False
    ) as sim:
        yield sim


async def test_an_a1s_unit_is_the_ams_lite_without_a_temperature(
    hass: HomeAssistant, a1_sim: BambuSimulator
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=a1_sim.serial,
        title=f"A1 {a1_sim.serial}",
        data=bambu_entry_data(a1_sim),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    device = _device(hass, a1_sim.serial, "0")
    assert device is not None
    assert (device.name, device.model) == ("A1 03919A000000002 AMS Lite", "AMS Lite")
    prefix = "sensor.a1_03919a000000002_ams_lite"
    assert hass.states.get(f"{prefix}_humidity_index").state == "5"  # type: ignore[union-attr]
    assert hass.states.get(f"{prefix}_slot_2_material").state == "PLA"  # type: ignore[union-attr]
    assert hass.states.get(f"{prefix}_temperature") is None  # the AMS Lite has no sensor
    assert hass.states.get("sensor.a1_03919a000000002_ams_1_temperature") is None
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_an_ams_2_pro_is_named_from_the_version_reply_and_dries(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    await bambu_sim.plug_ams(0, "AMS 2 Pro")  # before HA connects: get_version lists n3f/0
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    device = _device(hass, bambu_sim.serial, "0")
    assert device is not None
    assert (device.name, device.model) == ("P1S 01P00A000000001 AMS 1", "AMS 2 Pro")
    assert hass.states.get(f"{AMS_1}_drying").state == "idle"  # type: ignore[union-attr]
    assert hass.states.get(f"{AMS_1}_drying_time_left").state == "0"  # type: ignore[union-attr]
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()
