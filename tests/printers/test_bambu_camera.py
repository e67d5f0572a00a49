"""The P1/A1 chamber camera client: the frame parser with hostile input, then the client against
the simulator's camera port over TLS on 127.0.0.1 (sessions shared, bounded, and closed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import io
import logging
from pathlib import Path
import struct

from hypothesis import given, strategies as st
from PIL import Image
import pytest

from custom_components.printernizer.printers.bambu.camera import (
    AUTH_PACKET_SIZE,
    MAX_FRAME_BYTES,
    CameraKind,
    CameraTiming,
    ChamberCamera,
    FrameError,
    Viewer,
    auth_packet,
    camera_kind,
    check_jpeg,
    frame_size,
    liveview_disabled,
    read_frame,
    rtsps_url,
)
from custom_components.printernizer.printers.errors import (
    AuthenticationError,
    CertificateMismatchError,
    PrinterOfflineError,
)
from simulator.bambu.camera import CameraServer, render_frames
from simulator.bambu.certs import CertificateAuthority, PrinterCertificate

from ..conftest import SecretGuard
from .waiting import wait_until

CODE = "31415926"
FAST = CameraTiming(connect_timeout=5, frame_timeout=2, linger=0.5, retry_delay=0.05)
JPEG = render_frames(1)[0]


def header(size: int, *rest: int) -> bytes:
    return struct.pack("<IIII", size, *(rest or (0, 1, 0)))


async def until_it_ends(viewer: Viewer) -> None:
    """Take frames until the connection ends (raising why), within a bound."""
    async with asyncio.timeout(10):
        while True:
            await viewer.next_frame()


# -- which camera, the URL, the auth packet -------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("P1P", CameraKind.CHAMBER),
        ("P1S", CameraKind.CHAMBER),
        ("A1", CameraKind.CHAMBER),
        ("A1 mini", CameraKind.CHAMBER),
        ("X1C", CameraKind.RTSPS),
        ("X1E", CameraKind.RTSPS),
        ("X1 Carbon", CameraKind.RTSPS),
        ("H2D", CameraKind.RTSPS),
        ("H2S", CameraKind.RTSPS),
        ("P2S", CameraKind.RTSPS),
        ("X2D", CameraKind.RTSPS),
        ("A2L", None),  # protocol unknown: no camera rather than a wrong one
        ("", None),
        (None, None),
    ],
)
def test_camera_kind_by_model(model: str | None, kind: CameraKind | None) -> None:
    assert camera_kind(model) is kind


def test_rtsps_url_quotes_the_code_and_brackets_ipv6() -> None:
    assert rtsps_url("10.0.0.5", CODE) == f"rtsps://bblp:{CODE}@10.0.0.5:322/streaming/live/1"
    assert rtsps_url("fe80::1", "a/b@c:d") == (
        "rtsps://bblp:a%2Fb%40c%3Ad@[fe80::1]:322/streaming/live/1"
    )


@pytest.mark.parametrize(
    ("report", "disabled"),
    [
        ({"ipcam": {"rtsp_url": "disable"}}, True),
        ({"ipcam": {"rtsp_url": "rtsps://10.0.0.5/streaming/live/1"}}, False),
        ({"ipcam": {}}, False),
        ({"ipcam": "disable"}, False),
        ({}, False),
    ],
)
def test_liveview_disabled_only_when_the_printer_says_so(
    report: dict[str, object], disabled: bool
) -> None:
    assert liveview_disabled(report) is disabled


def test_auth_packet_layout() -> None:
    packet = auth_packet(CODE)
    assert len(packet) == AUTH_PACKET_SIZE == 80
    assert struct.unpack("<IIII", packet[:16]) == (0x40, 0x3000, 0, 0)
    assert packet[16:48] == b"bblp" + b"\0" * 28
    assert packet[48:80] == CODE.encode() + b"\0" * 24


def test_auth_packet_refuses_a_code_too_long_without_echoing_it() -> None:
    with pytest.raises(AuthenticationError) as raised:
        auth_packet("9" * 33)
    assert "9" * 33 not in str(raised.value)


# -- the frame parser, hostile input ---------------------------------------------------------------


@pytest.mark.parametrize("size", [0, MAX_FRAME_BYTES + 1, 100 << 20, 2**32 - 1])
def test_hostile_sizes_are_refused(size: int) -> None:
    with pytest.raises(FrameError, match="announced"):
        frame_size(header(size))


@pytest.mark.parametrize("size", [1, 4392, MAX_FRAME_BYTES])
def test_sizes_within_bounds_are_taken(size: int) -> None:
    assert frame_size(header(size)) == size


@pytest.mark.parametrize("raw", [b"", b"\x10\x00", header(10) + b"x", header(10)[:15]])
def test_headers_of_the_wrong_length_are_refused(raw: bytes) -> None:
    with pytest.raises(FrameError):
        frame_size(raw)


@given(st.binary(min_size=16, max_size=16))
def test_any_header_is_a_bounded_size_or_refused(raw: bytes) -> None:
    try:
        size = frame_size(raw)
    except FrameError:
        return
    assert 0 < size <= MAX_FRAME_BYTES


@pytest.mark.parametrize(
    "body",
    [b"", b"\xff\xd8", b"not a jpeg", JPEG[:-2], b"\x89PNG\r\n" + JPEG, JPEG[2:]],
)
def test_bodies_that_are_not_jpegs_are_refused(body: bytes) -> None:
    with pytest.raises(FrameError, match="not a JPEG"):
        check_jpeg(body)


async def test_read_frame_takes_a_frame_split_into_chunks() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(header(len(JPEG)))
    for start in range(0, len(JPEG), 1000):
        reader.feed_data(JPEG[start : start + 1000])
    assert await read_frame(reader) == JPEG


async def test_read_frame_refuses_a_huge_size_before_reading_the_body() -> None:
    """Only the header is there: a reader that tried to read 100 MB would wait, not raise."""
    reader = asyncio.StreamReader()
    reader.feed_data(header(100 << 20))
    async with asyncio.timeout(1):
        with pytest.raises(FrameError):
            await read_frame(reader)


async def test_read_frame_on_a_truncated_body_is_an_incomplete_read() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(header(len(JPEG)) + JPEG[:100])
    reader.feed_eof()
    with pytest.raises(asyncio.IncompleteReadError):
        await read_frame(reader)


# -- the client against the simulator's camera port ------------------------------------------------


@pytest.fixture
def leaf() -> PrinterCertificate:
    return CertificateAuthority.create().issue("01P00A000000001")


@pytest.fixture
async def server(
    socket_enabled: None, tmp_path: Path, leaf: PrinterCertificate, secret_guard: SecretGuard
) -> AsyncIterator[CameraServer]:
    secret_guard.add(CODE)
    camera_server = CameraServer(
        ssl_context=leaf.server_context(tmp_path), access_code=CODE, interval=0.02
    )
    await camera_server.start("127.0.0.1")
    yield camera_server
    await camera_server.stop()


def client(
    server: CameraServer, leaf: PrinterCertificate, *, code: str = CODE, port: int | None = None
) -> ChamberCamera:
    return ChamberCamera(
        host="127.0.0.1",
        port=server.port if port is None else port,
        access_code=code,
        certificate=leaf.cert_pem,
        timing=FAST,
    )


@pytest.fixture
async def camera(server: CameraServer, leaf: PrinterCertificate) -> AsyncIterator[ChamberCamera]:
    chamber = client(server, leaf)
    yield chamber
    await chamber.close()


async def test_a_still_is_a_real_jpeg_and_the_connection_goes_after_the_linger(
    server: CameraServer, camera: ChamberCamera
) -> None:
    assert not camera.connected  # nobody watched yet
    assert server.connections == 0
    frame = await camera.snapshot()
    assert Image.open(io.BytesIO(frame)).size == (320, 180)
    assert camera.connected  # kept for stills close together
    await wait_until(lambda: not camera.connected and server.client_count == 0, timeout=5)


async def test_stills_and_viewers_share_one_connection(
    server: CameraServer, camera: ChamberCamera
) -> None:
    await camera.snapshot()
    async with camera.watch() as first, camera.watch() as second:
        seen = [await first.next_frame() for _ in range(3)]
        assert await second.next_frame()
        assert await camera.snapshot()
    assert len(set(seen)) == 3  # each a newer frame than the one before
    assert server.connections == camera.connections == 1
    await wait_until(lambda: server.client_count == 0, timeout=5)


async def test_a_wrong_access_code_is_refused_and_warned_about_once(
    server: CameraServer, leaf: PrinterCertificate, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = client(server, leaf, code="27182818")
    try:
        for _ in range(2):
            with pytest.raises(AuthenticationError, match="access code"):
                await wrong.snapshot()
    finally:
        await wrong.close()
    assert server.refused == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "27182818" not in caplog.text


@pytest.mark.parametrize("size", [0, 100 << 20, 2**32 - 1])
async def test_a_hostile_frame_size_drops_the_connection_with_a_warning(
    server: CameraServer, camera: ChamberCamera, caplog: pytest.LogCaptureFixture, size: int
) -> None:
    async with camera.watch() as viewer:
        await viewer.next_frame()
        server.inject(header(size))
        with pytest.raises(FrameError, match="announced"):
            await until_it_ends(viewer)
    assert not camera.connected
    await wait_until(lambda: server.client_count == 0, timeout=5)
    assert f"A frame of {size} bytes announced" in caplog.text
    assert "connection dropped" in caplog.text
    # The next viewer gets a fresh connection and frames again.
    assert await camera.snapshot()
    assert server.connections == 2


async def test_a_body_that_is_not_a_jpeg_drops_the_connection(
    server: CameraServer, camera: ChamberCamera
) -> None:
    async with camera.watch() as viewer:
        await viewer.next_frame()
        server.inject(header(9) + b"not jpeg!")
        with pytest.raises(FrameError, match="not a JPEG"):
            await until_it_ends(viewer)


async def test_a_drop_after_frames_reconnects_while_someone_watches(
    server: CameraServer, camera: ChamberCamera
) -> None:
    async with camera.watch() as viewer:
        await viewer.next_frame()
        await server.drop_clients()
        await wait_until(lambda: server.connections == 2, timeout=5)
        assert await viewer.next_frame()
        assert await viewer.next_frame()


async def test_a_silent_camera_times_out(server: CameraServer, camera: ChamberCamera) -> None:
    server.mute = True
    async with asyncio.timeout(10):
        with pytest.raises(PrinterOfflineError, match="in time"):
            await camera.snapshot()
    assert server.connections == 1  # no frame ever came: no reconnect


async def test_another_certificate_is_refused_before_the_code_is_sent(
    server: CameraServer, tmp_path: Path
) -> None:
    other = CertificateAuthority.create().issue("01P00A000000001")
    camera = client(server, other)
    try:
        with pytest.raises(CertificateMismatchError):
            await camera.snapshot()
    finally:
        await camera.close()
    assert server.refused == 0
    assert server.client_count == 0


async def test_nothing_listening_is_offline(server: CameraServer, leaf: PrinterCertificate) -> None:
    port = server.port
    await server.stop()
    camera = client(server, leaf, port=port)
    try:
        with pytest.raises(PrinterOfflineError):
            await camera.snapshot()
    finally:
        await camera.close()


async def test_close_ends_waiting_viewers_and_refuses_new_ones(
    server: CameraServer, camera: ChamberCamera
) -> None:
    server.interval = 60
    async with camera.watch() as viewer:
        await viewer.next_frame()
        waiting = asyncio.ensure_future(viewer.next_frame())
        await asyncio.sleep(0)
        await camera.close()
        async with asyncio.timeout(1):
            with pytest.raises(PrinterOfflineError):
                await waiting
    with pytest.raises(PrinterOfflineError):
        await camera.snapshot()
    await wait_until(lambda: server.client_count == 0, timeout=5)
