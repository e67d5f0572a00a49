"""The Prusa adapter against the simulated PrusaLink printer (Buddy and Pi) over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
import itertools
import logging
import re

import aiohttp
import pytest

from custom_components.printernizer.printers.errors import (
    AdapterError,
    AuthenticationError,
    CommandConflictError,
    CommandRefusedError,
    PrinterOfflineError,
    PrinterTimeoutError,
)
from custom_components.printernizer.printers.models import (
    FilamentUsage,
    PrinterState,
    PrinterStatus,
)
from custom_components.printernizer.printers.prusa.adapter import (
    PrusaAdapter,
    PrusaConfig,
    Timing,
)
from custom_components.printernizer.printers.prusa.client import Download, PrusaClient
from simulator.prusa import PrusaSimulator, RecordedRequest
from simulator.prusa.gcode import Sliced, build_bgcode, png

from .waiting import wait_for, wait_until

FAST = Timing(
    active_interval=0.05,
    idle_interval=0.2,
    request_timeout=2.0,
    identity_interval=3600,
    material_interval=600,
    backoff_cap=0.8,
    refresh_cooldown=0.0,
    download_timeout=10,
)
# For tests that poll by hand and count requests: the loop stays out of the way.
SLOW = replace(FAST, active_interval=3600, idle_interval=3600)
ADAPTER_LOGGER = "custom_components.printernizer.printers.prusa.adapter"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def config_for(sim: PrusaSimulator, **overrides: object) -> PrusaConfig:
    values: dict[str, object] = {
        "host": f"127.0.0.1:{sim.port}",
        "username": sim.username,
        "password": sim.password,
    }
    values.update(overrides)
    return PrusaConfig(**values)  # type: ignore[arg-type]


def paths(sim: PrusaSimulator, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.requests[since:]]


def status_polls(sim: PrusaSimulator) -> int:
    return sum(r.path == "/api/v1/status" for r in sim.requests)


# Setup and authentication


async def test_start_reads_identity_and_state(sim: PrusaSimulator, adapter: PrusaAdapter) -> None:
    state = adapter.state
    assert state.online
    assert state.status is PrinterStatus.IDLE
    assert state.nozzle.current is not None
    assert adapter.family == sim.family
    device = adapter.device_info
    assert device.serial == sim.serial
    assert device.model == sim.model
    assert device.firmware == sim.firmware
    if sim.family == "buddy":
        assert state.mmu is False
        assert state.storage_free_bytes is None  # Buddy's storage list has no byte counts
        assert state.material == "PLA"
        assert paths(sim) == [
            "GET /api/version",  # 401: the challenge
            "GET /api/version",
            "GET /api/v1/info",
            "GET /api/v1/status",
            "GET /api/printer",
            "GET /api/v1/storage",
        ]
    else:
        assert state.storage_free_bytes == sim.main_storage.free  # from status, no request
        assert state.material is None  # the Pi's legacy " - ": not even asked
        assert paths(sim) == [
            "GET /api/version",
            "GET /api/version",
            "GET /api/v1/info",
            "GET /api/v1/status",
        ]


async def test_preemptive_digest_in_the_familys_style(
    sim: PrusaSimulator, adapter: PrusaAdapter
) -> None:
    """One challenge at first contact, then every request authenticates on its first try."""
    before = status_polls(sim)
    await wait_until(lambda: status_polls(sim) >= before + 3)
    statuses = [r.status for r in sim.requests]
    assert statuses[0] == 401
    assert sim.requests[0].authorization is None
    assert all(status == 200 for status in statuses[1:])
    header = sim.requests[-1].authorization or ""
    assert header.startswith("Digest ")
    assert not re.search(r'=\s*[^"\s]', header), "every value quoted"
    params = dict(re.findall(r'(\w+)="([^"]*)"', header))
    if sim.family == "buddy":
        assert set(params) == {"username", "realm", "nonce", "uri", "response"}
        assert params["realm"] == "Printer API"
    else:
        assert params["realm"] == "Administrator"
        assert params["algorithm"] == "MD5-sess"
        assert params["qop"] == "auth"
        assert int(params["nc"], 16) >= 3  # one nonce, counting
        assert params["opaque"]
    assert not any(r.hung for r in sim.requests)


async def test_stale_nonce_is_retried_once_without_an_auth_error(
    sim: PrusaSimulator, session: aiohttp.ClientSession
) -> None:
    printer = PrusaAdapter(config_for(sim), session, SLOW)
    await printer.start()
    errors: list[AdapterError] = []
    printer.add_error_listener(errors.append)
    try:
        for _ in range(3):
            sim.expire_nonces()
            since = len(sim.requests)
            assert await printer.refresh()
            polled = sim.requests[since:]
            assert [r.status for r in polled] == [401, 200]
            assert polled[0].path == polled[1].path == "/api/v1/status"
            assert printer.state.online
    finally:
        await printer.stop()
    assert errors == []


async def test_short_lived_nonces_of_old_buddy_firmware(session: aiohttp.ClientSession) -> None:
    """Buddy before 5.1.2 kept nonces seconds, not minutes: stale all the time, never an error."""
    async with PrusaSimulator(family="buddy", nonce_ttl=0.15) as sim:
        printer = PrusaAdapter(config_for(sim), session, FAST)
        errors: list[AdapterError] = []
        printer.add_error_listener(errors.append)
        await printer.start()
        try:
            await wait_until(lambda: sum(r.status == 401 for r in sim.requests) >= 4)
            assert printer.state.online
        finally:
            await printer.stop()
        assert errors == []
        assert all(r.auth for r in sim.requests if r.status == 200)


async def test_wrong_password_fails_setup(
    sim: PrusaSimulator, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    printer = PrusaAdapter(config_for(sim, password="wrong-password"), session, FAST)
    with pytest.raises(AuthenticationError) as raised:
        await printer.start()
    assert [r.status for r in sim.requests] == [401, 401]
    assert "wrong-password" not in str(raised.value)
    assert "wrong-password" not in caplog.text
    assert "wrong-password" not in repr(printer._config)


async def test_pi_says_stale_even_when_the_password_is_wrong(
    session: aiohttp.ClientSession,
) -> None:
    """An expired nonce with a wrong password: stale first, so only the retry tells."""
    async with PrusaSimulator(family="pi") as sim:
        printer = PrusaAdapter(config_for(sim), session, SLOW)
        await printer.start()
        errors: list[AdapterError] = []
        printer.add_error_listener(errors.append)
        try:
            sim.auth.password = "changed-on-the-pi"
            sim.expire_nonces()
            since = len(sim.requests)
            assert await printer.refresh()
            assert [r.status for r in sim.requests[since:]] == [401, 401]
            assert len(errors) == 1
            assert isinstance(errors[0], AuthenticationError)
            assert not printer.state.online
            assert printer.state.status is PrinterStatus.OFFLINE
            # Bad credentials are reported once, not on every poll.
            await printer.refresh()
            assert len(errors) == 1
            # The user fixes the password on the printer: back online.
            sim.auth.password = sim.password
            assert await printer.refresh()
            assert printer.state.online
        finally:
            await printer.stop()


async def test_api_key(sim: PrusaSimulator, session: aiohttp.ClientSession) -> None:
    """X-Api-Key instead of digest: the Pi's own key, or Buddy's password."""
    key = sim.api_key if sim.family == "pi" else sim.password
    printer = PrusaAdapter(config_for(sim, password="", api_key=key), session, FAST)
    await printer.start()
    await printer.stop()
    assert printer.state.online
    assert all(r.authorization is None and r.status == 200 for r in sim.requests)


async def test_wrong_api_key(
    sim: PrusaSimulator, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Pi: 403 "Bad X-Api-Key."; Buddy: 401 with an ApiKey challenge. Both are bad credentials."""
    caplog.set_level(logging.DEBUG)
    printer = PrusaAdapter(config_for(sim, api_key="not-the-key"), session, FAST)
    with pytest.raises(AuthenticationError) as raised:
        await printer.start()
    assert "not-the-key" not in str(raised.value)
    assert "not-the-key" not in caplog.text
    assert "not-the-key" not in repr(printer._config)
    assert [r.status for r in sim.requests] == [403 if sim.family == "pi" else 401]


