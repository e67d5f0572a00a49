"""A raw paho MQTT client for testing the simulator from the outside (deliberately not our adapter).

paho runs in its own thread; every callback is handed to the test's event loop, so tests wait on
conditions instead of sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulator.bambu.printer import BambuSimulator

TIMEOUT = 10.0


def client_context(ca_pem: str) -> ssl.SSLContext:
    """Trust the simulator CA; like real printers, the leaf has CN = serial and no SAN."""
    context = ssl.create_default_context(cadata=ca_pem)
    context.check_hostname = False
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


class ReportClient:
    """Subscribes to a printer's report topic and keeps a merged view of push_status messages."""

    def __init__(self, sim: BambuSimulator, *, topic_serial: str | None = None) -> None:
        self.sim = sim
        self.loop = asyncio.get_running_loop()
        self.messages: list[bytes] = []
        self.state: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []  # `state` after every push_status
        self._cursor = 0
        self.subscribed = asyncio.Event()
        self.disconnected = asyncio.Event()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._topic = f"device/{topic_serial or sim.serial}/report"
        self._paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-test")
        self._paho.tls_set_context(client_context(sim.ca_pem))
        self._paho.username_pw_set("bblp", sim.access_code)
        self._paho.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]  # floats work fine
        self._paho.on_connect = self._on_connect
        self._paho.on_subscribe = self._on_subscribe
        self._paho.on_disconnect = self._on_disconnect
        self._paho.on_message = self._on_message

    def start(self) -> None:
        """Connect in paho's thread: a blocking connect would stall the simulator's loop."""
        self._paho.connect_async("127.0.0.1", self.sim.mqtt_port, keepalive=30)
        self._paho.loop_start()

    async def connect(self) -> None:
        """Connect and wait until the report subscription is acknowledged."""
        self.start()
        async with asyncio.timeout(TIMEOUT):
            await self.subscribed.wait()

    def close(self) -> None:
        """Disconnect and join paho's thread."""
        self._paho.disconnect()
        self._paho.loop_stop()

    def request(self, category: str, command: str, *, qos: int = 0, **fields: Any) -> str:
        """Publish a command; returns its sequence_id."""
        sequence_id = str(len(self.messages) + 100)
        body = {"command": command, "sequence_id": sequence_id} | fields
        self._paho.publish(f"device/{self.sim.serial}/request", json.dumps({category: body}), qos)
        return sequence_id

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate` holds; checked on every message, so brief states count."""
        if predicate():
            return
        waiter = (predicate, self.loop.create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(TIMEOUT):
                await waiter[1]
        finally:
            self._waiters.remove(waiter)

    async def next_json(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first message so far or from now on that is JSON and satisfies `predicate`."""
        found: list[dict[str, Any]] = []
        scanned = 0

        def match() -> bool:
            nonlocal scanned
            for raw in self.messages[scanned:]:
                scanned += 1
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict) and predicate(message):
                    found.append(message)
                    return True
            return False

        await self.wait_for(match)
        return found[0]

    async def until_state(self, **expected: Any) -> None:
        """Wait until the merged report shows these values, at or after the previous match.

        Consecutive calls therefore check a sequence of states, including ones that lasted only
        a message or two before the test got to look.
        """

        def match() -> bool:
            for index in range(self._cursor, len(self.history)):
                if all(self.history[index].get(k) == v for k, v in expected.items()):
                    self._cursor = index
                    return True
            return False

        await self.wait_for(match)

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(self._topic)

    def _on_subscribe(self, *_: Any) -> None:
        self.loop.call_soon_threadsafe(self.subscribed.set)

    def _on_disconnect(self, *_: Any) -> None:
        self.loop.call_soon_threadsafe(self.disconnected.set)

    def _on_message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        self.loop.call_soon_threadsafe(self._received, message.payload)

    def _received(self, payload: bytes) -> None:
        self.messages.append(payload)
        try:
            body = json.loads(payload).get("print")
        except (ValueError, AttributeError):
            body = None
        if isinstance(body, dict) and body.get("command") == "push_status":
            self.state.update(body)
            self.history.append(dict(self.state))
        for predicate, future in self._waiters:
            if not future.done() and predicate():
                future.set_result(None)
