"""A print farm in one Home Assistant: loop busy share, loop lag, memory and state changes.

PRINTERS simulated printers, four in five Bambu Lab (P1S, A1, P1S, X1C, ...) and the rest Prusa
(MK4 on Buddy, MK3S on a Pi, alternating), run in two simulator host processes
(bench/sim_host.py); Home Assistant, with one config entry per printer, runs in this process.
Every printer prints back to back. Their clocks run SPEED times faster, so MINUTES simulated
minutes take MINUTES / SPEED real ones, but their message rates are real: a P1/A1 sends what
changed once a second, an X1 its whole report twice a second (the print's own changes wait for
the next tick, as the firmware batches them), and the Prusa adapter polls at its shipped
intervals (5 s while printing). Job events (progress, layers, a print ending) come SPEED times
as often as in life; temperatures and Wi-Fi, the bulk of the traffic, do not.

Measured over the window, after every entry is loaded and a warm-up:
- event-loop busy share: CPU time of the loop's thread / wall time (and the whole process's);
- loop lag: how late a 10 ms probe timer fires, p50 / p99 / max;
- memory per printer: resident set after the window minus before the first entry, / printers
  (and the marginal cost: after all entries minus after the first, / (printers - 1));
- state_changed per printer-hour (real hours) and messages received per second.

`python -m bench.fleet --printers 2 --minutes 1` is a quick run; `--tree PATH` loads another
checkout's integration (simulators and harness stay this checkout's).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any

from bench.procs import (
    ROOT,
    Child,
    bambu_entry_data,
    load_average,
    prusa_entry_data,
    rss_kib,
)

PRINTERS, MINUTES, SPEED = 50, 10.0, 5.0
PROBE = 0.010  # seconds between loop-lag probes
WARM_UP = 5.0  # real seconds between the last entry loaded and the window
BAMBU_MODELS = ("P1S", "A1", "P1S", "X1C")
PRUSA_MODELS = (("buddy", "MK4"), ("pi", "MK3S"))
TARGET_SHARE, TARGET_LAG_MS = 0.10, 10.0


class Probe:
    """A timer every PROBE s; records how late each one fired."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lags: list[float] = []
        self._due = loop.time() + PROBE
        self._handle = loop.call_at(self._due, self._fire)

    def _fire(self) -> None:
        now = self.loop.time()
        self.lags.append(now - self._due)
        self._due = now + PROBE
        self._handle = self.loop.call_at(self._due, self._fire)

    def stop(self) -> None:
        self._handle.cancel()