# State mapping


async def test_print_lifecycle_states(sim: PrusaSimulator, adapter: PrusaAdapter) -> None:
    sim.start_print("Calibration cube.gcode", minutes=30)
    printing = await wait_for(
        adapter, lambda s: s.status is PrinterStatus.PRINTING and s.job.name is not None
    )
    assert printing.job.name == "Calibration cube.gcode"
    assert printing.job.job_id == "1"
    if sim.family == "buddy":
        assert printing.job.file == "/usb/CALIBR~1.GCO"
        await wait_for(adapter, lambda s: s.material == "PETG")  # read again at job start
    else:
        assert printing.job.file == "/local/Calibration cube.gcode"
    await wait_for(adapter, lambda s: (s.job.progress or 0) > 0 and s.job.remaining_minutes)
    assert adapter.state.job.printing_seconds is not None
    assert adapter.state.job.started_at is not None

    await sim.attention()
    attention = await wait_for(adapter, lambda s: s.needs_attention)
    assert attention.status is PrinterStatus.PAUSED
    await sim.resume()
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PRINTING and not s.needs_attention)
    await sim.stop_print()
    cancelled = await wait_for(adapter, lambda s: s.status is PrinterStatus.CANCELLED)
    assert cancelled.job.name == "Calibration cube.gcode"  # kept as the last job
    await sim.clear()
    await wait_for(adapter, lambda s: s.status is PrinterStatus.IDLE)
    sim.start_print(minutes=3)
    finished = await wait_for(adapter, lambda s: s.status is PrinterStatus.FINISHED)
    assert finished.job.job_id == "2"
    assert finished.job.progress == 100
    await sim.error()
    await wait_for(adapter, lambda s: s.status is PrinterStatus.ERROR)


