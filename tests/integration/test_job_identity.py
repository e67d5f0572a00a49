"""A stray start time from a Bambu printer mid-print never splits the print (found by the soak)."""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import DOMAIN
from custom_components.printernizer.history import DATA_HISTORY
from custom_components.printernizer.jobs import JobRecord, JobStatus
from simulator.bambu.printer import BambuSimulator

from ..printers.waiting import wait_until
from .conftest import bambu_entry_data


@pytest.mark.parametrize(
    ("model", "start"),
    [
        ("P1S", 10**12),  # read as milliseconds: 2001, while the print started today
        ("X1C", 1_700_000_000),  # X1 full reports put the real start back afterwards
    ],
)
async def test_a_stray_start_time_mid_print_keeps_one_record(
    hass: HomeAssistant, socket_enabled: None, tmp_path: Path, model: str, start: int
) -> None:
    async with BambuSimulator(model=model, speed=300, jitter=False, workdir=tmp_path) as sim:
        entry = MockConfigEntry(domain=DOMAIN, unique_id=sim.serial, data=bambu_entry_data(sim))
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        history = hass.data[DATA_HISTORY]

        def records() -> list[JobRecord]:
            return history.query(serials=[sim.serial], limit=100)[0]

        printing = sim.start_print("Cube", total_layers=20, minutes=40)
        await wait_until(lambda: sim.report["gcode_state"] == "RUNNING" and bool(records()), 20)
        stray = {"command": "push_status", "msg": 1, "sequence_id": "1", "gcode_start_time": start}
        await sim.publish_raw(json.dumps({"print": stray}).encode())
        await printing
        await wait_until(lambda: all(r.status is not JobStatus.ACTIVE for r in records()), 20)
        await hass.async_block_till_done()

        assert [(r.job_name, r.status) for r in records()] == [("Cube", JobStatus.COMPLETED)]
        assert await hass.config_entries.async_unload(entry.entry_id)
