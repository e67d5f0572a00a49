"""What the integration costs a user's Home Assistant: the whole HA process's CPU per message.

A simulator host process (bench/sim_host.py: mosquitto, the TLS front, the publisher) publishes
the P1S capture's first MESSAGES messages at RATE msg/s. Home Assistant runs in a process of its
own, fresh for every run, whose CPU (`time.process_time()`: all its threads) is read from the
first publish until the last message is handled; the same HA with no printer entry is measured
during the same publishing, and its CPU per second times the entry run's duration is subtracted.
Runs alternate entry / no entry; medians of RUNS each. Nothing else counts: mosquitto, the TLS
front and the publisher are other processes.

Also printed: state writes and state_changed per message, publish -> state latency (progress and
layer sensors; the clock is CLOCK_MONOTONIC, shared by the processes), the `json.loads` + merge
floor and the ratio to it, and the CPU split into the event loop's thread and all others (from
/proc, 100 Hz ticks). With `--profile`, a cProfile of one more entry run: time by package and the
top functions by own time. `--full` makes the printer an X1C that pushes its whole report (the
capture merged) every time. With `--transport`, each pair gets a third run: the same HA with the
integration's MQTT client alone (a no-op callback), the floor any Bambu integration pays for
receiving over TLS. The Prusa variant: one MK4 printing (its clock and the adapter's intervals
PRUSA_SPEED times faster, so a poll is due every 5 simulated seconds), HA's CPU per poll, entry
minus no entry over the same wall time.

`python -m bench.whole_process --tree PATH` measures another checkout of the integration; the
simulators and this harness stay those of this checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from pathlib import Path
import statistics
import sys
import time
from typing import Any

from bench.procs import (
    ROOT,
    Child,
    bambu_entry_data,
    load_average,
    prusa_entry_data,
    thread_cpu,
)

MESSAGES, RATE, RUNS = 2000, 50.0, 3
PRUSA_SPEED, PRUSA_SECONDS = 10.0, 30.0
SETTLE = 1.0  # seconds after setup before measuring
TARGET_US, PEER_US = 170, "1,430-1,700"
TRACKED_KEYS = ("progress", "current_layer")


# -- the Home Assistant child ------------------------------------------------------------------


async def _child(tree: str) -> None:
    """One HA, with or without one entry, measured between "go" and "stop" (see module doc)."""
    sys.path.insert(0, tree)  # imported below, so the integration comes from `tree`
    import cProfile
    from dataclasses import fields as dataclass_fields, replace
    import gc
    import io
    import pstats
    import tempfile
    from unittest.mock import patch

    from aiohttp.resolver import AsyncResolver
    from homeassistant import loader
    from homeassistant.const import EVENT_STATE_CHANGED
    from homeassistant.core import Event, callback
    from homeassistant.helpers import entity_registry as er
    from homeassistant.helpers.entity import Entity
    from pytest_homeassistant_custom_component.common import (
        MockConfigEntry,
        async_test_home_assistant,
    )

    from custom_components.printernizer import connect, const

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def reply(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    async def request() -> dict[str, Any]:
        line = await reader.readline()
        if not line:
            raise SystemExit(0)
        message: dict[str, Any] = json.loads(line)
        return message

    spec = await request()
    scale = spec.get("scale", 1.0)
    timing = connect.PrusaTiming()
    scaled = {
        f.name: getattr(timing, f.name) / scale
        for f in dataclass_fields(timing)
        if f.name.endswith(("interval", "cap", "cooldown"))
    }
    counting, changes, ours = False, 0, 0
    collections, collecting = [0, 0, 0], [0.0, 0.0, 0.0]  # per generation: count, CPU seconds
    gc_started = 0.0

    def on_gc(phase: str, info: dict[str, int]) -> None:
        nonlocal gc_started
        if not counting:
            return
        if phase == "start":
            gc_started = time.process_time()
        else:
            collections[info["generation"]] += 1
            collecting[info["generation"]] += time.process_time() - gc_started

    timeline: list[tuple[str, str, float]] = []  # tracked sensor key, new state, when
    names: dict[str, str] = {}
    write = Entity.async_write_ha_state

    by_entity: dict[str, int] = {}

    def counted(entity: Entity) -> None:
        if counting:
            by_entity[entity.entity_id] = by_entity.get(entity.entity_id, 0) + 1
        write(entity)

    @callback
    def on_change(event: Event[Any]) -> None:
        nonlocal changes, ours
        if not counting:
            return
        changes += 1
        if (key := names.get(event.data["entity_id"])) is not None:
            ours += 1
            new = event.data["new_state"]
            if key in TRACKED_KEYS and new is not None:
                timeline.append((key, new.state, time.perf_counter()))

    resolver = patch(
        "homeassistant.helpers.aiohttp_client._async_make_resolver", return_value=AsyncResolver()
    )
    prusa_timing = patch.object(
        connect,
        "PrusaTiming",
        lambda **kw: replace(timing, **scaled | {k: v / scale for k, v in kw.items()}),
    )
    with (
        tempfile.TemporaryDirectory() as config_dir,
        resolver,
        prusa_timing,
        patch.object(Entity, "async_write_ha_state", counted),
    ):
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # what `enable_custom_integrations` does
            entry = None
            if spec["entry"]:
                entry = MockConfigEntry(
                    domain=const.DOMAIN, unique_id=spec["data"][const.CONF_SERIAL],
                    title=spec["title"], data=spec["data"],
                )  # fmt: skip
                entry.add_to_hass(hass)
                if not await hass.config_entries.async_setup(entry.entry_id):
                    raise RuntimeError(f"the entry did not load: {entry.state}")
                await hass.async_block_till_done()
                registry = er.async_get(hass)
                for found in er.async_entries_for_config_entry(registry, entry.entry_id):
                    names[found.entity_id] = found.unique_id.split("_", 1)[-1]
            received = 0
            connection = None
            if spec.get("transport"):  # the integration's MQTT client alone, a no-op callback
                from custom_components.printernizer.printers.bambu.mqtt import MqttConnection
                from custom_components.printernizer.printers.bambu.tls import pinned_context

                def on_message(_: object) -> None:
                    nonlocal received
                    received += 1

                data = spec["data"]
                context = await hass.async_add_executor_job(pinned_context, data["certificate"])
                connection = MqttConnection(
                    host=data["host"], port=data["mqtt_port"], username="bblp",
                    password=data["access_code"], ssl_context=context,
                    topic=f"device/{data['serial']}/report", on_connect=lambda: None,
                    on_message=on_message, on_disconnect=lambda _: None,
                )  # fmt: skip
                await connection.connect()
            unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, on_change)
            gc.callbacks.append(on_gc)
            module = sys.modules["custom_components.printernizer"].__file__
            reply({"ready": True, "module": module, "entities": len(names)})
            await request()  # go
            profiler = cProfile.Profile(time.process_time) if spec.get("profile") else None
            cpu, wall, threads = time.process_time(), time.perf_counter(), thread_cpu()
            counting = True
            if profiler is not None:
                profiler.enable()
            reply({"going": True})
            stop = await request()
            if entry is not None and (last := stop.get("last_sequence")) is not None:
                adapter = entry.runtime_data.coordinator.adapter
                async with asyncio.timeout(30):
                    while adapter.raw_report.get("sequence_id") != last:  # noqa: ASYNC110
                        await asyncio.sleep(0.001)
            if connection is not None:
                async with asyncio.timeout(30):
                    while received < stop["count"]:  # noqa: ASYNC110
                        await asyncio.sleep(0.001)
            if profiler is not None:
                profiler.disable()
            counting = False
            gc.callbacks.remove(on_gc)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            threads = {name: spent - threads[name] for name, spent in thread_cpu().items()}
            unsubscribe()
            result: dict[str, Any] = {"cpu": cpu, "wall": wall, "by_entity": by_entity}
            result["writes"] = sum(by_entity.values())
            result["threads"] = threads
            result["gc"] = {"count": collections, "cpu": collecting}
            result |= {"changes": changes, "ours": ours, "timeline": timeline}
            if profiler is not None:
                result["profile"] = _profile_report(profiler, pstats, io)
                if dump := spec.get("profile_out"):
                    profiler.dump_stats(dump)
            if connection is not None:
                await connection.stop()
            if entry is not None:
                await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_block_till_done()
            await hass.async_stop(force=True)
    reply(result)


def _package(filename: str) -> str:
    """Which body of code a profiled function belongs to."""
    for marker, name in (
        ("custom_components/printernizer", "integration"), ("homeassistant", "homeassistant"),
        ("paho", "paho-mqtt"), ("asyncio", "asyncio"), ("json", "json"), ("ssl", "ssl"),
    ):  # fmt: skip
        if marker in filename:
            return name
    return "builtins" if filename == "~" else "other"


def _profile_report(profiler: Any, pstats: Any, io: Any) -> dict[str, Any]:
    stats = pstats.Stats(profiler)
    by_package: dict[str, float] = {}
    rows = []
    for (filename, line, function), (_, calls, own, total, _) in stats.stats.items():
        package = _package(filename)
        if package == "builtins" and "ssl" in function:
            package = "ssl"
        by_package[package] = by_package.get(package, 0.0) + own
        rows.append((own, total, calls, package, f"{Path(filename).name}:{line}({function})"))
    rows.sort(reverse=True)
    ours = [row for row in rows if row[3] == "integration"]
    return {"by_package": by_package, "top": rows[:20], "ours": ours[:20]}


# -- the orchestrator --------------------------------------------------------------------------


async def _start_ha(tree: str, spec: dict[str, Any]) -> tuple[Child, dict[str, Any]]:
    ha = await Child.start("-m", "bench.whole_process", "--child", "--tree", tree)
    await ha.send(spec)
    return ha, await ha.read()


async def bambu_run(
    host: Child,
    sim: dict[str, Any],
    args: argparse.Namespace,
    *,
    entry: bool,
    profile: bool = False,
    transport: bool = False,
) -> dict[str, Any]:
    """One fresh HA during one replay."""
    spec = {
        "entry": entry,
        "data": bambu_entry_data(sim),
        "title": f"{sim['model']} {sim['serial']}",
    }
    spec["transport"] = transport
    if entry or transport:
        await host.ask({"op": "wake", "id": sim["id"]})  # answer get_version and pushall
    spec |= {"profile": profile, "profile_out": args.profile_out if profile else None}
    ha, ready = await _start_ha(args.tree, spec)
    try:
        await host.ask({"op": "silent", "id": sim["id"]})  # the capture is all that is published
        await asyncio.sleep(SETTLE)
        await ha.ask({"op": "go"})
        stamps = (await host.ask({"op": "replay", "id": sim["id"]} | vars_(args)))["stamps"]
        last = json.loads(args.payloads[args.messages - 1])["print"]["sequence_id"]
        stop = {"op": "stop", "last_sequence": last if entry else None, "count": len(stamps)}
        result = await ha.ask(stop)
    finally:
        await ha.close()
    return result | {"stamps": stamps, "module": ready["module"], "entities": ready["entities"]}


def vars_(args: argparse.Namespace) -> dict[str, Any]:
    return {"count": args.messages, "rate": args.rate, "full": args.full}


async def prusa_run(
    host: Child, sim: dict[str, Any], args: argparse.Namespace, *, entry: bool
) -> dict[str, Any]:
    """One fresh HA while the MK4 prints, for PRUSA_SECONDS."""
    spec = {"entry": entry, "data": prusa_entry_data(sim), "title": "MK4 prusa-mk4"}
    ha, ready = await _start_ha(args.tree, spec | {"scale": PRUSA_SPEED})
    try:
        await asyncio.sleep(SETTLE)
        before = await host.ask({"op": "requests", "id": sim["id"]})
        await ha.ask({"op": "go"})
        await asyncio.sleep(args.prusa_seconds)
        result = await ha.ask({"op": "stop"})
        after = await host.ask({"op": "requests", "id": sim["id"]})
    finally:
        await ha.close()
    polls, requests = after["status"] - before["status"], after["all"] - before["all"]
    return result | {"polls": polls, "requests": requests, "module": ready["module"]}


def latencies(result: dict[str, Any], payloads: list[bytes]) -> list[float]:
    """ms from each progress/layer-moving publish to its state; inf for the never shown."""
    from bench.ha_replay import tags

    shown: dict[tuple[str, float], list[float]] = {}
    for key, state, when in result["timeline"]:
        try:
            shown.setdefault((key, float(state)), []).append(when)
        except ValueError:
            continue
    found = []
    for index, moved in tags(payloads[: len(result["stamps"])]).items():
        sent = result["stamps"][index]
        for key, value in moved:
            times = [when for when in shown.get((key, value), ()) if when >= sent]
            found.append((min(times) - sent) * 1000 if times else math.inf)
    return found


def _percentiles(values: list[float]) -> tuple[float, float]:
    from bench.ha_replay import percentiles

    return percentiles(values) if len(values) > 1 else (math.nan, math.nan)


def thread_share(entry: dict[str, Any], none: dict[str, Any], which: str) -> float:
    """`per_unit` for one group of threads (see `procs.thread_cpu`)."""
    rate = none["threads"][which] / none["wall"]
    return float(entry["threads"][which] - rate * entry["wall"])


def per_unit(entry: dict[str, Any], none: dict[str, Any]) -> float:
    """CPU seconds of the entry run minus the no-entry run's rate over the same wall time."""
    return float(entry["cpu"] - none["cpu"] / none["wall"] * entry["wall"])


