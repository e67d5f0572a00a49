"""Run the demo until Ctrl-C: `python -m demo --help`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
import signal
import sys
import time

from .stack import PASSWORD, USERNAME, DemoStack, Ports, StackError


def build_parser() -> argparse.ArgumentParser:
    """Where the demo keeps its state, its port and how fast the printers print."""
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path(".demo"), help="config kept here")
    parser.add_argument("--port", type=int, default=8123, help="Home Assistant's HTTP port")
    parser.add_argument("--speed", type=float, default=15.0, help="simulated seconds per second")
    parser.add_argument("--minutes", type=float, default=45.0, help="the P1S job's print time")
    return parser


async def _run(args: argparse.Namespace) -> None:
    """Ctrl-C cancels this task wherever it is (even mid-start); the stack then stops in order."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def interrupt() -> None:
        print("\nStopping ...", flush=True)
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut it short
            loop.add_signal_handler(signum, print, "Still stopping ...")
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupt)
    started = time.monotonic()
    print(f"Starting the printer simulators and Home Assistant in {args.dir} ...", flush=True)
    stack = DemoStack(
        args.dir, ports=Ports(http=args.port), speed=args.speed, job_minutes=args.minutes
    )
    with contextlib.suppress(asyncio.CancelledError):
        async with stack:
            print(f"\nHome Assistant is up after {time.monotonic() - started:.0f} s: {stack.url}")
            print(f"Log in as      {USERNAME} / {PASSWORD}")
            print(f"Dashboard      {stack.dashboard_url}")
            for printer in stack.printers.values():
                print(f"Printer        {printer.title}  ({stack.url}/config/devices/device/"
                      f"{printer.device_id})")  # fmt: skip
            print(f"HA log         {stack.log_file}")
            print("Ctrl-C stops everything.", flush=True)
            await asyncio.Event().wait()
    print("Stopped.")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run until Ctrl-C; 1 with the HA log tail when the stack fails."""
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(_run(args))
    except (StackError, OSError) as err:  # OSError: a printer's port is taken
        print(f"The demo did not come up: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