async def test_busy_outside_a_print_is_idle(sim: PrusaSimulator, adapter: PrusaAdapter) -> None:
    """Loading filament: idle, but watched at the active interval; BUSY ends quickly."""
    await sim.busy()
    before = status_polls(sim)
    await wait_until(lambda: status_polls(sim) >= before + 2)
    assert adapter.state.status is PrinterStatus.IDLE
    assert adapter.poll_interval == FAST.active_interval


async def test_a_poll_that_changes_nothing_notifies_nobody(
    sim: PrusaSimulator, adapter: PrusaAdapter
) -> None:
    seen: list[PrinterState] = []
    adapter.add_listener(seen.append)
    before = status_polls(sim)
    await wait_until(lambda: status_polls(sim) >= before + 4)
    assert seen == []
    sim.start_print(minutes=30)
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PRINTING)
    assert seen
    assert all(a != b for a, b in itertools.pairwise(seen))


# Commands


async def test_pause_resume_stop(sim: PrusaSimulator, adapter: PrusaAdapter) -> None:
    sim.start_print(minutes=30)
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PRINTING)
    await adapter.pause()
    assert sim.state == "PAUSED"
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PAUSED)
    await adapter.resume()
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PRINTING)
    await adapter.stop_print()
    await wait_for(adapter, lambda s: s.status is PrinterStatus.CANCELLED)
    commands = [p for p in paths(sim) if not p.startswith("GET")]
    assert commands == [
        "PUT /api/v1/job/1/pause",
        "PUT /api/v1/job/1/resume",
        "DELETE /api/v1/job/1",
    ]


async def test_commands_in_the_wrong_state_are_conflicts(
    sim: PrusaSimulator, adapter: PrusaAdapter
) -> None:
    with pytest.raises(CommandConflictError):
        await adapter.pause()  # no job: nothing sent
    assert not any(r.method != "GET" for r in sim.requests)

    sim.start_print(minutes=30)
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PRINTING)
    with pytest.raises(CommandConflictError) as raised:
        await adapter.resume()
    assert raised.value.command == "resume"
    assert raised.value.reason
    await sim.pause()
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PAUSED)
    with pytest.raises(CommandConflictError):
        await adapter.pause()
    await sim.resume()
    await sim.attention()
    await wait_for(adapter, lambda s: s.needs_attention)
    if sim.family == "pi":
        with pytest.raises(CommandConflictError) as raised:
            await adapter.stop_print()  # the Pi stops only PRINTING or PAUSED jobs
        assert raised.value.reason == "Operation is not possible in the printer's current state."
    else:
        await adapter.stop_print()
        await wait_for(adapter, lambda s: s.status is PrinterStatus.CANCELLED)
    assert [r.status for r in sim.requests if r.method != "GET"].count(409) == (
        3 if sim.family == "pi" else 2
    )


