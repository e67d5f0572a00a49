"""Soak: 10 printers print back to back in one HA while the network, the broker and HA misbehave.

`make test` runs the short version (SOAK_SECONDS of faults, 30 by default); `SOAK_MINUTES=30
make soak` the long one. SOAK_SEED picks another fault sequence. Afterwards every print the
simulators did is in the history exactly once with the printer's outcome and a cost, nothing
was logged as an error, every entity is available, no socket to a printer is left open, and
the process is idle again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import contextlib
from functools import partial
import logging
import os
from pathlib import Path
import random
import time

from homeassistant.core import HomeAssistant
import pytest

from custom_components.printernizer import connect
from custom_components.printernizer.printers.prusa.adapter import Timing as PrusaTiming

from .fleet import Fleet, open_sockets

SOAK_SECONDS = float(os.environ.get("SOAK_MINUTES", "0")) * 60 or float(
    os.environ.get("SOAK_SECONDS", "30")
)
SEED = int(os.environ.get("SOAK_SEED", "20261202"))
BAMBU_PRINTERS = int(os.environ.get("SOAK_BAMBU", "6"))
PRUSA_PRINTERS = int(os.environ.get("SOAK_PRUSA", "4"))
FAULT_INTERVAL = (0.2, 0.8)  # seconds between faults, fleet-wide
# Idle again: within this share of a core, plus a quarter of the idle before the faults, of
# that idle (a spinning loop, like paho replaying one bad packet forever, takes a whole core).
# The proportional part is for coverage tracing, which makes an idle fleet cost 70-90 % of a
# core and its noise 15 points; without coverage the idle is about 12 %.
IDLE_CPU_MORE = 0.15
# Seconds; a print lasts 5-9 of them (PRUSA_MINUTES at PRUSA_SPEED), so several polls see it.
PRUSA_ACTIVE_POLL = 1.0
PRUSA_BACKOFF_CAP = 3.0
IDLE_CPU_NOISE = 0.25


@pytest.mark.soak
@pytest.mark.timeout(SOAK_SECONDS + 600)
async def test_fleet_survives_faults(
    hass: HomeAssistant,
    socket_enabled: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.WARNING)
    # Prusa prints last seconds here, not hours: poll and back off on the same compressed
    # scale, or a print can begin and end inside one back-off after a fault and leave nothing
    # to record (Buddy drops the job from its status once the print is over).
    monkeypatch.setattr(
        connect,
        "PrusaTiming",
        partial(PrusaTiming, active_interval=PRUSA_ACTIVE_POLL, backoff_cap=PRUSA_BACKOFF_CAP),
    )
    fleet = Fleet(hass, random.Random(SEED))
    ports: set[int] = set()
    async with contextlib.AsyncExitStack() as stack:
        await fleet.start(stack, tmp_path, BAMBU_PRINTERS, PRUSA_PRINTERS)
        for bambu in fleet.bambu:
            assert bambu.sim.ftps_port is not None
            ports |= {bambu.sim.mqtt_port, bambu.sim.ftps_port, bambu.mqtt.port, bambu.ftps.port}
        for prusa in fleet.prusa:
            ports |= {prusa.sim.port, prusa.http.port}
        await fleet.set_up_entries()
        stack.push_async_callback(fleet.unload)
        baseline_unavailable = set(fleet.unavailable())
        idle_before = await _cpu_share(seconds=3.0)

        stop_prints, stop_faults = asyncio.Event(), asyncio.Event()
        drivers = [asyncio.create_task(fleet.print_bambu(p, stop_prints)) for p in fleet.bambu] + [
            asyncio.create_task(fleet.print_prusa(p, stop_prints)) for p in fleet.prusa
        ]
        chaos = asyncio.create_task(fleet.chaos(stop_faults, FAULT_INTERVAL))
        try:
            await _run_for(SOAK_SECONDS / 2, drivers)
            await fleet.calm()
            await fleet.restart_home_assistant()  # mid-print for most of the fleet
            fleet.allow_faults()
            await _run_for(SOAK_SECONDS / 2, drivers)
        finally:
            stop_faults.set()
            await chaos
            await fleet.calm()
            stop_prints.set()
            async with asyncio.timeout(120):
                await asyncio.gather(*drivers)

        # Afterwards: every entity back, the history as the printers tell it, nothing logged.
        unavailable: list[str] = []
        deadline = time.monotonic() + 60
        while (unavailable := sorted(set(fleet.unavailable()) - baseline_unavailable)) and (
            time.monotonic() < deadline
        ):
            await asyncio.sleep(0.2)
        await hass.async_block_till_done()
        # Idle means cooled down too: a cooling heater reports every printer second.
        cooled = fleet.cooled()
        deadline = time.monotonic() + 60
        while not cooled() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        # A simulated heater left on is the simulator's business, not HA's: switch it off, say
        # so in the summary, and measure HA's idle CPU anyway. A simulator that cannot cool fails.
        still_hot = "" if cooled() else fleet.heat_report()
        if still_hot:
            await fleet.heaters_off()
            deadline = time.monotonic() + 60
            while not cooled() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert cooled(), fleet.heat_report()
        idle_after = await _cpu_share(seconds=3.0)
        problems = _history_problems(fleet)
        errors = Counter(
            f"{r.name} {r.levelname}: {r.getMessage().splitlines()[0][:200]}"
            + (f" {r.exc_info[1]!r}" if r.exc_info else "")
            for r in caplog.records
            if r.levelno >= logging.ERROR or r.exc_info
        )
        malformed = sum(
            getattr(entry.runtime_data.coordinator.adapter, "malformed", 0)
            for entry in fleet.entries
        )
    await hass.async_block_till_done()
    leaked = await hass.async_add_executor_job(open_sockets, ports)

    statuses = Counter(p.status.value for p in fleet.printed)
    summary = (
        f"SOAK {SOAK_SECONDS:.0f}s seed {SEED}: {len(fleet.bambu)} Bambu + {len(fleet.prusa)} "
        f"Prusa, prints {len(fleet.printed)} ({_counts(statuses)}), "
        f"faults {fleet.faults.total()} ({_counts(fleet.faults)}), HA restarts {fleet.restarts}, "
        f"records {sum(len(fleet.records(s)) for s in _serials(fleet))}, "
        f"malformed dropped {malformed}, errors logged {errors.total()}, history problems "
        f"{len(problems)}, late {len(fleet.late)}, idle CPU {idle_before:.0%} before and "
        f"{idle_after:.0%} after, sockets left {len(leaked)}"
        + (f"; heaters switched off by the soak ({still_hot})" if still_hot else "")
    )
    with capsys.disabled():
        print(f"\n{summary}")  # the line the lead quotes

    troubled = {line.split()[0] for line in [*problems, *fleet.late]}
    stories = "\n".join(f"{serial}:\n{fleet.story(serial)}" for serial in sorted(troubled))
    assert not problems, "\n".join(problems) + "\n" + stories
    assert not fleet.late, f"HA did not show these prints within a minute: {fleet.late}\n{stories}"
    assert not errors, "\n".join(f"{n} x {line}" for line, n in errors.most_common())
    assert not unavailable, unavailable
    assert not leaked, leaked
    assert idle_after < idle_before * (1 + IDLE_CPU_NOISE) + IDLE_CPU_MORE, summary
    assert len(fleet.printed) >= len(fleet.bambu) + len(fleet.prusa), summary
    assert fleet.faults.total() >= SOAK_SECONDS / 2, summary


async def _run_for(seconds: float, drivers: list[asyncio.Task[None]]) -> None:
    """Let the fleet run; a driver that died (an assertion about the simulators) ends it."""
    done, _ = await asyncio.wait(drivers, timeout=seconds, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        task.result()


async def _cpu_share(seconds: float) -> float:
    """CPU this process used per wall second over the next `seconds`."""
    started, cpu = time.monotonic(), time.process_time()
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu) / (time.monotonic() - started)


def _serials(fleet: Fleet) -> list[str]:
    return [p.sim.serial for p in (*fleet.bambu, *fleet.prusa)]


def _history_problems(fleet: Fleet) -> list[str]:
    """Each print exactly once, with the printer's outcome and a cost; nothing else."""
    problems = []
    for serial in _serials(fleet):
        records = fleet.records(serial)
        expected = [p for p in fleet.printed if p.serial == serial]
        keys = {p.key for p in expected}
        for printed in expected:
            found = [r for r in records if printed.key in (r.job_name, r.printer_job_id)]
            if len(found) != 1:
                seen = [(r.status.value, r.started_at.isoformat()) for r in found]
                problems.append(f"{serial} {printed.key!r}: {len(found)} records {seen}")
                continue
            (record,) = found
            if record.status is not printed.status:
                problems.append(
                    f"{serial} {printed.key!r}: {record.status} in the history, the printer "
                    f"said {printed.status}"
                )
            if record.cost is None:
                problems.append(f"{serial} {printed.key!r}: no cost")
        problems += [
            f"{serial}: a record for no print: {r.job_name!r} job {r.printer_job_id} {r.status}"
            for r in records
            if not keys & {r.job_name, r.printer_job_id}
        ]
    return problems


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counter.items()))
