"""A lean MQTT 3.1.1 client on the asyncio event loop: subscribe to one topic, publish commands.

A printer's reports are the hot path of the integration: a P1 sends a delta every second, a farm
of them thousands a minute. So the socket is read directly: a non-blocking TCP socket watched
with `add_reader`, TLS in memory (`ssl.MemoryBIO`), so a readable event costs one `recv` for all
the records that came, however many (an `SSLSocket` reads each record's header and body apart and
ends every read in an exception); a PUBLISH packet costs a header scan and one slice for its
payload (no message objects, topic decoding or per-packet locks, as a general-purpose client has).
Everything runs on the loop, connecting too (TCP, TLS handshake, login), so a connect is
cancelled like any coroutine and no thread outlives `stop`.

Reconnects back off exponentially; a rejected login or a changed certificate ends the retries,
since repeating them cannot succeed. Keepalive: a PINGREQ every PING_INTERVAL seconds, and a
connection whose broker has not answered the previous one by then is dropped and reconnected.

A printer reporting faster than once per READ_HOLDOFF (a burst, or a misbehaving one flooding)
is read on a timer, a batch per wakeup: its messages reach the adapter up to READ_HOLDOFF late,
and the loop wakes once per batch instead of once per message. With `on_messages`, the messages
of one read are handed over together, so the adapter can publish one state for them.

Nothing raises into the loop: a failing callback is counted in `callback_errors` (the first one
logged), a packet larger than MAX_PACKET is skipped as it streams past (`on_oversized`), and a
broker breaking the protocol (a malformed length) costs the connection, which is reconnected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import ipaddress
import itertools
import logging
import socket
import ssl
import uuid

from ..errors import (
    AdapterError,
    AuthenticationError,
    CertificateMismatchError,
    PrinterOfflineError,
    PrinterTimeoutError,
)

_LOGGER = logging.getLogger(__name__)

KEEPALIVE = 30  # seconds, told the broker at login
PING_INTERVAL = KEEPALIVE / 2
CONNECT_TIMEOUT = 10.0
BACKOFF_START = 1.0
BACKOFF_CAP = 60.0
# The largest packet buffered; a bigger one (a printer report is 1-30 KiB) is skipped unread.
MAX_PACKET = 2 << 20
RECV_SIZE = 1 << 18
# Dense traffic (a message less than this many seconds after the last) is read on a timer, so a
# burst costs one wakeup per READ_HOLDOFF, not one per message; sparse messages are read at once.
READ_HOLDOFF = 0.1
MAX_RECVS_PER_DRAIN = 16
# CONNACK return codes "bad user name or password" and "not authorized".
_AUTH_FAILURES = frozenset({4, 5})

_CONNACK, _PUBLISH, _PUBREL = 0x20, 0x30, 0x60
_PINGREQ, _PINGRESP, _DISCONNECT = b"\xc0\x00", 0xD0, b"\xe0\x00"
_WOULD_BLOCK = (BlockingIOError, InterruptedError)


class ProtocolError(Exception):
    """The broker sent something that is not MQTT 3.1.1."""


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return len(raw).to_bytes(2, "big") + raw


def _packet(header: int, body: bytes) -> bytes:
    """A fixed header (type and flags, the remaining length as a varint) and the body."""
    length, encoded = len(body), bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | 0x80 if length else digit)
        if not length:
            return bytes((header, *encoded)) + body


def connect_packet(client_id: str, username: str, password: str, keepalive: int) -> bytes:
    """CONNECT: MQTT 3.1.1, clean session, user name and password."""
    variable = _string("MQTT") + bytes((4, 0xC2)) + keepalive.to_bytes(2, "big")
    return _packet(0x10, variable + _string(client_id) + _string(username) + _string(password))


class MqttConnection:
    """One MQTT session to one printer, reconnecting until stopped."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        ssl_context: ssl.SSLContext,
        topic: str,
        on_connect: Callable[[], None],
        on_message: Callable[[bytes], None],
        on_disconnect: Callable[[AdapterError | None], None],
        on_oversized: Callable[[int], None] | None = None,
        on_messages: Callable[[list[bytes]], None] | None = None,
        backoff_cap: float = BACKOFF_CAP,
    ) -> None:
        """Prepare; nothing connects until `connect`.

        `on_messages`, if given, receives the payloads of each read in one call instead of
        `on_message` receiving them one by one.
        """
        self._host = host
        self._port = port
        self._login = connect_packet(
            f"printernizer-{uuid.uuid4().hex[:12]}", username, password, KEEPALIVE
        )
        self._context = ssl_context
        self._topic = topic
        self._request_topic = _string(topic.replace("/report", "/request"))
        self._on_connect_cb = on_connect
        self._on_message_cb = on_message
        self._on_disconnect_cb = on_disconnect
        self._on_oversized_cb = on_oversized
        self._on_messages_cb = on_messages
        self._batch: list[bytes] | None = [] if on_messages is not None else None
        self._backoff_cap = backoff_cap
        self._loop = asyncio.get_running_loop()
        self._packet_ids = itertools.cycle(range(1, 0x10000))
        self._sock: socket.socket | None = None
        self._fd = -1
        # TLS in memory: ciphertext in from the socket, plaintext out, and the other way round.
        self._tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._buffer = memoryview(bytearray(RECV_SIZE))  # what each `recv` reads into
        self._rest = bytearray()  # the start of a packet not complete yet
        self._skip = 0  # bytes of an oversized packet still to drop
        self._skipped = 0
        self._out = bytearray()  # what the socket did not take yet
        self._connack: asyncio.Future[None] | None = None
        self._opening: asyncio.Task[None] | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._delivered = 0  # messages handed to on_message
        self._delivered_at = -READ_HOLDOFF  # loop time of the last read that delivered one
        self._ping_unanswered = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._fatal: AdapterError | None = None
        self.connected = False
        self.callback_errors = 0

    async def connect(self) -> None:
        """Connect and wait for the broker's answer; raises a typed error on failure."""
        self._stopping = False
        self._fatal = None
        self._opening = self._loop.create_task(self._open())
        try:
            await self._opening
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._stopping and not (current and current.cancelling()):
                raise PrinterOfflineError("The connection was stopped") from None
            raise
        finally:
            self._opening = None

    def publish(self, payload: str, *, qos: int = 0) -> None:
        """Send to the printer's request topic; raises when not connected."""
        if not self.connected:
            raise PrinterOfflineError("Not connected to the printer")
        body = self._request_topic
        if qos:
            body += next(self._packet_ids).to_bytes(2, "big")
        if not self._send(_packet(_PUBLISH | qos << 1, body + payload.encode())):
            raise PrinterOfflineError("Publishing failed: the connection is lost")

    async def stop(self) -> None:
        """Disconnect and cancel every timer, task and socket this connection started.

        When this returns, no socket, reader, writer, task or callback of this connection is left.
        """
        self._stopping = True
        for task in (self._reconnect_task, self._opening):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._reconnect_task = None
        if self.connected:
            self._send(_DISCONNECT)
        self._close()

    # -- connecting ------------------------------------------------------------------------

    async def _open(self) -> None:
        """TCP, TLS and the MQTT login; on success the session is live and subscribed."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                sock, tls = await self._handshake(await self._tcp())
        except ssl.SSLCertVerificationError as err:
            raise CertificateMismatchError(
                "The printer presented a different certificate than the one trusted when it "
                "was added"
            ) from err
        except (OSError, ssl.SSLError, TimeoutError) as err:
            raise PrinterOfflineError(
                f"Cannot connect to {self._host}:{self._port}: {err or 'timed out'}"
            ) from err
        self._attach(sock, tls)
        self._connack = connack = self._loop.create_future()
        logged_in = False
        try:
            self._send(self._login)
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await connack
            logged_in = True
        except TimeoutError as err:
            raise PrinterTimeoutError("The printer did not answer the MQTT login") from err
        finally:
            self._connack = None
            if not logged_in:
                self._close()
        if self.connected:  # else it dropped right after the login: `_lost` has handled that
            self._ping_unanswered = False
            self._ping_timer = self._loop.call_later(PING_INTERVAL, self._ping)

    async def _tcp(self) -> socket.socket:
        """A connected non-blocking TCP socket, trying each address of the host in turn."""
        try:
            ipaddress.ip_address(self._host)
        except ValueError:
            addresses = await self._loop.getaddrinfo(
                self._host, self._port, type=socket.SOCK_STREAM
            )
        else:
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            addresses = [(family, socket.SOCK_STREAM, 0, "", (self._host, self._port))]
        error: OSError = OSError(f"No address for {self._host}")
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                await self._loop.sock_connect(sock, address)
            except OSError as err:
                sock.close()
                error = err
            except BaseException:
                sock.close()
                raise
            else:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
        raise error

    async def _handshake(self, sock: socket.socket) -> tuple[socket.socket, ssl.SSLObject]:
        """TLS on the loop, in memory: send what OpenSSL wrote, feed it what the socket read."""
        try:
            self._incoming, self._outgoing = incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = self._context.wrap_bio(incoming, outgoing, server_hostname=self._host)
            while True:
                try:
                    tls.do_handshake()
                except ssl.SSLWantReadError:
                    if outgoing.pending:
                        await self._loop.sock_sendall(sock, outgoing.read())
                    data = await self._loop.sock_recv(sock, RECV_SIZE)
                    if not data:
                        raise ConnectionResetError("closed during the TLS handshake") from None
                    incoming.write(data)
                else:
                    if outgoing.pending:
                        await self._loop.sock_sendall(sock, outgoing.read())
                    return sock, tls
        except BaseException:
            sock.close()
            raise

    def _attach(self, sock: socket.socket, tls: ssl.SSLObject) -> None:
        self._sock, self._fd, self._tls = sock, sock.fileno(), tls
        self._rest.clear()
        self._out.clear()
        self._skip = 0
        self._delivered_at = -READ_HOLDOFF
        self._loop.add_reader(self._fd, self._read)

    def _close(self) -> None:
        """Forget the socket, its reader and writer, and the timers."""
        for timer in (self._ping_timer, self._drain_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._drain_timer = None
        self.connected = False
        sock, self._sock, self._tls = self._sock, None, None
        if sock is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
            sock.close()
        self._fd = -1

    # -- receiving: the hot path -----------------------------------------------------------

    def _read(self) -> None:
        """The socket is readable: read it now, unless a message came less than READ_HOLDOFF ago.

        Then the traffic is dense, and the socket is read on a timer instead (see `_drain`).
        """
        now = self._loop.time()
        if now - self._delivered_at < READ_HOLDOFF:
            self._loop.remove_reader(self._fd)
            self._drain_timer = self._loop.call_at(self._delivered_at + READ_HOLDOFF, self._drain)
            return
        delivered = self._delivered
        self._receive()
        if self._delivered != delivered:
            self._delivered_at = now

    def _drain(self) -> None:
        """Dense traffic: everything that came meanwhile, then again in READ_HOLDOFF seconds.

        Once a wait brought nothing, the socket is watched again and read as data comes.
        """
        self._drain_timer = None
        delivered = self._delivered
        self._receive(MAX_RECVS_PER_DRAIN)
        if self._sock is None:
            return
        if self._delivered != delivered:
            self._delivered_at = self._loop.time()
            self._drain_timer = self._loop.call_later(READ_HOLDOFF, self._drain)
        else:
            self._loop.add_reader(self._fd, self._read)

    def _receive(self, recvs: int = 1) -> bool:
        """Read, decrypt every complete record, handle every complete packet; False if none came.

        The socket is read again while a read fills the buffer, up to `recvs` times.
        """
        sock, tls, incoming = self._sock, self._tls, self._incoming
        if sock is None or tls is None:
            return False
        ended, buffer = False, self._buffer
        try:
            for _ in range(recvs):
                size = sock.recv_into(buffer)
                if not size:
                    ended = True
                    break
                incoming.write(buffer[:size])
                if size < RECV_SIZE:
                    break
        except _WOULD_BLOCK:
            pass
        except OSError:
            ended = True
        data = b""
        try:
            # While bytes wait (received, or decrypted and not taken): a read past them would end
            # in SSLWantReadError, an exception per wakeup. An empty read is the close_notify.
            while incoming.pending or tls.pending():
                chunk = tls.read(RECV_SIZE)
                if not chunk:
                    ended = True
                    break
                data += chunk
        except ssl.SSLWantReadError:  # the rest of a record is still on its way
            pass
        except (ssl.SSLError, OSError):  # a broken record
            ended = True
        if self._outgoing.pending:  # TLS's own answers (a key update)
            self._send_raw(self._outgoing.read())
        if data:
            try:
                self._feed(data)
            except ProtocolError:
                self._failed("reading")
                ended = True
            batch = self._batch
            if batch and self._on_messages_cb is not None:
                self._batch = []
                try:
                    self._on_messages_cb(batch)
                except Exception:
                    self._failed("handling")
        if ended and self._sock is sock:
            self._lost()
        return bool(data) and not ended

    def _feed(self, data: bytes) -> None:
        """Handle every complete packet in the received bytes; keep the start of the next one."""
        rest = self._rest
        if rest:
            rest += data
            data = bytes(rest)
            rest.clear()
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                taken = min(self._skip, end - pos)
                pos += taken
                self._skip -= taken
                if not self._skip:
                    self._oversized(self._skipped)
                continue
            # The fixed header: a type byte and the remaining length, 1-4 bytes of 7 bits.
            start, length, shift = pos + 1, 0, 0
            while True:
                if start >= end:
                    rest += data[pos:]
                    return
                digit = data[start]
                start += 1
                length |= (digit & 0x7F) << shift
                if digit < 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise ProtocolError("remaining length over 4 bytes")
            if length > MAX_PACKET:
                self._skip = self._skipped = length
                pos = start
                continue
            stop = start + length
            if stop > end:
                rest += data[pos:]
                return
            header = data[pos]
            pos = stop
            if header & 0xF0 == _PUBLISH:
                self._publish(header, data, start, stop)
            else:
                self._control(header, data[start:stop])

    def _publish(self, header: int, data: bytes, start: int, stop: int) -> None:
        """One PUBLISH on the report topic (the only one subscribed): its payload to the adapter."""
        if stop - start < 2:
            raise ProtocolError("PUBLISH without a topic")
        offset = start + 2 + (data[start] << 8 | data[start + 1])
        qos = header >> 1 & 3
        if qos:
            packet_id = data[offset : offset + 2]
            offset += 2
            # QoS 1 is acknowledged; QoS 2 is received once PUBREL comes (see `_control`).
            self._send((b"\x40\x02" if qos == 1 else b"\x50\x02") + packet_id)
        if self._stopping or offset > stop:
            return
        self._delivered += 1
        if self._batch is not None:
            self._batch.append(data[offset:stop])
            return
        try:
            self._on_message_cb(data[offset:stop])
        except Exception:
            self._failed("handling")

    def _control(self, header: int, body: bytes) -> None:
        kind = header & 0xF0
        if kind == _PINGRESP:
            self._ping_unanswered = False
        elif kind == _CONNACK:
            self._connacked(body[1] if len(body) > 1 else 255)
        elif kind == _PUBREL:
            self._send(b"\x70\x02" + body[:2])

    def _connacked(self, code: int) -> None:
        connack = self._connack
        if connack is None or connack.done():
            return
        if code:
            if code in _AUTH_FAILURES:
                error: AdapterError = AuthenticationError("The printer rejected the access code")
                self._fatal = error
            else:
                error = PrinterOfflineError(f"The printer refused the connection: code {code}")
            connack.set_exception(error)
            return
        self.connected = True
        topic = _string(self._topic)
        self._send(_packet(0x82, next(self._packet_ids).to_bytes(2, "big") + topic + b"\x00"))
        connack.set_result(None)
        try:
            self._on_connect_cb()
        except Exception:
            self._failed("greeting")

    def _oversized(self, size: int) -> None:
        if self._on_oversized_cb is not None and not self._stopping:
            try:
                self._on_oversized_cb(size)
            except Exception:
                self._failed("handling")

    # -- sending ---------------------------------------------------------------------------

    def _send(self, packet: bytes) -> bool:
        """Encrypt and write now, or queue what the socket does not take; False when gone."""
        tls = self._tls
        if tls is None:
            return False
        try:
            tls.write(packet)
        except ssl.SSLError:
            self._loop.call_soon(self._lost_socket, self._sock)
            return False
        return self._send_raw(self._outgoing.read())

    def _send_raw(self, data: bytes) -> bool:
        sock = self._sock
        if sock is None:
            return False
        if self._out:
            self._out += data
            return True
        try:
            sent = sock.send(data)
        except _WOULD_BLOCK:
            sent = 0
        except OSError:
            self._loop.call_soon(self._lost_socket, sock)
            return False
        if sent < len(data):
            self._out += data[sent:]
            self._loop.add_writer(self._fd, self._write)
        return True

    def _write(self) -> None:
        sock, out = self._sock, self._out
        if sock is None:
            return
        try:
            sent = sock.send(out)
        except _WOULD_BLOCK:
            return
        except OSError:
            self._lost()
            return
        del out[:sent]
        if not out:
            self._loop.remove_writer(self._fd)

    def _ping(self) -> None:
        """Keepalive; a ping still unanswered from last time means the connection is dead."""
        self._ping_timer = None
        if self._ping_unanswered:
            _LOGGER.debug("No keepalive answer from %s; reconnecting", self._host)
            self._lost()
            return
        self._ping_unanswered = True
        if self._send(_PINGREQ):
            self._ping_timer = self._loop.call_later(PING_INTERVAL, self._ping)

    # -- losing and regaining the connection -----------------------------------------------

    def _lost_socket(self, sock: socket.socket | None) -> None:
        if sock is not None and sock is self._sock:
            self._lost()

    def _lost(self) -> None:
        """The connection is gone: tell the adapter and reconnect, unless stopping or refused."""
        was_connected = self.connected
        self._close()
        connack, self._connack = self._connack, None
        if connack is not None and not connack.done():  # still logging in: that fails
            connack.set_exception(PrinterOfflineError("The printer closed the connection"))
            return
        if self._stopping or not was_connected:
            return
        _LOGGER.debug("Disconnected from %s", self._host)
        try:
            self._on_disconnect_cb(self._fatal)
        except Exception:
            self._failed("closing")
        if self._fatal is None and self._reconnect_task is None:
            self._reconnect_task = self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """Retry with capped exponential backoff until connected, stopped or refused for good."""
        delay = BACKOFF_START
        try:
            while not self._stopping:
                await asyncio.sleep(delay)
                try:
                    await self._open()
                except AuthenticationError as err:
                    self._on_disconnect_cb(err)
                    return
                except CertificateMismatchError as err:
                    self._fatal = err
                    self._on_disconnect_cb(err)
                    return
                except (PrinterOfflineError, PrinterTimeoutError):
                    self._close()
                    delay = min(delay * 2, self._backoff_cap)
                    continue
                return
        finally:
            self._reconnect_task = None

    def _failed(self, where: str) -> None:
        """Count a failure that would otherwise escape into the loop; log the first."""
        self.callback_errors += 1
        if self.callback_errors == 1:
            _LOGGER.exception(
                "Error while %s MQTT from %s; later ones are only counted", where, self._host
            )
