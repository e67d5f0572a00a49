"""A hostile or confused PrusaLink printer costs one value or one reply, never the polling.

Each case here stopped polling for good (or re-read job files forever) before issue 10.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
import logging

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

from custom_components.printernizer.printers.errors import ProtocolError
from custom_components.printernizer.printers.models import PrinterStatus
from custom_components.printernizer.printers.prusa import adapter as adapter_module
from custom_components.printernizer.printers.prusa.adapter import PrusaAdapter, PrusaConfig
from custom_components.printernizer.printers.prusa.digest import (
    UnsupportedChallengeError,
    digest_challenge,
)
from custom_components.printernizer.printers.prusa.metadata import MAX_THUMBNAIL_BYTES
from custom_components.printernizer.printers.prusa.status import StatusState
from simulator.prusa import PrusaSimulator, payloads
from simulator.prusa.gcode import png

from .test_prusa_adapter import FAST, SLOW, config_for
from .waiting import wait_for, wait_until

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRUSA_LOGGER = "custom_components.printernizer.printers.prusa"
STATUS = "/api/v1/status"
DEEP = b'{"printer":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
HOSTILE_STATUS = {
    "free_space Infinity": (
        b'{"printer":{"state":"IDLE","temp_bed":21.0},'
        b'"storage":[{"path":"/local","read_only":false,"free_space":Infinity}]}'
    ),
    "time_printing 1e20": (
        b'{"printer":{"state":"IDLE"},"job":{"id":9,"progress":5,"time_printing":1e20}}'
    ),
    "nested 20000 deep": DEEP,
}


def prusa_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What a user sees of the Prusa adapter in the log (debug lines are for developers)."""
    return [
        r for r in caplog.records if r.name.startswith(PRUSA_LOGGER) and r.levelno >= logging.INFO
    ]


