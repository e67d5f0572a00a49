"""The MQTT reader against a scripted TLS broker: framing, QoS, limits, keepalive, reconnects.

The simulator's mosquitto always frames packets well; a broker under the test's control can
split them anywhere, send one too large to buffer, break the length encoding or go quiet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import itertools
from pathlib import Path
import socket
import ssl

import pytest

from custom_components.printernizer.printers.bambu import mqtt
from custom_components.printernizer.printers.bambu.mqtt import MqttConnection
from custom_components.printernizer.printers.bambu.tls import pinned_context
from custom_components.printernizer.printers.errors import (
    AdapterError,
    AuthenticationError,
    CertificateMismatchError,
)
from simulator.bambu.certs import CertificateAuthority

from .waiting import wait_until

SERIAL = "01P00A000000042"
TOPIC = f"device/{SERIAL}/report"


def packet(header: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | 0x80 if length else digit)
        if not length:
            return bytes((header, *encoded)) + body


def publish(payload: bytes, *, qos: int = 0, packet_id: int = 7) -> bytes:
    topic = TOPIC.encode()
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += packet_id.to_bytes(2, "big")
    return packet(0x30 | qos << 1, body + payload)


class Broker:
    """Answers the login and pings (unless told not to) and records every packet it reads."""

    def __init__(self) -> None:
        self.connack_code = 0
        self.answer_pings = True
        self.received: list[tuple[int, bytes]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.logins = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            while True:
                header = (await reader.readexactly(1))[0]
                length, shift = 0, 0
                while True:
                    digit = (await reader.readexactly(1))[0]
                    length |= (digit & 0x7F) << shift
                    shift += 7
                    if digit < 0x80:
                        break
                body = await reader.readexactly(length)
                self.received.append((header, body))
                if header == 0x10:
                    self.logins += 1
                    writer.write(bytes((0x20, 2, 0, self.connack_code)))
                elif header == 0xC0 and self.answer_pings:
                    writer.write(b"\xd0\x00")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def of_type(self, header: int) -> list[bytes]:
        return [body for kind, body in self.received if kind == header]

    async def send(self, *chunks: bytes) -> None:
        """Each chunk its own write, so its own TLS record: the client sees every split."""
        writer = self.writers[-1]
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()


class Client:
    """A connection to the broker and what it delivered."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.messages: list[bytes] = []
        self.oversized: list[int] = []
        self.disconnects: list[AdapterError | None] = []
        self.connects = 0
        self.connection = MqttConnection(
            host="127.0.0.1", port=port, username="bblp", password="12345678",
            ssl_context=context, topic=TOPIC, on_connect=self._connected,
            on_message=self.messages.append, on_disconnect=self.disconnects.append,
            on_oversized=self.oversized.append, backoff_cap=0.1,
        )  # fmt: skip

    def _connected(self) -> None:
        self.connects += 1


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[tuple[Broker, int, ssl.SSLContext]]:
    leaf = CertificateAuthority.create().issue(SERIAL)
    scripted = Broker()
    server = await asyncio.start_server(
        scripted.serve, "127.0.0.1", 0, ssl=leaf.server_context(tmp_path)
    )
    yield scripted, server.sockets[0].getsockname()[1], pinned_context(leaf.cert_pem)
    server.close()
    for writer in scripted.writers:
        writer.close()
    await server.wait_closed()


@pytest.fixture
async def client(broker: tuple[Broker, int, ssl.SSLContext]) -> AsyncIterator[Client]:
    scripted, port, context = broker
    connected = Client(port, context)
    await connected.connection.connect()
    await wait_until(lambda: bool(scripted.of_type(0x82)))  # subscribed
    yield connected
    await connected.connection.stop()


async def test_login_and_subscription_are_what_the_printer_expects(
    broker: tuple[Broker, int, ssl.SSLContext], client: Client
) -> None:
    scripted, _, _ = broker
    login = scripted.of_type(0x10)[0]
    assert login.startswith(b"\x00\x04MQTT\x04\xc2\x00\x1e")  # 3.1.1, user + password, clean
    assert login.endswith(b"\x00\x04bblp\x00\x0812345678")
    (subscribe,) = scripted.of_type(0x82)
    assert subscribe[2:] == len(TOPIC).to_bytes(2, "big") + TOPIC.encode() + b"\x00"
    assert client.connects == 1
    assert client.connection.connected


