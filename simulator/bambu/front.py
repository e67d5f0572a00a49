"""The printer's TLS port: presents the printer certificate and relays MQTT to mosquitto.

Client packets are framed (never rewritten) so the front can do what the firmware does and
mosquitto cannot: drop a client that subscribes to another serial or publishes elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

from simulator.servers import abort_clients, closed_server

from .mqtt import PUBLISH, SUBSCRIBE, ProtocolError, read_packet, split_publish, subscribe_filters

_LOGGER = logging.getLogger(__name__)
_CLOSE_TIMEOUT = 2.0
_HANDSHAKE_TIMEOUT = 10.0


class MqttFront:
    """A TLS listener relaying each client connection to mosquitto's loopback port."""

    def __init__(
        self, *, ssl_context: ssl.SSLContext, host: str, port: int, upstream_port: int, serial: str
    ) -> None:
        self.ssl_context = ssl_context
        self.host = host
        self.port = port
        self._upstream_port = upstream_port
        self._report_topic = f"device/{serial}/report"
        self._request_topic = f"device/{serial}/request"
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    @property
    def client_count(self) -> int:
        """Open client connections."""
        return len(self._clients)

    async def start(self) -> None:
        """Listen; the first start picks a free port when `port` is 0, later ones reuse it."""
        # TLS starts after accept: a client refusing our certificate is then this server's
        # business, not an asyncio "Error on transport creation" in the host's log.
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every client off."""
        if self._server is not None:
            await closed_server(self._server)
            await self.drop_all()
            await self._server.wait_closed()
            self._server = None

    async def restart(self, ssl_context: ssl.SSLContext) -> None:
        """Come back on the same port with another certificate, as after a printer reboot."""
        await self.stop()
        self.ssl_context = ssl_context
        await self.start()

    async def drop_all(self) -> None:
        """Abort every client connection without a goodbye, as a crashing printer would."""
        await abort_clients(self._clients)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        task.set_name("bambu-sim-front-client")
        self._clients[writer] = task
        upstream = None
        try:
            async with asyncio.timeout(_HANDSHAKE_TIMEOUT):
                await writer.start_tls(self.ssl_context, ssl_shutdown_timeout=_CLOSE_TIMEOUT)
            upstream_reader, upstream = await asyncio.open_connection(
                "127.0.0.1", self._upstream_port
            )
        except (OSError, ssl.SSLError):
            pass  # a refused handshake, or mosquitto restarting: no session for this client
        try:
            if upstream is not None:
                await self._relay(reader, writer, upstream_reader, upstream)
        finally:
            if upstream is not None:
                upstream.close()
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await writer.wait_closed()
            writer.transport.abort()
            del self._clients[writer]

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream: asyncio.StreamWriter,
    ) -> None:
        pumps = [
            asyncio.create_task(self._from_client(reader, upstream), name="bambu-sim-front-in"),
            asyncio.create_task(_copy(upstream_reader, writer), name="bambu-sim-front-out"),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _from_client(
        self, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, OSError, ssl.SSLError):
            while True:
                try:
                    header, body = await read_packet(reader)
                    if not self._allowed(header[0], body):
                        return
                except ProtocolError:
                    return
                upstream.write(header + body)
                await upstream.drain()

    def _allowed(self, first_byte: int, body: bytes) -> bool:
        kind = first_byte >> 4
        if kind == SUBSCRIBE:
            topics = subscribe_filters(body)
            if any(topic != self._report_topic for topic in topics):
                _LOGGER.debug("Dropping a client that subscribed to %s", topics)
                return False
        elif kind == PUBLISH:
            topic, _ = split_publish(first_byte, body)
            if topic != self._request_topic:
                _LOGGER.debug("Dropping a client that published to %s", topic)
                return False
        return True


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
