"""The Bambu Lab adapter: one MQTT session per printer, a merged report, typed commands."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import functools
import itertools
import json
import logging
from typing import Any, Final

from ..base import ChangeListener, ErrorListener, StateListener
from ..controls import Fan, Heater, Limits
from ..errors import (
    AdapterError,
    CommandRefusedError,
    ControlsLockedError,
    PrinterOfflineError,
    PrinterTimeoutError,
    WrongSerialError,
)
from ..models import ACTIVE_STATUSES, DeviceInfo, JobMetadata, PrinterState, PrinterStatus
from ..values import loads, text
from .ams import unit_models
from .controls import fan_gcode, has_enclosure_fans, temperature_gcode, temperature_limits
from .files import BambuFiles
from .ftps import BambuFtpsClient
from .metadata import fetch_job_metadata
from .mqtt import MqttConnection
from .report import EVENT_KEYS, ReportState
from .tls import pinned_context
from .values import count
from .version import device_info

_LOGGER = logging.getLogger(__name__)

MAX_PAYLOAD: Final = 1 << 20
LOCKDOWN_ERROR: Final = 84033543
SPEED_LEVELS: Final = range(1, 5)


@dataclass(frozen=True, slots=True, kw_only=True)
class BambuConfig:
    """How to reach one printer; `certificate` is the PEM pinned when it was added."""

    host: str
    serial: str
    access_code: str = field(repr=False)
    certificate: str = field(repr=False)
    mqtt_port: int = 8883
    ftps_port: int = 990


@dataclass(slots=True, kw_only=True)
class Timing:
    """Protocol timings; tests shorten them, users keep the defaults."""

    setup_timeout: float = 15.0
    metadata_attempts: int = 12
    metadata_retry_delay: float = 5.0
    command_timeout: float = 10.0
    watchdog: float = 60.0
    pushall_interval: float = 300.0
    backoff_cap: float = 60.0


class BambuAdapter:
    """A live connection to one Bambu Lab printer."""

    def __init__(self, config: BambuConfig, timing: Timing | None = None) -> None:
        """Prepare; nothing connects until `start`."""
        self._config = config
        self._timing = timing or Timing()
        self._report = ReportState()
        self._device = DeviceInfo(serial=config.serial)
        # Replaced, never changed: a push iterates it without a copy while one unsubscribes.
        self._listeners: tuple[ChangeListener, ...] = ()
        self._error_listeners: list[ErrorListener] = []
        self._pending: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._sequence = itertools.count(1)
        self._connection: MqttConnection | None = None
        self._ftps: BambuFtpsClient | None = None
        self._ftps_calls: set[asyncio.Future[Any]] = set()
        self.files = BambuFiles(lambda: self._ftps, lambda: self.state, self._in_ftps_thread)
        self._metadata_job: tuple[object, ...] | None = None
        self._metadata_task: asyncio.Task[JobMetadata | None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._first_report: asyncio.Future[None] | None = None
        self._version: asyncio.Future[None] | None = None
        self._last_message = 0.0
        self._last_pushall = -self._timing.pushall_interval
        self._silent = False
        self._published = self._report.state
        self._rejected = 0  # the report's rejections before the staged deltas (see `_flush`)
        # The top-level keys of the staged deltas that carry an event (see `_on_messages`).
        self._event_keys: set[str] = set()
        self.malformed = 0
        self.messages = 0  # every message the printer sent, for system health
        self._listener_failed = False
        self._stopped = False

    @property
    def state(self) -> PrinterState:
        """The latest snapshot."""
        return self._report.state

    @property
    def device_info(self) -> DeviceInfo:
        """Identity from `get_version`."""
        return self._device

    @property
    def callback_errors(self) -> int:
        """Failures caught inside the MQTT client's callbacks (0 when all is well)."""
        return self._connection.callback_errors if self._connection else 0

    @property
    def raw_report(self) -> dict[str, Any]:
        """The merged report as the printer sent it (for diagnostics)."""
        return self._report.report

    def add_listener(self, listener: StateListener) -> Callable[[], None]:
        """Call listener with every changed snapshot; returns the remover."""
        return self.add_change_listener(lambda state, _: listener(state))

    def add_change_listener(self, listener: ChangeListener) -> Callable[[], None]:
        """Call listener with every changed snapshot and the parts it changed; the remover."""
        self._listeners = (*self._listeners, listener)

        def remove() -> None:
            self._listeners = tuple(known for known in self._listeners if known is not listener)

        return remove

    def add_error_listener(self, listener: ErrorListener) -> Callable[[], None]:
        """Call listener when the printer refuses us for good (credentials, certificate)."""
        self._error_listeners.append(listener)
        return lambda: self._error_listeners.remove(listener)

    async def start(self) -> None:
        """Connect, then wait for the printer's identity and its first full report."""
        loop = asyncio.get_running_loop()
        config = self._config
        self._stopped = False
        context = await loop.run_in_executor(None, pinned_context, config.certificate)
        if self._stopped:
            raise PrinterOfflineError("The adapter was stopped while starting")
        self._ftps = BambuFtpsClient(
            config.host, config.access_code, port=config.ftps_port, ssl_context=context
        )
        self._first_report = loop.create_future()
        self._version = loop.create_future()
        self._connection = MqttConnection(
            host=config.host,
            port=config.mqtt_port,
            username="bblp",
            password=config.access_code,
            ssl_context=context,
            topic=f"device/{config.serial}/report",
            on_connect=self._on_connect,
            on_message=self._on_message,
            on_messages=self._on_messages,
            on_disconnect=self._on_disconnect,
            on_oversized=self._on_oversized,
            backoff_cap=self._timing.backoff_cap,
        )
        try:
            await self._connection.connect()
            async with asyncio.timeout(self._timing.setup_timeout):
                await asyncio.gather(self._first_report, self._version)
        except TimeoutError as err:
            await self.stop()
            raise PrinterTimeoutError("The printer sent no status in time") from err
        except BaseException:
            await self.stop()
            raise
        finally:
            for future in (self._first_report, self._version):
                # A failure can land in a future nobody awaits any more (login refused first).
                if future.done() and not future.cancelled():
                    future.exception()
                future.cancel()
            self._first_report = self._version = None
        self._arm_watchdog()

    async def stop(self) -> None:
        """Disconnect and release every timer, task and socket, also in the middle of `start`."""
        self._stopped = True
        for waiting in (self._first_report, self._version):
            if waiting and not waiting.done():
                waiting.set_exception(PrinterOfflineError("The adapter was stopped"))
        if self._metadata_task:
            self._metadata_task.cancel()
            await asyncio.gather(self._metadata_task, return_exceptions=True)
            self._metadata_task = self._metadata_job = None
        if self._ftps:
            self._ftps.close()
        if self._ftps_calls:
            await asyncio.wait(self._ftps_calls)
        if self._watchdog:
            self._watchdog.cancel()
            self._watchdog = None
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._connection:
            await self._connection.stop()
            self._connection = None

    async def refresh(self) -> bool:
        """Ask for a full report unless one was asked for recently; P1P firmware lags if spammed."""
        now = asyncio.get_running_loop().time()
        if now - self._last_pushall < self._timing.pushall_interval:
            _LOGGER.debug("%s: full refresh skipped, last one was recent", self._config.serial)
            return False
        self._pushall()
        return True

    async def pause(self) -> None:
        """Pause the running print."""
        await self._command("print", "pause", param="")

    async def resume(self) -> None:
        """Resume the paused print."""
        await self._command("print", "resume", param="")

    async def stop_print(self) -> None:
        """Cancel the running print."""
        await self._command("print", "stop", param="")

    async def set_speed_level(self, level: int) -> None:
        """1 silent, 2 standard, 3 sport, 4 ludicrous."""
        if level not in SPEED_LEVELS:
            raise ValueError(f"Speed level must be 1-4, not {level}")
        await self._command("print", "print_speed", param=str(level))

    async def set_chamber_light(self, on: bool) -> None:
        """Switch the chamber light; allowed even on locked-down firmware."""
        await self._command(
            "system",
            "ledctrl",
            led_node="chamber_light",
            led_mode="on" if on else "off",
            led_on_time=500,
            led_off_time=500,
            loop_times=0,
            interval_time=0,
        )

    def temperature_limits(self, heater: Heater) -> Limits | None:
        """Nozzle and bed always; the chamber where it has a heater (it reports a target)."""
        if heater is Heater.CHAMBER and (
            self.state.chamber is None or self.state.chamber.target is None
        ):
            return None
        return temperature_limits(heater, self._device.model)

    async def set_target_temperature(self, heater: Heater, celsius: float) -> None:
        """Set a heater's target (0: off) by G-code; ValueError outside its limits."""
        limits = self.temperature_limits(heater)
        if limits is None:
            raise ValueError(f"This printer has no {heater} heater")
        await self._command("print", "gcode_line", param=temperature_gcode(heater, celsius, limits))

    def has_fan(self, fan: Fan) -> bool:
        """Part cooling on every model; aux and chamber fans on enclosed ones."""
        return fan is Fan.PART or has_enclosure_fans(self._device.model)

    async def set_fan_percent(self, fan: Fan, percent: int) -> None:
        """Run a fan at 0-100 % by G-code; ValueError outside that."""
        await self._command("print", "gcode_line", param=fan_gcode(fan, percent))

    async def job_metadata(self) -> JobMetadata | None:
        """Slicer metadata of the current job from its 3MF, None when there is none.

        Fetched once per job, as soon as the printer has the file; concurrent callers share it.
        """
        task = self._metadata_task
        if self._job_identity() != self._metadata_job or task is None:
            task = self._fetch_metadata()
            if task is None:
                return None
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and not (current and current.cancelling()):
                return None  # the fetch was dropped (stop, or the next job), not our caller
            raise

    def _job_identity(self) -> tuple[object, ...] | None:
        job = self.state.job
        if not (job.name or job.file):
            return None
        return (job.name, job.file, job.started_at, job.job_id)

    def _fetch_metadata(self) -> asyncio.Task[JobMetadata | None] | None:
        identity = self._job_identity()
        if identity is None or self._ftps is None or self._stopped:
            return None
        if self._metadata_task:
            self._metadata_task.cancel()
        self._metadata_job = identity
        self._metadata_task = asyncio.get_running_loop().create_task(
            self._download_metadata(), name=f"printernizer-3mf-{self._config.serial}"
        )
        return self._metadata_task

    def _in_ftps_thread(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking FTPS call in a worker thread that `stop()` waits for."""
        if self._stopped:
            raise PrinterOfflineError("The adapter was stopped")
        call = asyncio.get_running_loop().run_in_executor(
            None, functools.partial(func, *args, **kwargs)
        )
        self._ftps_calls.add(call)
        call.add_done_callback(self._ftps_done)
        return asyncio.shield(call)

    def _ftps_done(self, call: asyncio.Future[Any]) -> None:
        """Forget a finished transfer; its outcome was awaited, or nobody wants it any more."""
        self._ftps_calls.discard(call)
        if not call.cancelled():
            call.exception()

    async def _download_metadata(self) -> JobMetadata | None:
        """The file appears late and is written in place on some models: retry a while."""
        assert self._ftps
        job = self.state.job
        mapping = self._report.report.get("ams_mapping")
        slot_ids = {
            index: str(slot)
            for index, tray in enumerate(mapping[:64] if isinstance(mapping, list) else (), 1)
            if (slot := count(tray, 255)) is not None
        }
        loop = asyncio.get_running_loop()
        for attempt in range(self._timing.metadata_attempts):
            if attempt:
                await asyncio.sleep(self._timing.metadata_retry_delay)
            try:
                # Shielded: a thread cannot be cancelled, so stop() closes the client and
                # waits for it rather than leave it talking to the printer after unload.
                call = loop.run_in_executor(
                    None, fetch_job_metadata, self._ftps, job.name, job.file, slot_ids
                )
                self._ftps_calls.add(call)
                call.add_done_callback(self._ftps_done)
                return await asyncio.shield(call)
            except AdapterError as err:
                _LOGGER.debug("%s: job file not readable yet: %s", self._config.serial, err)
            except OSError as err:
                _LOGGER.warning("%s: cannot store the job file: %s", self._config.serial, err)
                return None
        _LOGGER.info("%s: no slicer metadata for job %s", self._config.serial, job.name)
        return None

    def _on_connect(self) -> None:
        """Identity and a full report after every (re)connect; deltas only make sense on top."""
        if self._connection is None:
            return
        try:
            self._connection.publish(self._payload("info", "get_version"))
            self._pushall()
        except PrinterOfflineError as err:  # the connection died again; its disconnect follows
            _LOGGER.debug("%s: cannot greet the printer: %s", self._config.serial, err)

    def _pushall(self) -> None:
        if self._connection is None:
            raise PrinterOfflineError("The printer is not connected")
        self._last_pushall = asyncio.get_running_loop().time()
        self._connection.publish(self._payload("pushing", "pushall", sequence_id="0"))

    def _on_disconnect(self, error: AdapterError | None) -> None:
        if self._first_report and not self._first_report.done():
            # A printer drops a client that subscribes to a serial it does not have.
            self._first_report.set_exception(
                error or WrongSerialError("The printer closed the connection; check the serial")
            )
            return
        if error is not None:
            _LOGGER.debug("%s: giving up: %s", self._config.serial, error)
            for listener in tuple(self._error_listeners):
                self._notify(listener, error)
        self._publish_state(self._report.set_offline())

    def _on_messages(self, payloads: list[bytes]) -> None:
        """The messages of one read, in order, published as few states as lose no event.

        Deltas are merged as they come and the state is built at the end of the read, and
        before a delta with an event (`EVENT_KEYS`: status, job, errors, filament; or the first
        from a printer that was offline) is merged while another event is staged: so each
        event's values are published before a later delta could change them, and a read of
        readings and one event costs one state and one fan-out. Every published state is the one
        some prefix of the messages gives; after the read, the one they all give.
        """
        self._last_message = asyncio.get_running_loop().time()
        for payload in payloads:
            self._take(payload)
        self._flush()

    def _on_message(self, payload: bytes) -> None:
        """One message on its own (see `_on_messages`)."""
        self._last_message = asyncio.get_running_loop().time()
        self._take(payload)
        self._flush()

    def _take(self, payload: bytes) -> None:
        """Hot path: every report of every printer passes here; it never raises.

        A message that cannot be read, or carries a value that cannot be used, is counted in
        `malformed` and dropped; only the first one is logged, so a printer repeating it cannot
        flood the log, and the next good message is applied as usual. Readings staged together
        (see `_on_messages`) are checked together: unusable ones among them count once.
        """
        self.messages += 1
        if len(payload) > MAX_PAYLOAD:
            self._drop("an oversized message", f"{len(payload)} bytes")
            return
        try:
            message = loads(payload)
        except ValueError:
            self._drop("a message that is not JSON or nested too deep", f"{len(payload)} bytes")
            return
        if not isinstance(message, dict):
            self._drop("a message that is not an object", f"{len(payload)} bytes")
            return
        self._silent = False
        try:
            self._dispatch(message)
        except Exception:  # a defect of ours must cost one message, not the session
            body = message.get("print")
            if isinstance(body, dict):
                self._report.forget(body.keys())
            self._drop(
                "a message that could not be applied", f"{len(payload)} bytes", exc_info=True
            )

    def _on_oversized(self, size: int) -> None:
        """A packet too large to buffer, skipped by the MQTT reader as it streamed past."""
        self._last_message = asyncio.get_running_loop().time()
        self.messages += 1
        self._drop("an oversized message", f"{size} bytes")

    def _dispatch(self, message: dict[str, Any]) -> None:
        for category, body in message.items():
            if not isinstance(body, dict):
                self._drop("a category that is not an object", category)
                continue
            command = body.get("command")
            if category == "print" and command == "push_status":
                self._on_report(body)
            elif category == "info" and command == "get_version":
                self._on_version(body)
            elif self._pending and isinstance(command, str):
                future = self._pending.get((command, str(body.get("sequence_id"))))
                if future and not future.done():
                    future.set_result(body)

    def _on_report(self, body: dict[str, Any]) -> None:
        report = self._report
        if not EVENT_KEYS.isdisjoint(body) or not report.state.online:
            if self._event_keys:
                self._flush()  # the staged event is published before this one may change it
            self._event_keys.update(body)
        if not report.pending:
            self._rejected = report.rejected
        report.stage(body)

    def _flush(self) -> PrinterState:
        """Build and publish the state of the staged deltas; a defect costs only those."""
        report = self._report
        if not report.pending:
            return report.state
        try:
            state = report.build()
        except Exception:  # a defect of ours must cost these messages, not the session
            report.forget_staged()
            self._drop("a message that could not be applied", "print", exc_info=True)
            state = report.state
        else:
            if report.rejected != self._rejected:
                self._drop("an unusable value", report.last_rejected)
            self._publish_state(state)
        if self._event_keys:
            self._after_event(state, self._event_keys)
            self._event_keys.clear()
        return state

    def _after_event(self, state: PrinterState, keys: set[str]) -> None:
        """What a published event asks of the adapter: the version, the job's file, the start."""
        report = self._report
        # (During `start` the version reply is still awaited anyway.)
        if "ams" in keys and self._version is None and self._connection and report.take_new_units():
            self._connection.publish(self._payload("info", "get_version"))
        if (
            state.status in ACTIVE_STATUSES
            and self._metadata_job != self._job_identity()
            and (
                state.status is PrinterStatus.PRINTING
                or (count(report.report.get("gcode_file_prepare_percent"), 100) or 0) >= 99
            )
        ):
            self._fetch_metadata()
        if self._first_report and not self._first_report.done() and "gcode_state" in keys:
            self._first_report.set_result(None)

    def _on_version(self, body: dict[str, Any]) -> None:
        self._flush()  # the reports before it in this read are published first, as they came
        device = device_info(self._config.serial, body)
        if device is None:
            self._drop("a version reply without modules", "module")
            return
        self._device = device
        self._report.set_ams_models(unit_models(body))
        self._publish_state(self._report.set_device(device))
        if self._version and not self._version.done():
            self._version.set_result(None)

    def _publish_state(self, state: PrinterState) -> None:
        if state is self._published:
            return
        self._published = state
        changed = self._report.take_changed()
        for listener in self._listeners:
            try:
                listener(state, changed)
            except Exception:
                self._listener_error()

    def _notify[T](self, listener: Callable[[T], None], value: T) -> None:
        """Call one listener; its failure is logged once and never stops the others."""
        try:
            listener(value)
        except Exception:
            self._listener_error()

    def _listener_error(self) -> None:
        """Log a failed listener's traceback, the first time only (call in its except)."""
        if not self._listener_failed:
            self._listener_failed = True
            _LOGGER.exception("%s: a listener failed", self._config.serial)

    def _drop(self, why: str, detail: object, *, exc_info: bool = False) -> None:
        self.malformed += 1
        if self.malformed == 1:
            _LOGGER.warning(
                "%s: dropped %s (%s); further ones are only counted in the diagnostics",
                self._config.serial,
                why,
                detail,
                exc_info=exc_info,
            )

    def _arm_watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_message = loop.time()
        self._watchdog = loop.call_later(self._timing.watchdog / 4, self._check_silence)

    def _check_silence(self) -> None:
        """Printers sometimes stop reporting without disconnecting; nudge them once."""
        loop = asyncio.get_running_loop()
        connection = self._connection
        if (
            connection
            and connection.connected
            and not self._silent
            and loop.time() - self._last_message > self._timing.watchdog
        ):
            self._silent = True
            _LOGGER.debug("%s stopped reporting; marking it offline", self._config.serial)
            self._publish_state(self._report.set_offline())
            with contextlib.suppress(PrinterOfflineError):  # the disconnect is handled elsewhere
                connection.publish(self._payload("pushing", "start", sequence_id="0"))
        self._watchdog = loop.call_later(self._timing.watchdog / 4, self._check_silence)

    def _payload(self, category: str, command: str, **params: Any) -> str:
        params.setdefault("sequence_id", str(next(self._sequence)))
        return json.dumps({category: {"command": command, **params}})

    async def _command(self, category: str, command: str, **params: Any) -> dict[str, Any]:
        """Publish a command and wait for the printer's acknowledgement."""
        if self.state.controls_locked and command != "ledctrl":
            raise ControlsLockedError(command, "firmware requires Developer Mode for control")
        if self._connection is None or not self._connection.connected:
            raise PrinterOfflineError("The printer is not connected")
        sequence_id = str(next(self._sequence))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[(command, sequence_id)] = future
        try:
            self._connection.publish(
                self._payload(category, command, sequence_id=sequence_id, **params), qos=1
            )
            async with asyncio.timeout(self._timing.command_timeout):
                ack = await future
        except TimeoutError as err:
            raise PrinterTimeoutError(f"The printer did not acknowledge {command}") from err
        finally:
            self._pending.pop((command, sequence_id), None)
        result = text(ack.get("result", "success")) or ""
        if ack.get("err_code") == LOCKDOWN_ERROR:
            raise ControlsLockedError(command, "firmware requires Developer Mode for control")
        if result.lower() != "success":
            raise CommandRefusedError(command, text(ack.get("reason")))
        return ack