async def start_printers(
    bambu_host: Child, prusa_host: Child, printers: int, speed: float
) -> list[tuple[dict[str, Any], str]]:
    """Each printer's simulator reply and title; prints start once HA has them all."""
    bambu = printers * 4 // 5 if printers > 1 else printers
    found = []
    for index in range(bambu):
        model = BAMBU_MODELS[index % len(BAMBU_MODELS)]
        sim = await bambu_host.ask({"op": "bambu", "model": model, "speed": speed, "paced": True})
        found.append((sim | {"host_kind": "bambu"}, f"{model} {sim['serial']}"))
    for index in range(printers - bambu):
        family, model = PRUSA_MODELS[index % len(PRUSA_MODELS)]
        sim = await prusa_host.ask(
            {"op": "prusa", "family": family, "model": model, "speed": speed}
        )
        found.append((sim | {"host_kind": "prusa"}, f"{model} {sim['serial']}"))
    return found


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the fleet; every figure, by name."""
    from aiohttp.resolver import AsyncResolver
    from homeassistant import loader
    from homeassistant.const import EVENT_STATE_CHANGED
    from homeassistant.core import Event, callback
    from pytest_homeassistant_custom_component.common import (
        MockConfigEntry,
        async_test_home_assistant,
    )

    bambu_host = await Child.start("-m", "bench.sim_host")
    prusa_host = await Child.start("-m", "bench.sim_host")
    hosts = {"bambu": bambu_host, "prusa": prusa_host}
    figures: dict[str, Any] = {"load_before": load_average()}
    resolver = patch_resolver(AsyncResolver)
    try:
        printers = await start_printers(bambu_host, prusa_host, args.printers, args.speed)
        for index, (sim, _) in enumerate(printers):
            # Bambu prints of 6 to 15 simulated minutes, so some end in the window; Prusa prints
            # outlast it (an idle PrusaLink printer is polled once a minute: it would learn of
            # the next print late and mostly idle).
            length = 6.0 + (index * 7) % 10
            if sim["host_kind"] == "prusa":
                length += args.minutes
            await hosts[sim["host_kind"]].ask(
                {"op": "print", "id": sim["id"], "minutes": length, "loop": True}
            )
        with tempfile.TemporaryDirectory() as config_dir, resolver:
            async with async_test_home_assistant(config_dir=config_dir) as hass:
                hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
                rss_empty = rss_kib()
                entries = []
                for sim, title in printers:
                    data = (
                        bambu_entry_data(sim)
                        if sim["host_kind"] == "bambu"
                        else prusa_entry_data(sim)
                    )
                    entry = MockConfigEntry(
                        domain="printernizer", unique_id=sim["serial"], title=title, data=data
                    )
                    entries.append(entry)
                entries[0].add_to_hass(hass)  # setting up the first loads the integration
                if not await hass.config_entries.async_setup(entries[0].entry_id):
                    raise RuntimeError(f"{entries[0].title} did not load")
                await hass.async_block_till_done()
                rss_first = rss_kib()
                for entry in entries[1:]:
                    entry.add_to_hass(hass)
                loaded = await asyncio.gather(
                    *(hass.config_entries.async_setup(e.entry_id) for e in entries[1:])
                )
                if not all(loaded):
                    raise RuntimeError(f"{loaded.count(False)} entries did not load")
                await hass.async_block_till_done()
                figures["module"] = sys.modules["custom_components.printernizer"].__file__
                minutes = args.minutes
                await asyncio.sleep(args.warm_up)
                changes = 0

                @callback
                def on_change(_: Event[Any]) -> None:
                    nonlocal changes
                    changes += 1

                unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, on_change)
                published = (await bambu_host.ask({"op": "published"}))["published"]
                polls = await prusa_polls(prusa_host, printers)
                probe = Probe(asyncio.get_running_loop())
                cpu, thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
                await asyncio.sleep(minutes * 60 / args.speed)
                cpu, thread = time.process_time() - cpu, time.thread_time() - thread
                wall = time.perf_counter() - wall
                probe.stop()
                unsubscribe()
                published = (await bambu_host.ask({"op": "published"}))["published"] - published
                polls = await prusa_polls(prusa_host, printers) - polls
                rss_after = rss_kib()
                for entry in entries:
                    await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_block_till_done()
                await hass.async_stop(force=True)
    finally:
        await asyncio.gather(bambu_host.close(), prusa_host.close())
    n = len(printers)
    lags = sorted(lag * 1000 for lag in probe.lags)
    cuts = statistics.quantiles(lags, n=100, method="inclusive") if len(lags) > 1 else [0.0] * 99
    figures |= {
        "printers": n, "wall": wall, "loop_share": thread / wall, "process_share": cpu / wall,
        "lag_p50": cuts[49], "lag_p99": cuts[98], "lag_max": lags[-1] if lags else 0.0,
        "probes": len(lags), "rss_per_printer": (rss_after - rss_empty) / n,
        "rss_marginal": (rss_after - rss_first) / max(n - 1, 1),
        "changes_per_printer_hour": changes / n / (wall / 3600),
        "messages_per_second": published / wall, "polls_per_second": polls / wall,
        "load_after": load_average(),
    }  # fmt: skip
    return figures


def patch_resolver(resolver: type) -> Any:
    """The bare HA has no zeroconf resolver for its HTTP session; as the test plugin does."""
    from unittest.mock import patch

    return patch(
        "homeassistant.helpers.aiohttp_client._async_make_resolver", return_value=resolver()
    )


async def prusa_polls(prusa_host: Child, printers: list[tuple[dict[str, Any], str]]) -> int:
    total = 0
    for sim, _ in printers:
        if sim["host_kind"] == "prusa":
            total += (await prusa_host.ask({"op": "requests", "id": sim["id"]}))["status"]
    return total


def report(figures: dict[str, Any], args: argparse.Namespace) -> None:
    """Print every figure, with the goals."""
    f = figures
    share_ok = "ok" if f["loop_share"] < TARGET_SHARE else "MISSED"
    lag_ok = "ok" if f["lag_p99"] < TARGET_LAG_MS else "MISSED"
    print(
        f"fleet: {f['printers']} printers, {args.minutes:g} simulated minutes at x{args.speed:g} "
        f"({f['wall']:.0f} s real)  load before {f['load_before']}, after {f['load_after']}"
    )
    print(f"  module: {f['module']}")
    for label, value, note in (
        ("event-loop busy share", f"{f['loop_share']:8.1%}",
         f"loop thread CPU / wall [goal < {TARGET_SHARE:.0%} of a core: {share_ok}]"),
        ("whole-process CPU share", f"{f['process_share']:8.1%}", "all threads / wall"),
        ("loop lag p50 / p99 / max", f"{f['lag_p50']:.2f} / {f['lag_p99']:.2f} / "
         f"{f['lag_max']:.1f} ms",
         f"{f['probes']} probes of {PROBE * 1000:.0f} ms [goal p99 < {TARGET_LAG_MS:g} ms: "
         f"{lag_ok}]"),
        ("memory per printer", f"{f['rss_per_printer'] / 1024:8.2f} MiB",
         f"RSS delta / printers; marginal {f['rss_marginal'] / 1024:.2f} MiB"),
        ("state_changed per printer-hour", f"{f['changes_per_printer_hour']:8.0f}", "real hours"),
        ("Bambu messages sent to HA", f"{f['messages_per_second']:8.1f} /s",
         f"Prusa status polls {f['polls_per_second']:.1f} /s"),
    ):  # fmt: skip
        print(f"  {label:32} {value:22} {note}")


def main(argv: list[str] | None = None) -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--printers", type=int, default=PRINTERS)
    parser.add_argument("--minutes", type=float, default=MINUTES, help="simulated minutes")
    parser.add_argument("--speed", type=float, default=SPEED, help="simulated s per real s")
    parser.add_argument("--warm-up", type=float, default=WARM_UP, help="real s before measuring")
    parser.add_argument("--tree", default=str(ROOT), help="checkout whose integration to load")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(args.tree).resolve()))  # before HA imports the integration
    from homeassistant.runner import HassEventLoopPolicy

    logging.basicConfig(level=logging.ERROR)
    with asyncio.Runner(loop_factory=HassEventLoopPolicy(False).new_event_loop) as runner:
        figures = runner.run(measure(args))
    report(figures, args)


if __name__ == "__main__":
    main()
