"""Four simulated printers, each set up with one platform, for the per-platform snapshot tests.

A P1S with an AMS and an AMS HT, an X1C, an H2D with two external spools (`vir_slot`) and a
Prusa MK4. The simulators are quiet: no sensor noise (`jitter=False`) and heaters already at
ambient, where they settle, so every state is the same however fast the test machine is.
Wall-clock time is not frozen: freezegun freezes `time.monotonic` too, and the simulators'
broker start-up and clocks then stall (with `real_asyncio`, mosquitto's start-up times out).
Freezing is not needed either: on an idle printer no state is a wall-clock time (no image
yet, no event yet, no estimated finish), and `entities_of` fails if one ever is, rather than
letting a snapshot depend on when the test ran.

What is snapshotted is a projection, not HA's raw registry entry and state: the raw entry
gains fields from one HA release to the next, flags and enums print differently, and
`snapshot_platform` demands every entity enabled, which would hide which entities users get
disabled. The projection holds what a user sees: the registry fields below and the state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import CONF_IDLE_POLL_SECONDS, DOMAIN
from simulator.bambu import thermal
from simulator.bambu.payloads import ams_report, pack_device
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from .conftest import FAST_IDLE_POLL, bambu_entry_data, prusa_entry_data

PRINTERS = ("p1s_ams", "x1c", "h2d", "mk4")
# Light, select, number, fan and camera: Bambu only (PrusaLink offers none of these controls).
BAMBU_PRINTERS = PRINTERS[:3]
# Realistic serials: the model's prefix, so entity ids read as a user's would.
_BAMBU = {
    "p1s_ams": ("P1S", "01P00A451601106"),
    "x1c": ("X1C", "00M00A280102440"),
    "h2d": ("H2D", "0948AD532100275"),
}
# The P1S's AMS (unit 0) and an AMS HT (its ids start at 128).
_P1S_AMS = {0: "AMS", 128: "AMS HT"}
# Attributes that change with every HA start or call (a fresh token), not with the printer,
# and one HA 2026 dropped (the camera's stream type).
_VOLATILE = frozenset({"access_token", "entity_picture", "frontend_stream_type"})


def _plain(value: Any) -> Any:
    """Flags and enums as their values: their repr changes between HA releases."""
    return value.value if isinstance(value, Enum) else value


def _quiet(sim: BambuSimulator) -> None:
    """Heaters at ambient, where the simulator's thermal model leaves them: no drift."""
    sim.report["nozzle_temper"] = thermal.AMBIENT
    sim.report["bed_temper"] = thermal.AMBIENT
    pack_device(sim.report)  # the H2D's packed copies of the same readings


def _bambu(key: str, tmp_path: Path) -> BambuSimulator:
    model, serial = _BAMBU[key]
    sim = BambuSimulator(
        model=model, serial=serial, workdir=tmp_path / key, speed=600, jitter=False
    )
    if key == "p1s_ams":
        sim.ams_units = dict(_P1S_AMS)
        sim.report["ams"] = ams_report(_P1S_AMS)
    _quiet(sim)
    return sim


@asynccontextmanager
async def platform_printer(
    hass: HomeAssistant, tmp_path: Path, key: str, platform: Platform
) -> AsyncIterator[tuple[MockConfigEntry, tuple[str, ...]]]:
    """Run printer `key`, set up its entry with only `platform`; yields entry and secrets."""
    sim: BambuSimulator | PrusaSimulator
    if key == "mk4":
        sim = PrusaSimulator(family="buddy", model="MK4", speed=600, hang_seconds=5)
        title, options = "MK4 prusa-mk4", {CONF_IDLE_POLL_SECONDS: FAST_IDLE_POLL}
        secrets: tuple[str, ...] = (sim.password, sim.api_key)
    else:
        sim = _bambu(key, tmp_path)
        title, options = f"{sim.model} {sim.serial[-4:]}", {}
        secrets = (sim.access_code,)
    await sim.start()
    try:
        # Ports are known once started.
        prusa = isinstance(sim, PrusaSimulator)
        data = prusa_entry_data(sim) if prusa else bambu_entry_data(sim)
        entry = MockConfigEntry(
            domain=DOMAIN, unique_id=sim.serial, title=title, data=data, options=options
        )
        entry.add_to_hass(hass)
        with patch("custom_components.printernizer.PLATFORMS", [platform]):
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            try:
                yield entry, secrets
            finally:
                assert await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_block_till_done()
    finally:
        await sim.stop()


def entities_of(
    hass: HomeAssistant, entry: MockConfigEntry, secrets: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Every entity of the entry, by entity id: its registry fields and, if enabled, its state.

    Fails if a secret shows up anywhere in it (an entity must never carry one).
    """
    registry = er.async_get(hass)
    shown: dict[str, dict[str, Any]] = {}
    for item in sorted(
        er.async_entries_for_config_entry(registry, entry.entry_id), key=lambda e: e.entity_id
    ):
        state = hass.states.get(item.entity_id)
        shown[item.entity_id] = {
            "unique_id": item.unique_id,
            "translation_key": item.translation_key,
            "device_class": item.device_class or item.original_device_class,
            "state_class": (item.capabilities or {}).get("state_class"),
            "unit": item.unit_of_measurement,
            "entity_category": item.entity_category,
            "disabled_by": item.disabled_by,
            "capabilities": item.capabilities,
            "state": None
            if state is None
            else {
                "state": state.state,
                "attributes": {
                    key: _plain(value)
                    for key, value in sorted(state.attributes.items())
                    if key not in _VOLATILE
                },
            },
        }
    assert shown, "the platform created no entity for this printer"
    timed = [
        entity_id
        for entity_id, item in shown.items()
        if item["state"] and dt_util.parse_datetime(item["state"]["state"]) is not None
    ]
    assert not timed, f"states that depend on when the test ran: {timed}"
    text = repr(shown)
    leaked = [secret[:2] + "..." for secret in secrets if secret in text]
    assert not leaked, f"a secret is in the entities: {leaked}"
    return shown
