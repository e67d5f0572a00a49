"""Pause, Resume and Stop: available while the printer is online, refusing what does not apply."""

from __future__ import annotations

from pathlib import Path

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, EVENT_STATE_CHANGED, STATE_UNAVAILABLE, Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.printernizer.const import DOMAIN
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from .conftest import wait_for_state
from .platform_printers import PRINTERS, entities_of, platform_printer

COMMANDS = ("pause", "resume", "stop")


def ids(hass: HomeAssistant, serial: str) -> dict[str, str]:
    registry = er.async_get(hass)
    found = {
        key: registry.async_get_entity_id(platform, DOMAIN, f"{serial}_{key}")
        for platform, key in (
            *(("button", command) for command in COMMANDS),
            ("sensor", "status"),
            ("binary_sensor", "paused"),
        )
    }
    assert all(found.values())
    return {key: entity_id for key, entity_id in found.items() if entity_id}


async def press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def refusal(hass: HomeAssistant, entity_id: str) -> str:
    with pytest.raises(ServiceValidationError) as err:
        await press(hass, entity_id)
    return str(err.value)


async def test_buttons_stay_available_and_refuse_what_does_not_apply(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    entity = ids(hass, bambu_sim.serial)
    buttons = {entity[command] for command in COMMANDS}
    shown: list[str] = []

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"] in buttons and (new := event.data["new_state"]):
            shown.append(new.state)

    unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
    name = loaded_entry.title
    # Idle: each button is there and says why it does nothing; the printer gets no command.
    assert all(hass.states.get(button).state != STATE_UNAVAILABLE for button in buttons)
    assert await refusal(hass, entity["pause"]) == (
        f"Printer {name} is not printing, so there is nothing to pause"
    )
    assert await refusal(hass, entity["resume"]) == (
        f"Printer {name} is not paused, so there is nothing to resume"
    )
    assert await refusal(hass, entity["stop"]) == (
        f"Printer {name} has no print running, so there is nothing to stop"
    )
    assert [request for request in bambu_sim.requests if "print" in request] == []

    bambu_sim.start_print("Long", total_layers=200, minutes=600)
    await wait_for_state(hass, entity["status"], "printing")
    assert "nothing to resume" in await refusal(hass, entity["resume"])
    await press(hass, entity["pause"])
    await wait_for_state(hass, entity["paused"], "on")
    assert "nothing to pause" in await refusal(hass, entity["pause"])
    await press(hass, entity["resume"])
    await wait_for_state(hass, entity["status"], "printing")
    await press(hass, entity["stop"])
    await wait_for_state(hass, entity["status"], "cancelled")
    unsubscribe()
    # A whole print without one red "unavailable" marker (nor its logbook entry).
    assert STATE_UNAVAILABLE not in shown


async def test_command_errors_name_the_command_in_the_users_language(
    hass: HomeAssistant, loaded_prusa_entry: MockConfigEntry, prusa_sim: PrusaSimulator
) -> None:
    hass.config.language = "de"
    entity = ids(hass, prusa_sim.serial)
    prusa_sim.start_print(minutes=600)
    # Right after a poll showed the print: the next one is an active interval away.
    await wait_for_state(hass, entity["status"], "printing")
    await prusa_sim.pause()  # paused at the printer; HA has not seen it yet, the printer says 409
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, entity["pause"])
    assert err.value.translation_key == "command_conflict"
    # The frontend shows the message in German around this placeholder: not the id "pause".
    assert err.value.translation_placeholders["command"] == "Pausieren"


@pytest.mark.parametrize("printer", PRINTERS)
@pytest.mark.usefixtures("socket_enabled")
async def test_button_entities(
    hass: HomeAssistant, tmp_path: Path, snapshot: SnapshotAssertion, printer: str
) -> None:
    async with platform_printer(hass, tmp_path, printer, Platform.BUTTON) as (entry, secrets):
        assert entities_of(hass, entry, secrets) == snapshot
