"""Simulated printers in a process of their own, driven by JSON lines on stdin.

The benches that measure Home Assistant's whole process must not pay for the simulator, its TLS
front or the publisher: they run here. One request per line, one JSON reply per line on stdout:

- `{"op": "bambu", "model": "P1S", "speed": 1, "paced": false}`: start a Bambu simulator; the
  reply holds what a config entry needs. `paced` publishes at the real firmware's rates whatever
  the clock speed (see `PacedBambu`).
- `{"op": "prusa", "family": "buddy", "model": "MK4", "speed": 1}`: start a PrusaLink simulator.
- `{"op": "wake" | "silent", "id": n}`: a Bambu simulator answers (or not) and publishes (or not).
- `{"op": "replay", "id": n, "count": 2000, "rate": 50}`: publish the P1S capture's first
  `count` messages `1/rate` s apart on an absolute schedule (with `"full": true`, each as the
  whole report so far, as an X1 pushes); the reply lists each send's
  `time.perf_counter()` (CLOCK_MONOTONIC, the same clock in every process on Linux).
- `{"op": "print", "id": n, "minutes": 30, "loop": true}`: start a print (or prints back to back).
- `{"op": "requests", "id": n}`: a Prusa simulator's answered status reads and all requests.
- `{"op": "published"}`: messages published by paced Bambu simulators so far.
- `{"op": "quit"}`: stop everything and exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sys
import time
from typing import Any

from bench.bambu_parse import load_capture
from simulator.bambu import thermal
from simulator.bambu.certs import CertificateAuthority
from simulator.bambu.payloads import FULL_REPORT_MODELS
from simulator.bambu.printer import BambuSimulator
from simulator.bambu.scenarios import PrintJob, run_forever
from simulator.prusa import PrusaSimulator

DELTA_INTERVAL = 1.0  # real seconds between P1/A1 deltas while printing
FULL_INTERVAL = 0.5  # real seconds between X1 full pushes


class PacedBambu(BambuSimulator):
    """Publishes at the firmware's real rates while its clock (the print) runs `speed` times faster.

    Changes made by the print scenario are held and go out with the next tick, as the firmware
    batches them: a P1/A1 sends what changed once a second, an X1 its whole report twice a second.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pending: dict[str, Any] = {}
        self.published = 0
        self._pace_rng = random.Random(self.serial)

    async def _push(self, changed: dict[str, Any]) -> None:
        self.pending.update(changed)

    async def _tick_loop(self) -> None:
        full = self.model in FULL_REPORT_MODELS
        interval = FULL_INTERVAL if full else DELTA_INTERVAL
        loop = asyncio.get_running_loop()
        due = loop.time() + self._pace_rng.uniform(0, interval)  # printers are not in step
        last = self.clock.now()
        while True:
            await asyncio.sleep(max(due - loop.time(), 0))
            due += interval
            now = self.clock.now()
            fields = thermal.step(self.report, now - last, self._pace_rng, self._heaters)
            last = now
            if self._pace_rng.random() < 0.3:
                fields["wifi_signal"] = f"-{self._pace_rng.randint(48, 58)}dBm"
            self.pending.update(self._apply(fields))
            if self._silent:
                continue
            if full:
                await self.push_full()
            elif self.pending:
                changed, self.pending = self.pending, {}
                await self._publish({"print": changed | self._envelope(1)})
            else:
                continue
            self.published += 1


