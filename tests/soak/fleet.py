"""A fleet of simulated printers in one Home Assistant, printing while the network misbehaves.

Each printer is reached through a `FaultProxy` (its MQTT and FTPS ports for Bambu, its HTTP port
for Prusa). Drivers print back to back, one task per printer, and write down what the printer
itself did; the chaos task injects faults picked by a seeded RNG and counts them by kind.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import json
import math
import os
from pathlib import Path
import random
import time
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import (
    CONF_COSTS,
    CONF_FTPS_PORT,
    CONF_IDLE_POLL_SECONDS,
    CONF_MQTT_PORT,
    DOMAIN,
)
from custom_components.printernizer.history import DATA_HISTORY, JobHistory
from custom_components.printernizer.jobs import JobRecord, JobStatus
from simulator.bambu.payloads import ERR_CANCELLED
from simulator.bambu.printer import BambuSimulator
from simulator.bambu.scenarios import GARBAGE_KINDS
from simulator.bambu.thermal import AMBIENT
from simulator.proxy import FaultProxy
from simulator.prusa import PrusaSimulator

from ..integration.conftest import bambu_entry_data, prusa_entry_data

COSTS = {
    CONF_COSTS: {
        "price_per_kg_pla": 20,
        "price_per_kg_petg": 25,
        "energy_price_per_kwh": 0.30,
        "vat_percent": 19,
    }
}
BAMBU_MODELS = ("P1S", "A1", "X1C")
PRUSA_MODELS = (("buddy", "MK4"), ("pi", "MK3S"), ("buddy", "MINI"), ("pi", "MK2.5S"))
# Prints last 5-12 s, outages (with reconnect backoff) at most ~4 s, and a printer gets no new
# fault for FAULT_COOLDOWN s after one ended: as in life, a print outlasts a network hiccup.
# (A print that starts and ends unseen is not recorded; that is the lifecycle's rule.)
BAMBU_SPEED = 300
BAMBU_MINUTES = (30.0, 60.0)
PRUSA_SPEED = 60
PRUSA_MINUTES = (5.0, 9.0)
FAULT_COOLDOWN = 4.0
PRUSA_IDLE_POLL = 0.5
HA_SEES_IT = 60.0  # seconds HA may take to show what a printer did, faults included
ERR_FAILED = 0x0500_8051
PRUSA_ENDS = {"FINISHED": JobStatus.COMPLETED, "STOPPED": JobStatus.CANCELLED}
PRUSA_ENDS |= {"ERROR": JobStatus.FAILED}
OUTCOMES = ("complete", "cancel", "fail")
OUTCOME_WEIGHTS = (6, 2, 1)


def _push(**fields: Any) -> dict[str, Any]:
    return {"print": {"command": "push_status", "msg": 1, "sequence_id": "1"} | fields}


# Values a printer (or someone on its broker) may publish; each must be dropped, nothing else.
HOSTILE_BAMBU: tuple[bytes, ...] = (
    json.dumps(_push(gcode_start_time="1e20")).encode(),
    json.dumps(_push(gcode_start_time=10**12)).encode(),
    json.dumps({"info": {"command": "get_version", "sequence_id": "0", "module": 5}}).encode(),
    b'{"print":' + b"[" * 20_000 + b"]" * 20_000 + b"}",
    json.dumps(_push(nozzle_temper=float("inf"), bed_temper=float("nan"))).encode(),
    json.dumps(_push(mc_remaining_time=10**30, layer_num=-(10**20))).encode(),
    json.dumps(_push(mc_percent="1e400", spd_lvl=1e308)).encode(),
)
HOSTILE_PRUSA: tuple[bytes, ...] = (
    b"[" * 20_000 + b"]" * 20_000,
    b'{"printer": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
    b"[1, 2, 3]",
)


@dataclass(slots=True)
class Printed:
    """One print as the simulated printer did it."""

    serial: str
    key: str  # Bambu: the job name; Prusa: the printer's job id
    status: JobStatus


@dataclass(slots=True)
class Bambu:
    """A simulated Bambu printer, its proxies and its entry."""

    sim: BambuSimulator
    mqtt: FaultProxy
    ftps: FaultProxy
    entry: MockConfigEntry | None = None


@dataclass(slots=True)
class Prusa:
    """A simulated Prusa printer, its proxy and its entry."""

    sim: PrusaSimulator
    http: FaultProxy
    entry: MockConfigEntry | None = None


@dataclass
class Fleet:
    """The printers, what they printed, and the faults injected."""

    hass: HomeAssistant
    rng: random.Random
    bambu: list[Bambu] = field(default_factory=list)
    prusa: list[Prusa] = field(default_factory=list)
    printed: list[Printed] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    late: list[str] = field(default_factory=list)  # prints HA did not show in time
    restarts: int = 0
    events: list[tuple[float, str, str]] = field(default_factory=list)  # (time, serial, what)
    _busy: dict[str, float] = field(default_factory=dict)  # serial -> no new fault before
    _quiet: asyncio.Event = field(default_factory=asyncio.Event)  # set: no new faults
    # Cleared while HA restarts: a print then may run its whole (compressed) length unseen, and
    # a PrusaLink printer keeps nothing of it to record. Prints already running go on.
    _up: asyncio.Event = field(default_factory=asyncio.Event)
    _fault_tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def note(self, serial: str, what: str) -> None:
        """Keep a line for the story of one printer (shown when something went wrong)."""
        self.events.append((time.monotonic(), serial, what))

    def story(self, serial: str) -> str:
        """What happened to one printer, in order, in seconds since the first event."""
        start = self.events[0][0] if self.events else 0.0
        return "\n".join(
            f"  {at - start:7.2f} {what}" for at, who, what in self.events if who in (serial, "*")
        )

    # -- set-up ------------------------------------------------------------------------------

    async def start(
        self, stack: contextlib.AsyncExitStack, workdir: Path, bambus: int, prusas: int
    ) -> None:
        """Start the simulators and their proxies; everything is stopped by `stack`."""
        for index in range(bambus):
            sim = BambuSimulator(
                serial=f"01P00A{index:09d}",
                access_code=f"{87654321 - index}",
                model=BAMBU_MODELS[index % len(BAMBU_MODELS)],
                speed=BAMBU_SPEED,
                workdir=workdir / f"bambu-{index}",
                jitter=False,
            )
            await stack.enter_async_context(sim)
            mqtt = await stack.enter_async_context(FaultProxy(upstream_port=sim.mqtt_port))
            assert sim.ftps_port is not None
            ftps = await stack.enter_async_context(FaultProxy(upstream_port=sim.ftps_port))
            self.bambu.append(Bambu(sim, mqtt, ftps))
        for index in range(prusas):
            family, model = PRUSA_MODELS[index % len(PRUSA_MODELS)]
            sim = PrusaSimulator(
                family=family,
                model=model,
                serial=f"SOAK{index:04d}-{model}",
                password=f"soak-password-{index}",
                speed=PRUSA_SPEED,
                hang_seconds=2,
            )
            await stack.enter_async_context(sim)
            http = await stack.enter_async_context(FaultProxy(upstream_port=sim.port))
            self.prusa.append(Prusa(sim, http))

    async def set_up_entries(self) -> None:
        """One entry per printer, through its proxy, with prices so every job has a cost."""
        for bambu in self.bambu:
            data = bambu_entry_data(bambu.sim) | {
                CONF_MQTT_PORT: bambu.mqtt.port,
                CONF_FTPS_PORT: bambu.ftps.port,
            }
            bambu.entry = self._entry(bambu.sim.serial, data, COSTS)
        for prusa in self.prusa:
            data = prusa_entry_data(prusa.sim) | {CONF_HOST: f"127.0.0.1:{prusa.http.port}"}
            options = COSTS | {CONF_IDLE_POLL_SECONDS: PRUSA_IDLE_POLL}
            prusa.entry = self._entry(prusa.sim.serial, data, options)
        await self._set_up()
        assert all(entry.state is ConfigEntryState.LOADED for entry in self.entries)
        self._up.set()

    async def _set_up(self) -> None:
        """Set up every entry (the first one sets up the rest with the integration)."""
        for entry in self.entries:
            if entry.state is ConfigEntryState.NOT_LOADED:
                await self.hass.config_entries.async_setup(entry.entry_id)
            if entry.state is ConfigEntryState.LOADED:
                self._follow(entry)
            else:
                self.note(entry.unique_id or "", f"HA: set-up {entry.state.value}")
        await self.hass.async_block_till_done()

    def _follow(self, entry: MockConfigEntry) -> None:
        """Write what HA sees of the printer (online, status, job id) into its story."""
        coordinator = entry.runtime_data.coordinator
        serial = entry.unique_id or ""
        seen: list[tuple[bool, str, str | None]] = []

        def changed() -> None:
            state = coordinator.data
            now = (state.online, state.status.value, state.job.job_id or state.job.name)
            if not seen or seen[-1] != now:
                seen.append(now)
                self.note(
                    serial, f"  HA sees {now[1]} job {now[2]}" + ("" if now[0] else " (offline)")
                )

        changed()
        entry.async_on_unload(coordinator.async_add_listener(changed))

    def _entry(self, serial: str, data: dict[str, Any], options: dict[str, Any]) -> MockConfigEntry:
        entry = MockConfigEntry(
            domain=DOMAIN, unique_id=serial, title=serial, data=data, options=options
        )
        entry.add_to_hass(self.hass)
        return entry

    @property
    def entries(self) -> list[MockConfigEntry]:
        """Every printer's entry."""
        return [p.entry for p in (*self.bambu, *self.prusa) if p.entry is not None]

    async def unload(self) -> None:
        """Unload every entry (what stopping HA does to them)."""
        for entry in self.entries:
            await self.hass.config_entries.async_unload(entry.entry_id)
        await self.hass.async_block_till_done()

    async def restart_home_assistant(self) -> None:
        """Unload, keep only the stored history, set up again: as test_jobs' restart does."""
        self.note("*", "HA restart: unloading")
        self._up.clear()
        await self.unload()
        history: JobHistory = self.hass.data[DATA_HISTORY]
        await history.async_save_now()
        fresh = JobHistory(self.hass)
        await fresh.async_load()
        self.hass.data[DATA_HISTORY] = fresh
        await self._set_up()
        self.note("*", "HA restart: set up again")
        self._up.set()
        self.restarts += 1

    # -- what HA shows -----------------------------------------------------------------------

    def records(self, serial: str) -> list[JobRecord]:
        """The history's records of one printer."""
        jobs, _ = self.hass.data[DATA_HISTORY].query(serials=[serial], limit=100_000)
        return jobs

    def _find(self, serial: str, key: str, *, ended: bool) -> bool:
        for record in self.records(serial):
            if key in (record.job_name, record.printer_job_id) and (
                not ended or record.status is not JobStatus.ACTIVE
            ):
                return True
        return False

    async def _shown(self, serial: str, key: str, *, ended: bool) -> bool:
        """Wait (bounded) until HA's history has the job (ended, if asked)."""
        deadline = time.monotonic() + HA_SEES_IT
        while not self._find(serial, key, ended=ended):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def unavailable(self) -> list[str]:
        """Entities of our entries that HA shows as unavailable."""
        registry = er.async_get(self.hass)
        found = []
        for entry in self.entries:
            for item in er.async_entries_for_config_entry(registry, entry.entry_id):
                state = self.hass.states.get(item.entity_id)
                if state is not None and state.state == STATE_UNAVAILABLE:
                    found.append(item.entity_id)
        return found

    def cooled(self) -> Callable[[], bool]:
        """A condition: every Bambu printer's heaters are back at ambient temperature."""
        keys = ("nozzle_temper", "bed_temper")

        def cool() -> bool:
            return all(float(b.sim.report[k]) < AMBIENT + 1 for b in self.bambu for k in keys)

        return cool

    async def heaters_off(self) -> None:
        """Set every Bambu simulator's heater targets to 0, as an idle printer has them."""
        for printer in self.bambu:
            await printer.sim.update({"nozzle_target_temper": 0.0, "bed_target_temper": 0.0})

    def heat_report(self) -> str:
        """What each Bambu simulator shows while its heaters should be cold (for a failure)."""
        keys = ("gcode_state", "nozzle_temper", "nozzle_target_temper", "bed_temper")
        return "printers still hot: " + "; ".join(
            f"{b.sim.serial} " + " ".join(f"{k}={b.sim.report.get(k)}" for k in keys)
            for b in self.bambu
        )

    # -- the printers' users -----------------------------------------------------------------

    async def print_bambu(self, printer: Bambu, stop: asyncio.Event) -> None:
        """Print back to back; cancel or fail some jobs once HA has seen them start."""
        sim, number = printer.sim, 0
        while not stop.is_set():
            await self._up.wait()
            number += 1
            name = f"Soak {sim.serial[-2:]} #{number}"
            task = sim.start_print(name, total_layers=20, minutes=self.rng.uniform(*BAMBU_MINUTES))
            outcome = self.rng.choices(OUTCOMES, OUTCOME_WEIGHTS)[0]
            self.note(sim.serial, f"start {name!r} to {outcome}")
            if outcome != "complete" and await self._shown(sim.serial, name, ended=False):
                task.cancel()  # unless it finished first
                await asyncio.wait([task])
                if task.cancelled():
                    # As sim.cancel() does, minus clearing the error 5 printer seconds later:
                    # at this clock that is 17 ms, too short for anyone to see the cause.
                    error = ERR_CANCELLED if outcome == "cancel" else ERR_FAILED
                    await sim.update(
                        {"gcode_state": "FAILED", "print_error": error, "mc_print_stage": "1"}
                        | {"nozzle_target_temper": 0.0, "bed_target_temper": 0.0}
                    )
            await asyncio.wait([task])
            state, error = sim.report["gcode_state"], sim.report["print_error"]
            if state == "FINISH":
                status = JobStatus.COMPLETED
            else:
                assert state == "FAILED", state
                cancelled = error == ERR_CANCELLED
                status = JobStatus.CANCELLED if cancelled else JobStatus.FAILED
            self.printed.append(Printed(sim.serial, name, status))
            self.note(sim.serial, f"ended {name!r}: {status}")
            if not await self._shown(sim.serial, name, ended=True):
                self.late.append(f"{sim.serial} {name!r} {status}")

    async def print_prusa(self, printer: Prusa, stop: asyncio.Event) -> None:
        """Print back to back; stop or fail some jobs once HA has seen them start."""
        sim = printer.sim
        while not stop.is_set():
            await self._up.wait()
            task = sim.start_print(minutes=self.rng.uniform(*PRUSA_MINUTES))
            assert sim.job is not None
            key = str(sim.job.id)
            outcome = self.rng.choices(OUTCOMES, OUTCOME_WEIGHTS)[0]
            self.note(sim.serial, f"start job {key} to {outcome}")
            if outcome != "complete" and await self._shown(sim.serial, key, ended=False):
                if task.done():
                    pass
                elif outcome == "cancel":
                    await sim.stop_print()
                else:
                    await sim.error()
            await asyncio.wait([task])
            self.printed.append(Printed(sim.serial, key, PRUSA_ENDS[sim.state]))
            self.note(sim.serial, f"ended job {key}: {sim.state}")
            if not await self._shown(sim.serial, key, ended=True):
                self.late.append(f"{sim.serial} job {key} {sim.state}")
            await sim.clear()

    # -- the network and the broker ----------------------------------------------------------

    def faults_for(self, printer: Bambu | Prusa) -> dict[str, Callable[[], Awaitable[None]]]:
        """The faults this printer can suffer now, by kind."""
        if isinstance(printer, Bambu):
            sim = printer.sim
            return {
                "broker restart": sim.restart_broker,
                "cut connection": lambda: self._cut(printer.mqtt),
                "TLS handshake failure": lambda: self._reject(printer.mqtt),
                "MQTT silence": lambda: self._silence(printer.mqtt),
                "FTPS 550": lambda: self._hide_job_file(sim),
                "FTPS timeout": lambda: self._silence(printer.ftps, 3.0, 6.0),
                "hostile Bambu value": lambda: self._hostile(sim),
                "Bambu garbage": lambda: self._garbage(sim),
            }
        sim2 = printer.sim
        return {
            "stale nonce": self._sync(sim2.expire_nonces),
            "HTTP 503": self._sync(lambda: sim2.inject(status_503=2)),
            "HTTP timeout": self._sync(lambda: sim2.inject(hang=1)),
            "truncated body": self._sync(lambda: sim2.inject(truncate=1)),
            "non-JSON body": self._sync(lambda: sim2.inject(non_json=1)),
            "hostile PrusaLink body": self._sync(lambda: self._serve_hostile(sim2)),
            "cut connection": lambda: self._cut(printer.http),
            "HTTP silence": lambda: self._silence(printer.http),
        }

    def _serve_hostile(self, sim: PrusaSimulator) -> None:
        body = self.rng.choice(HOSTILE_PRUSA)
        self.note(sim.serial, f"  serving {body[:40]!r} for /api/v1/status")
        sim.serve("/api/v1/status", body)

    @staticmethod
    def _sync(action: Callable[[], object]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            action()

        return run

    async def _hostile(self, sim: BambuSimulator) -> None:
        payload = self.rng.choice(HOSTILE_BAMBU)
        self.note(sim.serial, f"  published {payload[:100]!r}")
        await sim.publish_raw(payload)

    async def _garbage(self, sim: BambuSimulator) -> None:
        kind = self.rng.choice(GARBAGE_KINDS)
        self.note(sim.serial, f"  published {kind} garbage")
        await sim.publish_garbage(kind)

    async def _cut(self, proxy: FaultProxy) -> None:
        await proxy.cut()

    async def _reject(self, proxy: FaultProxy) -> None:
        proxy.reject(self.rng.randint(1, 2))
        await proxy.cut()

    async def _silence(self, proxy: FaultProxy, low: float = 1.0, high: float = 3.0) -> None:
        proxy.silence()
        try:
            await asyncio.sleep(self.rng.uniform(low, high))
        finally:
            proxy.resume()

    async def _hide_job_file(self, sim: BambuSimulator) -> None:
        """The job's 3MF is gone for a while: FTPS answers 550."""
        cache = sim.sdcard / "cache"
        files = await asyncio.to_thread(lambda: sorted(cache.glob("*.3mf")))
        if not files:
            return
        path = files[-1]
        hidden = path.with_suffix(".hidden")
        with contextlib.suppress(OSError):
            await asyncio.to_thread(path.rename, hidden)
            await asyncio.sleep(self.rng.uniform(1.0, 4.0))
            await asyncio.to_thread(hidden.rename, path)

    async def chaos(self, stop: asyncio.Event, interval: tuple[float, float]) -> None:
        """Inject a random fault into a random printer every so often, until `stop`."""
        printers: list[Bambu | Prusa] = [*self.bambu, *self.prusa]
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.rng.uniform(*interval)):
                    await stop.wait()
            if stop.is_set() or self._quiet.is_set():
                continue
            printer = self.rng.choice(printers)
            serial = printer.sim.serial
            if self._busy.get(serial, 0.0) > time.monotonic():
                continue
            if printer.entry is None or printer.entry.state is not ConfigEntryState.LOADED:
                # Retrying its set-up: HA waits 5, 10, 20... s between tries, so faults piled
                # on those tries would only test how long HA's retry schedule can get.
                continue
            kind, fault = self.rng.choice(sorted(self.faults_for(printer).items()))
            self.faults[kind] += 1
            self.note(serial, f"fault: {kind}")
            self._busy[serial] = math.inf
            task = asyncio.create_task(fault(), name=f"soak-fault-{kind}")
            self._fault_tasks.add(task)
            task.add_done_callback(lambda done, s=serial: self._fault_done(done, s))

    def _fault_done(self, task: asyncio.Task[None], serial: str) -> None:
        self.note(serial, f"fault over: {task.get_name().removeprefix('soak-fault-')}")
        self._fault_tasks.discard(task)
        self._busy[serial] = time.monotonic() + FAULT_COOLDOWN

    async def calm(self) -> None:
        """No new faults; those in progress end (silences lifted, pending PrusaLink ones gone)."""
        self._quiet.set()
        await asyncio.gather(*self._fault_tasks, return_exceptions=False)
        for prusa in self.prusa:
            prusa.sim.inject()

    def allow_faults(self) -> None:
        """Faults may start again (after `calm`)."""
        self._quiet.clear()


def open_sockets(ports: set[int]) -> list[str]:
    """This process's TCP sockets with an end on one of `ports` (from /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                ends = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
                if inode in inodes and ends & ports:
                    found.append(f"{local} -> {remote} state {fields[3]}")
    return found
