"""Per-message cost of the integration behind the MQTT socket: the P1S capture fed in-process.

HA with the entry loaded (the simulator only answers setup, then goes silent); each captured
payload goes straight into the adapter's message callback on the event loop, so what is measured
is decode, merge, state, coordinator fan-out, job tracking and entity writes, without TLS and
the MQTT reader. Prints CPU us per message (median of ROUNDS passes), entity update calls and
state writes per message, and with `--profile` the top functions of one pass by internal time.

Run: `.venv/bin/python -m bench.fanout_profile [--profile]`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import cProfile
import io
import json
import logging
import pstats
import statistics
import sys
import tempfile
import time
from unittest.mock import patch

from aiohttp.resolver import AsyncResolver
from homeassistant import loader
from homeassistant.const import CONF_HOST
from homeassistant.runner import HassEventLoopPolicy
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from bench.bambu_parse import load_capture
from custom_components.printernizer import const
from custom_components.printernizer.entity import PrinternizerEntity
from simulator.bambu.printer import BambuSimulator

ROUNDS = 5


def renumbered(payloads: list[bytes], start: int) -> list[bytes]:
    """The capture with fresh sequence ids, so a later pass is not a replay of the same ids."""
    out = []
    for offset, payload in enumerate(payloads):
        message = json.loads(payload)
        message["print"]["sequence_id"] = str(start + offset)
        out.append(json.dumps(message, separators=(",", ":")).encode())
    return out


async def run(profile: bool) -> None:
    """Load the entry, feed the capture ROUNDS times, print the figures."""
    payloads = load_capture()[1:]  # the first is a full report HA already has
    n = len(payloads)
    async with BambuSimulator(speed=1.0, jitter=False) as sim:
        data = {
            const.CONF_PRINTER_TYPE: const.PRINTER_BAMBU, CONF_HOST: sim.host,
            const.CONF_SERIAL: sim.serial, const.CONF_ACCESS_CODE: sim.access_code,
            const.CONF_CERTIFICATE: sim.cert_pem, const.CONF_MQTT_PORT: sim.mqtt_port,
            const.CONF_FTPS_PORT: sim.ftps_port, const.CONF_MODEL: sim.model,
        }  # fmt: skip
        resolver = patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            return_value=AsyncResolver(),
        )
        with tempfile.TemporaryDirectory() as config_dir, resolver:
            async with async_test_home_assistant(config_dir=config_dir) as hass:
                hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
                entry = MockConfigEntry(
                    domain=const.DOMAIN, unique_id=sim.serial, title="P1S", data=data
                )
                entry.add_to_hass(hass)
                assert await hass.config_entries.async_setup(entry.entry_id)
                await hass.async_block_till_done()
                sim.go_silent()
                await asyncio.sleep(0.5)
                adapter = entry.runtime_data.coordinator.adapter
                on_message = adapter._on_message
                calls: Counter[str] = Counter()
                writes = 0
                update = PrinternizerEntity._handle_coordinator_update
                write = PrinternizerEntity.async_write_ha_state

                def counted_update(entity: PrinternizerEntity) -> None:
                    calls[type(entity).__name__] += 1
                    update(entity)

                def counted_write(entity: PrinternizerEntity) -> None:
                    nonlocal writes
                    writes += 1
                    write(entity)

                cpu: list[float] = []
                for round_ in range(ROUNDS):
                    batch = renumbered(payloads, 10_000 + round_ * n)
                    start = time.process_time()
                    for payload in batch:
                        on_message(payload)
                    await hass.async_block_till_done()
                    cpu.append((time.process_time() - start) * 1e6 / n)
                batch = renumbered(payloads, 10_000 + ROUNDS * n)
                # Each entity class's own override (if any) is what the coordinator calls.
                with (
                    patch.object(PrinternizerEntity, "async_write_ha_state", counted_write),
                    patch.object(PrinternizerEntity, "_handle_coordinator_update", counted_update),
                ):
                    sim.wake()
                    await hass.config_entries.async_reload(entry.entry_id)
                    await hass.async_block_till_done()
                    sim.go_silent()
                    on_message = entry.runtime_data.coordinator.adapter._on_message
                    for payload in batch:
                        on_message(payload)
                    await hass.async_block_till_done()
                total, by_class = calls.total(), calls.most_common()
                profiler = cProfile.Profile() if profile else None
                if profiler is not None:
                    batch = renumbered(payloads, 10_000 + (ROUNDS + 1) * n)
                    profiler.enable()
                    for payload in batch:
                        on_message(payload)
                    await hass.async_block_till_done()
                    profiler.disable()
                await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_block_till_done()
                await hass.async_stop(force=True)
    print(f"fan-out profile: {n} P1S capture messages fed in-process, {ROUNDS} passes")
    print(f"  CPU per message, median    {statistics.median(cpu):7.1f} us  (passes {min(cpu):.0f}"
          f"..{max(cpu):.0f})")  # fmt: skip
    print(f"  entity update calls/msg    {total / n:7.2f}   ({total} in one pass)")
    print(f"  state writes/msg           {writes / n:7.3f}   ({writes})")
    print("  by class: " + ", ".join(f"{k} {v}" for k, v in by_class))
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())


def main() -> None:
    """Print the figures."""
    logging.basicConfig(level=logging.ERROR)
    with asyncio.Runner(loop_factory=HassEventLoopPolicy(False).new_event_loop) as runner:
        runner.run(run("--profile" in sys.argv))


if __name__ == "__main__":
    main()
