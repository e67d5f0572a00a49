"""One simulated Prusa printer on loopback: Buddy firmware or PrusaLink on a Raspberry Pi.

States: IDLE -> PRINTING (heat-up, then progress) -> FINISHED, with PAUSED, ATTENTION (filament
runout mid-print), STOPPED, ERROR and BUSY. FINISHED, STOPPED and ERROR persist until a new
print starts or `clear()`. Telemetry is computed from the accelerated clock whenever it is read
(`advance`), so the only background task is a running print waiting for its end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
import contextlib
from dataclasses import dataclass
import logging
import math
from pathlib import Path
import time
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from simulator.bambu import thermal
from simulator.bambu.clock import SimClock

from .auth import BuddyAuth, PiAuth
from .faults import Faults
from .files import Entry, Storage, Transfer, VirtualFile, is_print_file, sample_storages
from .gcode import parse_duration
from .listener import Listener
from .payloads import JOB_STATES
from .server import PrusaLinkApi, RecordedRequest

_LOGGER = logging.getLogger(__name__)

FAMILIES = ("buddy", "pi")
BUDDY_MODELS = ("MK4", "MK4S", "MK3.9", "MK3.5", "COREONE", "XL", "MINI")
PI_MODELS = ("MK3S", "MK3", "MK2.5S")
_NO_FIRMWARE_IN_VERSION = ("XL", "MINI")  # still on 6.4.x: no firmware/printer in /api/version
_STEP = 5.0  # simulated seconds between checks of a running print
_MIN_TICK = 0.005  # real seconds; keeps huge speed factors from spinning the loop
_PARK = (242.0, 211.0, 5.0)
_HOT = 50.0
_CAN_PRINT = ("IDLE", "READY", "FINISHED", "STOPPED")


def _number(text: str | None, default: float) -> float:
    """First number of a metadata value ("215" or "215,215" per extruder)."""
    try:
        return float((text or "").split(",")[0])
    except ValueError:
        return default


@dataclass(eq=False, slots=True)
class Job:
    """A print: heat-up first (no progress), then `duration` simulated seconds of printing."""

    id: int
    storage: Storage
    chain: list[Entry]  # root-to-file path in `storage`
    duration: float
    started: float  # simulated Unix time
    color_change: float | None = None  # progress fraction with an M600 (filament_change_in)
    max_z: float = 40.0  # mm, from the file's max_layer_z
    time_printing: float = 0.0
    done: float = 0.0
    heating: bool = True

    @property
    def file(self) -> VirtualFile:
        """The file being printed."""
        entry = self.chain[-1]
        assert isinstance(entry, VirtualFile)
        return entry

    @property
    def progress(self) -> float:
        """Percent."""
        return 100.0 * self.done / self.duration if self.duration > 0 else 100.0

    @property
    def time_remaining(self) -> int:
        """Simulated seconds left."""
        return math.ceil(max(self.duration - self.done, 0.0))

    @property
    def filament_change_in(self) -> int | None:
        """Simulated seconds until the filament change, if one is still ahead."""
        if self.color_change is None or self.done >= self.color_change * self.duration:
            return None
        return math.ceil(self.color_change * self.duration - self.done)


class PrusaSimulator:
    """A PrusaLink printer as LAN clients see it. See the package docstring for the API."""

    def __init__(
        self,
        *,
        family: str = "buddy",
        model: str | None = None,
        serial: str = "10589-3742441631036958",
        username: str = "maker",
        password: str = "secretpass12",  # noqa: S107 - the simulator's documented default
        api_key: str = "pi-api-key-1234",
        speed: float = 60.0,
        host: str = "127.0.0.1",
        port: int = 0,
        workdir: Path | None = None,
        nonce_ttl: float | None = None,
        firmware: str | None = None,
        capacity: int = 8 * 2**30,
        max_connections: int | None = None,
        hang_seconds: float = 30.0,
    ) -> None:
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        self.family = family
        self.model = model or ("MK4" if family == "buddy" else "MK3S")
        if self.model not in (BUDDY_MODELS if family == "buddy" else PI_MODELS):
            raise ValueError(f"model {self.model!r} does not run {family} firmware")
        if firmware is None:
            firmware = "3.14.1" if family == "pi" else "6.5.3"
            if self.model in _NO_FIRMWARE_IN_VERSION:
                firmware = "6.4.0"
        self.firmware = firmware
        self.serial, self.username, self.password = serial, username, password
        self.api_key, self.host, self.port = api_key, host, port
        self.hostname = "prusa-" + self.model.lower().replace(".", "")
        self.clock = SimClock(speed)
        self.auth: BuddyAuth | PiAuth = (
            BuddyAuth(password, ttl=nonce_ttl or 300.0)
            if family == "buddy"
            else PiAuth(username, password, api_key, ttl=nonce_ttl or 60.0)
        )
        self.files: dict[str, Storage] = sample_storages(family, self.model, capacity)
        self.faults = Faults()
        self.hang_seconds = hang_seconds
        self.max_connections = max_connections
        self.printer_connected = True  # Pi: False answers 503 before auth
        self.unresponsive = False
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.state = "IDLE"
        self.job: Job | None = None  # the current or last job (its id answers job routes)
        self.transfer: Transfer | None = None
        self.print_minutes: float | None = None  # prints started over HTTP: None = file estimate
        self.material = "PLA"
        self.temp_nozzle, self.target_nozzle = thermal.AMBIENT, 0.0
        self.temp_bed, self.target_bed = thermal.AMBIENT, 0.0
        self.axis_x, self.axis_y, self.axis_z = _PARK
        self.flow, self.print_speed = 100, 100  # percent
        self._workdir = workdir
        self._last = self.clock.now()
        self._next_job_id = 1
        self._next_transfer_id = 1
        self._closing = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._print_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._listener: Listener | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on `host`:`port` (0 picks a free port)."""
        if self._workdir is not None:
            await asyncio.to_thread(self._load_workdir, self._workdir)
        self._closing.clear()
        self._runner = web.AppRunner(
            PrusaLinkApi(self).application(), access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        assert self._runner.server is not None
        self._listener = Listener(
            self._runner.server, self.host, self.port,
            max_connections=self.max_connections, hold_seconds=self.hang_seconds,
        )  # fmt: skip
        await self._listener.start()
        self.port = self._listener.port

    async def stop(self) -> None:
        """Release hung requests, close every socket, cancel the print; nothing is left behind."""
        self._closing.set()
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _load_workdir(self, workdir: Path) -> None:
        """Files in workdir/<storage>/ join that storage (for the demo: your own G-code)."""
        for name, storage in self.files.items():
            folder = workdir / name
            if folder.is_dir():
                for path in sorted(folder.iterdir()):
                    if path.is_file():
                        storage.add_file(path.name, path.read_bytes())

    @property
    def base_url(self) -> str:
        """http://host:port."""
        return f"http://{self.host}:{self.port}"

    @property
    def main_storage(self) -> Storage:
        """Where uploads go by default: usb (Buddy) or local (Pi)."""
        return self.files["usb" if self.family == "buddy" else "local"]

    @property
    def max_connections_open(self) -> int:
        """Most connections served at once so far."""
        return self._listener.max_open if self._listener is not None else 0

    # -- telemetry ---------------------------------------------------------------------------

    def advance(self) -> None:
        """Bring heaters and the job up to the printer clock."""
        now = self.clock.now()
        seconds, self._last = now - self._last, now
        if seconds <= 0:
            return
        heaters = {
            "nozzle_temper": self.temp_nozzle, "nozzle_target_temper": self.target_nozzle,
            "bed_temper": self.temp_bed, "bed_target_temper": self.target_bed,
        }  # fmt: skip
        stepped = thermal.step(heaters, seconds, None)
        self.temp_nozzle, self.temp_bed = stepped["nozzle_temper"], stepped["bed_temper"]
        job = self.job
        if job is None or self.state != "PRINTING":
            return
        job.time_printing += seconds
        if job.heating:
            hot = self.temp_nozzle >= self.target_nozzle - 2.0
            job.heating = not (hot and self.temp_bed >= self.target_bed - 2.0)
            return
        job.done = min(job.duration, job.done + seconds)
        self.axis_z = 0.2 + (job.max_z - 0.2) * job.done / max(job.duration, 1.0)

    @property
    def fan_hotend(self) -> int:
        """Heatbreak fan RPM: runs whenever the nozzle is hot."""
        return 6800 if self.temp_nozzle > _HOT else 0

    @property
    def fan_print(self) -> int:
        """Part cooling fan RPM: on while extruding past the first layer."""
        job = self.job
        active = self.state == "PRINTING" and job is not None and not job.heating
        return 4900 if active and job is not None and job.progress > 2.0 else 0

    @property
    def has_job(self) -> bool:
        """A job is running (PRINTING, PAUSED or ATTENTION): /job answers 200."""
        return self.job is not None and self.state in JOB_STATES

    @property
    def can_print(self) -> bool:
        """A new print may start now."""
        return self.state in _CAN_PRINT

    # -- the user at the printer -------------------------------------------------------------

    def start_print(
        self, path: str | None = None, *, minutes: float = 30.0, color_change: float | None = None
    ) -> asyncio.Task[None]:
        """Print `path` on the main storage (default: its first print file) for `minutes`."""
        if not self.can_print:
            raise RuntimeError(f"cannot start a print while {self.state}")
        storage = self.main_storage
        if path is None:
            chain = next((c for c, f in storage.files() if is_print_file(f.name)), None)
        else:
            chain = storage.locate(path)
        if not chain or not isinstance(chain[-1], VirtualFile):
            raise FileNotFoundError(path)
        return self._begin(storage, chain, minutes * 60.0, color_change)

    def begin_http_print(self, storage: Storage, chain: list[Entry]) -> None:
        """A client started a print: it lasts `print_minutes` or the file's own estimate."""
        file = chain[-1]
        assert isinstance(file, VirtualFile)
        estimate = parse_duration(file.metadata().get("estimated printing time (normal mode)", ""))
        seconds = self.print_minutes * 60.0 if self.print_minutes is not None else estimate
        self._begin(storage, chain, float(seconds or 1800))

    def _begin(
        self,
        storage: Storage,
        chain: list[Entry],
        seconds: float,
        color_change: float | None = None,
    ) -> asyncio.Task[None]:
        self.advance()
        file = chain[-1]
        assert isinstance(file, VirtualFile)
        meta = file.metadata()
        self.job = Job(self._next_job_id, storage, chain, seconds, self.clock.wall(), color_change)
        self.job.max_z = _number(meta.get("max_layer_z"), 40.0)
        self._next_job_id += 1
        self.material = meta.get("filament_type", self.material).split(";")[0]
        self.target_nozzle = _number(meta.get("temperature"), 215.0)
        self.target_bed = _number(meta.get("bed_temperature"), 60.0)
        self.axis_z = 0.2
        self.state = "PRINTING"
        self._print_task = self._spawn(self._run(self.job))
        return self._print_task

    async def _run(self, job: Job) -> None:
        while True:
            self.advance()
            if self.state == "PRINTING" and not job.heating and job.done >= job.duration:
                break
            await asyncio.sleep(max(_STEP / self.clock.speed, _MIN_TICK))
        self._end("FINISHED")

    def _end(self, state: str) -> None:
        self.advance()
        self.state = state
        self.target_nozzle = self.target_bed = 0.0
        self.axis_z = min(self.axis_z + 10.0, 210.0)

    async def _cancel_print(self) -> None:
        task, self._print_task = self._print_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task])

    async def pause(self) -> None:
        """PRINTING -> PAUSED (as from the screen or the API)."""
        if self.state == "PRINTING":
            self.advance()
            self.state = "PAUSED"

    async def resume(self) -> None:
        """PAUSED or ATTENTION -> PRINTING (the user confirms at the printer)."""
        if self.state in ("PAUSED", "ATTENTION"):
            self.advance()
            self.state = "PRINTING"

    async def attention(self) -> None:
        """Filament runout mid-print: ATTENTION until `resume()`."""
        if self.state in ("PRINTING", "PAUSED"):
            self.advance()
            self.state = "ATTENTION"

    async def stop_print(self) -> None:
        """Abort the job: STOPPED, which persists until a new print or `clear()`."""
        if self.state in JOB_STATES:
            await self._cancel_print()
            self._end("STOPPED")

    async def error(self) -> None:
        """A fault (thermal runaway, say): ERROR, any job ends, until `clear()`."""
        await self._cancel_print()
        self._end("ERROR")

    async def busy(self) -> None:
        """Loading filament or similar outside a print: BUSY until `clear()`."""
        if self.can_print:
            self.state = "BUSY"

    async def clear(self) -> None:
        """Leave the end-of-print screen (or the error, or BUSY): back to IDLE."""
        if self.state in ("FINISHED", "STOPPED", "ERROR", "BUSY", "READY"):
            self.advance()
            self.state = "IDLE"
            self.axis_x, self.axis_y = _PARK[:2]

    async def run_loop(self, *, minutes: float = 30.0, idle_minutes: float = 2.0) -> None:
        """Print, show FINISHED, go idle, repeat: the demo's `loop` scenario."""
        while True:
            if self.can_print:
                await asyncio.wait([self.start_print(minutes=minutes)])
            await self.clock.sleep(idle_minutes * 60.0)
            if self.state in ("FINISHED", "STOPPED"):
                await self.clear()

    # -- network misbehaviour ----------------------------------------------------------------

    def go_offline(self, *, hang: bool = False) -> None:
        """Refuse connections (and drop open ones), or with `hang` accept but never answer."""
        listener = self._require_listener()
        self.unresponsive = hang
        if hang:
            listener.hold()
        else:
            listener.refuse()

    def go_online(self) -> None:
        """Answer again (the same port)."""
        self.unresponsive = False
        self._require_listener().serve()

    def _require_listener(self) -> Listener:
        if self._listener is None:
            raise RuntimeError("simulator not started")
        return self._listener

    def inject(
        self,
        *,
        latency: float = 0.0,
        status_503: int = 0,
        hang: int = 0,
        truncate: int = 0,
        non_json: int = 0,
    ) -> None:
        """Replace the fault profile (`inject()` clears it); semantics in faults.py."""
        self.faults = Faults(latency, status_503, hang, truncate, non_json)

    def serve(
        self,
        path: str,
        body: Any,
        *,
        times: int = 1,
        status: int = 200,
        content_type: str = "application/json",
    ) -> None:
        """Answer the next `times` requests for `path` with `body`; see `Faults.serve`."""
        self.faults.serve(path, body, times=times, status=status, content_type=content_type)

    def expire_nonces(self) -> None:
        """Every nonce handed out so far becomes stale."""
        self.auth.expire_nonces()

    def reset_stats(self) -> None:
        """Forget recorded requests and the in-flight peak (for a benchmark's next phase)."""
        self.requests.clear()
        self.max_in_flight = self.in_flight

    # -- used by the server ------------------------------------------------------------------

    def request_started(self) -> None:
        """A request entered the gate."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def request_finished(self) -> None:
        """A request left the gate (answered or given up)."""
        self.in_flight -= 1

    async def wait_closing(self, seconds: float) -> None:
        """Sleep `seconds` of real time, cut short by stop()."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()

    async def hang(self, request: web.Request) -> web.StreamResponse:
        """Never answer: close the connection after `hang_seconds` (or at stop())."""
        await self.wait_closing(self.hang_seconds)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=504)  # goes nowhere: the transport is closed

    def begin_transfer(
        self, storage: Storage, path: str, file: VirtualFile, size: int, to_print: bool
    ) -> Transfer:
        """An upload started."""
        chain = storage.locate(path) or [file]
        self.transfer = Transfer(
            self._next_transfer_id, storage.name, storage.short_path(chain), file.name, size,
            to_print, time.monotonic(),
        )  # fmt: skip
        self._next_transfer_id += 1
        return self.transfer

    def transfer_elapsed(self) -> float:
        """Real seconds the current upload has been running."""
        return time.monotonic() - self.transfer.started if self.transfer is not None else 0.0

    def _spawn[T](self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=f"prusa-sim-{coro.__qualname__}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("Simulator task failed", exc_info=task.exception())
