"""Firmware: installed and available as the printer reports them; read only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from homeassistant.components.update import (
    ATTR_INSTALLED_VERSION,
    ATTR_LATEST_VERSION,
    DOMAIN as UPDATE_DOMAIN,
    SERVICE_INSTALL,
)
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_SUPPORTED_FEATURES,
    STATE_OFF,
    STATE_ON,
    STATE_UNKNOWN,
    EntityCategory,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from simulator.bambu.payloads import FIRMWARE
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from ..printers.waiting import wait_until
from .conftest import wait_for_state
from .platform_printers import PRINTERS, entities_of, platform_printer
from .printer_models import Load, entity_ids, models


@pytest.fixture
async def load(hass: HomeAssistant, socket_enabled: None, tmp_path: Path) -> AsyncIterator[Load]:
    """Start simulated printers of given models with their entries; gone after the test."""
    async for start in models(hass, tmp_path):
        yield start


def firmware(hass: HomeAssistant, serial: str) -> str:
    found = entity_ids(hass, UPDATE_DOMAIN, serial)
    assert set(found) == {"firmware"}
    return found["firmware"]


def versions(hass: HomeAssistant, entity_id: str) -> tuple[str, Any, Any]:
    state = hass.states.get(entity_id)
    assert state is not None
    return (
        state.state,
        state.attributes.get(ATTR_INSTALLED_VERSION),
        state.attributes.get(ATTR_LATEST_VERSION),
    )


@pytest.mark.usefixtures("loaded_entry")
async def test_p1s_shows_newer_firmware_when_the_printer_offers_it(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    entity_id = firmware(hass, bambu_sim.serial)
    installed = FIRMWARE["P1S"]
    # The printer says no update is available: the installed version is the latest.
    assert versions(hass, entity_id) == (STATE_OFF, installed, installed)
    entry = er.async_get(hass).async_get(entity_id)
    assert entry.entity_category is EntityCategory.DIAGNOSTIC

    await bambu_sim.offer_firmware("01.09.00.00")
    await wait_for_state(hass, entity_id, STATE_ON)
    assert versions(hass, entity_id) == (STATE_ON, installed, "01.09.00.00")

    # An update for the AMS alone is no printer update.
    await bambu_sim.offer_firmware(None, modules=["ams/0"])
    await wait_for_state(hass, entity_id, STATE_OFF)
    assert versions(hass, entity_id) == (STATE_OFF, installed, installed)

    # Installed at the printer: it reboots, reports the new version and no further update.
    await bambu_sim.offer_firmware(None)
    await bambu_sim.install_firmware("01.09.00.00")
    await wait_until(lambda: versions(hass, entity_id)[1] == "01.09.00.00")
    assert versions(hass, entity_id) == (STATE_OFF, "01.09.00.00", "01.09.00.00")


@pytest.mark.usefixtures("loaded_entry")
async def test_nothing_can_be_installed_from_home_assistant(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    entity_id = firmware(hass, bambu_sim.serial)
    await bambu_sim.offer_firmware("01.09.00.00")
    await wait_for_state(hass, entity_id, STATE_ON)
    assert hass.states.get(entity_id).attributes[ATTR_SUPPORTED_FEATURES] == 0
    sent = len(bambu_sim.requests)
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            UPDATE_DOMAIN, SERVICE_INSTALL, {ATTR_ENTITY_ID: entity_id}, blocking=True
        )
    assert len(bambu_sim.requests) == sent


async def test_x1c_names_the_new_version_in_its_own_field(hass: HomeAssistant, load: Load) -> None:
    sim, _ = await load("X1C")
    entity_id = firmware(hass, sim.serial)
    await sim.offer_firmware("01.09.01.00")
    await wait_for_state(hass, entity_id, STATE_ON)
    assert versions(hass, entity_id) == (STATE_ON, FIRMWARE["X1C"], "01.09.01.00")


@pytest.mark.usefixtures("loaded_entry")
@pytest.mark.parametrize(
    "upgrade_state",
    [
        "available",
        [1],
        {"new_version_state": "soon"},
        {"new_version_state": 7},
        {"new_version_state": 1, "new_ver_list": "ota"},
        {"new_version_state": 1, "new_ver_list": [None, 3, {"name": "ota", "new_ver": 5}]},
    ],
)
async def test_an_unreadable_upgrade_state_shows_unknown_not_an_update(
    hass: HomeAssistant,
    bambu_sim: BambuSimulator,
    loaded_entry: MockConfigEntry,
    upgrade_state: object,
) -> None:
    entity_id = firmware(hass, bambu_sim.serial)
    await bambu_sim.publish_report({"upgrade_state": upgrade_state})
    await wait_until(lambda: hass.states.get(entity_id).state != STATE_OFF)
    state, installed, latest = versions(hass, entity_id)
    assert (state, installed, latest) == (STATE_UNKNOWN, FIRMWARE["P1S"], None)
    # The printer stays usable: the next good report is shown.
    await bambu_sim.publish_report(
        {
            "upgrade_state": {
                "new_version_state": 1,
                "new_ver_list": [{"name": "ota", "new_ver": "02.00.00.00"}],
            }
        }
    )
    await wait_for_state(hass, entity_id, STATE_ON)
    assert loaded_entry.runtime_data.coordinator.data.online


@pytest.mark.usefixtures("loaded_prusa_entry")
async def test_prusa_shows_its_firmware_and_an_unknown_latest(
    hass: HomeAssistant, prusa_sim: PrusaSimulator
) -> None:
    entity_id = firmware(hass, prusa_sim.serial)
    assert versions(hass, entity_id) == (STATE_UNKNOWN, prusa_sim.firmware, None)


@pytest.mark.parametrize("printer", PRINTERS)
@pytest.mark.usefixtures("socket_enabled")
async def test_update_entities(
    hass: HomeAssistant, tmp_path: Path, snapshot: SnapshotAssertion, printer: str
) -> None:
    async with platform_printer(hass, tmp_path, printer, Platform.UPDATE) as (entry, secrets):
        assert entities_of(hass, entry, secrets) == snapshot
