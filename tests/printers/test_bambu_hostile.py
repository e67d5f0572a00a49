"""A hostile Bambu printer: absurd values, broken payloads and connects that never finish.

The rule under test: a malformed or absurd input is counted, logged once and dropped, and the
next good message still reaches the adapter state. Pure parser fuzzing first, then the same
hostility through the real MQTT/TLS path of the simulator, then stopping during a connect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import copy
import gc
import json
import logging
from pathlib import Path
import random
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from custom_components.printernizer.printers.bambu.adapter import BambuAdapter, BambuConfig
from custom_components.printernizer.printers.bambu.mqtt import MqttConnection
from custom_components.printernizer.printers.bambu.report import MAX_KEYS, ReportState
from custom_components.printernizer.printers.bambu.version import device_info
from custom_components.printernizer.printers.errors import PrinterOfflineError
from custom_components.printernizer.printers.models import PrinterState
from simulator.bambu.certs import CertificateAuthority
from simulator.bambu.printer import BambuSimulator

from .test_bambu_adapter import FAST, config_for, requests_named
from .test_bambu_fuzz import KNOWN_KEYS, assert_usable
from .test_bambu_report import P1S_FULL
from .waiting import wait_for, wait_until

# -- the parser, with examples --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "rejected"),
    [
        ({"gcode_start_time": "1e20"}, "gcode_start_time"),
        ({"gcode_start_time": 10**30}, "gcode_start_time"),
        ({"mc_remaining_time": 1e20}, "mc_remaining_time"),
        ({"mc_percent": 1e308}, "mc_percent"),
        ({"layer_num": -5}, "layer_num"),
        ({"total_layer_num": "many"}, "total_layer_num"),
        ({"fun": "F" * 5000}, "fun"),
        ({"print_error": 2**80}, "print_error"),
        ({"nozzle_temper": 1e15}, "nozzle_temper"),
        ({"wifi_signal": "-1e300dBm"}, "wifi_signal"),
        ({"ams": 5}, "ams"),
        ({"hms": {"attr": 1}}, "hms"),
        ({"gcode_state": ["RUNNING"]}, "gcode_state"),
        ({"task_id": 1e300}, "task_id"),
    ],
)
def test_an_absurd_value_costs_that_field_once(delta: dict[str, Any], rejected: str) -> None:
    report = ReportState(model="P1S")
    report.apply(copy.deepcopy(P1S_FULL))
    assert_usable(report.apply(delta))
    assert (report.rejected, report.last_rejected) == (1, rejected)
    assert rejected not in report.report  # not replayed from the cache after a reconnect
    # Later deltas rebuild the same parts of the state without counting it again.
    state = report.apply({"mc_percent": 50, "gcode_state": "RUNNING", "nozzle_temper": 200})
    assert state.job.progress == 50
    assert report.rejected == 1


@pytest.mark.parametrize(
    ("delta", "check"),
    [
        # Milliseconds (X1/H2 firmware) read as such, not as the year 33658.
        ({"gcode_start_time": 10**12}, lambda s: s.job.started_at.year == 2001),
        ({"subtask_name": "Cube\ud800"}, lambda s: s.job.name == "Cube\ufffd"),
        ({"gcode_file": "a\x00b\x1b[31m"}, lambda s: s.job.file == "ab[31m"),
        ({"subtask_name": "x" * 10_000}, lambda s: len(s.job.name) == 255),
        (
            {"hms": [{"attr": 1e300, "code": -1}, {"attr": 0x07000200, "code": 0x00020001}]},
            lambda s: [e.code for e in s.errors] == ["0700_0200_0002_0001"],
        ),
        (
            {
                "ams": {
                    "ams": [
                        {
                            "id": "0",
                            "tray": [
                                {
                                    "id": "0",
                                    "tray_type": "PLA\udfff",
                                    "tray_color": "\ud800" * 8,
                                    "remain": 1e30,
                                }
                            ],
                        }
                    ]
                }
            },
            lambda s: (s.filament_slots[0].material, s.filament_slots[0].color)
            == ("PLA\ufffd", None),
        ),
        (
            {"device": {"extruder": {"state": 1e20, "info": [{"id": 0, "temp": 1e20}]}}},
            lambda s: s.online,
        ),
        # The same code listed again and again is one error; a list this long is cut.
        ({"hms": [{"attr": 1, "code": 1}] * 10_000}, lambda s: len(s.errors) == 1),
        (
            {"hms": [{"attr": 1, "code": n} for n in range(1, 10_000)]},
            lambda s: len(s.errors) == 64,
        ),
    ],
)
def test_odd_but_readable_values_are_cleaned(delta: dict[str, Any], check: Any) -> None:
    report = ReportState(model="P1S")
    report.apply(copy.deepcopy(P1S_FULL))
    state = report.apply(delta)
    assert_usable(state)
    assert check(state)


def test_a_printer_inventing_keys_cannot_grow_the_cache() -> None:
    report = ReportState(model="P1S")
    report.apply(copy.deepcopy(P1S_FULL))
    for batch in range(20):
        report.apply({f"k{batch}_{i}": i for i in range(200)})
        report.apply({"ams": {f"k{batch}_{i}": i for i in range(200)}})
    assert len(report.report) <= MAX_KEYS
    assert len(report.report["ams"]) <= MAX_KEYS
    assert report.rejected > 0
    assert report.apply({"mc_percent": 7}).job.progress == 7


def test_a_version_reply_without_modules_keeps_the_identity() -> None:
    assert device_info("S", {"command": "get_version", "module": 5}) is None
    info = device_info(
        "S",
        {"module": [{"name": "ota\ud800", "sw_ver": 5}, {"name": "ota", "product_name": "X\x00"}]},
    )
    assert info is not None
    assert (info.model, info.firmware) == ("X", None)


# -- through the real MQTT path -------------------------------------------------------------------


def _deep_object(depth: int) -> bytes:
    return (
        b'{"print":{"command":"push_status","ams":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}}"
    )


HOSTILE: list[tuple[str, bytes, bool]] = [
    ("start-1e20", b'{"print":{"command":"push_status","gcode_start_time":"1e20"}}', True),
    ("start-ms", b'{"print":{"command":"push_status","gcode_start_time":1000000000000}}', False),
    ("version-module-5", b'{"info":{"command":"get_version","module":5}}', True),
    ("arrays-20000", b"[" * 20_000 + b"]" * 20_000, True),
    ("object-in-print-20000", b'{"print":' + b'{"a":' * 20_000 + b"1" + b"}" * 20_001, True),
    ("objects-40", _deep_object(40), True),
    ("surrogate-name", b'{"print":{"command":"push_status","subtask_name":"Cube\\ud800"}}', False),
    ("remaining-1e20", b'{"print":{"command":"push_status","mc_remaining_time":1e20}}', True),
    (
        "constants",
        b'{"print":{"command":"push_status","mc_percent":Infinity,"bed_temper":NaN}}',
        False,
    ),
    ("fun-5000", b'{"print":{"command":"push_status","fun":"' + b"F" * 5000 + b'"}}', True),
    (
        "error-1e300",
        b'{"print":{"command":"push_status","print_error":1e300,"hms":[{"attr":1e300}]}}',
        True,
    ),
    ("print-not-object", b'{"print":[1,2,3]}', True),
    ("ams-not-object", b'{"print":{"command":"push_status","ams":"broken"}}', True),
    (
        "packed-1e20",
        b'{"print":{"command":"push_status","device":{"extruder":{"state":1e20,'
        b'"info":[{"id":0,"temp":1e20}]}}}}',
        False,
    ),
    ("ack-odd-sequence", b'{"system":{"command":"ledctrl","sequence_id":{"a":[1]}}}', False),
    ("huge-int", b'{"print":{"command":"push_status","layer_num":' + b"9" * 4000 + b"}}", True),
]


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[BambuSimulator]:
    async with BambuSimulator(workdir=tmp_path, speed=600, jitter=False) as simulator:
        yield simulator


@pytest.fixture
async def adapter(sim: BambuSimulator) -> AsyncIterator[BambuAdapter]:
    printer = BambuAdapter(config_for(sim), FAST)
    await printer.start()
    yield printer
    await printer.stop()


def our_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What a user would see in the log from this integration."""
    return [
        r
        for r in caplog.records
        if r.name.startswith("custom_components.printernizer") and r.levelno >= logging.INFO
    ]