async def test_packets_split_anywhere_arrive_whole_and_in_order(
    broker: tuple[Broker, int, ssl.SSLContext], client: Client
) -> None:
    scripted, _, _ = broker
    payloads = [b'{"print": {"mc_percent": %d}}' % i for i in range(5)] + [b"x" * 70_000]
    stream = b"".join(publish(p) for p in payloads)
    cuts = [0, 1, 2, 3, 40, 41, 95, 96, 97, 500, 501, len(stream)]
    await scripted.send(*(stream[a:b] for a, b in itertools.pairwise(cuts)))
    await wait_until(lambda: len(client.messages) == len(payloads))
    assert client.messages == payloads
    assert not client.connection._rest  # nothing left over


async def test_a_packet_too_large_to_buffer_is_skipped_and_the_next_one_read(
    broker: tuple[Broker, int, ssl.SSLContext], client: Client
) -> None:
    scripted, _, _ = broker
    huge = publish(b"y" * (mqtt.MAX_PACKET + 10))
    await scripted.send(*(huge[i : i + 65536] for i in range(0, len(huge), 65536)))
    await scripted.send(publish(b'{"after": 1}'))
    await wait_until(lambda: client.messages == [b'{"after": 1}'])
    assert client.oversized == [len(huge) - 5]  # the remaining length: all but its header
    assert len(client.connection._rest) == 0
    assert client.connection.callback_errors == 0


async def test_qos_1_and_2_deliveries_are_acknowledged(
    broker: tuple[Broker, int, ssl.SSLContext], client: Client
) -> None:
    scripted, _, _ = broker
    await scripted.send(publish(b"one", qos=1, packet_id=0x1234))
    await scripted.send(publish(b"two", qos=2, packet_id=0x0102), b"\x62\x02\x01\x02")
    await wait_until(lambda: bool(scripted.of_type(0x70)))
    assert client.messages == [b"one", b"two"]
    assert scripted.of_type(0x40) == [b"\x12\x34"]  # PUBACK
    assert scripted.of_type(0x50) == [b"\x01\x02"]  # PUBREC
    assert scripted.of_type(0x70) == [b"\x01\x02"]  # PUBCOMP


async def test_commands_are_published_to_the_request_topic(
    broker: tuple[Broker, int, ssl.SSLContext], client: Client
) -> None:
    scripted, _, _ = broker
    client.connection.publish('{"print": {"command": "pause"}}', qos=1)
    client.connection.publish("ü" * 200)  # a body over 127 bytes: a two-byte length
    await wait_until(lambda: len(scripted.of_type(0x32)) == 1 and len(scripted.of_type(0x30)) == 1)
    request = f"device/{SERIAL}/request".encode()
    (first,) = scripted.of_type(0x32)
    assert first[: 2 + len(request)] == len(request).to_bytes(2, "big") + request
    assert first[4 + len(request) :] == b'{"print": {"command": "pause"}}'
    (second,) = scripted.of_type(0x30)
    assert second[2 + len(request) :] == ("ü" * 200).encode()


@pytest.mark.parametrize(
    "junk",
    [
        b"\x30\xff\xff\xff\xff\x01",  # a remaining length of five bytes
        b"\x30\x01\x00",  # a PUBLISH too short for its topic length
    ],
)
async def test_a_broker_breaking_the_protocol_costs_the_connection_not_the_reader(
    broker: tuple[Broker, int, ssl.SSLContext], client: Client, junk: bytes
) -> None:
    scripted, _, _ = broker
    await scripted.send(junk)
    await wait_until(lambda: scripted.logins == 2 and client.connects == 2)
    assert client.disconnects == [None]
    assert client.connection.callback_errors == 1
    await scripted.send(publish(b"fine"))
    await wait_until(lambda: client.messages == [b"fine"])


async def test_a_failing_callback_is_counted_and_reading_goes_on(
    broker: tuple[Broker, int, ssl.SSLContext], client: Client
) -> None:
    scripted, _, _ = broker
    seen: list[bytes] = []

    def fragile(payload: bytes) -> None:
        seen.append(payload)
        if payload == b"bad":
            raise RuntimeError("a defect")

    client.connection._on_message_cb = fragile
    await scripted.send(publish(b"bad") + publish(b"good"))
    await wait_until(lambda: seen == [b"bad", b"good"])
    assert client.connection.callback_errors == 1
    assert client.connection.connected


