"""The active filament slot reads in Home Assistant's language, like the slot entities' names."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import DOMAIN
from simulator.bambu.printer import BambuSimulator

from .conftest import wait_for_state


async def test_active_slot_in_german(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    hass.config.language = "de"
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{bambu_sim.serial}_active_slot"
    )
    assert entity_id is not None
    await bambu_sim.update({"ams": bambu_sim.report["ams"] | {"tray_now": "1"}})
    await wait_for_state(hass, entity_id, "AMS 1 Platz 2")
    await bambu_sim.update({"ams": bambu_sim.report["ams"] | {"tray_now": "254"}})
    await wait_for_state(hass, entity_id, "Externe Spule")
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()
