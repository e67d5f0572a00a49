"""A simulated Bambu printer of a given model, set up in HA, for the control and firmware tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import DOMAIN
from simulator.bambu.printer import BambuSimulator

from .conftest import bambu_entry_data

type Load = Callable[..., Awaitable[tuple[BambuSimulator, MockConfigEntry]]]


async def models(hass: HomeAssistant, tmp_path: Path) -> AsyncIterator[Load]:
    """Body of a `load` fixture: start(model) runs a simulator and sets up its entry."""
    sims: list[BambuSimulator] = []
    entries: list[MockConfigEntry] = []

    async def start(model: str, **options: Any) -> tuple[BambuSimulator, MockConfigEntry]:
        sim = BambuSimulator(
            model=model, workdir=tmp_path / model, speed=600, jitter=False, **options
        )
        sims.append(sim)
        await sim.start()
        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=sim.serial,
            title=f"{model} {sim.serial[-4:]}",
            data=bambu_entry_data(sim),
        )
        entry.add_to_hass(hass)
        entries.append(entry)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        return sim, entry

    yield start
    for entry in entries:
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    for sim in sims:
        await sim.stop()


def entity_ids(hass: HomeAssistant, domain: str, serial: str) -> dict[str, str]:
    """The printer's entities of one domain, by key (the unique id is `<serial>_<key>`)."""
    return {
        entry.unique_id.removeprefix(f"{serial}_"): entry.entity_id
        for entry in er.async_get(hass).entities.values()
        if entry.domain == domain
        and entry.platform == DOMAIN
        and entry.unique_id.startswith(serial)
    }


def gcode_lines(sim: BambuSimulator) -> list[str]:
    """Every G-code line the printer was sent, in order."""
    return [
        body["param"]
        for request in sim.requests
        if isinstance(body := request.get("print"), dict) and body.get("command") == "gcode_line"
    ]
