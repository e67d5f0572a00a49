"""Fixtures for tests that run the integration inside Home Assistant's test harness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
import sys
import threading
import traceback
from typing import Any

from homeassistant import block_async_io
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import loop as ha_loop
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import (
    CONF_ACCESS_CODE,
    CONF_CERTIFICATE,
    CONF_FTPS_PORT,
    CONF_IDLE_POLL_SECONDS,
    CONF_MODEL,
    CONF_MQTT_PORT,
    CONF_PRINTER_TYPE,
    CONF_SERIAL,
    DOMAIN,
    PRINTER_BAMBU,
    PRINTER_PRUSA,
)
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

# Another printer's serial: an MK3S with Prusa-Link on a Raspberry Pi.
PI_SERIAL = "CZPX2419X004XK12345"
# Idle status interval of the test entries, in seconds. Users get 30-300 from the options flow;
# tests cannot wait that long for the printer to be seen going offline or starting a print.
FAST_IDLE_POLL = 0.1


@pytest.fixture(autouse=True)
def _custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom_components/printernizer."""


@dataclass(frozen=True, slots=True)
class BlockingCall:
    """A blocking call seen inside the running event loop: what, where, and the stack to it."""

    function: str
    offender: str  # file:line of the first frame outside the detector
    stack: str

    @property
    def ours(self) -> bool:
        """Made by the integration or the simulators (not by HA or a library on its own)."""
        return any(part in self.stack for part in _OUR_CODE)


_ROOT = str(Path(__file__).parents[2]) + "/"
_OUR_CODE = (_ROOT + "custom_components/", _ROOT + "simulator/")
_DETECTOR_FILES = (block_async_io.__file__, ha_loop.__file__, __file__)


@dataclass(slots=True)
class BlockingCallDetector:
    """HA's blocking-call detector as bootstrap enables it in production, calls recorded.

    HA's test harness enables nothing, and `block_async_io.enable()` run in tests skips most
    checks (`_IN_TESTS`). Here every check of production is on, HA still logs or raises as in
    production, and each call made while a loop runs in its thread is recorded, so a test fails
    even when HA only warns or the offender swallows the RuntimeError. Sync code in the same
    thread with no loop running (pytest itself, sync fixtures) is not "in the event loop".
    """

    seen: list[BlockingCall] = field(default_factory=list)

    def enable(self) -> None:
        """Patch every call HA patches in production (undone by `disable`)."""
        calls = block_async_io._BLOCKED_CALLS.calls
        if calls:
            return  # someone (a test of its own) enabled it already
        ha_loop._PREVIOUSLY_REPORTED.clear()  # reported once per process: once per test here
        loop_thread = threading.get_ident()
        for call in block_async_io._BLOCKING_CALLS:
            protected = ha_loop.protect_loop(
                call.original_func,
                strict=call.strict,
                strict_core=call.strict_core,
                check_allowed=self._recording(call.function, call.check_allowed),
                loop_thread_id=loop_thread,
            )
            setattr(call.object, call.function, protected)
            calls.add(call)

    def disable(self) -> None:
        """Put the original functions back (as HA's `disable_block_async_io` does)."""
        calls = block_async_io._BLOCKED_CALLS.calls
        for call in calls:
            setattr(call.object, call.function, call.original_func)
        calls.clear()

    def _recording(
        self, function: str, check_allowed: Callable[[dict[str, Any]], bool] | None
    ) -> Callable[[dict[str, Any]], bool]:
        def check(mapped_args: dict[str, Any]) -> bool:
            if check_allowed is not None and check_allowed(mapped_args):
                return True
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return True  # main thread, but no loop running: not in the event loop
            frame = sys._getframe(1)
            while frame.f_back is not None and frame.f_code.co_filename in _DETECTOR_FILES:
                frame = frame.f_back
            offender = f"{frame.f_code.co_filename}:{frame.f_lineno}"
            stack = "".join(traceback.format_stack(frame, limit=30))
            self.seen.append(BlockingCall(function, offender, stack))
            return False

        return check

    def check(self) -> None:
        """Fail for each blocking call our code made in the loop; HA's own are out of scope."""
        ours = [call for call in self.seen if call.ours]
        if ours:
            first = ours[0]
            pytest.fail(
                f"{len(ours)} blocking call(s) in the event loop; first: {first.function} at "
                f"{first.offender}\n{first.stack}",
                pytrace=False,
            )


