"""A TCP relay on loopback that misbehaves on demand, like the Wi-Fi between HA and a printer.

Put it in front of any simulator port (MQTT/TLS, FTPS control, PrusaLink HTTP): bytes pass
through untouched (TLS stays end to end) until told otherwise:

```python
async with FaultProxy(upstream_port=sim.mqtt_port) as proxy:   # clients use proxy.port
    await proxy.cut()            # abort every open connection, both sides, no goodbye
    proxy.reject(2)              # the next 2 connections get junk instead of the printer:
                                 # a TLS client sees a failed handshake
    proxy.silence()              # stop forwarding (connections stay open, new ones hang)
    proxy.resume()               # forward again; bytes held back are delivered in order
```
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

from simulator.servers import closed_server

# What a captive portal or a confused device answers; not a TLS ServerHello.
JUNK = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
_CHUNK = 65536


class FaultProxy:
    """Relays 127.0.0.1:`port` to `upstream_host`:`upstream_port`."""

    def __init__(
        self, *, upstream_port: int, upstream_host: str = "127.0.0.1", host: str = "127.0.0.1"
    ) -> None:
        self.upstream_host, self.upstream_port, self.host = upstream_host, upstream_port, host
        self.port = 0
        self.connections = 0  # accepted so far
        self.cuts = 0  # connections aborted by cut()
        self.rejected = 0  # connections answered with junk
        self._reject = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._links: dict[asyncio.Task[None], tuple[asyncio.StreamWriter, ...]] = {}

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def open_connections(self) -> int:
        """Client connections being relayed now."""
        return len(self._links)

    @property
    def silent(self) -> bool:
        """Nothing is forwarded."""
        return not self._flowing.is_set()

    async def start(self) -> None:
        """Listen (a free port the first time; the same port after a stop)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and abort every connection; nothing is left running."""
        self._flowing.set()
        if self._server is not None:
            await closed_server(self._server)
        await self.cut()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def cut(self) -> int:
        """Abort every open connection on both sides, as a dropped Wi-Fi link does."""
        links = dict(self._links)
        for task, writers in links.items():
            for writer in writers:
                writer.transport.abort()
            task.cancel()  # also ends a relay held back by silence()
        self.cuts += len(links)
        await asyncio.gather(*links, return_exceptions=True)
        return len(links)

    def reject(self, count: int = 1) -> None:
        """Answer the next `count` connections with junk and close them."""
        self._reject += count

    def silence(self) -> None:
        """Hold every byte back, in both directions, until `resume`."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again, starting with what was held back."""
        self._flowing.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections += 1
        self._links[task] = (writer,)
        try:
            if self._reject > 0:
                self._reject -= 1
                self.rejected += 1
                writer.write(JUNK)
                writer.close()  # flushes the junk first; the client's handshake fails on it
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
            except OSError:
                return  # the printer is down: the client sees its connection closed
            self._links[task] = (writer, up_writer)
            try:
                await self._relay(reader, writer, up_reader, up_writer)
            finally:
                up_writer.transport.abort()
        finally:
            writer.transport.abort()
            del self._links[task]

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer), name="fault-proxy-up"),
            asyncio.create_task(self._pump(up_reader, writer), name="fault-proxy-down"),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while True:
                await self._flowing.wait()  # silent: leave the bytes in the socket buffers
                data = await reader.read(_CHUNK)
                if not data:
                    return
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
