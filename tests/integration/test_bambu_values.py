"""What a user sees of real Bambu payloads: model, external spools, chamber, errors, firmware.

Each test runs the integration against a simulated printer of that model over MQTT/TLS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
import json
from pathlib import Path
from typing import Any

from homeassistant.components.recorder import Recorder, history
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.printernizer import config_flow
from custom_components.printernizer.const import (
    CONF_ACCESS_CODE,
    CONF_FTPS_PORT,
    CONF_MQTT_PORT,
    CONF_SERIAL,
    DOMAIN,
    PRINTER_BAMBU,
)
from custom_components.printernizer.events import EVENT_PRINTER_ERROR
from simulator.bambu.payloads import ERR_FILAMENT_RUNOUT, HMS_RUNOUT, HMS_VERIFY_FAILED
from simulator.bambu.printer import BambuSimulator

from ..printers.waiting import wait_until
from .conftest import wait_for_state
from .printer_models import Load, models


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: Any) -> None:
    """The recorder's database is prepared before HA starts (the history test reads it)."""


@pytest.fixture
async def load(hass: HomeAssistant, socket_enabled: None, tmp_path: Path) -> AsyncIterator[Load]:
    """Start a simulated printer and set up its entry; both go away after the test."""
    async for start in models(hass, tmp_path):
        yield start


def entity_id(hass: HomeAssistant, sim: BambuSimulator, key: str, domain: str = "sensor") -> str:
    """The entity id of one of the printer's entities, by its unique id (`<serial>_<key>`)."""
    found = er.async_get(hass).async_get_entity_id(domain, DOMAIN, f"{sim.serial}_{key}")
    assert found is not None, key
    return found


def has_entity(hass: HomeAssistant, sim: BambuSimulator, key: str) -> bool:
    return (
        er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{sim.serial}_{key}") is not None
    )


async def enable(hass: HomeAssistant, entry: MockConfigEntry, *entity_ids: str) -> None:
    """Enable entities that are disabled by default, as a user would, and reload."""
    registry = er.async_get(hass)
    for disabled in entity_ids:
        registry.async_update_entity(disabled, disabled_by=None)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()


# -- model ----------------------------------------------------------------------------------------


async def test_an_x1c_is_added_as_an_x1c(hass: HomeAssistant, socket_enabled: None) -> None:
    """Real X1C firmware lists an AP05 `ap` board; it used to be named an X1E everywhere."""
    async with BambuSimulator(model="X1C", speed=600, jitter=False) as sim:
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": PRINTER_BAMBU}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_HOST: "127.0.0.1",
                CONF_SERIAL: sim.serial,
                CONF_ACCESS_CODE: sim.access_code,
                config_flow.CONF_ADVANCED: {
                    CONF_MQTT_PORT: sim.mqtt_port,
                    CONF_FTPS_PORT: sim.ftps_port,
                },
            },
        )
        assert result["description_placeholders"] is not None
        assert result["description_placeholders"]["model"] == "X1C"
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["title"].startswith("X1C ")
        entry = result["result"]
        await hass.async_block_till_done()
        device = dr.async_get(hass).async_get_device({(DOMAIN, sim.serial)})
        assert device is not None
        assert device.model == "X1C"
        ids = [
            e.entity_id
            for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        ]
        assert ids
        assert all(".x1c_" in entity for entity in ids), ids
        # The X1 family has a chamber sensor and no chamber heater.
        assert hass.states.get(entity_id(hass, sim, "chamber_temperature")) is not None
        assert not has_entity(hass, sim, "chamber_target_temperature")
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


# -- external spools and chamber ------------------------------------------------------------------


async def test_an_h2d_shows_both_external_spools_and_its_chamber(
    hass: HomeAssistant, load: Load
) -> None:
    sim, entry = await load("H2D")
    left = hass.states.get(entity_id(hass, sim, "slot_254_material"))
    right = hass.states.get(entity_id(hass, sim, "slot_255_material"))
    assert left is not None
    assert right is not None
    assert (left.state, left.attributes["color"], left.name) == (
        "PLA",
        "#F2C12E",
        "H2D 0001 External spool 1",
    )
    assert (right.state, right.attributes["color"], right.name) == (
        "PETG",
        "#0A2989",
        "H2D 0001 External spool 2",
    )
    chamber = hass.states.get(entity_id(hass, sim, "chamber_temperature"))
    assert chamber is not None
    assert chamber.state == "26.0"

    # Remaining amounts and the chamber target are disabled by default, like the other targets.
    remaining = entity_id(hass, sim, "slot_255_remaining")
    target = entity_id(hass, sim, "chamber_target_temperature")
    assert (
        er.async_get(hass).async_get(remaining).disabled_by is er.RegistryEntryDisabler.INTEGRATION
    )  # type: ignore[union-attr]
    await enable(hass, entry, remaining, target)
    await wait_for_state(hass, remaining, "60")
    await wait_for_state(hass, target, "0.0")  # the heater is off: 0 °C, not unknown
    await sim.update({"device": sim.report["device"] | {"ctc": {"info": {"temp": 45 << 16 | 26}}}})
    await wait_for_state(hass, target, "45.0")


