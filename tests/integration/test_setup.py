"""Setting up, unloading and failing to set up a printer entry."""

from __future__ import annotations

import asyncio

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import CONF_ACCESS_CODE, DOMAIN
from simulator.bambu.printer import BambuSimulator

from .conftest import wait_for_state


async def test_setup_creates_the_device(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    assert loaded_entry.state is ConfigEntryState.LOADED
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, bambu_sim.serial)})
    assert device is not None
    assert (device.manufacturer, device.model, device.serial_number) == (
        "Bambu Lab",
        "P1S",
        bambu_sim.serial,
    )
    assert device.sw_version == "01.08.02.00"
    state = hass.states.get("sensor.p1s_01p00a000000001_status")
    assert state is not None
    assert state.state == "idle"


async def test_wrong_access_code_starts_reauth(
    hass: HomeAssistant, bambu_sim: BambuSimulator, bambu_entry: MockConfigEntry
) -> None:
    hass.config_entries.async_update_entry(
        bambu_entry, data={**bambu_entry.data, CONF_ACCESS_CODE: "00000000"}
    )
    assert not await hass.config_entries.async_setup(bambu_entry.entry_id)
    assert bambu_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_unreachable_printer_is_retried(
    hass: HomeAssistant, bambu_sim: BambuSimulator, bambu_entry: MockConfigEntry
) -> None:
    await bambu_sim.stop()
    assert not await hass.config_entries.async_setup(bambu_entry.entry_id)
    assert bambu_entry.state is ConfigEntryState.SETUP_RETRY


async def test_changed_certificate_blocks_setup(
    hass: HomeAssistant, bambu_sim: BambuSimulator, bambu_entry: MockConfigEntry
) -> None:
    await bambu_sim.rotate_certificate()
    assert not await hass.config_entries.async_setup(bambu_entry.entry_id)
    assert bambu_entry.state is ConfigEntryState.SETUP_ERROR
    assert "different TLS certificate" in (bambu_entry.reason or "")


async def test_certificate_change_while_running_is_reported(
    hass: HomeAssistant,
    bambu_sim: BambuSimulator,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await bambu_sim.rotate_certificate()
    await wait_for_state(hass, "sensor.p1s_01p00a000000001_status", "offline")
    await wait_until_logged(caplog, "different certificate")


async def wait_until_logged(caplog: pytest.LogCaptureFixture, text: str) -> None:
    async with asyncio.timeout(10):
        while text not in caplog.text:
            await asyncio.sleep(0.01)
