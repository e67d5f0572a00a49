"""How gently the Prusa adapter polls: requests per printer-minute, idle and printing.

The adapter runs with its shipped Timing() against the PrusaLink simulator (Buddy MK4 and Pi
MK3S) over real HTTP on loopback. Real minutes are too slow for a benchmark, so time is scaled by
K: every Timing interval is divided by K, the simulator's clock runs K times faster and its nonce
lifetimes (real time in the simulator) are divided by K too. Request and download timeouts are
left as shipped: they only bound a request and none fires on loopback (the failure column shows
it). Counts are bucketed by the simulator's clock and divided by simulated minutes, which is what
one printer would see in real minutes. The adapter waits its interval after a poll ends, so the
scaled loopback latency (about 2 ms real, 0.2 s simulated) stretches each period a little, as a
slower printer would: while printing, 5 s becomes about 5.2 s.

Three runs per family, all at once (each its own simulator, so in-flight figures do not mix):
idle with the integration's default idle interval (const.DEFAULT_IDLE_POLL_SECONDS), idle with
Timing()'s own 30 s, and a PRINT_MINUTES print from IDLE to FINISHED at the integration default,
during which a consumer asks for the job's metadata once, as a preview or sensor would.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, replace
import logging
import math
import time

import aiohttp

from custom_components.printernizer.const import DEFAULT_IDLE_POLL_SECONDS
from custom_components.printernizer.printers.models import JobMetadata, PrinterState
from custom_components.printernizer.printers.prusa.adapter import (
    PrusaAdapter,
    PrusaConfig,
    Timing,
)
from simulator.prusa import PrusaSimulator, RecordedRequest

K = 100  # time scale: simulated seconds per real second
WARM_UP = 10  # simulated minutes after start() before idle counting, so that the window
IDLE_MINUTES = 60  # (simulated, whole polls) holds the hourly identity re-read, like any hour
PRINT_MINUTES = 60  # simulated, plus heat-up
WRAP_UP = 120  # simulated seconds after FINISHED counted as the print's wrap-up
BASELINE = 5 * 60 / 30  # HA core prusalink: 5 endpoints every 30 s, idle or printing
TARGET_IDLE, TARGET_IN_FLIGHT = 2.0, 1
FAMILIES = (("buddy", "MK4"), ("pi", "MK3S"))
CATEGORIES = ("status", "job", "printer", "ver/info", "storage", "dl/meta")
SCALED = ("active_interval", "idle_interval", "identity_interval", "material_interval")
SCALED += ("backoff_cap", "refresh_cooldown")


def category(path: str) -> str:
    """The endpoint group of one request target."""
    route = path.split("?")[0]
    if route == "/api/v1/status":
        return "status"
    if route.startswith("/api/v1/job"):
        return "job"
    if route == "/api/printer":
        return "printer"
    if route in ("/api/version", "/api/v1/info"):
        return "ver/info"
    if route == "/api/v1/storage":
        return "storage"
    return "dl/meta"  # job file (head or tail), thumbnail, file listings


def scaled(timing: Timing) -> Timing:
    """Every interval divided by K; timeouts as shipped."""
    return replace(timing, **{name: getattr(timing, name) / K for name in SCALED})


@dataclass
class Window:
    """The requests of one phase and its length in simulated minutes."""

    requests: list[RecordedRequest]
    minutes: float

    @property
    def rate(self) -> float:
        return len(self.requests) / self.minutes

    @property
    def polls(self) -> float:
        """Status reads answered per minute: how often the state is fresh."""
        return sum(category(r.path) == "status" and r.status == 200 for r in self.requests) / (
            self.minutes
        )

    def by_category(self) -> Counter[str]:
        return Counter(category(r.path) for r in self.requests)

    @property
    def challenged(self) -> float:
        """401 answers (stale digest nonces) per minute; each is followed by its retry."""
        return sum(r.status == 401 for r in self.requests) / self.minutes

    @property
    def failed(self) -> int:
        """Requests that were never answered or answered with a server error."""
        return sum(r.status is None or r.hung or r.status >= 500 for r in self.requests)


@dataclass
class Run:
    """One simulator, one adapter, one scenario."""

    setup: int = 0  # requests of adapter.start()
    windows: dict[str, Window] = field(default_factory=dict)
    in_flight: int = 0
    connections: int = 0
    offline: int = 0  # snapshots published with online False
    malformed: int = 0
    metadata: JobMetadata | None = None


def window(sim: PrusaSimulator, start: float, end: float) -> Window:
    picked = [r for r in sim.requests if start <= r.sim_time < end]
    return Window(picked, (end - start) / 60)


def whole_polls(sim: PrusaSimulator, start: float, end: float, gap: float) -> Window:
    """From the first poll at or after `start` to the first at or after `end`.

    A poll whose requests took several idle intervals' worth waits that many intervals, so a
    window cut mid-poll could hold a poll's requests but not the wait they buy: whole polls only.
    Requests closer than `gap` simulated seconds belong to one poll.
    """
    starts, last = [], -math.inf
    for request in sim.requests:
        if request.sim_time - last > gap:
            starts.append(request.sim_time)
        last = request.sim_time
    first = next(t for t in starts if t >= start)
    return window(sim, first, next((t for t in starts if t >= end), last))


async def scenario(family: str, model: str, idle_seconds: float, *, printing: bool) -> Run:
    """Start the adapter on a fresh simulator, then stay idle or print; count what arrives."""
    run = Run()
    sim = PrusaSimulator(family=family, model=model, speed=K)
    sim.auth.ttl /= K  # nonce lifetimes run on real time in the simulator
    timing = scaled(replace(Timing(), idle_interval=idle_seconds))
    async with sim, aiohttp.ClientSession() as session:
        config = PrusaConfig(host=sim.host, port=sim.port, password=sim.password)
        adapter = PrusaAdapter(config, session, timing)
        consumer: list[asyncio.Task[JobMetadata | None]] = []

        def on_state(state: PrinterState) -> None:
            run.offline += not state.online
            if printing and state.job.job_id is not None and not consumer:
                consumer.append(asyncio.ensure_future(adapter.job_metadata()))

        adapter.add_listener(on_state)
        await adapter.start()
        run.setup = len(sim.requests)
        start = sim.clock.now()
        try:
            if printing:
                await sim.start_print(minutes=PRINT_MINUTES)  # heat-up, print, FINISHED
                finished = sim.clock.now()
                await sim.clock.sleep(WRAP_UP)
                active = f"printing, interval {timing.active_interval * K:g} s"
                run.windows[active] = window(sim, start, finished)
                after = f"after it, interval {idle_seconds:g} s"
                run.windows[after] = window(sim, finished, finished + WRAP_UP)
                run.metadata = await consumer[0] if consumer else None
            else:
                begin, end = start + WARM_UP * 60, start + (WARM_UP + IDLE_MINUTES) * 60
                await sim.clock.sleep(end - start + 4 * idle_seconds)  # the poll after `end`
                label = f"idle, interval {idle_seconds:g} s"
                run.windows[label] = whole_polls(sim, begin, end, idle_seconds / 2)
        finally:
            await adapter.stop()
        run.in_flight, run.connections = sim.max_in_flight, sim.max_connections_open
        run.malformed = adapter.malformed
    return run


async def measure() -> list[tuple[str, list[Run]]]:
    idles = (DEFAULT_IDLE_POLL_SECONDS, Timing().idle_interval)
    plans = [
        [scenario(family, model, seconds, printing=False) for seconds in idles]
        + [scenario(family, model, DEFAULT_IDLE_POLL_SECONDS, printing=True)]
        for family, model in FAMILIES
    ]
    results = await asyncio.gather(*(asyncio.gather(*plan) for plan in plans))
    return [
        (f"{model} ({family})", runs)
        for (family, model), runs in zip(FAMILIES, results, strict=True)
    ]


def mark(value: float, target: float) -> str:
    return f"target <= {target:g}: {'ok' if value <= target else 'MISSED'}"


def main() -> None:
    """Print the figures."""
    logging.basicConfig(level=logging.ERROR)
    wall = time.perf_counter()
    results = asyncio.run(measure())
    wall = time.perf_counter() - wall
    shipped = Timing()
    print(
        f"prusa requests: time SCALED {K}x (Timing intervals / {K}, printer clock x {K}, nonce"
        f" lifetimes / {K}; timeouts as shipped); figures per simulated printer-minute"
    )
    print(
        f"  Timing() as shipped: active {shipped.active_interval:g} s, idle"
        f" {shipped.idle_interval:g} s, material {shipped.material_interval:g} s, identity"
        f" {shipped.identity_interval:g} s; the integration's idle default:"
        f" {DEFAULT_IDLE_POLL_SECONDS} s"
    )
    print(
        f"  idle: {IDLE_MINUTES} min of whole polls from {WARM_UP} min after start(); printing:"
        f" start_print -> FINISHED (heat-up + {PRINT_MINUTES} min, one job_metadata() call by a"
        f" consumer), then {WRAP_UP // 60:g} min wrap-up"
    )
    print(
        f"  baseline: HA core prusalink polls 5 endpoints every 30 s = {BASELINE:g} req/min,"
        " idle or printing"
    )
    print(
        "  columns per minute: polls = status reads answered 200 (fresh state), 401 = stale digest"
        " nonces (each retried, counted in its endpoint); status /api/v1/status, job /api/v1/job,"
        " printer /api/printer, ver/info /api/version + /api/v1/info, storage /api/v1/storage,"
        " dl/meta job file + thumbnail; failed = unanswered or 5xx (count)"
    )
    head = "".join(f"{name:>9}" for name in CATEGORIES)
    print(
        f"  {'':29}{'min':>4}{'req/min':>9}{'/base':>7}{'polls':>7}{'401/min':>8}{'failed':>7}"
        f"{head}"
    )
    for printer, runs in results:
        print(f"  {printer}")
        for run in runs:
            for phase, win in run.windows.items():
                counts = win.by_category()
                cells = "".join(f"{counts[name] / win.minutes:9.2f}" for name in CATEGORIES)
                note = f"  {mark(win.rate, TARGET_IDLE)}" if phase.startswith("idle") else ""
                print(
                    f"    {phase:27}{win.minutes:4.0f}{win.rate:9.2f}"
                    f"{win.rate / BASELINE:6.2f}x{win.polls:7.2f}{win.challenged:8.2f}"
                    f"{win.failed:7}{cells}{note}"
                )
        peak = max(run.in_flight for run in runs)
        connections = max(run.connections for run in runs)
        setup = "/".join(f"{run.setup}" for run in runs)
        meta = next((run.metadata for run in runs if run.metadata is not None), None)
        got = "none" if meta is None else f"read, thumbnail {meta.thumbnail_png is not None}"
        offline, malformed = sum(run.offline for run in runs), sum(run.malformed for run in runs)
        print(
            f"    requests in flight at once: max {peak} [{mark(peak, TARGET_IN_FLIGHT)}];"
            f" connections open at once: max {connections}"
        )
        print(
            f"    start(): {setup} requests; offline snapshots {offline}, bad replies {malformed};"
            f" job metadata {got}"
        )
    print(f"  (wall {wall:.1f} s for six simulator + adapter pairs run side by side)")


if __name__ == "__main__":
    main()