async def measure(args: argparse.Namespace) -> None:
    from bench.bambu_parse import best_of, floor
    from bench.sim_host import full_reports

    host = await Child.start("-m", "bench.sim_host")
    try:
        print(f"whole-process replay: tree {args.tree}  load before: {load_average()}")
        if not args.no_bambu:
            model = "X1C" if args.full else "P1S"
            sim = await host.ask({"op": "bambu", "model": model, "speed": 1.0})
            pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
            floors: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for _ in range(args.runs):
                with_entry = await bambu_run(host, sim, args, entry=True)
                without = await bambu_run(host, sim, args, entry=False)
                pairs.append((with_entry, without))
                if args.transport:
                    bare = await bambu_run(host, sim, args, entry=False, transport=True)
                    floors.append((bare, without))
            n = args.messages
            shaped = full_reports(args.payloads[:n]) if args.full else args.payloads[:n]
            base = best_of(floor, shaped)
            cpu = [per_unit(e, b) * 1e6 / n for e, b in pairs]
            totals = [e["cpu"] * 1e6 / n for e, _ in pairs]
            idle = [b["cpu"] * 1e6 / n for _, b in pairs]
            loop_us = [thread_share(e, b, "main") * 1e6 / n for e, b in pairs]
            other_us = [thread_share(e, b, "others") * 1e6 / n for e, b in pairs]
            entry_runs = [e for e, _ in pairs]
            for run in (r for pair in pairs for r in pair):
                run["gc_us"] = sum(run["gc"]["cpu"]) * 1e6 / n
            lat = [_percentiles(latencies(e, args.payloads)) for e in entry_runs]
            missing = [latencies(e, args.payloads).count(math.inf) for e in entry_runs]
            median = statistics.median
            gc_us = [e["gc_us"] for e in entry_runs]
            gc_counts = "/".join(
                f"{median(e['gc']['count'][g] for e in entry_runs):g}" for g in range(3)
            )
            us = median(cpu)
            print(f"  module: {entry_runs[0]['module']}  ({entry_runs[0]['entities']} entities)")
            shape = "X1C full reports (the P1S capture merged)" if args.full else "P1S messages"
            print(f"  {n} {shape} at {args.rate:g} msg/s over MQTT/TLS; {args.runs} runs")
            for label, value, note in (
                ("CPU, HA with entry - without", f"{us:8.1f} us/msg",
                 f"runs {', '.join(f'{c:.0f}' for c in cpu)}; goal <= {TARGET_US}, "
                 f"peer {PEER_US}"),
                ("  HA with entry, whole", f"{median(totals):8.1f} us/msg", "process_time"),
                ("  HA without entry", f"{median(idle):8.1f} us/msg", "same publishing"),
                ("  by thread, entry - without", f"{median(loop_us):8.1f} us/msg",
                 f"event loop; other threads {median(other_us):.1f} (100 Hz ticks)"),
                ("floor: json.loads + merge", f"{base:8.2f} us/msg", f"ratio {us / base:.0f}x"),
                ("state writes", f"{median(e['writes'] / n for e in entry_runs):8.3f} /msg", ""),
                ("state_changed, ours", f"{median(e['ours'] / n for e in entry_runs):8.3f} /msg",
                 f"all entities {median(e['changes'] / n for e in entry_runs):.3f}"),
                ("publish -> state p50 / p99", f"{median(p[0] for p in lat):.2f} / "
                 f"{median(p[1] for p in lat):.2f} ms",
                 f"progress/layer changes, never shown: {max(missing)}"),
                ("garbage collection, entry", f"{median(gc_us):8.1f} us/msg",
                 f"collections gen0/1/2: {gc_counts}; "
                 f"without entry {median(b['gc_us'] for _, b in pairs):.1f} us/msg"),
                ("wall per run", f"{median(e['wall'] for e in entry_runs):8.1f} s", ""),
            ):  # fmt: skip
                print(f"  {label:30} {value:20} {note}")
            busiest = sorted(entry_runs[0]["by_entity"].items(), key=lambda item: -item[1])
            print(
                "  state writes by entity, first run: "
                + ", ".join(f"{entity.split('.', 1)[1]} {count}" for entity, count in busiest[:12])
            )
            if floors:
                bare_us = [per_unit(b, w) * 1e6 / n for b, w in floors]
                print(
                    f"  {'transport floor: MQTT client':30} {median(bare_us):8.1f} us/msg{'':6} "
                    f"runs {', '.join(f'{c:.0f}' for c in bare_us)}; the integration's MQTT "
                    "client with a no-op callback, in the same HA"
                )
            if args.profile:
                profiled = await bambu_run(host, sim, args, entry=True, profile=True)
                print_profile(profiled["profile"], n)
        if not args.no_prusa:
            prusa = await host.ask({"op": "prusa", "family": "buddy", "speed": PRUSA_SPEED})
            await host.ask({"op": "print", "id": prusa["id"], "minutes": 600.0})
            prusa_pairs = []
            for _ in range(args.runs):
                with_entry = await prusa_run(host, prusa, args, entry=True)
                without = await prusa_run(host, prusa, args, entry=False)
                prusa_pairs.append((with_entry, without))
            per_poll = [per_unit(e, b) * 1e6 / max(e["polls"], 1) for e, b in prusa_pairs]
            polls = statistics.median(e["polls"] for e, _ in prusa_pairs)
            requests = statistics.median(e["requests"] for e, _ in prusa_pairs)
            changes = statistics.median(e["ours"] / max(e["polls"], 1) for e, _ in prusa_pairs)
            print(
                f"  Prusa MK4 printing, {args.prusa_seconds:g} s per run, a poll every "
                f"{5 / PRUSA_SPEED:g} s (x{PRUSA_SPEED:g} clock):"
            )
            print(
                f"  {'CPU per poll, entry - without':30} {statistics.median(per_poll):8.0f} us"
                f"{'':9} runs {', '.join(f'{c:.0f}' for c in per_poll)}; {polls:g} polls, "
                f"{requests:g} requests, {changes:.2f} state_changed/poll"
            )
    finally:
        await host.close()
    print(f"  load after: {load_average()}")


