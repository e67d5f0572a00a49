"""The simulated P1/A1 camera port, read with a bare TLS socket and the protocol notes' bytes
(not the integration's client, so a mistake both share cannot hide).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import io
from pathlib import Path
import struct

from PIL import Image
import pytest

from simulator.bambu.camera import CameraServer
from simulator.bambu.certs import CertificateAuthority
from simulator.bambu.printer import BambuSimulator

from .bambu_client import client_context

CODE = "12345678"
# Four LE u32 (0x40, 0x3000, 0, 0), "bblp" and the code, each NUL-padded to 32 bytes.
AUTH = (
    b"\x40\x00\x00\x00\x00\x30\x00\x00" + b"\x00" * 8 + b"bblp" + b"\x00" * 28 + b"12345678"
) + b"\x00" * 24


@pytest.fixture
async def camera(tmp_path: Path) -> AsyncIterator[tuple[CameraServer, str]]:
    ca = CertificateAuthority.create()
    server = CameraServer(
        ssl_context=ca.issue("01P00A000000001").server_context(tmp_path),
        access_code=CODE,
        interval=0.02,
    )
    await server.start("127.0.0.1")
    yield server, ca.cert_pem
    await server.stop()


async def connect(
    camera: tuple[CameraServer, str],
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    server, ca_pem = camera
    return await asyncio.open_connection("127.0.0.1", server.port, ssl=client_context(ca_pem))


async def test_frames_are_sized_headers_then_jpegs(camera: tuple[CameraServer, str]) -> None:
    reader, writer = await connect(camera)
    try:
        writer.write(AUTH)
        frames = []
        async with asyncio.timeout(10):
            for _ in range(3):
                size, zero, flags, reserved = struct.unpack("<IIII", await reader.readexactly(16))
                assert (zero, flags, reserved) == (0, 1, 0)
                frames.append(await reader.readexactly(size))
    finally:
        writer.close()
    for frame in frames:
        assert Image.open(io.BytesIO(frame)).format == "JPEG"
        assert frame.startswith(b"\xff\xd8\xff\xe0")
        assert frame.endswith(b"\xff\xd9")
    assert len(set(frames)) == 3
    assert len(frames[0]) > 4096  # so the body really goes out in several chunks


@pytest.mark.parametrize(
    "packet",
    [
        AUTH.replace(b"12345678", b"87654321"),  # wrong code
        AUTH.replace(b"bblp", b"root"),  # wrong user
        b"\x41" + AUTH[1:],  # wrong magic
    ],
)
async def test_a_wrong_auth_packet_is_answered_by_closing_without_a_byte(
    camera: tuple[CameraServer, str], packet: bytes
) -> None:
    reader, writer = await connect(camera)
    try:
        writer.write(packet)
        async with asyncio.timeout(10):
            assert await reader.read() == b""
    finally:
        writer.close()
    assert camera[0].refused == 1
    assert camera[0].frames_sent == 0


async def test_only_p1_and_a1_printers_serve_the_jpeg_camera(tmp_path: Path) -> None:
    async with BambuSimulator(model="A1", workdir=tmp_path / "a1", speed=600) as a1:
        assert a1.camera is not None
        assert a1.camera.port
    async with BambuSimulator(model="X1C", workdir=tmp_path / "x1c", speed=600) as x1c:
        assert x1c.camera is None
