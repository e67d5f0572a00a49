"""Diagnostics carry what a bug report needs and no secret."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from simulator.bambu.printer import BambuSimulator
from simulator.prusa.printer import PrusaSimulator

from ..printers.waiting import wait_until


async def test_diagnostics_redact_secrets(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    text = json.dumps(diagnostics)
    assert bambu_sim.access_code not in text
    assert "BEGIN CERTIFICATE" not in text
    assert diagnostics["device"]["model"] == "P1S"
    assert diagnostics["state"]["status"] == "idle"
    assert diagnostics["raw_report"]["gcode_state"] == "IDLE"
    assert diagnostics["entry"]["certificate_fingerprint"].count(":") == 31
    assert diagnostics["malformed_messages"] == 0
    assert diagnostics["dropped"] == {
        "listener_errors": 0,
        "job_file_failures": 0,
        "mqtt_callback_errors": 0,
    }
    assert diagnostics["jobs"] == {
        "active": None,
        "totals": {
            "completed": 0,
            "failed": 0,
            "cancelled": 0,
            "print_seconds": 0.0,
            "grams": 0.0,
            "energy_kwh": 0.0,
            "cost": "0",
            "without_cost": 0,
            "last_cost": None,
            "last_job_id": None,
        },
    }


async def test_prusa_diagnostics_redact_the_password(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_prusa_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded_prusa_entry)
    assert prusa_sim.password not in json.dumps(diagnostics)
    assert diagnostics["family"] == "buddy"
    assert diagnostics["device"]["serial"] == prusa_sim.serial
    assert diagnostics["requests"] > 0


async def test_diagnostics_count_what_was_dropped(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
) -> None:
    """A hostile report is dropped, counted and shown; the printer's next report still arrives."""
    assert await async_setup_component(hass, "diagnostics", {})
    adapter = loaded_entry.runtime_data.coordinator.adapter
    await bambu_sim.publish_raw(b"[" * 20_000 + b"]" * 20_000)
    hostile = {"print": {"command": "push_status", "sequence_id": "7", "nozzle_temper": "1e400"}}
    await bambu_sim.publish_raw(json.dumps(hostile).encode())
    good = {"print": {"command": "push_status", "sequence_id": "8", "bed_temper": 61.5}}
    await bambu_sim.publish_raw(json.dumps(good).encode())
    await wait_until(lambda: adapter.state.bed.current == 61.5)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded_entry)
    assert diagnostics["malformed_messages"] == 2
    assert diagnostics["state"]["nozzle"]["current"] is None
    assert diagnostics["dropped"]["mqtt_callback_errors"] == 0
