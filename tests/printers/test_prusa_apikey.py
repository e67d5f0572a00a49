"""X-Api-Key logins against both simulated PrusaLink styles, beyond identity and one poll.

Every route the adapter uses (status, job, listings, file downloads, thumbnails, commands) must
carry the key and never fall back to digest; a printer with no key set refuses every key.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest

from custom_components.printernizer.printers.errors import AdapterError, AuthenticationError
from custom_components.printernizer.printers.models import PrinterStatus
from custom_components.printernizer.printers.prusa.adapter import PrusaAdapter
from simulator.prusa import PrusaSimulator

from .test_prusa_adapter import FAST, config_for
from .waiting import wait_for


def _key(sim: PrusaSimulator) -> str:
    """Buddy takes its PrusaLink password as the key; the Pi has a key of its own."""
    return sim.api_key if sim.family == "pi" else sim.password


async def test_every_route_carries_the_key(
    sim: PrusaSimulator, session: aiohttp.ClientSession
) -> None:
    """A whole print (listing, job file, preview, pause) with the key alone, no digest at all."""
    printer = PrusaAdapter(config_for(sim, password="", api_key=_key(sim)), session, FAST)
    await printer.start()
    try:
        assert await printer.list_files()
        sim.start_print("Benchy.bgcode", minutes=30)
        await wait_for(printer, lambda s: s.job.name == "Benchy.bgcode")
        metadata = await printer.job_metadata()
        assert metadata is not None
        assert metadata.thumbnail_png is not None
        await printer.pause()
        await wait_for(printer, lambda s: s.status is PrinterStatus.PAUSED)
    finally:
        await printer.stop()
    routes = {r.path.split("?")[0].rsplit("/", 1)[0] for r in sim.requests}
    assert len(routes) >= 5  # more than identity and status were asked
    assert all(r.authorization is None for r in sim.requests)  # never a digest header
    assert all(r.auth for r in sim.requests)  # every request let in by the key


async def test_pi_without_a_key_refuses_every_key(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A Pi whose API key is unset answers 403 to any key, an empty one included."""
    caplog.set_level(logging.DEBUG)
    async with PrusaSimulator(family="pi", api_key="", speed=600, hang_seconds=5) as sim:
        for key in ("", "pi-api-key-1234"):
            printer = PrusaAdapter(config_for(sim, password="", api_key=key), session, FAST)
            with pytest.raises(AuthenticationError):
                await printer.start()
        assert [r.status for r in sim.requests] == [403, 403]
        # Digest still works: the key is a separate login.
        printer = PrusaAdapter(config_for(sim), session, FAST)
        await printer.start()
        await printer.stop()
        assert printer.state.online


async def test_buddy_without_a_password_refuses_every_key(
    session: aiohttp.ClientSession,
) -> None:
    """Buddy's key is its PrusaLink password: with none set, every key gets 401 ApiKey."""
    async with PrusaSimulator(family="buddy", password="", speed=600, hang_seconds=5) as sim:
        for key in ("", "secretpass12"):
            printer = PrusaAdapter(config_for(sim, password="", api_key=key), session, FAST)
            with pytest.raises(AuthenticationError):
                await printer.start()
        assert [r.status for r in sim.requests] == [401, 401]


async def test_a_key_rejected_after_setup_is_reported_once(
    sim: PrusaSimulator, session: aiohttp.ClientSession
) -> None:
    """The key changed on the printer while polling: one error for reauth, then back online."""
    key = _key(sim)
    printer = PrusaAdapter(config_for(sim, password="", api_key=key), session, FAST)
    errors: list[AdapterError] = []
    printer.add_error_listener(errors.append)
    await printer.start()
    try:
        if sim.family == "pi":
            sim.auth.api_key = "another-key-5678"  # type: ignore[union-attr]
        else:
            sim.auth.password = "another-pass-5678"
        await printer.refresh()
        assert len(errors) == 1
        assert isinstance(errors[0], AuthenticationError)
        assert not printer.state.online
        await printer.refresh()
        assert len(errors) == 1
        if sim.family == "pi":
            sim.auth.api_key = key  # type: ignore[union-attr]
        else:
            sim.auth.password = key
        assert await printer.refresh()
        assert printer.state.online
    finally:
        await printer.stop()