@pytest.fixture(autouse=True)
def blocking_calls() -> Iterator[BlockingCallDetector]:
    """HA's blocking-call detector on, as in production; a blocking call fails the test."""
    detector = BlockingCallDetector()
    detector.enable()
    try:
        yield detector
    finally:
        detector.disable()
    detector.check()


@pytest.fixture
async def bambu_sim(socket_enabled: None, tmp_path: Path) -> AsyncIterator[BambuSimulator]:
    """A P1S on 127.0.0.1 with a fast clock and no sensor noise."""
    async with BambuSimulator(workdir=tmp_path / "p1s", speed=600, jitter=False) as sim:
        yield sim


def bambu_entry_data(sim: BambuSimulator) -> dict[str, Any]:
    """Entry data as the config flow stores it for this simulated printer."""
    return {
        CONF_PRINTER_TYPE: PRINTER_BAMBU,
        CONF_HOST: "127.0.0.1",
        CONF_SERIAL: sim.serial,
        CONF_ACCESS_CODE: sim.access_code,
        CONF_CERTIFICATE: sim.cert_pem,
        CONF_MQTT_PORT: sim.mqtt_port,
        CONF_FTPS_PORT: sim.ftps_port,
        CONF_MODEL: sim.model,
    }


@pytest.fixture
def bambu_entry(hass: HomeAssistant, bambu_sim: BambuSimulator) -> MockConfigEntry:
    """The simulated printer's config entry, added but not set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=bambu_sim.serial,
        title=f"{bambu_sim.model} {bambu_sim.serial}",
        data=bambu_entry_data(bambu_sim),
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def loaded_entry(
    hass: HomeAssistant, bambu_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """The entry set up; unloaded afterwards so nothing keeps running."""
    async for entry in _set_up(hass, bambu_entry):
        yield entry


@pytest.fixture
async def prusa_sim(socket_enabled: None) -> AsyncIterator[PrusaSimulator]:
    """An MK4 (Buddy firmware) on 127.0.0.1 with a fast clock."""
    async with PrusaSimulator(family="buddy", model="MK4", speed=600, hang_seconds=5) as sim:
        yield sim


@pytest.fixture
async def pi_sim(socket_enabled: None) -> AsyncIterator[PrusaSimulator]:
    """A second printer: an MK3S with Prusa-Link on a Raspberry Pi, with a serial of its own."""
    async with PrusaSimulator(
        family="pi", model="MK3S", serial=PI_SERIAL, speed=600, hang_seconds=5
    ) as sim:
        yield sim


def prusa_entry_data(sim: PrusaSimulator) -> dict[str, Any]:
    """Entry data as the config flow stores it for this simulated printer."""
    return {
        CONF_PRINTER_TYPE: PRINTER_PRUSA,
        CONF_HOST: f"127.0.0.1:{sim.port}",
        CONF_USERNAME: sim.username,
        CONF_PASSWORD: sim.password,
        CONF_SERIAL: sim.serial,
        CONF_MODEL: sim.model,
    }


@pytest.fixture
def prusa_entry(hass: HomeAssistant, prusa_sim: PrusaSimulator) -> MockConfigEntry:
    """The MK4's config entry, added but not set up; it polls every FAST_IDLE_POLL s when idle."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=prusa_sim.serial,
        title="MK4 prusa-mk4",  # the flow's title: model and the printer's (host)name
        data=prusa_entry_data(prusa_sim),
        options={CONF_IDLE_POLL_SECONDS: FAST_IDLE_POLL},
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def loaded_prusa_entry(
    hass: HomeAssistant, prusa_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """The MK4's entry set up; unloaded afterwards so nothing keeps polling."""
    async for entry in _set_up(hass, prusa_entry):
        yield entry


async def _set_up(hass: HomeAssistant, entry: MockConfigEntry) -> AsyncIterator[MockConfigEntry]:
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    yield entry
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def wait_for_state(
    hass: HomeAssistant, entity_id: str, expected: str, timeout: float = 10
) -> None:
    """Wait until an entity shows a state, driven by HA's own state-change events."""
    if (state := hass.states.get(entity_id)) and state.state == expected:
        return
    reached = hass.loop.create_future()

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None and new.state == expected and not reached.done():
            reached.set_result(None)

    unsubscribe = async_track_state_change_event(hass, entity_id, changed)
    try:
        async with asyncio.timeout(timeout):
            await reached
    finally:
        unsubscribe()
