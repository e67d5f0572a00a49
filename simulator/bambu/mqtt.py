"""Just enough MQTT 3.1.1 for the simulator: packet framing and its own session with mosquitto.

The session is asyncio-native (no paho thread) so stopping the simulator leaves nothing running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import logging
import secrets
import struct

_LOGGER = logging.getLogger(__name__)

CONNECT, CONNACK, PUBLISH, SUBSCRIBE, SUBACK = 1, 2, 3, 8, 9
_RECONNECT_DELAY = 0.05
_CONNECT_TIMEOUT = 10.0

MessageHandler = Callable[[str, bytes], Awaitable[None]]


class ProtocolError(Exception):
    """A packet that does not parse, or a broker that refuses us."""


def encode_length(length: int) -> bytes:
    """The fixed header's remaining-length varint."""
    out = bytearray()
    while True:
        digit, length = length % 128, length // 128
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def encode_string(text: str) -> bytes:
    """A length-prefixed UTF-8 string."""
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def packet(first_byte: int, body: bytes) -> bytes:
    """A whole packet from its first byte and body."""
    return bytes([first_byte]) + encode_length(len(body)) + body


async def read_packet(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One packet as (fixed header, body); IncompleteReadError at EOF."""
    header = bytearray(await reader.readexactly(1))
    length, multiplier = 0, 1
    for _ in range(4):
        digit = (await reader.readexactly(1))[0]
        header.append(digit)
        length += (digit & 0x7F) * multiplier
        multiplier *= 128
        if not digit & 0x80:
            return bytes(header), await reader.readexactly(length)
    raise ProtocolError("remaining length longer than 4 bytes")


def _split_string(body: bytes, offset: int) -> tuple[str, int]:
    if offset + 2 > len(body):
        raise ProtocolError("string runs past the packet")
    (size,) = struct.unpack_from("!H", body, offset)
    end = offset + 2 + size
    if end > len(body):
        raise ProtocolError("string runs past the packet")
    return body[offset + 2 : end].decode(errors="replace"), end


def subscribe_filters(body: bytes) -> list[str]:
    """The topic filters of a SUBSCRIBE body (after the packet id)."""
    filters, offset = [], 2
    while offset < len(body):
        topic, offset = _split_string(body, offset)
        filters.append(topic)
        offset += 1  # requested QoS
    return filters


def split_publish(first_byte: int, body: bytes) -> tuple[str, bytes]:
    """Topic and payload of a PUBLISH body."""
    topic, offset = _split_string(body, 0)
    if (first_byte >> 1) & 0x03:
        offset += 2  # packet id, only present for QoS 1 and 2
    return topic, body[offset:]


class BrokerLink:
    """The printer firmware's own MQTT session: publishes reports, receives requests.

    It connects straight to mosquitto's loopback port, not through the TLS front, so it is never
    counted as a client, and reconnects by itself when mosquitto restarts.
    """

    def __init__(
        self, *, port: int, username: str, password: str, subscribe: str, on_message: MessageHandler
    ) -> None:
        self._port = port
        self._credentials = (username, password)
        self._subscribe = subscribe
        self._on_message = on_message
        self._writer: asyncio.StreamWriter | None = None
        self._connected = False
        self._up = asyncio.Condition()
        self.sessions = 0
        """Sessions established so far; grows by one with every reconnect."""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, subscribe, and keep doing so until stopped."""
        self._task = asyncio.create_task(self._run(), name="bambu-sim-broker-link")
        await self.wait_connected()

    async def wait_connected(self, *, newer_than: int = 0) -> None:
        """Return once a session later than session number `newer_than` is subscribed."""
        async with asyncio.timeout(_CONNECT_TIMEOUT), self._up:
            await self._up.wait_for(lambda: self._connected and self.sessions > newer_than)

    async def stop(self) -> None:
        """Cancel the session and close its socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish(self, topic: str, payload: bytes) -> bool:
        """Publish at QoS 0 like the firmware; False (message lost) while disconnected."""
        writer = self._writer
        if writer is None or not self._connected:
            return False
        try:
            writer.write(packet(PUBLISH << 4, encode_string(topic) + payload))
            await writer.drain()
        except ConnectionError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
            except (OSError, asyncio.IncompleteReadError, ProtocolError) as err:
                _LOGGER.debug("Simulator broker link down: %s", err)
            finally:
                self._connected = False
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
            await asyncio.sleep(_RECONNECT_DELAY)

    async def _session(self) -> None:
        reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        username, password = self._credentials
        connect = (
            encode_string("MQTT")
            + bytes([4, 0xC2])  # level 3.1.1; username, password, clean session
            + struct.pack("!H", 0)  # no keepalive: loopback, and no ping task to cancel
            + encode_string(f"firmware-{secrets.token_hex(4)}")
            + encode_string(username)
            + encode_string(password)
        )
        self._writer.write(packet(CONNECT << 4, connect))
        header, body = await read_packet(reader)
        if header[0] >> 4 != CONNACK or body[1:2] != b"\x00":
            raise ProtocolError(f"broker refused the simulator: {body.hex()}")
        subscribe = struct.pack("!H", 1) + encode_string(self._subscribe) + b"\x00"
        self._writer.write(packet((SUBSCRIBE << 4) | 0x02, subscribe))
        while True:
            header, body = await read_packet(reader)
            kind = header[0] >> 4
            if kind == SUBACK:
                self._connected, self.sessions = True, self.sessions + 1
                async with self._up:
                    self._up.notify_all()
            elif kind == PUBLISH:
                topic, payload = split_publish(header[0], body)
                try:
                    await self._on_message(topic, payload)
                except Exception:
                    _LOGGER.exception("Simulator failed to handle a request")
