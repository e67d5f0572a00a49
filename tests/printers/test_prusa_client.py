"""Servers the simulator does not imitate: Range support, huge files, odd challenges, 500s."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

from custom_components.printernizer.printers.errors import (
    AuthenticationError,
    CommandRefusedError,
    ProtocolError,
)
from custom_components.printernizer.printers.models import FilamentUsage, JobMetadata
from custom_components.printernizer.printers.prusa.adapter import (
    MAX_FILE_BYTES,
    PrusaAdapter,
    PrusaConfig,
    Timing,
)
from custom_components.printernizer.printers.prusa.client import HttpStatusError
from simulator.prusa.gcode import Sliced, build_gcode

SLOW = Timing(active_interval=3600, idle_interval=3600, request_timeout=2, refresh_cooldown=0)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def printer_app(download: Handler, seen: list[tuple[str, int, str | None]]) -> web.Application:
    """A Pi-like PrusaLink without auth whose job file has no `meta`."""

    async def record(request: web.Request, response: web.StreamResponse) -> None:
        """Statuses as sent (a FileResponse decides on 206 only while preparing)."""
        seen.append((request.path, response.status, request.headers.get("Range")))

    async def version(_: web.Request) -> web.Response:
        return web.json_response({"api": "2.0.0", "original": "PrusaLink I3MK3S", "sdk": "0.8"})

    async def info(_: web.Request) -> web.Response:
        return web.json_response({"serial": "CZPX0001"})

    async def status(_: web.Request) -> web.Response:
        job = {"id": 5, "progress": 1.0, "time_printing": 10}
        return web.json_response({"printer": {"state": "PRINTING"}, "job": job})

    async def job(_: web.Request) -> web.Response:
        file = {"name": "part.gcode", "path": "/local", "refs": {"download": "/dl/part.gcode"}}
        return web.json_response({"id": 5, "state": "PRINTING", "file": file})

    app = web.Application()
    app.on_response_prepare.append(record)
    app.router.add_get("/api/version", version)
    app.router.add_get("/api/v1/info", info)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/job", job)
    app.router.add_get("/dl/part.gcode", download)
    return app


async def metadata_from(app: web.Application, session: aiohttp.ClientSession) -> JobMetadata | None:
    async with TestServer(app, host="127.0.0.1") as server:
        adapter = PrusaAdapter(
            PrusaConfig(host=f"127.0.0.1:{server.port}", password="unused"), session, SLOW
        )
        await adapter.start()
        try:
            return await adapter.job_metadata()
        finally:
            await adapter.stop()


async def test_gcode_tail_by_range_request(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    """A server that honours Range sends only the tail, where PrusaSlicer put the metadata."""
    data = build_gcode(Sliced(filament_type="PETG", filament_g=4.62, seconds=1954), moves=20_000)
    assert len(data) > 512 * 1024
    (tmp_path / "part.gcode").write_bytes(data)
    seen: list[tuple[str, int, str | None]] = []

    async def download(_: web.Request) -> web.FileResponse:
        return web.FileResponse(tmp_path / "part.gcode")

    metadata = await metadata_from(printer_app(download, seen), session)
    assert metadata == JobMetadata(
        filaments=(FilamentUsage(material="PETG", grams=4.62),),
        predicted_seconds=1954,
        total_grams=4.62,
    )
    assert ("/dl/part.gcode", 206, "bytes=-262144") in seen


async def test_small_gcode_tail_range_covers_the_whole_file(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    data = b"; filament_type = ASA\n; filament used [g] = 1.5\n"
    (tmp_path / "part.gcode").write_bytes(data)
    seen: list[tuple[str, int, str | None]] = []

    async def download(_: web.Request) -> web.FileResponse:
        return web.FileResponse(tmp_path / "part.gcode")

    metadata = await metadata_from(printer_app(download, seen), session)
    assert metadata is not None
    # The first line counts: the "tail" starts at byte 0.
    assert metadata.filaments == (FilamentUsage(material="ASA", grams=1.5),)


async def test_huge_gcode_without_range_is_not_downloaded(session: aiohttp.ClientSession) -> None:
    """No Range and more than the cap: give up on the metadata rather than read it all."""
    seen: list[tuple[str, int, str | None]] = []

    async def download(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = MAX_FILE_BYTES + 1
        await response.prepare(request)
        await response.write(b"; start\n" * 128)
        await asyncio.sleep(30)  # never reached in full: the client hangs up at the headers
        return response

    metadata = await metadata_from(printer_app(download, seen), session)
    assert metadata == JobMetadata()


async def test_plain_stream_keeps_only_the_tail(session: aiohttp.ClientSession) -> None:
    """No Range (Buddy): the whole file streams by, the tail is kept and parsed."""
    data = build_gcode(Sliced(filament_type="PC", filament_g=7.25, seconds=60), moves=30_000)
    seen: list[tuple[str, int, str | None]] = []

    async def download(_: web.Request) -> web.Response:
        return web.Response(body=data, content_type="application/octet-stream")

    metadata = await metadata_from(printer_app(download, seen), session)
    assert metadata is not None
    assert metadata.filaments == (FilamentUsage(material="PC", grams=7.25),)
    assert metadata.predicted_seconds == 60
    assert ("/dl/part.gcode", 200, "bytes=-262144") in seen


def challenging_app(challenge: str) -> web.Application:
    """Every request refused with the given WWW-Authenticate challenge."""

    async def refuse(_: web.Request) -> web.Response:
        return web.Response(status=401, headers={"WWW-Authenticate": challenge})

    app = web.Application()
    app.router.add_get("/{tail:.*}", refuse)
    return app


@pytest.mark.parametrize(
    ("challenge", "error"),
    [
        ('ApiKey realm="Printer API"', AuthenticationError),  # no digest offered at all
        ('Digest realm="r", nonce="n", qop="auth-int"', ProtocolError),
        ('Digest realm="r", nonce="n", algorithm="SHA-1"', ProtocolError),
    ],
)
async def test_challenges_we_cannot_answer(
    session: aiohttp.ClientSession, challenge: str, error: type[Exception]
) -> None:
    async with TestServer(challenging_app(challenge), host="127.0.0.1") as server:
        adapter = PrusaAdapter(
            PrusaConfig(host=f"127.0.0.1:{server.port}", password="pw"), session, SLOW
        )
        with pytest.raises(error):
            await adapter.start()


async def test_command_failing_otherwise_is_a_protocol_error(
    session: aiohttp.ClientSession,
) -> None:
    """Pi's 500 "COMMAND FAILED": neither a conflict nor a refusal, but nothing understood."""
    seen: list[tuple[str, int, str | None]] = []

    async def download(_: web.Request) -> web.Response:
        return web.Response(status=404)

    async def fail(_: web.Request) -> web.Response:
        return web.json_response({"title": "COMMAND FAILED", "message": "serial"}, status=500)

    app = printer_app(download, seen)
    app.router.add_put("/api/v1/job/5/pause", fail)
    async with TestServer(app, host="127.0.0.1") as server:
        adapter = PrusaAdapter(
            PrusaConfig(host=f"127.0.0.1:{server.port}", password="pw"), session, SLOW
        )
        await adapter.start()
        await adapter.start()  # a second start is a no-op
        try:
            with pytest.raises(HttpStatusError) as raised:
                await adapter.pause()
            assert raised.value.status == 500
            assert raised.value.message == "serial"
            assert not isinstance(raised.value, CommandRefusedError)
            assert await adapter.refresh()
            assert not await replace_cooldown(adapter).refresh()  # pressed twice
            # No preview and no download: metadata without anything in it, not an error.
            assert await adapter.job_metadata() == JobMetadata()
        finally:
            await adapter.stop()


def replace_cooldown(adapter: PrusaAdapter) -> PrusaAdapter:
    adapter._timing.refresh_cooldown = 60
    return adapter
