"""Values real printers send, through the simulated printer over MQTT/TLS on 127.0.0.1.

Model detection (an X1C lists an AP05 `ap` board), an H2D's two external spools and heated
chamber, and a firmware update while connected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from custom_components.printernizer.printers.bambu.adapter import BambuAdapter
from custom_components.printernizer.printers.models import FilamentSlot
from simulator.bambu.payloads import external_spool
from simulator.bambu.printer import BambuSimulator

from .test_bambu_adapter import FAST, config_for
from .waiting import wait_for


@pytest.fixture
async def connect(tmp_path: Path) -> AsyncIterator[Any]:
    """Start a simulated printer of a model and an adapter connected to it."""
    running: list[tuple[BambuSimulator, BambuAdapter]] = []

    async def start(model: str) -> tuple[BambuSimulator, BambuAdapter]:
        sim = BambuSimulator(model=model, workdir=tmp_path / model, speed=600, jitter=False)
        await sim.start()
        adapter = BambuAdapter(config_for(sim), FAST)
        running.append((sim, adapter))
        await adapter.start()
        return sim, adapter

    yield start
    for sim, adapter in running:
        await adapter.stop()
        await sim.stop()


async def test_an_x1c_listing_an_ap05_board_is_an_x1c(connect: Any) -> None:
    _, adapter = await connect("X1C")
    assert adapter.device_info.model == "X1C"  # was "X1E": any `ap` module counted as one
    assert adapter.state.chamber is not None  # the X1 family has a chamber sensor
    assert adapter.state.chamber.current == 26.0
    assert adapter.state.chamber.target is None  # and no chamber heater


async def test_a_p1s_has_no_chamber_reading_and_its_one_external_spool(connect: Any) -> None:
    _, adapter = await connect("P1S")
    assert adapter.state.chamber is None
    assert adapter.state.external_spools == (FilamentSlot(slot_id="254", empty=True),)


async def test_an_h2d_reports_two_external_spools_and_its_chamber(connect: Any) -> None:
    sim, adapter = await connect("H2D")
    state = adapter.state
    assert adapter.device_info.model == "H2D"
    assert state.external_spools == (
        FilamentSlot(slot_id="254", material="PLA", color="#F2C12E", name="PLA Basic"),
        FilamentSlot(
            slot_id="255",
            material="PETG",
            color="#0A2989",
            name="PETG Basic",
            remaining_percent=60,
        ),
    )
    assert state.filament_slots  # the AMS trays stay where they were
    assert all(slot.slot_id not in ("254", "255") for slot in state.filament_slots)
    assert state.chamber is not None
    assert state.chamber.target == 0.0  # heater off: 0, not unknown
    assert state.chamber.current == 26.0

    await sim.update({"device": sim.report["device"] | {"ctc": {"info": {"temp": 60 << 16 | 31}}}})
    state = await wait_for(adapter, lambda s: s.chamber is not None and s.chamber.target == 60)
    assert state.chamber is not None
    assert state.chamber.current == 26.0  # the simulator packs its own chamber reading again


async def test_garbage_external_spools_are_counted_and_the_good_one_stays(connect: Any) -> None:
    sim, adapter = await connect("H2D")
    malformed = adapter.malformed
    good = external_spool(255, "ABS", "FFFFFFFF", 30)
    junk: list[Any] = [
        None,
        "254",
        [good],
        {"id": 253, "tray_type": "PLA"},
        {"id": -1, "tray_type": "PLA"},
        {"id": 2**80, "tray_type": "PLA"},
        {"id": {"nested": ["x"]}, "tray_type": "PLA"},
        {"tray_type": "PLA"},
    ]
    unreadable = {"id": "254", "tray_type": {"x": 1}, "tray_color": 5, "remain": 1e300}
    await sim.update({"vir_slot": [unreadable, good, *junk, *junk], "vt_tray": {"id": "nonsense"}})
    state = await wait_for(adapter, lambda s: "ABS" in {x.material for x in s.external_spools})
    assert state.external_spools == (
        FilamentSlot(slot_id="254", empty=True),  # present, but its type was not readable
        FilamentSlot(
            slot_id="255", material="ABS", color="#FFFFFF", name="ABS Basic", remaining_percent=30
        ),
    )
    assert adapter.malformed == malformed + 1  # one message, counted once
    assert state.online
    # The next message is applied as usual.
    await sim.update({"nozzle_target_temper": 220.0})
    await wait_for(adapter, lambda s: s.nozzle.target == 220.0)


async def test_a_firmware_update_while_connected_reaches_the_state(connect: Any) -> None:
    sim, adapter = await connect("P1S")
    assert adapter.state.firmware == sim.firmware
    await sim.install_firmware("01.09.01.00")
    await wait_for(adapter, lambda s: s.firmware == "01.09.01.00" and s.online)
    assert adapter.device_info.firmware == "01.09.01.00"
