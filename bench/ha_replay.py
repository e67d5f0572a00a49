"""The P1S print capture through the whole integration inside a real Home Assistant.

The simulator publishes the capture one message every SPACING seconds: paced, not flooded, so the
latency is that of one message and not of a queue. One simulator, three replays: nobody listening,
a bare subscriber (the integration's MQTT client with a no-op callback), and HA with
the entry loaded. HA's process CPU minus the bare subscriber's is what HA and the integration add
to receiving MQTT over TLS. mosquitto is another process and is not counted; the simulator and its
TLS front run in this process and are, in every run alike.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
import json
import logging
import math
import statistics
import tempfile
import time
from typing import Any
from unittest.mock import patch

from aiohttp.resolver import AsyncResolver
from homeassistant import loader
from homeassistant.const import CONF_HOST, EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.runner import HassEventLoopPolicy
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from bench.bambu_parse import best_of, floor, load_capture
from custom_components.printernizer import const
from custom_components.printernizer.entity import PrinternizerEntity
from custom_components.printernizer.printers.bambu.mqtt import MqttConnection
from custom_components.printernizer.printers.bambu.tls import pinned_context
from simulator.bambu.printer import BambuSimulator

SPACING = 0.002  # seconds between messages: 500 messages/s
TRACKED = {"mc_percent": "progress", "layer_num": "current_layer"}  # report key -> sensor key
TARGET_CPU_US, TARGET_CHANGES, TARGET_P99_MS = 250, 0.25, 2

type Tags = dict[int, list[tuple[str, float]]]


@dataclass
class Run:
    """One replay, measured from the first send until the last message is handled."""

    cpu: float = 0.0
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)  # ms; inf: tagged, never shown


def tags(payloads: list[bytes]) -> Tags:
    """Messages that move progress or layer: index -> [(sensor key, new value)]."""
    found: Tags = {}
    last: dict[str, Any] = {}
    for index, payload in enumerate(payloads):
        body = json.loads(payload)["print"]
        for report_key, sensor_key in TRACKED.items():
            if report_key in body and body[report_key] != last.get(report_key):
                if index:  # the first message repeats what HA already shows
                    found.setdefault(index, []).append((sensor_key, float(body[report_key])))
                last[report_key] = body[report_key]
    return found


async def replay(
    sim: BambuSimulator,
    payloads: list[bytes],
    done: Callable[[], bool],
    on_send: Callable[[int], None] = lambda _: None,
) -> Run:
    """Publish on an absolute SPACING schedule, then wait for `done`."""
    loop = asyncio.get_running_loop()
    cpu, wall, start = time.process_time(), time.perf_counter(), loop.time()
    for index, payload in enumerate(payloads):
        await asyncio.sleep(max(start + index * SPACING - loop.time(), 0))
        on_send(index)  # the moment the payload goes to the simulator's MQTT link
        await sim.publish_raw(payload)
    async with asyncio.timeout(30):
        while not done():  # noqa: ASYNC110 - polls state that has no event to wait on
            await asyncio.sleep(0.001)
    return Run(cpu=time.process_time() - cpu, wall=time.perf_counter() - wall)


async def bare_subscriber(sim: BambuSimulator, payloads: list[bytes]) -> Run:
    """The same transport as the integration, without parsing: latency of every message."""
    sent, received = list[float](), list[float]()
    context = await asyncio.to_thread(pinned_context, sim.cert_pem)
    connection = MqttConnection(
        host=sim.host, port=sim.mqtt_port, username="bblp", password=sim.access_code,
        ssl_context=context, topic=f"device/{sim.serial}/report", on_connect=lambda: None,
        on_message=lambda _: received.append(time.perf_counter()), on_disconnect=lambda _: None,
    )  # fmt: skip

    def stamp(_: int) -> None:
        sent.append(time.perf_counter())

    await connection.connect()
    await asyncio.sleep(0.2)  # let the SUBACK arrive
    try:
        run = await replay(sim, payloads, lambda: len(received) == len(payloads), stamp)
    finally:
        await connection.stop()
    run.latencies = [(got - put) * 1000 for put, got in zip(sent, received, strict=True)]
    return run


class Watcher:
    """Counts our entities' writes and state changes; times tagged messages to their state."""

    def __init__(self, tagged: Tags, names: dict[str, str]) -> None:
        self.tagged, self.names = tagged, names  # entity_id -> sensor key, for our entities
        self.sensors = {key: entity_id for entity_id, key in names.items()}
        self.counting = False
        self.writes = self.changes = self.ours = 0
        self.by_entity: Counter[str] = Counter()
        self.pending: dict[tuple[str, float], float] = {}
        self.latencies: list[float] = []

    def on_send(self, index: int) -> None:
        now = time.perf_counter()
        for key, value in self.tagged.get(index, ()):
            self.pending[self.sensors[key], value] = now

    @callback
    def on_change(self, event: Event[EventStateChangedData]) -> None:
        now, entity_id, new = time.perf_counter(), event.data["entity_id"], event.data["new_state"]
        if not self.counting:
            return
        self.changes += 1
        if (key := self.names.get(entity_id)) is not None:
            self.ours += 1
            self.by_entity[key] += 1
        if key in TRACKED.values() and new is not None and new.state[:1].isdigit():
            sent = self.pending.pop((entity_id, float(new.state)), None)
            self.latencies.extend(() if sent is None else [(now - sent) * 1000])

    def counted_write(self) -> Callable[[PrinternizerEntity], None]:
        write = PrinternizerEntity.async_write_ha_state

        def counted(entity: PrinternizerEntity) -> None:
            self.writes += self.counting
            write(entity)

        return counted


