"""Run a simulated printer for the demo or by hand: `python -m simulator bambu --help`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import signal
import sys

from simulator.bambu.payloads import MODELS
from simulator.bambu.printer import BambuSimulator
from simulator.bambu.scenarios import PrintJob, run_forever
from simulator.prusa.printer import BUDDY_MODELS, PI_MODELS, PrusaSimulator

_COOL_DOWN = 60.0  # simulated seconds recorded after a --once print finishes


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per printer brand."""
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    brands = parser.add_subparsers(dest="brand", required=True)
    bambu = brands.add_parser("bambu", help="a Bambu Lab printer (MQTT over TLS + FTPS)")
    bambu.add_argument("--model", choices=MODELS, default="P1S")
    bambu.add_argument("--serial", default="01P00A000000001")
    bambu.add_argument("--access-code", default="12345678")
    bambu.add_argument("--host", default="127.0.0.1", help="address to listen on")
    bambu.add_argument("--mqtt-port", type=int, default=0, help="0 picks a free port (real: 8883)")
    bambu.add_argument("--ftps-port", type=int, default=0, help="0 picks a free port (real: 990)")
    bambu.add_argument("--camera-port", type=int, default=0, help="P1S/A1 (real: 6000)")
    bambu.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    bambu.add_argument("--scenario", choices=("idle", "print", "loop"), default="idle")
    bambu.add_argument("--subtask", default="Benchy", help="job name for print/loop")
    bambu.add_argument("--minutes", type=float, default=30.0, help="print time for print/loop")
    bambu.add_argument("--layers", type=int, default=50, help="layer count for print/loop")
    bambu.add_argument("--replay", type=Path, help="publish this JSON-lines capture")
    bambu.add_argument("--record", type=Path, help="write everything published to this file")
    bambu.add_argument("--lockdown", action="store_true", help="2025 firmware: refuse control")
    bambu.add_argument("--no-jitter", action="store_true", help="no idle sensor/Wi-Fi deltas")
    bambu.add_argument("--workdir", type=Path, help="keep certificates and SD card here")
    bambu.add_argument("--once", action="store_true", help="exit when the print/replay is over")
    bambu.set_defaults(run=_run_bambu)
    prusa = brands.add_parser("prusa", help="a Prusa printer speaking PrusaLink over HTTP")
    prusa.add_argument(
        "--family", choices=("buddy", "pi"), default="buddy",
        help="buddy: MK4/MK3.9/Core One/XL/MINI firmware; pi: PrusaLink on a Raspberry Pi (MK3)",
    )  # fmt: skip
    prusa.add_argument("--model", choices=BUDDY_MODELS + PI_MODELS, help="default MK4 / MK3S")
    prusa.add_argument("--serial", default="10589-3742441631036958")
    prusa.add_argument("--username", default="maker", help="digest user (Buddy ignores it)")
    prusa.add_argument("--password", default="secretpass12", help="Buddy: also the X-Api-Key")
    prusa.add_argument("--api-key", default="pi-api-key-1234", help="the Pi's X-Api-Key")
    prusa.add_argument("--firmware", help="reported firmware version")
    prusa.add_argument("--host", default="127.0.0.1", help="address to listen on")
    prusa.add_argument("--port", type=int, default=0, help="0 picks a free port (real: 80)")
    prusa.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    prusa.add_argument("--scenario", choices=("idle", "print", "loop"), default="idle")
    prusa.add_argument("--minutes", type=float, default=30.0, help="print time for print/loop")
    prusa.add_argument("--max-connections", type=int, help="connections served at once")
    prusa.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    prusa.add_argument("--workdir", type=Path, help="files in WORKDIR/usb (or local) are added")
    prusa.add_argument("--once", action="store_true", help="exit when the print is over")
    prusa.set_defaults(run=_run_prusa)
    return parser


async def _run_bambu(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sim = BambuSimulator(
        serial=args.serial,
        access_code=args.access_code,
        model=args.model,
        speed=args.speed,
        workdir=args.workdir,
        host=args.host,
        mqtt_port=args.mqtt_port,
        ftps_port=args.ftps_port,
        camera_port=args.camera_port,
        lockdown=args.lockdown,
        jitter=not args.no_jitter,
        record=args.record,
    )
    async with sim:
        print(
            f"Bambu Lab {sim.model} simulator  serial {sim.serial}  access code {sim.access_code}"
        )
        print(f"MQTT (TLS)   {sim.host}:{sim.mqtt_port}")
        print(f"FTPS         {sim.host}:{sim.ftps_port}")
        if sim.camera is not None:
            print(f"Camera (TLS) {sim.host}:{sim.camera.port}")
        print(f"CA           {sim.ca_file}")
        print(f"Certificate  SHA-256 {sim.cert_fingerprint}")
        print("Ctrl-C stops.", flush=True)
        job = PrintJob(args.subtask, args.layers, args.minutes)
        work: asyncio.Task[object] | None = None
        if args.replay is not None:
            work = asyncio.create_task(sim.replay(args.replay))
        elif args.scenario == "print":
            work = sim.start_print(job.subtask, total_layers=job.total_layers, minutes=job.minutes)
        elif args.scenario == "loop":
            work = asyncio.create_task(run_forever(sim, job))
        stopped = asyncio.create_task(stop.wait())
        ends = [stopped, work] if args.once and work is not None else [stopped]
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            await sim.clock.sleep(_COOL_DOWN)  # --once: let the capture show the cool-down
        for task in (stopped, work):
            if task is not None:
                task.cancel()
                await asyncio.wait([task])


async def _run_prusa(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sim = PrusaSimulator(
        family=args.family,
        model=args.model,
        serial=args.serial,
        username=args.username,
        password=args.password,
        api_key=args.api_key,
        firmware=args.firmware,
        speed=args.speed,
        host=args.host,
        port=args.port,
        workdir=args.workdir,
        max_connections=args.max_connections,
    )
    async with sim:
        sim.inject(latency=args.latency)
        user = "maker" if sim.family == "buddy" else sim.username
        key = sim.password if sim.family == "buddy" else sim.api_key
        print(f"Prusa {sim.model} simulator ({sim.family})  serial {sim.serial}")
        print(f"PrusaLink    {sim.base_url}")
        print(f"Digest       {user} / {sim.password}")
        print(f"X-Api-Key    {key}")
        print("Ctrl-C stops.", flush=True)
        work: asyncio.Task[None] | None = None
        if args.scenario == "print":
            work = sim.start_print(minutes=args.minutes)
        elif args.scenario == "loop":
            work = asyncio.create_task(sim.run_loop(minutes=args.minutes))
        stopped = asyncio.create_task(stop.wait())
        ends = [stopped, work] if args.once and work is not None else [stopped]
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopped, work):
            if task is not None:
                task.cancel()
                await asyncio.wait([task])


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run until Ctrl-C (or the end of a --once run)."""
    args = build_parser().parse_args(argv)
    asyncio.run(args.run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