async def test_a_broker_that_stops_answering_pings_is_left_and_reconnected(
    broker: tuple[Broker, int, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted, port, context = broker
    monkeypatch.setattr(mqtt, "PING_INTERVAL", 0.1)
    connected = Client(port, context)
    await connected.connection.connect()
    try:
        await wait_until(lambda: len(scripted.of_type(0xC0)) >= 2)  # answered pings go on
        assert scripted.logins == 1
        scripted.answer_pings = False
        await wait_until(lambda: scripted.logins == 2 and connected.connects == 2)
        assert connected.disconnects == [None]
    finally:
        await connected.connection.stop()


async def test_a_rejected_login_raises_and_is_not_retried(
    broker: tuple[Broker, int, ssl.SSLContext],
) -> None:
    scripted, port, context = broker
    scripted.connack_code = 5
    refused = Client(port, context)
    with pytest.raises(AuthenticationError):
        await refused.connection.connect()
    await asyncio.sleep(0.3)  # longer than the backoff: a retry would have logged in again
    assert scripted.logins == 1
    assert not refused.connection.connected
    await refused.connection.stop()


async def test_another_certificate_is_refused_before_the_login(
    broker: tuple[Broker, int, ssl.SSLContext],
) -> None:
    scripted, port, _ = broker
    stranger = CertificateAuthority.create().issue(SERIAL)
    pinned = Client(port, pinned_context(stranger.cert_pem))
    with pytest.raises(CertificateMismatchError):
        await pinned.connection.connect()
    assert scripted.logins == 0
    await pinned.connection.stop()


async def test_a_burst_is_read_in_batches_and_nothing_is_lost(
    broker: tuple[Broker, int, ssl.SSLContext], client: Client
) -> None:
    scripted, _, _ = broker
    connection = client.connection
    receive = connection._receive
    reads: list[bool] = []

    def counted(records: int = 1) -> bool:
        reads.append(receive(records))
        return reads[-1]

    connection._receive = counted  # type: ignore[method-assign]
    payloads = [b'{"n": %d}' % i for i in range(40)]
    for payload in payloads:  # 200 messages a second: far denser than READ_HOLDOFF
        await scripted.send(publish(payload))
        await asyncio.sleep(0.005)
    await wait_until(lambda: client.messages == payloads)
    assert sum(reads) < len(payloads) / 3  # batches, not a read per message
    # Quiet again: the socket is watched, and a lone message is read as it comes.
    await wait_until(lambda: connection._drain_timer is None)
    await scripted.send(publish(b"lone"))
    await wait_until(lambda: client.messages[-1:] == [b"lone"])
    assert connection._drain_timer is None
    assert connection.connected


async def test_with_on_messages_each_read_is_handed_over_whole_and_in_order(
    broker: tuple[Broker, int, ssl.SSLContext],
) -> None:
    scripted, port, context = broker
    reads: list[list[bytes]] = []
    client = Client(port, context)
    client.connection = MqttConnection(
        host="127.0.0.1", port=port, username="bblp", password="12345678",
        ssl_context=context, topic=TOPIC, on_connect=lambda: None,
        on_message=client.messages.append, on_disconnect=client.disconnects.append,
        on_messages=reads.append,
    )  # fmt: skip
    await client.connection.connect()
    try:
        payloads = [b'{"n": %d}' % i for i in range(30)]
        for payload in payloads:  # each its own TLS record, far denser than READ_HOLDOFF
            await scripted.send(publish(payload))
            await asyncio.sleep(0.005)
        # The last record must come out too, though nothing follows it on the socket.
        await wait_until(lambda: [p for read in reads for p in read] == payloads)
        assert client.messages == []
        assert len(reads) < len(payloads) / 3
        assert all(reads)
    finally:
        await client.connection.stop()


async def test_a_broker_closing_the_session_is_noticed_and_reconnected(
    broker: tuple[Broker, int, ssl.SSLContext], client: Client
) -> None:
    scripted, _, _ = broker
    await scripted.send(publish(b"before"))
    scripted.writers[-1].close()  # TLS close_notify, then the TCP close
    await wait_until(lambda: scripted.logins == 2 and client.connects == 2)
    assert client.disconnects == [None]
    await scripted.send(publish(b"after"))
    await wait_until(lambda: client.messages == [b"before", b"after"])
    assert client.connection.callback_errors == 0


class HandmadeTls:
    """A broker doing TLS by hand over plain TCP, so a test decides where the bytes are cut.

    The TCP stream can end inside a TLS record (the client must keep the part and wait), or a
    close_notify can come while TCP stays open (the client must still notice the close).
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.sessions: list[tuple[ssl.SSLObject, ssl.MemoryBIO, asyncio.StreamWriter]] = []
        self.logins = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    writer.write(outgoing.read())
                    incoming.write(await reader.read(65536))
            writer.write(outgoing.read())
            self.sessions.append((tls, outgoing, writer))
            while True:
                try:  # the client's CONNECT may have come with its last handshake message
                    plain = tls.read(65536)
                except ssl.SSLError:  # the rest of a record, or the client's own close_notify
                    if not (data := await reader.read(65536)):
                        return
                    incoming.write(data)
                    continue
                if not plain:  # the client's close_notify
                    return
                if plain[:1] == b"\x10":  # CONNECT (the client's first write is it alone)
                    self.logins += 1
                    tls.write(bytes((0x20, 2, 0, 0)))
                    writer.write(outgoing.read())
        except (ConnectionError, ssl.SSLError):
            pass

    def encrypt(self, *packets: bytes) -> bytes:
        """The packets as the latest session's TLS records (one per packet), not sent yet."""
        tls, outgoing, _ = self.sessions[-1]
        for plain in packets:
            tls.write(plain)
        return outgoing.read()


def _unread(connection: MqttConnection) -> bool:
    """Whether the client's socket holds bytes its reader has not taken yet."""
    assert connection._sock is not None
    try:
        return bool(connection._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False


@pytest.fixture
async def handmade(
    tmp_path: Path,
) -> AsyncIterator[tuple[HandmadeTls, Client]]:
    leaf = CertificateAuthority.create().issue(SERIAL)
    broker = HandmadeTls(leaf.server_context(tmp_path))
    server = await asyncio.start_server(broker.serve, "127.0.0.1", 0)
    client = Client(server.sockets[0].getsockname()[1], pinned_context(leaf.cert_pem))
    await client.connection.connect()
    yield broker, client
    await client.connection.stop()
    server.close()
    for _, _, writer in broker.sessions:
        writer.close()
    await server.wait_closed()


async def test_tls_records_cut_anywhere_by_tcp_arrive_whole(
    handmade: tuple[HandmadeTls, Client],
) -> None:
    broker, client = handmade
    payloads = [b'{"n": %d}' % i for i in range(3)]
    stream = broker.encrypt(*(publish(payload) for payload in payloads))
    record = len(stream) // 3
    # Inside the first record's 5-byte header, inside its body, at a record's end, mid-record.
    cuts = [0, 2, 5, 9, record, record + 3, 2 * record + 1, len(stream)]
    writer = broker.sessions[-1][2]
    for start, end in itertools.pairwise(cuts):
        writer.write(stream[start:end])
        await writer.drain()
        # The reader took this piece (and held what it could not decrypt yet).
        await wait_until(lambda: not _unread(client.connection))
    await wait_until(lambda: client.messages == payloads)
    assert client.disconnects == []
    assert client.connection.callback_errors == 0


async def test_a_close_notify_is_noticed_while_tcp_stays_open(
    handmade: tuple[HandmadeTls, Client],
) -> None:
    broker, client = handmade
    tls, outgoing, writer = broker.sessions[-1]
    writer.write(broker.encrypt(publish(b"before")))
    await wait_until(lambda: client.messages == [b"before"])
    with contextlib.suppress(ssl.SSLWantReadError):  # it would wait for the client's answer
        tls.unwrap()
    writer.write(outgoing.read())  # the close_notify; the TCP connection stays open
    await wait_until(lambda: broker.logins == 2 and client.connection.connected)
    assert client.disconnects == [None]
    assert not writer.is_closing()  # the client left on the close_notify, not on a TCP close