async def home_assistant(sim: BambuSimulator, payloads: list[bytes]) -> tuple[Run, Watcher]:
    """Load the entry in a fresh HA, replay, unload."""
    last_sequence = json.loads(payloads[-1])["print"]["sequence_id"]
    data = {
        const.CONF_PRINTER_TYPE: const.PRINTER_BAMBU, CONF_HOST: sim.host,
        const.CONF_SERIAL: sim.serial, const.CONF_ACCESS_CODE: sim.access_code,
        const.CONF_CERTIFICATE: sim.cert_pem, const.CONF_MQTT_PORT: sim.mqtt_port,
        const.CONF_FTPS_PORT: sim.ftps_port, const.CONF_MODEL: sim.model,
    }  # fmt: skip
    # The entry asks for HA's shared HTTP session, whose resolver wants zeroconf, which this bare
    # HA has not set up: the test plugin's `mock_zeroconf_resolver` does the same.
    resolver = patch(
        "homeassistant.helpers.aiohttp_client._async_make_resolver", return_value=AsyncResolver()
    )
    with tempfile.TemporaryDirectory() as config_dir, resolver:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # what `enable_custom_integrations` does
            entry = MockConfigEntry(
                domain=const.DOMAIN, unique_id=sim.serial, title=f"P1S {sim.serial}", data=data
            )
            entry.add_to_hass(hass)
            sim.wake()  # answer get_version and pushall
            if not await hass.config_entries.async_setup(entry.entry_id):
                raise RuntimeError(f"the entry did not load: {entry.state}")
            await hass.async_block_till_done()
            sim.go_silent()  # no heater ticks of its own: the capture is all that is published
            entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
            names = {e.entity_id: e.unique_id.removeprefix(f"{sim.serial}_") for e in entities}
            watcher = Watcher(tags(payloads), names)
            adapter = entry.runtime_data.coordinator.adapter
            unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, watcher.on_change)
            with patch.object(PrinternizerEntity, "async_write_ha_state", watcher.counted_write()):
                watcher.counting = True
                run = await replay(
                    sim,
                    payloads,
                    lambda: adapter.raw_report.get("sequence_id") == last_sequence,
                    watcher.on_send,
                )
                watcher.counting = False
            unsubscribe()
            run.latencies = watcher.latencies + [math.inf] * len(watcher.pending)
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
            await hass.async_stop(force=True)
    return run, watcher


async def measure(payloads: list[bytes]) -> tuple[Run, Run, Run, Watcher]:
    async with BambuSimulator(speed=1.0, jitter=False) as sim:
        sim.go_silent()
        alone = await replay(sim, payloads, lambda: True)
        paho = await bare_subscriber(sim, payloads)
        ha, watcher = await home_assistant(sim, payloads)
    return alone, paho, ha, watcher


def percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(sorted(latencies), n=100, method="inclusive")
    return cuts[49], cuts[98]


def check(value: float, target: float, unit: str) -> str:
    return f"[target <= {target:g}{unit}: {'ok' if value <= target else 'MISSED'}]"


def main() -> None:
    """Print the figures."""
    logging.basicConfig(level=logging.ERROR)
    payloads = load_capture()
    n = len(payloads)
    base = best_of(floor, payloads)
    with asyncio.Runner(loop_factory=HassEventLoopPolicy(False).new_event_loop) as runner:
        alone, paho, ha, seen = runner.run(measure(payloads))
    total, sub, sim_only = (r.cpu * 1e6 / n for r in (ha, paho, alone))
    net, changes = total - sub, seen.ours / n
    p50, p99 = percentiles(ha.latencies)
    wire50, wire99 = percentiles(paho.latencies)
    top = ", ".join(f"{key} {count}" for key, count in seen.by_entity.most_common(6))
    missing = ha.latencies.count(math.inf)
    cpu_ok, changes_ok = check(net, TARGET_CPU_US, " us"), check(changes, TARGET_CHANGES, "")
    latency_ok, total_ok = check(p99, TARGET_P99_MS, " ms"), check(total, TARGET_CPU_US, " us")
    us, per = " us/message", " per message"
    print(f"ha replay: {n} P1S messages published {SPACING * 1e3:.0f} ms apart (paced, no flood)")
    for label, value, note in (
        ("CPU, whole HA process", f"{total:7.1f}{us}", f"incl. simulator + front {total_ok}"),
        ("  simulator publishing alone", f"{sim_only:7.1f}{us}", "nobody subscribed"),
        ("  + TLS front + bare MQTT sub", f"{sub:7.1f}{us}", "baseline: no HA"),
        ("  HA + integration", f"{net:7.1f}{us}", f"total - baseline {cpu_ok}"),
        ("floor: json.loads + merge", f"{base:7.2f}{us}", f"HA + integration {net / base:.0f}x"),
        ("state writes, our entities", f"{seen.writes / n:7.3f}{per}", f"{seen.writes}"),
        ("state_changed, our entities", f"{changes:7.3f}{per}", f"{seen.ours} {changes_ok}"),
        ("  by entity", "", top),
        ("state_changed, all entities", f"{seen.changes / n:7.3f}{per}", f"{seen.changes}"),
        ("publish -> state p50 / p99", f"{p50:.2f} / {p99:.2f} ms",
         f"{len(ha.latencies)} progress/layer changes, {missing} not shown {latency_ok}"),
        ("  transport alone p50 / p99", f"{wire50:.2f} / {wire99:.2f} ms",
         "publish -> bare MQTT callback, every message"),
    ):  # fmt: skip
        print(f"  {label:30} {value:22} {note}")
    print(f"  (wall {ha.wall:.1f} s per replay; the simulator runs in-process, mosquitto does not)")


if __name__ == "__main__":
    main()
