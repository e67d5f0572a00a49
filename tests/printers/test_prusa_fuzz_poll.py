"""Hostile PrusaLink replies through the real poll path, over HTTP from the simulator.

Each example serves one hostile reply (see test_prusa_fuzz for what that means) for one route,
polls until the adapter asked for it, then serves a good one: the malformed count must rise, the
good reply must show in `adapter.state`, the poll loop must still be alive at the end, and the
whole run may log at most one line at INFO or above.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
import copy
from dataclasses import replace
import logging
from typing import Any

import aiohttp
from hypothesis import given, settings, strategies as st
import pytest

from custom_components.printernizer.printers.errors import ProtocolError
from custom_components.printernizer.printers.models import PrinterStatus
from custom_components.printernizer.printers.prusa.adapter import PrusaAdapter
from custom_components.printernizer.printers.prusa.status import file_path
from simulator.prusa import PrusaSimulator, payloads

from .test_prusa_adapter import SLOW, config_for
from .test_prusa_fuzz import (
    FUZZ,
    INFO_TARGETS,
    JOB_TARGETS,
    LISTING_BODY,
    LISTING_TARGETS,
    PRINTER_TARGETS,
    PRUSA_LOGGER,
    STATUS_BODY,
    STATUS_TARGETS,
    STORAGE_BODY,
    STORAGE_TARGETS,
    VERSION_TARGETS,
    assert_clean,
    hostile,
)


@pytest.fixture(params=["buddy", "pi"])
def family_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def sim(family_name: str) -> AsyncIterator[PrusaSimulator]:
    async with PrusaSimulator(family=family_name, speed=60, hang_seconds=5) as simulator:
        yield simulator


class Polled:
    """An adapter polled by hand through `refresh` (the very `_poll` its loop runs)."""

    def __init__(self, sim: PrusaSimulator, adapter: PrusaAdapter) -> None:
        self.sim, self.adapter = sim, adapter
        self.bad = 0

    async def hostile(self, path: str, body: Any, then: Callable[[], Any] | None = None) -> None:
        """Serve body for path once, poll until it was used: the malformed count must rise."""
        before = self.adapter.malformed
        self.sim.serve(path, body)
        for _ in range(3):
            if then is not None:
                await then()
            assert await self.adapter.refresh()
            if path not in self.sim.faults.canned:
                break
        assert path not in self.sim.faults.canned, "the hostile reply was never asked for"
        assert self.adapter.malformed > before, body
        assert_clean(self.adapter.state)
        self.bad += 1


@pytest.fixture
async def polled(
    request: pytest.FixtureRequest,
    sim: PrusaSimulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Polled]:
    """Polls only status, or (param "every route") also identity and material every time."""
    caplog.set_level(logging.DEBUG, logger=PRUSA_LOGGER)
    timing = SLOW
    if getattr(request, "param", None) == "every route":
        timing = replace(SLOW, identity_interval=0, material_interval=0)
    adapter = PrusaAdapter(config_for(sim), session, timing)
    if sim.family == "buddy":
        sim.serve("/api/v1/storage", STORAGE_BODY)  # byte counts: the route stays in use
    await adapter.start()
    assert adapter._task is not None
    polled = Polled(sim, adapter)
    yield polled
    assert not adapter._task.done()
    await adapter.stop()
    lines = [
        r for r in caplog.records if r.name.startswith(PRUSA_LOGGER) and r.levelno >= logging.INFO
    ]
    assert len(lines) <= 1, [r.getMessage() for r in lines]
    assert adapter.malformed >= polled.bad


@settings(FUZZ, max_examples=120)
@given(body=hostile(STATUS_BODY, STATUS_TARGETS), marker=st.integers(0, 10**6))
async def test_hostile_status_then_good(polled: Polled, body: Any, marker: int) -> None:
    await polled.hostile("/api/v1/status", body)
    good = payloads.status(polled.sim)
    good["printer"]["temp_bed"] = marker / 10
    polled.sim.serve("/api/v1/status", good)
    assert await polled.adapter.refresh()
    state = polled.adapter.state
    assert state.online
    assert state.bed.current == marker / 10
    assert state.status is PrinterStatus.IDLE


@pytest.mark.parametrize("polled", ["every route"], indirect=True)
@settings(FUZZ, max_examples=60)
@given(
    route=st.sampled_from(["/api/version", "/api/v1/info", "/api/printer"]),
    data=st.data(),
)
async def test_hostile_identity_and_material_then_good(
    polled: Polled, route: str, data: st.DataObject
) -> None:
    sim, adapter = polled.sim, polled.adapter
    if route == "/api/printer" and sim.family == "pi":
        route = "/api/version"  # the Pi is never asked for its material
    base, targets = {
        "/api/version": (payloads.version(sim), VERSION_TARGETS),
        "/api/v1/info": (payloads.info(sim), INFO_TARGETS),
        "/api/printer": (payloads.legacy_printer(sim), PRINTER_TARGETS),
    }[route]
    device, material = adapter.device_info, adapter.state.material
    await polled.hostile(route, data.draw(hostile(base, targets)))
    assert adapter.device_info.serial == device.serial
    assert await adapter.refresh()
    assert adapter.device_info == device
    assert adapter.state.material == material


@settings(FUZZ, max_examples=50)
@given(data=st.data())
async def test_hostile_job_then_good(polled: Polled, data: st.DataObject) -> None:
    """A junk job reply is asked for again next poll, and then the good one is shown."""
    sim, adapter = polled.sim, polled.adapter
    if sim.job is None:
        sim.start_print("Benchy.bgcode", minutes=600)
        assert await adapter.refresh()
    base = payloads.job(sim)
    toggle = sim.pause if sim.state == "PRINTING" else sim.resume
    await polled.hostile("/api/v1/job", data.draw(hostile(base, JOB_TARGETS)), then=toggle)
    assert await adapter.refresh()
    assert adapter.state.job.name == "Benchy.bgcode"
    assert adapter.state.job.file == file_path(base["file"])


@settings(FUZZ, max_examples=25)
@given(body=hostile(STORAGE_BODY, STORAGE_TARGETS), marker=st.integers(0, 10**9))
async def test_hostile_storage_then_good(polled: Polled, body: Any, marker: int) -> None:
    """Buddy reads /api/v1/storage when a job ends; its status carries no byte counts."""
    sim, adapter = polled.sim, polled.adapter
    if sim.family == "pi":
        pytest.skip("a Pi's status carries the free space: /api/v1/storage is never read")

    async def job_ends() -> None:
        await sim.clear()
        sim.start_print(minutes=600)
        assert await adapter.refresh()
        await sim.stop_print()

    await polled.hostile("/api/v1/storage", body, then=job_ends)
    good = copy.deepcopy(STORAGE_BODY)
    good["storage_list"][0]["free_space"] = marker
    sim.serve("/api/v1/storage", good)
    await job_ends()
    assert await adapter.refresh()
    assert adapter.state.storage_free_bytes == marker


@settings(FUZZ, max_examples=60)
@given(data=st.data())
async def test_hostile_listing_then_good(polled: Polled, data: st.DataObject) -> None:
    """Listings are read on demand: junk is a ProtocolError to the caller or dropped entries."""
    sim, adapter = polled.sim, polled.adapter
    folder = "/api/v1/files/" + ("usb" if sim.family == "buddy" else "local")
    before = adapter.malformed
    sim.serve(folder, data.draw(hostile(LISTING_BODY, LISTING_TARGETS)))
    try:
        files = await adapter.list_files()
    except ProtocolError:
        pass  # garbage: the caller (an action) is told, in the adapters' own terms
    else:
        assert_clean(files)
    assert folder not in sim.faults.canned
    assert adapter.malformed > before
    assert "Benchy.bgcode" in {f.display_name for f in await adapter.list_files()}