def print_profile(profile: dict[str, Any], n: int) -> None:
    """Own time by package, then the top functions (profiled run: cProfile inflates it all)."""
    total = sum(profile["by_package"].values())
    shares = sorted(profile["by_package"].items(), key=lambda item: -item[1])
    print(f"  cProfile of one more entry run ({total * 1e6 / n:.0f} us/msg profiled):")
    print("    own time by package: " + ", ".join(f"{k} {v / total:.0%}" for k, v in shares))
    for title, rows in (("all", profile["top"]), ("the integration's", profile["ours"])):
        print(f"    top 20 by own time, {title}: own us/msg, cumulative us/msg, calls/msg")
        for own, cumulative, calls, _, where in rows:
            print(
                f"      {own * 1e6 / n:8.2f} {cumulative * 1e6 / n:9.2f} {calls / n:7.2f}  {where}"
            )


def main(argv: list[str] | None = None) -> None:
    """Print the figures (or, with --child, be one measured HA)."""
    parser = argparse.ArgumentParser(prog="python -m bench.whole_process", description=__doc__)
    parser.add_argument("--tree", default=str(ROOT), help="checkout whose integration to load")
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--rate", type=float, default=RATE, help="messages per second")
    parser.add_argument("--runs", type=int, default=RUNS, help="pairs: entry, then no entry")
    parser.add_argument("--prusa-seconds", type=float, default=PRUSA_SECONDS)
    parser.add_argument("--profile", action="store_true", help="cProfile one more entry run")
    parser.add_argument("--profile-out", help="also write the raw profile here (pstats format)")
    parser.add_argument(
        "--transport", action="store_true", help="also: a bare MQTT client in HA, per pair"
    )
    parser.add_argument("--full", action="store_true", help="an X1C: the whole report each time")
    parser.add_argument("--no-bambu", action="store_true")
    parser.add_argument("--no-prusa", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.tree = str(Path(args.tree).resolve())
    if args.child:
        import logging

        from homeassistant.runner import HassEventLoopPolicy

        logging.basicConfig(level=logging.ERROR)
        with asyncio.Runner(loop_factory=HassEventLoopPolicy(False).new_event_loop) as runner:
            runner.run(_child(args.tree))
        return
    from bench.bambu_parse import load_capture

    args.payloads = load_capture()
    args.messages = min(args.messages, len(args.payloads))
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
