"""The listening socket, run by hand so the printer can refuse, ignore or ration connections.

aiohttp's own sites cannot stop listening synchronously, hold connections without reading them,
or leave clients waiting in the backlog when the firmware runs out of connection slots, which is
how an overloaded Buddy behaves. Here the accept loop is ours and aiohttp only gets sockets to
serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from aiohttp import web


class _Counted(asyncio.Protocol):
    """Forwards everything to aiohttp's protocol and reports when the connection ends."""

    def __init__(self, inner: asyncio.Protocol, owner: Listener) -> None:
        self.inner, self.owner = inner, owner
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.inner.connection_lost(exc)
        finally:
            self.owner.released(self)


class Listener:
    """Accepts for an aiohttp server; `max_connections` None means no limit."""

    def __init__(
        self,
        server: web.Server,
        host: str,
        port: int,
        *,
        max_connections: int | None,
        hold_seconds: float,
    ) -> None:
        self._server, self.host, self.port = server, host, port
        self.max_connections, self.hold_seconds = max_connections, hold_seconds
        self.max_open = 0  # most connections open at once (held ones not counted)
        self._open: set[_Counted] = set()
        self._held: dict[asyncio.BaseTransport, asyncio.TimerHandle] = {}
        self._slot = asyncio.Event()
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.holding = False

    @property
    def open_connections(self) -> int:
        """Connections aiohttp is serving now."""
        return len(self._open)

    async def start(self) -> None:
        """Listen (port 0 picks a free one) and start accepting."""
        self._listen()

    def _listen(self) -> None:
        self._sock = socket.create_server((self.host, self.port), backlog=64)
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self._task = asyncio.get_running_loop().create_task(
            self._accept(self._sock), name="prusa-sim-accept"
        )
        self._tasks.add(self._task)
        self._task.add_done_callback(self._tasks.discard)

    def refuse(self) -> None:
        """Stop listening (connections get refused) and drop every open connection."""
        self._close_listener()
        for conn in list(self._open):
            if conn.transport is not None:
                conn.transport.abort()
        self._release_held()

    def hold(self) -> None:
        """Keep accepting but never read or answer; held sockets close after hold_seconds."""
        self.holding = True
        if self._sock is None:
            self._listen()

    def serve(self) -> None:
        """Back to normal."""
        self.holding = False
        self._release_held()
        if self._sock is None:
            self._listen()

    async def stop(self) -> None:
        """Stop accepting and close held sockets (aiohttp closes its own connections)."""
        tasks = list(self._tasks)
        self._close_listener()
        self._release_held()
        await asyncio.gather(*tasks, return_exceptions=True)

    def released(self, conn: _Counted) -> None:
        """A served connection ended: its slot is free."""
        self._open.discard(conn)
        self._slot.set()

    def _close_listener(self) -> None:
        # Cancelling first queues the selector clean-up ahead of any new accept loop, so a new
        # socket that reuses the file descriptor keeps its registration.
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _release_held(self) -> None:
        for transport, timer in list(self._held.items()):
            timer.cancel()
            transport.close()
        self._held.clear()

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self.max_connections is not None and len(self._open) >= self.max_connections:
                self._slot.clear()
                await self._slot.wait()  # the client waits in the kernel's backlog meanwhile
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError:  # the peer gave up before we got to it, or no descriptors left
                await asyncio.sleep(0.01)
                continue
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.holding:
                await self._park(conn)
            else:
                await self._serve(conn)

    async def _serve(self, conn: socket.socket) -> None:
        counted = _Counted(self._server(), self)
        self._open.add(counted)
        self.max_open = max(self.max_open, len(self._open))
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: counted, conn)
        except OSError:
            self.released(counted)
            conn.close()

    async def _park(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, conn)
        except OSError:
            conn.close()
            return
        self._held[transport] = loop.call_later(self.hold_seconds, self._drop_held, transport)

    def _drop_held(self, transport: asyncio.BaseTransport) -> None:
        self._held.pop(transport, None)
        transport.close()
