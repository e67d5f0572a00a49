"""System health against the simulators: printers connected, messages per minute, last error."""

from __future__ import annotations

from datetime import datetime

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, get_system_health_info

from custom_components.printernizer.const import DOMAIN
from custom_components.printernizer.settings import is_fleet_entry
from custom_components.printernizer.system_health import MIN_WINDOW_SECONDS, MessageRate
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from .conftest import wait_for_state

STATUS = "sensor.p1s_01p00a000000001_status"


async def test_nothing_configured(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "system_health", {})
    assert await async_setup_component(hass, DOMAIN, {})
    assert await get_system_health_info(hass, DOMAIN) == {
        "printers_connected": "0/0",
        "messages_per_minute": 0.0,
        "last_error": "-",
        "last_error_at": "-",
    }


async def test_connected_printers_their_messages_and_the_last_error(
    hass: HomeAssistant,
    bambu_sim: BambuSimulator,
    bambu_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
    prusa_entry: MockConfigEntry,
) -> None:
    assert await async_setup_component(hass, "system_health", {})
    hass.config_entries.async_update_entry(
        prusa_entry, data={**prusa_entry.data, CONF_PASSWORD: "not-the-password"}
    )
    assert await async_setup_component(hass, DOMAIN, {})  # sets up both printers
    await hass.async_block_till_done()
    assert bambu_entry.state is ConfigEntryState.LOADED
    assert prusa_entry.state is ConfigEntryState.SETUP_ERROR
    assert any(is_fleet_entry(entry) for entry in hass.config_entries.async_entries(DOMAIN))

    info = await get_system_health_info(hass, DOMAIN)
    assert info["printers_connected"] == "1/2"  # the fleet entry is no printer
    # The P1S answered the version request and the full report at least.
    assert info["messages_per_minute"] > 0
    assert info["last_error"].startswith(f"{prusa_entry.title}: ")
    assert "not-the-password" not in info["last_error"]
    assert isinstance(info["last_error_at"], datetime)

    await bambu_sim.stop()
    await wait_for_state(hass, STATUS, "offline")
    info = await get_system_health_info(hass, DOMAIN)
    assert info["printers_connected"] == "0/2"
    assert info["last_error"] == f"{bambu_entry.title}: went offline"
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)


def test_message_rate_between_reads() -> None:
    rate = MessageRate(at=100.0, count=0)
    assert rate.sample(100.0, 5) == 0.0  # no time passed: no rate yet
    assert rate.sample(102.0, 10) == 300.0  # first read: since loading
    assert rate.sample(103.0, 500) == 300.0  # too soon for a new window: the last rate
    later = 102.0 + MIN_WINDOW_SECONDS * 6
    assert rate.sample(later, 10 + 120) == 120 * 60 / (later - 102.0)
    assert rate.sample(later + 60, 0) == 0.0  # a counter that went back never goes negative