async def test_command_for_a_job_no_longer_current_is_refused(
    sim: PrusaSimulator, session: aiohttp.ClientSession
) -> None:
    """The printer moved on to another job between two polls: 404, refused, not a conflict."""
    sim.start_print(minutes=30)
    printer = PrusaAdapter(config_for(sim), session, SLOW)
    await printer.start()
    try:
        assert printer.state.job.job_id == "1"
        await sim.stop_print()
        sim.start_print(minutes=30)
        for command in (printer.pause, printer.resume, printer.stop_print):
            with pytest.raises(CommandRefusedError) as raised:
                await command()
            assert not isinstance(raised.value, CommandConflictError)
            assert sim.requests[-1].status == 404
            assert sim.requests[-1].path.startswith("/api/v1/job/1")
            assert raised.value.reason == "Not current job"
        assert await printer.refresh()
        assert printer.state.job.job_id == "2"
    finally:
        await printer.stop()


async def test_at_most_one_request_in_flight(sim: PrusaSimulator, adapter: PrusaAdapter) -> None:
    sim.inject(latency=0.02)
    sim.start_print("Benchy.bgcode", minutes=30)
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PRINTING)
    results = await asyncio.gather(
        adapter.pause(),
        adapter.refresh(),
        adapter.job_metadata(),
        adapter.list_files(),
        adapter.resume(),
        adapter.refresh(),
        adapter.pause(),
        return_exceptions=True,
    )
    errors = [
        r
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, CommandConflictError)
    ]
    assert errors == []
    before = status_polls(sim)
    await wait_until(lambda: status_polls(sim) >= before + 3)
    assert sim.max_in_flight == 1


# Files and metadata


async def test_listing_uses_etags(sim: PrusaSimulator, adapter: PrusaAdapter) -> None:
    first = await adapter.list_files()
    names = {f.display_name for f in first}
    assert {"Benchy.bgcode", "Calibration cube.gcode"} <= names
    second = await adapter.list_files()
    assert second == first
    listings = [r for r in sim.requests if r.path.startswith("/api/v1/files/")]
    assert [r.status for r in listings] == [200, 304]
    sim.main_storage.add_file("New part.gcode", b"; nothing\n")
    third = await adapter.list_files()
    assert "New part.gcode" in {f.display_name for f in third}
    listings = [r for r in sim.requests if r.path.startswith("/api/v1/files/")]
    assert [r.status for r in listings] == [200, 304, 200]


@pytest.mark.parametrize(
    ("file", "material", "grams", "seconds"),
    [
        ("Benchy.bgcode", "PLA", 11.71, 3723),
        ("Shape box.bgcode", "PETG", 4.62, 1954),  # deflated metadata blocks
        ("Calibration cube.gcode", "PETG", 4.62, 1954),  # comments at the end
    ],
)
async def test_job_metadata(
    sim: PrusaSimulator,
    adapter: PrusaAdapter,
    file: str,
    material: str,
    grams: float,
    seconds: int,
) -> None:
    assert await adapter.job_metadata() is None  # no job
    sim.start_print(file, minutes=30)
    await wait_for(adapter, lambda s: s.job.name == file)
    since = len(sim.requests)
    metadata = await adapter.job_metadata()
    assert metadata is not None
    assert metadata.filaments == (FilamentUsage(material=material, grams=grams),)
    assert metadata.predicted_seconds == seconds
    assert metadata.total_grams == grams
    assert metadata.thumbnail_png is not None
    assert metadata.thumbnail_png.startswith(PNG_MAGIC)
    fetched = [p for p in paths(sim, since) if "/api/v1/status" not in p]
    if sim.family == "pi":
        # From `meta`: no download, the preview from the thumbnail ref.
        assert not any("/raw" in p for p in fetched)
        assert any(p.startswith("GET /api/thumbnails/") for p in fetched)
    elif file.endswith(".bgcode"):
        assert fetched == [f"GET {adapter.state.job.file}"]  # preview from the file itself
    else:
        assert fetched == [f"GET {adapter.state.job.file}", f"GET /thumb/l{adapter.state.job.file}"]
    # Once per job.
    since = len(sim.requests)
    assert await adapter.job_metadata() is metadata
    assert [p for p in paths(sim, since) if "/api/v1/status" not in p] == []