async def test_a_printer_without_a_chamber_sensor_has_no_chamber_entity(
    hass: HomeAssistant, load: Load
) -> None:
    """An A2L sends the placeholder 5 °C like a P1S and has no `device.ctc`."""
    sim, _ = await load("P1S", product_name="Bambu Lab A2L")
    device = dr.async_get(hass).async_get_device({(DOMAIN, sim.serial)})
    assert device is not None
    assert device.model == "A2L"
    assert sim.report["chamber_temper"] == 5.0
    assert not has_entity(hass, sim, "chamber_temperature")
    assert not has_entity(hass, sim, "chamber_target_temperature")
    # Its one external spool keeps the unique id it always had.
    spool = hass.states.get(entity_id(hass, sim, "slot_254_material"))
    assert spool is not None
    assert (spool.state, spool.name) == ("empty", "P1S 0001 External spool")  # one: no number


# -- errors ---------------------------------------------------------------------------------------


async def test_errors_are_readable_with_an_event_per_new_code(
    hass: HomeAssistant, load: Load, hass_client: ClientSessionGenerator
) -> None:
    sim, entry = await load("P1S")
    errors = entity_id(hass, sim, "active_errors")
    state = hass.states.get(errors)
    assert state is not None
    assert (state.state, state.attributes["codes"], state.attributes["errors"]) == ("0", [], [])
    events = async_capture_events(hass, EVENT_PRINTER_ERROR)

    await sim.update({"print_error": ERR_FILAMENT_RUNOUT, "hms": [HMS_RUNOUT]})
    await wait_for_state(hass, errors, "2")
    state = hass.states.get(errors)
    assert state is not None
    assert state.attributes["codes"] == ["0300_8015", "0700_0200_0002_0001"]
    assert state.attributes["errors"] == [
        {"code": "0300_8015", "severity": "common", "module": "motion_controller", "url": None},
        {
            "code": "0700_0200_0002_0001",
            "severity": "serious",
            "module": "ams",
            "url": "https://wiki.bambulab.com/en/x1/troubleshooting/hmscode/0700_0200_0002_0001",
        },
    ]
    device = dr.async_get(hass).async_get_device({(DOMAIN, sim.serial)})
    assert device is not None
    assert [(event.data["code"], event.data["device_id"]) for event in events] == [
        ("0300_8015", device.id),
        ("0700_0200_0002_0001", device.id),
    ]
    assert events[1].data["severity"] == "serious"
    assert events[1].data["url"].endswith("/0700_0200_0002_0001")

    # One more code: one more event; junk next to it is dropped and counted, never shown.
    junk: list[Any] = [None, "x", {"attr": -1, "code": 2**80}, {"attr": {"a": [1]}, "code": "?"}]
    await sim.update({"hms": [HMS_RUNOUT, *junk, HMS_VERIFY_FAILED]})
    await wait_for_state(hass, errors, "3")
    assert [event.data["code"] for event in events][2:] == ["0500_0500_0001_0007"]

    assert await async_setup_component(hass, "diagnostics", {})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert [error["code"] for error in diagnostics["active_errors"]] == [
        "0300_8015",
        "0700_0200_0002_0001",
        "0500_0500_0001_0007",
    ]
    assert diagnostics["malformed_messages"] == 1
    json.dumps(diagnostics)

    await sim.update({"print_error": 0, "hms": []})
    await wait_for_state(hass, errors, "0")
    assert len(events) == 3  # clearing is not a new code


async def test_history_keeps_the_codes_not_their_details(
    recorder_mock: Recorder, hass: HomeAssistant, load: Load
) -> None:
    """Severity, module and link follow from the code: the recorder stores the codes only."""
    start = dt_util.utcnow()
    sim, _ = await load("P1S")
    errors = entity_id(hass, sim, "active_errors")
    await sim.update({"hms": [HMS_RUNOUT]})
    await wait_for_state(hass, errors, "1")
    await async_wait_recording_done(hass)
    recorded = await hass.async_add_executor_job(
        partial(history.state_changes_during_period, hass, start, entity_id=errors)
    )
    last = recorded[errors][-1]
    assert last.state == "1"
    assert last.attributes["codes"] == ["0700_0200_0002_0001"]
    assert "errors" not in last.attributes
    shown = hass.states.get(errors)
    assert shown is not None
    assert shown.attributes["errors"][0]["module"] == "ams"  # shown, not recorded


# -- firmware -------------------------------------------------------------------------------------


async def test_a_firmware_update_reaches_the_device_registry(
    hass: HomeAssistant, load: Load
) -> None:
    sim, _ = await load("P1S")
    registry = dr.async_get(hass)
    device = registry.async_get_device({(DOMAIN, sim.serial)})
    assert device is not None
    assert device.sw_version == "01.08.02.00"
    await sim.install_firmware("01.09.01.00")
    await wait_until(lambda: registry.async_get(device.id).sw_version == "01.09.01.00")  # type: ignore[union-attr]
