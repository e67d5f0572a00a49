"""The fault proxy does to a connection what the soak says it does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import ssl

import pytest

from simulator.proxy import FaultProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def proxy(socket_enabled: None) -> AsyncIterator[FaultProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    async with FaultProxy(upstream_port=server.sockets[0].getsockname()[1]) as proxy:
        yield proxy
    server.close()
    await server.wait_closed()


async def _connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def test_bytes_pass_through(proxy: FaultProxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"hello")
    async with asyncio.timeout(5):
        assert await reader.readexactly(5) == b"hello"
    writer.close()
    await writer.wait_closed()


async def test_silence_holds_bytes_back_until_resumed(proxy: FaultProxy) -> None:
    reader, writer = await _connect(proxy)
    proxy.silence()
    writer.write(b"one ")
    writer.write(b"two")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await reader.read(1)
    proxy.resume()
    async with asyncio.timeout(5):
        assert await reader.readexactly(7) == b"one two"
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("silent", [False, True])
async def test_cut_aborts_every_connection(proxy: FaultProxy, silent: bool) -> None:
    connections = [await _connect(proxy) for _ in range(3)]
    for _, writer in connections:
        writer.write(b"x")
    async with asyncio.timeout(5):
        for reader, _ in connections:
            await reader.readexactly(1)
    if silent:
        proxy.silence()  # a relay held back must not keep cut() waiting
    async with asyncio.timeout(5):
        assert await proxy.cut() == 3
        for reader, writer in connections:
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await reader.readexactly(1)
            writer.close()
    assert proxy.open_connections == 0


async def test_rejected_connection_fails_the_tls_handshake(proxy: FaultProxy) -> None:
    proxy.reject(1)
    context = ssl.create_default_context()
    with pytest.raises(ssl.SSLError):
        async with asyncio.timeout(5):
            await asyncio.open_connection("127.0.0.1", proxy.port, ssl=context)
    assert proxy.rejected == 1
    await test_bytes_pass_through(proxy)  # only the next one was rejected
