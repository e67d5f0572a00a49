"""A UDP socket that hands every datagram it receives to a callback; HA-free.

Bambu printers send their NOTIFY both to the SSDP multicast group and as broadcast, so a
socket bound to all interfaces joins the group; one bound to a single address (the tests'
loopback) receives only what is sent to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import socket
import struct
from typing import Final

_LOGGER = logging.getLogger(__name__)

SSDP_GROUP: Final = "239.255.255.250"
ANY_ADDRESS: Final = "0.0.0.0"  # noqa: S104 - announcements come from every interface


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, str], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._on_datagram(data, str(addr[0]))

    def error_received(self, exc: Exception) -> None:
        _LOGGER.debug("Discovery socket error: %s", exc)


class DatagramListener:
    """Listens on one UDP address until stopped; the port can be shared with other listeners."""

    def __init__(self, host: str, port: int, on_datagram: Callable[[bytes, str], None]) -> None:
        self._host, self._port = host, port
        self._on_datagram = on_datagram
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def port(self) -> int:
        """The port bound (the one asked for, or the one the system chose for port 0)."""
        return self._port

    async def start(self) -> None:
        """Bind, join the SSDP group when listening on every interface, start receiving.

        Raises OSError when the address cannot be bound.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setblocking(False)
            sock.bind((self._host, self._port))
            if self._host == ANY_ADDRESS:
                _join_group(sock)
            self._port = sock.getsockname()[1]
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self._on_datagram), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        self._transport = transport

    def stop(self) -> None:
        """Close the socket; datagrams already queued are dropped."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def _join_group(sock: socket.socket) -> None:
    """Receive the multicast NOTIFYs too; broadcast ones arrive without this."""
    membership = struct.pack("4s4s", socket.inet_aton(SSDP_GROUP), socket.inet_aton(ANY_ADDRESS))
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    except OSError as err:  # no multicast route (containers): broadcast still works
        _LOGGER.debug("Cannot join %s, listening for broadcasts only: %s", SSDP_GROUP, err)