class Host:
    """The simulators of this process, by id."""

    def __init__(self) -> None:
        self.ca = CertificateAuthority.create()
        self.bambu: dict[int, BambuSimulator] = {}
        self.prusa: dict[int, PrusaSimulator] = {}
        self.tasks: list[asyncio.Task[Any]] = []
        self.capture = load_capture()

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "bambu":
            index = len(self.bambu) + len(self.prusa)
            kind = PacedBambu if request.get("paced") else BambuSimulator
            sim = kind(
                serial=f"01P00A{index:09d}", model=request.get("model", "P1S"), ca=self.ca,
                speed=request.get("speed", 1.0), jitter=bool(request.get("paced")),
            )  # fmt: skip
            await sim.start()
            if not request.get("paced"):
                sim.go_silent()
                # The capture prints Benchy.gcode.3mf: a real printer has that file, so the
                # adapter fetches it once instead of retrying a missing file during the replay.
                await asyncio.to_thread(PrintJob("Benchy").write_3mf, sim.sdcard)
            self.bambu[index] = sim
            return {
                "id": index, "serial": sim.serial, "access_code": sim.access_code,
                "certificate": sim.cert_pem, "mqtt_port": sim.mqtt_port,
                "ftps_port": sim.ftps_port, "model": sim.model,
            }  # fmt: skip
        if op == "prusa":
            index = len(self.bambu) + len(self.prusa)
            family = request.get("family", "buddy")
            prusa = PrusaSimulator(
                family=family, model=request.get("model"), speed=request.get("speed", 1.0),
                serial=f"10589-{index:016d}",
            )  # fmt: skip
            await prusa.start()
            self.prusa[index] = prusa
            return {
                "id": index, "host": f"127.0.0.1:{prusa.port}", "serial": prusa.serial,
                "username": prusa.username, "password": prusa.password, "model": prusa.model,
            }  # fmt: skip
        if op in ("wake", "silent"):
            sim = self.bambu[request["id"]]
            sim.wake() if op == "wake" else sim.go_silent()
            return {"ok": True}
        if op == "replay":
            return {"stamps": await self.replay(request)}
        if op == "print":
            self.start_print(request)
            return {"ok": True}
        if op == "requests":
            recorded = self.prusa[request["id"]].requests
            status = sum(r.path.startswith("/api/v1/status") and r.status == 200 for r in recorded)
            return {"status": status, "all": len(recorded)}
        if op == "published":
            return {"published": sum(getattr(s, "published", 0) for s in self.bambu.values())}
        raise ValueError(f"unknown op {op!r}")

    async def replay(self, request: dict[str, Any]) -> list[float]:
        sim = self.bambu[request["id"]]
        spacing = 1.0 / request["rate"]
        payloads = self.capture[: request["count"]]
        if request.get("full"):
            payloads = full_reports(payloads)
        loop = asyncio.get_running_loop()
        stamps: list[float] = []
        start = loop.time()
        for index, payload in enumerate(payloads):
            await asyncio.sleep(max(start + index * spacing - loop.time(), 0))
            stamps.append(time.perf_counter())
            await sim.publish_raw(payload)
        return stamps

    def start_print(self, request: dict[str, Any]) -> None:
        index, minutes = request["id"], request.get("minutes", 30.0)
        if index in self.bambu:
            sim = self.bambu[index]
            job = PrintJob("Benchy", max(10, round(minutes * 5)), minutes)
            if request.get("loop"):
                self.tasks.append(asyncio.create_task(run_forever(sim, job, idle_minutes=1.0)))
            else:
                sim.start_print(job.subtask, total_layers=job.total_layers, minutes=minutes)
        elif request.get("loop"):
            prusa = self.prusa[index]
            self.tasks.append(asyncio.create_task(prusa.run_loop(minutes=minutes, idle_minutes=1)))
        else:
            self.prusa[index].start_print(minutes=minutes)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        sims: list[BambuSimulator | PrusaSimulator] = [*self.bambu.values(), *self.prusa.values()]
        await asyncio.gather(*(sim.stop() for sim in sims), return_exceptions=True)


def full_reports(payloads: list[bytes]) -> list[bytes]:
    """The capture as an X1 sends it: the whole report so far, every time."""
    report: dict[str, Any] = {}
    built = []
    for payload in payloads:
        _merge(report, json.loads(payload)["print"])
        built.append(json.dumps({"print": report | {"msg": 0}}).encode())
    return built


def _merge(report: dict[str, Any], delta: dict[str, Any]) -> None:
    """Nested objects merge, everything else replaces: what the printer's full report holds."""
    for key, value in delta.items():
        if isinstance(value, dict) and isinstance(report.get(key), dict):
            _merge(report[key], value)
        else:
            report[key] = value


async def serve() -> None:
    host = Host()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            request = json.loads(line)
            if request["op"] == "quit":
                break
            try:
                reply = await host.handle(request)
            except Exception as err:  # the bench reads it and stops
                reply = {"error": f"{type(err).__name__}: {err}"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        await host.close()


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