async def test_job_without_preview(sim: PrusaSimulator, adapter: PrusaAdapter) -> None:
    sim.start_print("No preview.gcode", minutes=30)
    await wait_for(adapter, lambda s: s.job.name == "No preview.gcode")
    metadata = await adapter.job_metadata()
    assert metadata is not None
    assert metadata.thumbnail_png is None
    assert metadata.filaments == (FilamentUsage(material="PLA", grams=11.71),)
    if sim.family == "buddy":
        assert any(r.path.startswith("/thumb/l/") and r.status == 404 for r in sim.requests)


async def test_bgcode_download_stops_after_the_metadata(
    sim: PrusaSimulator, adapter: PrusaAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big .bgcode: the metadata is at the head, so the rest is never read."""
    if sim.family == "pi":
        pytest.skip("the Pi serves `meta`; nothing is downloaded")
    consumed: list[int] = []
    chunks = Download.chunks

    async def counted(self: Download, size: int = 1 << 16) -> AsyncIterator[bytes]:
        async for chunk in chunks(self, size):
            consumed.append(len(chunk))
            yield chunk

    monkeypatch.setattr(Download, "chunks", counted)
    data = build_bgcode(Sliced(filament_type="ASA", filament_g=50.5), moves=200_000)
    sim.main_storage.add_file("Big.bgcode", data)
    sim.start_print("Big.bgcode", minutes=30)
    await wait_for(adapter, lambda s: s.job.name == "Big.bgcode")
    metadata = await adapter.job_metadata()
    assert metadata is not None
    assert metadata.filaments == (FilamentUsage(material="ASA", grams=50.5),)
    assert metadata.thumbnail_png == png(313, 173, Sliced().colour)
    assert len(data) > 1_000_000
    assert sum(consumed) <= 128 * 1024


# Trouble


async def test_backoff_while_offline(
    sim: PrusaSimulator, adapter: PrusaAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=ADAPTER_LOGGER)
    sim.go_offline()
    offline = await wait_for(adapter, lambda s: not s.online)
    assert offline.status is PrinterStatus.OFFLINE
    start = adapter.poll_interval
    await wait_until(lambda: adapter.poll_interval >= min(4 * start, FAST.backoff_cap))
    await wait_until(lambda: adapter.poll_interval == FAST.backoff_cap)
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 1
    assert unreachable[0].levelno == logging.DEBUG  # the one info line is the coordinator's
    sim.go_online()
    back = await wait_for(adapter, lambda s: s.online, timeout=5)
    assert back.status is PrinterStatus.IDLE
    assert len([r for r in caplog.records if "back online" in r.getMessage()]) == 1
    assert adapter.poll_interval < FAST.backoff_cap
    assert sim.password not in caplog.text


async def test_hanging_printer_times_out_to_offline(
    sim: PrusaSimulator, session: aiohttp.ClientSession
) -> None:
    printer = PrusaAdapter(config_for(sim), session, replace(FAST, request_timeout=0.3))
    await printer.start()
    try:
        sim.go_offline(hang=True)
        await wait_for(printer, lambda s: not s.online, timeout=5)
        sim.go_online()
        await wait_for(printer, lambda s: s.online, timeout=5)
    finally:
        await printer.stop()


async def test_start_while_offline_raises(
    sim: PrusaSimulator, session: aiohttp.ClientSession
) -> None:
    sim.go_offline()
    printer = PrusaAdapter(config_for(sim), session, FAST)
    with pytest.raises(PrinterOfflineError):
        await printer.start()
    sim.go_online()
    sim.go_offline(hang=True)
    printer = PrusaAdapter(config_for(sim), session, replace(FAST, request_timeout=0.3))
    with pytest.raises(PrinterTimeoutError):
        await printer.start()


@pytest.fixture
async def polled_by_hand(
    sim: PrusaSimulator, session: aiohttp.ClientSession
) -> AsyncIterator[PrusaAdapter]:
    printer = PrusaAdapter(config_for(sim), session, SLOW)
    await printer.start()
    yield printer
    await printer.stop()


@pytest.mark.parametrize("fault", ["non_json", "truncate"])
async def test_malformed_bodies_keep_the_state(
    sim: PrusaSimulator, polled_by_hand: PrusaAdapter, fault: str
) -> None:
    adapter = polled_by_hand
    sim.start_print(minutes=30)
    assert await adapter.refresh()
    seen: list[PrinterState] = []
    adapter.add_listener(seen.append)
    state = adapter.state
    assert state.status is PrinterStatus.PRINTING
    sim.inject(**{fault: 1})
    assert await adapter.refresh()
    assert adapter.malformed == 1
    assert adapter.state is state
    assert seen == []
    assert await adapter.refresh()
    assert adapter.state.online
    assert adapter.state.status is PrinterStatus.PRINTING
    assert adapter.malformed == 1


async def test_503_is_offline_then_back(sim: PrusaSimulator, polled_by_hand: PrusaAdapter) -> None:
    adapter = polled_by_hand
    sim.inject(status_503=1)
    assert await adapter.refresh()
    assert not adapter.state.online
    assert await adapter.refresh()
    assert adapter.state.online


async def test_idle_request_rate(sim: PrusaSimulator, session: aiohttp.ClientSession) -> None:
    """At most one request per idle interval, even when material and identity are due often.

    With the defaults (idle 30 s) that is 2 requests a minute; HA core's integration makes 10.
    """
    idle = 0.08
    timing = replace(FAST, idle_interval=idle, material_interval=0.25, identity_interval=0.7)
    printer = PrusaAdapter(config_for(sim), session, timing)
    await printer.start()
    try:
        setup = len(sim.requests)
        await wait_until(lambda: status_polls(sim) >= 20, timeout=20)
    finally:
        await printer.stop()
    polled = sim.requests[setup:]
    # A poll starts with /api/version when identity is due, else with /api/v1/status.
    ticks = [
        i
        for i, r in enumerate(polled)
        if r.path == "/api/version"
        or (r.path == "/api/v1/status" and (i == 0 or polled[i - 1].path != "/api/v1/info"))
    ]
    first, last = ticks[0], ticks[-1]
    elapsed = polled[last].time - polled[first].time
    per_interval = (last - first) / (elapsed / idle)
    assert per_interval <= 1.05, per_interval
    extras = {r.path for r in polled} - {"/api/v1/status"}
    expected_extras = {"/api/version", "/api/v1/info"}
    if sim.family == "buddy":
        expected_extras.add("/api/printer")
    assert extras == expected_extras


async def test_stop_leaves_nothing_running(
    sim: PrusaSimulator, session: aiohttp.ClientSession
) -> None:
    tasks_before = asyncio.all_tasks()
    printer = PrusaAdapter(config_for(sim), session, FAST)
    await printer.start()
    sim.start_print("Benchy.bgcode", minutes=30)
    await wait_for(printer, lambda s: s.job.name is not None)
    since = len(sim.requests)
    metadata = asyncio.ensure_future(printer.job_metadata())
    polls = ("/api/v1/status", "/api/v1/job", "/api/printer")
    await wait_until(lambda: any(r.path not in polls for r in sim.requests[since:]))
    await printer.stop()
    await asyncio.gather(metadata, return_exceptions=True)
    assert await printer.job_metadata() is None  # stopped: nothing more is read
    # The simulator's own tasks (its print, aiohttp's server side of the keep-alive) may stay.
    ours = [
        t
        for t in asyncio.all_tasks() - tasks_before
        if not t.get_name().startswith("prusa-sim")
        and getattr(t.get_coro(), "__qualname__", "") != "RequestHandler.start"
    ]
    assert ours == []
    count = len(sim.requests)
    await asyncio.sleep(FAST.active_interval * 4)  # would have polled several times by now
    assert len(sim.requests) == count


async def test_client_job_204_and_unexpected_status(
    sim: PrusaSimulator, session: aiohttp.ClientSession
) -> None:
    client = PrusaClient(session, sim.base_url, username="maker", password=sim.password)
    assert await client.get_json("/api/v1/job") is None
    assert sim.requests[-1].status == 204
    with pytest.raises(AdapterError, match="HTTP 404"):
        await client.get_json("/api/v1/nothing-here")
    assert "secretpass12" not in repr(client)
    recorded: RecordedRequest = sim.requests[-1]
    assert recorded.auth is True