async def publish_then_good(
    sim: BambuSimulator, adapter: BambuAdapter, payload: bytes, marker: int
) -> PrinterState:
    """Publish a bad message, then a good one; the good one must reach the adapter."""
    await sim.publish_raw(payload)
    await sim.publish_report({"total_layer_num": marker})
    return await wait_for(adapter, lambda s: s.job.total_layers == marker, timeout=5)


async def test_hostile_messages_cost_one_message_each(
    sim: BambuSimulator, adapter: BambuAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for marker, (name, payload, counted) in enumerate(HOSTILE, 1000):
        before = adapter.malformed
        state = await publish_then_good(sim, adapter, payload, marker)
        assert adapter.malformed == before + counted, name
        assert_usable(state)
    assert adapter.state.job.name == "Cube\ufffd"
    assert adapter.device_info.model == "P1S"  # the broken version reply changed nothing
    assert len(our_lines(caplog)) <= 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Nothing unusable stayed in the merged report: a reconnect replays it without complaint.
    malformed = adapter.malformed
    await sim.drop_connections()
    await wait_until(lambda: len(requests_named(sim, "pushall")) == 2)
    state = await publish_then_good(sim, adapter, b"{}", 1)
    assert state.online
    assert adapter.malformed == malformed
    assert adapter.raw_report.get("gcode_start_time") != "1e20"


def _hostile_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(12 if depth < 3 else 9)
    if kind == 0:
        return rng.choice([1e20, -1e20, 10**12, 2**64, -(2**63), 1e308])
    if kind == 1:
        return rng.choice(["1e20", "1e400", "NaN", "-inf", "0x" + "f" * 30, "F" * 300])
    if kind == 2:
        return "".join(
            rng.choice("ab\ud800\udfff\x00\x1b\u202e ") for _ in range(rng.randrange(1, 20))
        )
    if kind == 3:
        return rng.choice([True, False, None, 0, -1, ""])
    if kind == 4:
        return rng.uniform(-1e9, 1e9)
    if kind == 5:
        return rng.randrange(-(2**40), 2**40)
    if kind == 6:
        return "x" * rng.randrange(200, 2000)
    if kind == 7:
        return rng.choice([[], {}, [None], {"": None}])
    if kind == 8:
        return rng.choice(["RUNNING", "PAUSE", "FAILED", "-52dBm", "FF0000FF"])
    if kind == 9:
        return [_hostile_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    if kind == 10:
        return {rng.choice(KNOWN_KEYS): _hostile_value(rng, depth + 1) for _ in range(3)}
    return [
        {"id": _hostile_value(rng, 3), "tray": [{"id": "0", "tray_type": _hostile_value(rng, 3)}]}
    ]


def generated_hostile_messages(count: int, seed: int = 20261202) -> Iterator[bytes]:
    """Reports with hostile values at known keys, and the odd broken envelope."""
    rng = random.Random(seed)
    for _ in range(count):
        fields_ = {rng.choice(KNOWN_KEYS): _hostile_value(rng) for _ in range(rng.randrange(1, 5))}
        category, command = rng.choice(
            [("print", "push_status")] * 4 + [("info", "get_version"), ("system", "ledctrl")]
        )
        body = json.dumps({category: {"command": command, **fields_}})
        if rng.random() < 0.1:
            body = body[: rng.randrange(1, len(body))]  # truncated
        yield body.encode("utf-8", "surrogatepass")


async def test_generated_hostile_messages_never_stop_the_updates(
    sim: BambuSimulator, adapter: BambuAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for marker, payload in enumerate(generated_hostile_messages(60), 2000):
        before = adapter.malformed
        assert_usable(await publish_then_good(sim, adapter, payload, marker))
        assert adapter.malformed >= before
    assert adapter.malformed > 0
    assert len(our_lines(caplog)) <= 1
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_failing_listener_stops_neither_the_others_nor_the_session(
    sim: BambuSimulator, adapter: BambuAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(state: PrinterState) -> None:
        raise RuntimeError("listener bug")

    adapter.add_listener(broken)
    seen: list[int | None] = []
    adapter.add_listener(lambda state: seen.append(state.job.total_layers))
    for marker in (3001, 3002, 3003):
        await publish_then_good(sim, adapter, b"{}", marker)
    assert seen == [3001, 3002, 3003]
    assert [r.getMessage() for r in our_lines(caplog)] == [f"{sim.serial}: a listener failed"]


# -- stopping while a connect hangs ---------------------------------------------------------------


class _Held(asyncio.Protocol):
    """One client connection at the proxy; relays once released (at once when not holding)."""

    def __init__(self, proxy: HoldingProxy) -> None:
        self.proxy = proxy
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.gone = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.proxy.connections.append(self)
        if not self.proxy.holding:
            self.proxy.relay(self)

    def data_received(self, data: bytes) -> None:
        if self.upstream is not None:
            self.upstream.write(data)
        else:
            self.buffer += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        if self.upstream is not None:
            self.upstream.close()


class _Back(asyncio.Protocol):
    def __init__(self, held: _Held) -> None:
        self.held = held

    def data_received(self, data: bytes) -> None:
        if self.held.transport is not None:
            self.held.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.held.transport is not None:
            self.held.transport.close()


class HoldingProxy:
    """A TCP hop in front of the simulator's TLS port that can hold new connections unanswered.

    A held client is stuck in its TLS handshake, as with a printer that accepts and then hangs.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.holding = False
        self.connections: list[_Held] = []
        self.relayed = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open(self) -> int:
        """Client connections the proxy still has."""
        return sum(not held.gone for held in self.connections)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Held(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def relay(self, held: _Held) -> None:
        task = asyncio.get_running_loop().create_task(self._relay(held))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay(self, held: _Held) -> None:
        if held.gone:
            return
        loop = asyncio.get_running_loop()
        upstream, _ = await loop.create_connection(
            lambda: _Back(held), "127.0.0.1", self.upstream_port
        )
        self.relayed += 1
        held.upstream = upstream
        upstream.write(bytes(held.buffer))
        if held.transport is None or held.transport.is_closing():  # the client left meanwhile
            upstream.close()

    def release(self) -> None:
        """Relay every held connection whose client is still there."""
        self.holding = False
        for held in self.connections:
            if held.upstream is None and not held.gone:
                self.relay(held)

    def cut(self) -> None:
        """Abort every connection, as a flaky network would."""
        for held in self.connections:
            if held.transport is not None:
                held.transport.abort()

    async def stop(self) -> None:
        self.cut()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def proxy(sim: BambuSimulator) -> AsyncIterator[HoldingProxy]:
    hop = HoldingProxy(sim.mqtt_port)
    await hop.start()
    yield hop
    await hop.stop()


def watched_by_mqtt() -> list[object]:
    """Readers and writers on the loop that belong to an MQTT connection (asyncio internals)."""
    loop = asyncio.get_running_loop()
    owners: list[object] = []
    for key in loop._selector.get_map().values():  # type: ignore[attr-defined]
        for handle in key.data:
            owner = getattr(getattr(handle, "_callback", None), "__self__", None)
            if isinstance(owner, MqttConnection | mqtt.Client):
                owners.append(owner)
    return owners


def reconnecting() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "MqttConnection._reconnect"
    ]


async def assert_nothing_left(
    sim: BambuSimulator,
    proxy: HoldingProxy,
    calls: list[PrinterState],
    connects: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No socket, reader, writer, task, callback or unretrieved error of the adapter remains."""
    await wait_until(lambda: proxy.open == 0, timeout=3)  # the client hung up
    assert watched_by_mqtt() == []
    assert reconnecting() == []
    after_stop = len(calls)
    proxy.release()  # were a socket still open, its handshake would now complete
    await asyncio.gather(*proxy._tasks)
    assert proxy.relayed == connects
    await wait_until(lambda: sim.connected_clients() == 0)
    assert len(requests_named(sim, "get_version")) == connects
    assert len(calls) == after_stop
    gc.collect()  # an unretrieved future error is logged when the future is collected
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_stop_during_a_hanging_connect_leaves_nothing(
    sim: BambuSimulator, proxy: HoldingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    proxy.holding = True
    printer = BambuAdapter(config_for(sim, mqtt_port=proxy.port), FAST)
    calls: list[PrinterState] = []
    printer.add_listener(calls.append)
    starting = asyncio.create_task(printer.start())
    await wait_until(lambda: proxy.open == 1)  # the client waits for the TLS handshake
    async with asyncio.timeout(3):
        await printer.stop()
    with pytest.raises(PrinterOfflineError):
        await asyncio.wait_for(starting, 3)
    await assert_nothing_left(sim, proxy, calls, 0, caplog)


async def test_stop_during_a_hanging_reconnect_leaves_nothing(
    sim: BambuSimulator, proxy: HoldingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    printer = BambuAdapter(config_for(sim, mqtt_port=proxy.port), FAST)
    calls: list[PrinterState] = []
    printer.add_listener(calls.append)
    await printer.start()
    proxy.holding = True
    proxy.cut()
    await wait_for(printer, lambda s: not s.online)
    await wait_until(lambda: proxy.open == 1)  # the reconnect waits for its handshake
    async with asyncio.timeout(3):
        await printer.stop()
    await assert_nothing_left(sim, proxy, calls, 1, caplog)


async def test_stop_while_waiting_for_the_login_answer_leaves_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A printer that completes TLS, reads the MQTT login and never answers it."""
    serial = "01P00A000000009"
    leaf = CertificateAuthority.create().issue(serial)
    logins: list[bytes] = []
    gone = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        logins.append(await reader.read(4096))  # the CONNECT packet, never answered
        await reader.read()  # until the client hangs up
        gone.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0, ssl=leaf.server_context(tmp_path))
    port = server.sockets[0].getsockname()[1]
    config = BambuConfig(
        host="127.0.0.1",
        serial=serial,
        access_code="12345678",
        certificate=leaf.cert_pem,
        mqtt_port=port,
    )
    printer = BambuAdapter(config, FAST)
    try:
        starting = asyncio.create_task(printer.start())
        await wait_until(lambda: bool(logins))
        async with asyncio.timeout(3):
            await printer.stop()
            with pytest.raises(PrinterOfflineError):
                await starting  # at once, not after the ten-second login timeout
            await gone.wait()
        assert watched_by_mqtt() == []
        assert reconnecting() == []
        gc.collect()
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        server.close()
        await server.wait_closed()