@pytest.mark.parametrize("body", HOSTILE_STATUS.values(), ids=HOSTILE_STATUS.keys())
async def test_one_hostile_status_costs_one_poll(
    sim: PrusaSimulator,
    adapter: PrusaAdapter,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    """Polling goes on at its normal pace; the next good status is shown; one log line."""
    caplog.set_level(logging.DEBUG, logger=PRUSA_LOGGER)
    sim.serve(STATUS, body)
    await wait_until(lambda: STATUS not in sim.faults.canned)
    sim.start_print("Benchy.bgcode", minutes=30)
    state = await wait_for(
        adapter, lambda s: s.status is PrinterStatus.PRINTING and s.job.name == "Benchy.bgcode"
    )
    assert state.online
    assert adapter.malformed == 1
    assert len(prusa_lines(caplog)) == 1
    # Not a tight loop: the poll after the bad one waited its idle interval.
    statuses = [r for r in sim.requests if r.path == STATUS]
    bad = next(i for i, r in enumerate(statuses) if r.canned)
    assert statuses[bad + 1].time - statuses[bad].time >= FAST.idle_interval * 0.9
    assert adapter._task is not None
    assert not adapter._task.done()


async def test_an_unexpected_parser_error_costs_one_poll(
    sim: PrusaSimulator,
    adapter: PrusaAdapter,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever a parser raises (a bug we have not met yet), the loop survives and says so once."""
    caplog.set_level(logging.DEBUG, logger=PRUSA_LOGGER)
    apply_status = StatusState.apply_status
    calls = 0

    def broken(self: StatusState, *args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise OverflowError("cannot convert float infinity to integer")
        return apply_status(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(StatusState, "apply_status", broken)
    sim.start_print(minutes=30)
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PRINTING)
    assert adapter.malformed == 3
    lines = prusa_lines(caplog)
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    assert "OverflowError" in caplog.text
    assert sim.password not in caplog.text


async def test_hostile_values_in_every_polled_reply(
    sim: PrusaSimulator, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Identity, job, material and storage replies with absurd values: each costs its values."""
    caplog.set_level(logging.DEBUG, logger=PRUSA_LOGGER)
    printer = PrusaAdapter(
        config_for(sim), session, replace(SLOW, identity_interval=0, material_interval=0)
    )
    await printer.start()
    try:
        sim.start_print("Benchy.bgcode", minutes=30)
        sim.serve("/api/version", {"hostname": 1e400, "firmware": ["x"], "sdk": "\ud800"})
        sim.serve("/api/v1/info", {"serial": 7, "nozzle_diameter": 1e20, "mmu": "yes"})
        sim.serve("/api/v1/job", {"id": 1e20, "file": {"name": {"a": "b"}}})
        sim.serve("/api/printer", {"telemetry": {"material": -1e308}})
        assert await printer.refresh()
        assert printer.state.status is PrinterStatus.PRINTING
        assert printer.device_info.serial == sim.serial  # learned at setup, kept
        assert printer.family == sim.family
        assert printer.malformed == (3 if sim.family == "buddy" else 2)  # no material on a Pi
        assert await printer.refresh()  # the job is read again: the junk one told nothing
        assert printer.state.job.name == "Benchy.bgcode"
        assert printer.device_info.model == sim.model
        assert len(prusa_lines(caplog)) == 1
    finally:
        await printer.stop()


async def test_absurd_file_times_and_sizes_in_a_listing(
    sim: PrusaSimulator, adapter: PrusaAdapter
) -> None:
    """`m_timestamp` 1e20 used to raise from `fromtimestamp`; now that file has no time."""
    folder = "/api/v1/files/" + ("usb" if sim.family == "buddy" else "local")
    sim.serve(
        folder,
        b'{"type":"FOLDER","children":['
        b'{"name":"A.GCO","display_name":"a\\ud800.gcode","m_timestamp":1e20,"size":1e300},'
        b'{"name":"B.GCO","m_timestamp":1e15,"size":-5},'
        b'{"name":"C.GCO","m_timestamp":1740830400000,"size":12},'
        b'{"name":"D.GCO","m_timestamp":NaN}]}',
    )
    files = await adapter.list_files()
    assert [f.name for f in files] == ["A.GCO", "B.GCO", "C.GCO", "D.GCO"]
    assert files[0].display_name == "a\ufffd.gcode"
    assert [f.modified for f in files[:2]] == [None, None]
    assert [f.size for f in files[:3]] == [None, None, 12]
    assert files[2].modified is not None
    assert files[2].modified.year == 2025  # milliseconds
    assert adapter.malformed >= 1
    assert "Benchy.bgcode" in {f.display_name for f in await adapter.list_files()}


def thumbnail_path(sim: PrusaSimulator) -> str:
    ref = payloads.job(sim)["file"]["refs"]["thumbnail"]
    return str(ref)


def big_png(size: int) -> bytes:
    image = png(8, 8, (200, 100, 50))
    return image + b"\0" * (size - len(image))  # trailing bytes a viewer ignores


@pytest.mark.parametrize(
    ("size", "kept"),
    [(1_500_000, True), (MAX_THUMBNAIL_BYTES + 1, False)],
    ids=["1.5 MB", "over the limit"],
)
async def test_a_big_thumbnail_costs_at_most_the_thumbnail(
    sim: PrusaSimulator, adapter: PrusaAdapter, size: int, kept: bool
) -> None:
    """A 1-2 MB preview used to hit the 1 MB JSON limit and discard the whole job's metadata."""
    sim.start_print("Calibration cube.gcode", minutes=30)
    await wait_for(adapter, lambda s: s.job.name == "Calibration cube.gcode")
    image = big_png(size)
    sim.serve(thumbnail_path(sim), image, times=5, content_type="image/png")
    metadata = await adapter.job_metadata()
    assert metadata is not None
    assert metadata.filaments
    assert metadata.filaments[0].material == "PETG"
    assert metadata.thumbnail_png == (image if kept else None)
    since = len(sim.requests)
    assert await adapter.job_metadata() is metadata
    assert [r.path for r in sim.requests[since:] if r.path != STATUS] == []


async def test_job_file_is_read_once_even_when_the_preview_fails(
    sim: PrusaSimulator, adapter: PrusaAdapter
) -> None:
    """A preview the printer refuses (500) or cannot serve now (503): the file is not re-read."""
    sim.start_print("Calibration cube.gcode", minutes=30)
    await wait_for(adapter, lambda s: s.job.name == "Calibration cube.gcode")
    thumb = thumbnail_path(sim)
    sim.serve(thumb, {"title": "503"}, status=503)
    assert await adapter.job_metadata() is None  # offline for the preview: try again later
    since = len(sim.requests)
    sim.serve(thumb, {"title": "500: Internal Server Error"}, status=500)
    metadata = await adapter.job_metadata()
    assert metadata is not None
    assert metadata.filaments
    assert metadata.thumbnail_png is None
    fetched = [r.path for r in sim.requests[since:] if r.path != STATUS]
    assert fetched == [thumb]  # only the preview again, not the job or its file
    assert await adapter.job_metadata() is metadata


async def test_a_metadata_parser_error_is_final_for_that_job(
    sim: PrusaSimulator, adapter: PrusaAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same bytes fail the same way: the job file is not fetched again every minute."""

    def broken(*_args: object, **_kwargs: object) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(adapter_module, "metadata_from_values", broken)
    sim.start_print("Calibration cube.gcode", minutes=30)
    await wait_for(adapter, lambda s: s.job.name == "Calibration cube.gcode")
    first = await adapter.job_metadata()
    assert first is not None
    assert first.filaments == ()
    since = len(sim.requests)
    assert await adapter.job_metadata() is first
    assert [r.path for r in sim.requests[since:] if r.path != STATUS] == []


async def test_one_unanswerable_challenge_does_not_wedge_the_client(
    session: aiohttp.ClientSession,
) -> None:
    """A 401 offering only SHA-1 once: that poll fails, the next one learns the real challenge.

    Before, the unanswerable challenge was stored and every later request failed before it was
    even sent: the printer was never asked again.
    """
    nonce = {"current": "n1"}
    offers = ['Digest realm="Printer API", nonce="{}"']

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        sent = request.headers.get("Authorization", "")
        if f'nonce="{nonce["current"]}"' not in sent:
            nonce["current"] = f"n{int(nonce['current'][1:]) + 1}"
            offer = offers.pop() if len(offers) > 1 else offers[0]
            return web.Response(
                status=401, headers={"WWW-Authenticate": offer.format(nonce["current"])}
            )
        return await handler(request)

    async def reply(request: web.Request) -> web.Response:
        body = {"printer": {"state": "IDLE", "temp_bed": 21.5}}
        return web.json_response(body if request.path == STATUS else {"serial": "SN1"})

    app = web.Application(middlewares=[gate])
    app.router.add_get("/{tail:.*}", reply)
    async with TestServer(app, host="127.0.0.1") as server:
        adapter = PrusaAdapter(
            PrusaConfig(host=f"127.0.0.1:{server.port}", password="pw"), session, SLOW
        )
        await adapter.start()
        try:
            offers.append('Digest realm="Printer API", nonce="{}", algorithm="SHA-1"')
            nonce["current"] = "n10"  # every nonce handed out so far expires
            assert await adapter.refresh()
            assert adapter.malformed == 1
            assert await adapter.refresh()
            assert adapter.state.online
            assert adapter.state.bed.current == 21.5
            assert adapter.malformed == 1
        finally:
            await adapter.stop()


@pytest.mark.parametrize(
    "header",
    [
        'Digest realm="r", nonce="n\udce9"',  # a latin-1 byte, as aiohttp decodes it
        'Digest realm="r\x01", nonce="n"',
        'Digest realm="r", nonce="' + "n" * 5000 + '"',
    ],
)
def test_malformed_digest_challenges_are_refused_not_stored(header: str) -> None:
    with pytest.raises(UnsupportedChallengeError):
        digest_challenge([header])
    assert digest_challenge(['Digest realm="r", nonce="n"', header]) is not None


async def test_a_parser_bug_during_setup_is_a_protocol_error(
    sim: PrusaSimulator, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setup fails in the adapters' own terms (HA retries it), and nothing keeps running."""

    def broken(*_args: object, **_kwargs: object) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(StatusState, "apply_status", broken)
    printer = PrusaAdapter(config_for(sim), session, FAST)
    with pytest.raises(ProtocolError, match="RecursionError"):
        await printer.start()
    assert printer._task is None
