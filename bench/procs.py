"""Child processes spoken to in JSON lines: the simulator host and Home Assistant instances."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
import sys
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_QUIT_TIMEOUT = 30.0


class Child:
    """`python -m <module>` from the repository root; stderr goes to ours."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *args: str) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=ROOT, limit=2**24,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    async def send(self, request: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        await self.process.stdin.drain()

    async def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"child {self.process.pid} ended (exit {await self.process.wait()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"child {self.process.pid}: {reply['error']}")
        return reply

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        await self.send(request)
        return await self.read()

    async def close(self) -> None:
        """Ask it to quit; kill it (this one process, by its id) if it does not."""
        if self.process.returncode is None:
            with contextlib.suppress(OSError):
                await self.send({"op": "quit"})
            try:
                async with asyncio.timeout(_QUIT_TIMEOUT):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def rss_kib() -> int:
    """This process's resident set now, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) so far of this process's main thread and of all others.

    Python 3.13 does not name its threads for the kernel, so the main thread (the event loop's,
    in the benches) is told apart by its id, which is the process id.
    """
    tick = os.sysconf("SC_CLK_TCK")
    result = {"main": 0.0, "others": 0.0}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        which = "main" if int(task.name) == os.getpid() else "others"
        result[which] += (int(fields[11]) + int(fields[12])) / tick
    return result


def load_average() -> str:
    """The 1/5/15-minute load, to judge whether other work shared the cores."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def bambu_entry_data(sim: dict[str, Any]) -> dict[str, Any]:
    """Entry data for a simulated Bambu printer the simulator host reported."""
    return {
        "printer_type": "bambu", "host": "127.0.0.1", "serial": sim["serial"],
        "access_code": sim["access_code"], "certificate": sim["certificate"],
        "mqtt_port": sim["mqtt_port"], "ftps_port": sim["ftps_port"], "model": sim["model"],
    }  # fmt: skip


def prusa_entry_data(sim: dict[str, Any]) -> dict[str, Any]:
    """Entry data for a simulated PrusaLink printer the simulator host reported."""
    return {
        "printer_type": "prusa", "host": sim["host"], "username": sim["username"],
        "password": sim["password"], "serial": sim["serial"], "model": sim["model"],
    }  # fmt: skip
