"""One simulated Bambu Lab printer on loopback: MQTT over TLS, FTPS, firmware behaviour.

Clients reach a real mosquitto through the TLS front (front.py); the "firmware" here is the
broker's internal user, publishing reports and answering requests. All state changes go through
`update`, which pushes them the way the model does: only the changed keys (P1S, A1) or the
complete object (X1C, H2D).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
import copy
import json
import logging
from pathlib import Path
import random
import re
import secrets
import shutil
import ssl
import tempfile
from types import TracebackType
from typing import Any, Self

from . import thermal
from .broker import Mosquitto
from .camera import CHAMBER_CAMERA_MODELS, CameraServer, frame_interval
from .certs import CertificateAuthority, PrinterCertificate, load_stored
from .clock import SimClock
from .front import MqttFront
from .ftps import BambuFtpsServer
from .mqtt import BrokerLink
from .payloads import (
    AMS_MODELS,
    ERR_CANCELLED,
    ERR_FILAMENT_RUNOUT,
    ERR_VERIFY_FAILED,
    FIRMWARE,
    FULL_REPORT_MODELS,
    HMS_RUNOUT,
    HMS_VERIFY_FAILED,
    IDLE_STAGE,
    MODELS,
    SPEED_MAGNITUDE,
    ams_unit,
    default_ams,
    fun_hex,
    initial_report,
    pack_device,
    version_modules,
)
from .replay import Recorder, load_replay
from .scenarios import DEFAULT_FILAMENTS, PrintJob, garbage, run_print
from .threemf import SlicedFilament

_LOGGER = logging.getLogger(__name__)

_MIN_TICK = 0.005  # real seconds; keeps huge speed factors from spinning the loop
_ERROR_SHOWN = 5.0  # simulated seconds a cancel's print_error stays up
_ENVELOPE = frozenset({"command", "msg", "sequence_id"})
_READS = frozenset({("pushing", "pushall"), ("pushing", "start"), ("info", "get_version")})
_PAUSE_KEYS = ("gcode_state", "stg_cur", "mc_print_stage")
_TARGET = re.compile(r"^(M104|M140|M141)\s+S(\d+(?:\.\d+)?)", re.MULTILINE)
_FAN = re.compile(r"^M106\s+P([123])\s+S(\d+)", re.MULTILINE)
_FAN_KEYS = {"1": "cooling_fan_speed", "2": "big_fan1_speed", "3": "big_fan2_speed"}


class BambuSimulator:
    """A P1S, A1, X1C or H2D as LAN clients see it; on 127.0.0.1 unless told otherwise."""

    def __init__(
        self,
        *,
        serial: str = "01P00A000000001",
        access_code: str = "12345678",
        model: str = "P1S",
        speed: float = 60.0,
        workdir: Path | None = None,
        ca: CertificateAuthority | None = None,
        host: str = "127.0.0.1",
        mqtt_port: int = 0,
        ftps_port: int = 0,
        camera_port: int = 0,
        lockdown: bool = False,
        jitter: bool = True,
        record: Path | None = None,
        product_name: str | None = None,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {model!r}")
        self.serial, self.access_code, self.model, self.host = serial, access_code, model, host
        self.clock = SimClock(speed)
        self.mqtt_port = mqtt_port
        self.ftps_port: int | None = None
        # P1/A1 only (the others stream RTSPS, which this simulator does not serve).
        self.camera: CameraServer | None = None
        self._camera_port_wanted = camera_port
        self.lockdown = lockdown
        self.jitter = jitter
        self.firmware = FIRMWARE[model]
        # Names itself as a model without a profile here (an A2L reporting like a P1S).
        self.product_name = product_name
        self.ams_units = default_ams(model)  # unit id -> AMS model, as get_version lists them
        self.report: dict[str, Any] = initial_report(model, host=host, lockdown=lockdown)
        self.requests: list[dict[str, Any]] = []
        self._ftps_port_wanted = ftps_port
        self._ca = ca or CertificateAuthority.create()
        # Given a workdir and no CA, a restart presents the certificate stored there (if any).
        self._keep_certificate = ca is None and workdir is not None
        self._cert: PrinterCertificate | None = None
        self._workdir, self._own_workdir = workdir, workdir is None
        self._recorder = Recorder(record) if record is not None else None
        self._rng = random.Random()  # noqa: S311 - sensor noise, not secrets
        self._heaters: dict[str, tuple[float, float]] = {}  # thermal.step's noiseless temperatures
        self._sequence = 2000
        self._silent = False
        self._paused_from: dict[str, Any] | None = None
        self._request_arrived = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._print_task: asyncio.Task[None] | None = None
        self._broker: Mosquitto | None = None
        self._link: BrokerLink | None = None
        self._front: MqttFront | None = None
        self._ftps: BambuFtpsServer | None = None
        self._topic = f"device/{serial}/report"

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
        """Bring up mosquitto, the firmware session, the TLS front and FTPS."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        if self._workdir is None:
            self._workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="bambu-sim-"))
        context = await asyncio.to_thread(self._issue_certificate, reuse=self._keep_certificate)
        user, password = "printer-firmware", secrets.token_urlsafe(16)
        self._broker = Mosquitto(
            self.workdir / "broker",
            serial=self.serial,
            access_code=self.access_code,
            internal_user=user,
            password=password,
        )
        await self._broker.start()
        self._link = BrokerLink(
            port=self._broker.port,
            username=user,
            password=password,
            subscribe=f"device/{self.serial}/request",
            on_message=self._on_request,
        )
        await self._link.start()
        self._front = MqttFront(
            ssl_context=context,
            host=self.host,
            port=self.mqtt_port,
            upstream_port=self._broker.port,
            serial=self.serial,
        )
        await self._front.start()
        self.mqtt_port = self._front.port
        self._ftps = BambuFtpsServer(
            root=self.sdcard, access_code=self.access_code, ssl_context=context
        )
        await self._ftps.start(self.host, self._ftps_port_wanted)
        self.ftps_port = self._ftps.port
        if self.model in CHAMBER_CAMERA_MODELS:
            self.camera = CameraServer(
                ssl_context=context,
                access_code=self.access_code,
                interval=frame_interval(self.clock.speed),
            )
            await self.camera.start(self.host, self._camera_port_wanted)
        if self._recorder is not None:
            await self.push_full()  # a capture starts with what a connecting client gets first
        self._spawn(self._tick_loop())

    async def stop(self) -> None:
        """Cancel every task, close every socket, terminate mosquitto, flush the recording."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._print_task = None
        if self.camera is not None:
            await self.camera.stop()
        if self._ftps is not None:
            await self._ftps.stop()
            self._ftps = None
        if self._front is not None:
            await self._front.stop()
            self._front = None
        if self._link is not None:
            await self._link.stop()
            self._link = None
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None
        if self._recorder is not None:
            await self._recorder.flush()
        if self._own_workdir and self._workdir is not None:
            await asyncio.to_thread(shutil.rmtree, self._workdir, ignore_errors=True)
            self._workdir = None

    def _issue_certificate(self, *, reuse: bool = False) -> ssl.SSLContext:
        certs = self.workdir / "certs"
        certs.mkdir(parents=True, exist_ok=True)
        stored = load_stored(certs, self.serial) if reuse else None
        if stored is None:
            self._cert = self._ca.issue(self.serial)
        else:
            self._ca, self._cert = stored
        self._ca.write(certs)
        return self._cert.server_context(certs)

    # -- what clients and tests read ---------------------------------------------------------

    @property
    def workdir(self) -> Path:
        """Certificates, broker files and the SD card live here."""
        if self._workdir is None:
            raise RuntimeError("simulator not started")
        return self._workdir

    @property
    def sdcard(self) -> Path:
        """The FTPS root."""
        return self.workdir / "sdcard"

    @property
    def ca_file(self) -> Path:
        """The CA certificate as a PEM file, for clients that want a path."""
        return self.workdir / "certs" / "ca.pem"

    @property
    def ca_pem(self) -> str:
        """The CA that issued the printer certificate."""
        return self._ca.cert_pem

    @property
    def cert_pem(self) -> str:
        """The certificate the printer presents now."""
        return self._certificate.cert_pem

    @property
    def cert_fingerprint(self) -> str:
        """SHA-256 of the presented certificate's DER, lower-case hex without colons."""
        return self._certificate.sha256_fingerprint

    @property
    def _certificate(self) -> PrinterCertificate:
        if self._cert is None:
            raise RuntimeError("simulator not started")
        return self._cert

    @property
    def paused(self) -> bool:
        """The job is paused (by the user, a command or a runout)."""
        return bool(self.report.get("gcode_state") == "PAUSE")

    def connected_clients(self) -> int:
        """Client connections open through the TLS front."""
        return self._front.client_count if self._front is not None else 0

    async def wait_for_request(self, command: str) -> dict[str, Any]:
        """The first request received with this `command` (any category); waits if need be."""
        async with self._request_arrived:
            while (found := self._find_request(command)) is None:
                await self._request_arrived.wait()
        return found

    def _find_request(self, command: str) -> dict[str, Any] | None:
        for request in self.requests:
            if any(isinstance(b, dict) and b.get("command") == command for b in request.values()):
                return request
        return None

    # -- publishing --------------------------------------------------------------------------

    async def update(self, fields: Mapping[str, Any]) -> None:
        """Change report fields and push the change as this model does (unless silent)."""
        await self._push(self._apply(fields))

    def _apply(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        changed = {key: value for key, value in fields.items() if self.report.get(key) != value}
        self.report.update(changed)
        return changed

    async def _push(self, changed: dict[str, Any]) -> None:
        if not changed or self._silent:
            return
        if self.model in FULL_REPORT_MODELS:
            await self.push_full()
        else:
            await self._publish({"print": changed | self._envelope(1)})

    async def push_full(self) -> None:
        """Publish the complete object with msg 0, as after pushall."""
        if "t_utc" in self.report:
            self.report["t_utc"] = int(self.clock.wall() * 1000)
        pack_device(self.report)
        await self._publish({"print": self.report | self._envelope(0)})

    async def publish_report(self, print_fields: dict[str, Any], *, msg: int = 1) -> None:
        """Publish exactly these fields as a push_status (and merge them into `report`)."""
        self.report.update({k: v for k, v in print_fields.items() if k not in _ENVELOPE})
        await self._publish({"print": self._envelope(msg) | print_fields})

    async def publish_raw(self, payload: bytes) -> None:
        """Publish anything on the report topic."""
        await self._send(payload)

    async def publish_garbage(self, kind: str) -> None:
        """Publish a broken payload; kinds are in scenarios.GARBAGE_KINDS."""
        await self._send(garbage(kind, self.report, str(self._sequence)))

    async def replay(self, path: Path, *, realtime: bool = False) -> int:
        """Publish a capture in order; delays are printer seconds (scaled unless `realtime`)."""
        items = await asyncio.to_thread(load_replay, path)
        for item in items:
            if item.delay > 0:
                await asyncio.sleep(item.delay if realtime else item.delay / self.clock.speed)
            body = item.message.get("print") if isinstance(item.message, dict) else None
            if isinstance(body, dict) and body.get("command") == "push_status":
                self.report.update({k: v for k, v in body.items() if k not in _ENVELOPE})
            await self._send(item.payload)
        return len(items)

    def _envelope(self, msg: int) -> dict[str, Any]:
        self._sequence += 1
        return {"command": "push_status", "msg": msg, "sequence_id": str(self._sequence)}

    async def _reply(self, message: dict[str, Any]) -> None:
        if not self._silent:
            await self._publish(message)

    async def _publish(self, message: dict[str, Any]) -> None:
        await self._send(json.dumps(message, separators=(",", ":")).encode())

    async def _send(self, payload: bytes) -> None:
        if self._recorder is not None:
            self._recorder.add(self.clock.now(), payload)
            if self._recorder.due:
                self._spawn(self._recorder.flush())
        if self._link is not None:
            await self._link.publish(self._topic, payload)

    # -- the user at the printer -------------------------------------------------------------

    def start_print(
        self,
        subtask: str = "Benchy",
        *,
        total_layers: int = 50,
        minutes: float = 30.0,
        filaments: Sequence[SlicedFilament] = DEFAULT_FILAMENTS,
    ) -> asyncio.Task[None]:
        """Start a job (3MF onto the SD card, then PREPARE -> RUNNING -> FINISH)."""
        if self._print_task is not None and not self._print_task.done():
            raise RuntimeError("the printer is already printing")
        job = PrintJob(subtask, total_layers, minutes, tuple(filaments))
        self._print_task = self._spawn(run_print(self, job))
        return self._print_task

    async def pause(self) -> None:
        """Pause from the screen: PAUSE, stage 16 "paused by user"."""
        if self.report["gcode_state"] in ("PREPARE", "RUNNING"):
            self._paused_from = {key: self.report[key] for key in _PAUSE_KEYS}
            await self.update({"gcode_state": "PAUSE", "stg_cur": 16, "mc_print_stage": "3"})

    async def resume(self) -> None:
        """Resume a paused job; clears a runout error."""
        if self.report["gcode_state"] != "PAUSE" or self._paused_from is None:
            return
        restore, self._paused_from = self._paused_from, None
        hms = [entry for entry in self.report["hms"] if entry != HMS_RUNOUT]
        await self.update(restore | {"print_error": 0, "hw_switch_state": 1, "hms": hms})

    async def cancel(self) -> None:
        """Stop the job: FAILED with 0300_400C, which clears a few seconds later."""
        if self.report["gcode_state"] not in ("PREPARE", "RUNNING", "PAUSE"):
            return
        if self._print_task is not None:
            self._print_task.cancel()
            await asyncio.wait([self._print_task])
        self._paused_from = None
        await self.update(
            {
                "gcode_state": "FAILED", "print_error": ERR_CANCELLED, "mc_print_stage": "1",
                "stg": [], "stg_cur": IDLE_STAGE[self.model], "mc_remaining_time": 0,
                "nozzle_target_temper": 0.0, "bed_target_temper": 0.0, "cooling_fan_speed": "0",
                "big_fan1_speed": "0", "big_fan2_speed": "0", "hw_switch_state": 1,
                "hms": [entry for entry in self.report["hms"] if entry != HMS_RUNOUT],
            }
        )  # fmt: skip
        self._spawn(self._clear_error(ERR_CANCELLED))

    async def filament_runout(self) -> None:
        """The filament sensor runs dry: PAUSE, stage 6, 0300_8015 and an AMS HMS entry."""
        if self.report["gcode_state"] != "RUNNING":
            return
        self._paused_from = {key: self.report[key] for key in _PAUSE_KEYS}
        await self.update(
            {
                "gcode_state": "PAUSE", "stg_cur": 6, "mc_print_stage": "3",
                "print_error": ERR_FILAMENT_RUNOUT, "hw_switch_state": 0,
                "hms": [*self.report["hms"], HMS_RUNOUT],
            }
        )  # fmt: skip

    async def _clear_error(self, code: int) -> None:
        await self.clock.sleep(_ERROR_SHOWN)
        if self.report["print_error"] == code:
            await self.update({"print_error": 0})

    def set_lockdown(self, on: bool) -> None:
        """Switch the 2025 authorization mode (`fun` bit 0x20000000) at runtime."""
        self.lockdown = on
        fields: dict[str, Any] = {"fun": fun_hex(on)}
        if not on:
            fields["hms"] = [entry for entry in self.report["hms"] if entry != HMS_VERIFY_FAILED]
        changed = self._apply(fields)
        if self._link is not None:
            self._spawn(self._push(changed))

    # -- network faults ----------------------------------------------------------------------

    def go_silent(self) -> None:
        """Stop publishing anything while keeping connections open; state keeps evolving."""
        self._silent = True

    def wake(self) -> None:
        """Publish again (deltas resume; nothing missed is resent)."""
        self._silent = False

    async def plug_ams(self, unit_id: int, model: str = "AMS") -> None:
        """Plug in an AMS unit while running (ids 0-3, an AMS HT 128-135): the report lists it."""
        if model not in AMS_MODELS:
            raise ValueError(f"model must be one of {AMS_MODELS}, got {model!r}")
        self.ams_units = {**self.ams_units, unit_id: model}
        await self._push_ams([*self._ams_list(unit_id), ams_unit(unit_id, model)])

    async def unplug_ams(self, unit_id: int) -> None:
        """Pull an AMS unit out while running: it is gone from the next report."""
        self.ams_units = {k: v for k, v in self.ams_units.items() if k != unit_id}
        await self._push_ams(self._ams_list(unit_id))

    async def set_ams_drying(self, unit_id: int, minutes: int) -> None:
        """An AMS 2 Pro or AMS HT dries its filament (`dry_time` minutes left; 0: done)."""
        units = [
            unit | {"dry_time": minutes} if unit["id"] == str(unit_id) else unit
            for unit in self._ams_list(None)
        ]
        await self._push_ams(units)

    def _ams_list(self, without: int | None) -> list[dict[str, Any]]:
        return [copy.deepcopy(u) for u in self.report["ams"]["ams"] if u["id"] != str(without)]

    async def _push_ams(self, units: list[dict[str, Any]]) -> None:
        units.sort(key=lambda unit: int(unit["id"]))
        bits = sum(1 << int(unit["id"]) for unit in units if int(unit["id"]) < 32)
        await self.update(
            {"ams": self.report["ams"] | {"ams": units, "ams_exist_bits": f"{bits:x}"}}
        )

    async def offer_firmware(self, version: str | None, *, modules: Sequence[str] = ()) -> None:
        """Announce newer firmware in `upgrade_state`; None withdraws it.

        P1/A1 list it in `new_ver_list`, X1/H2 in `ota_new_version_number`; `modules` names
        accessories (`ams/0`) with an update of their own.
        """
        upgrade = copy.deepcopy(self.report["upgrade_state"])
        listed = [
            {"name": name, "cur_ver": "00.00.06.49", "new_ver": "00.00.06.50"} for name in modules
        ]
        if version is not None and self.model not in FULL_REPORT_MODELS:
            listed.insert(0, {"name": "ota", "cur_ver": self.firmware, "new_ver": version})
        upgrade["new_version_state"] = 2 if version is None and not modules else 1
        upgrade["new_ver_list"] = listed
        if self.model in FULL_REPORT_MODELS:
            upgrade["ota_new_version_number"] = version or ""
        await self.update({"upgrade_state": upgrade})

    async def install_firmware(self, version: str) -> None:
        """Update the firmware: the printer reboots, so every client reconnects and asks again."""
        self.firmware = version
        await self.drop_connections()

    async def drop_connections(self) -> None:
        """Abort every client connection; the printer keeps listening."""
        if self._front is not None:
            await self._front.drop_all()

    async def restart_broker(self) -> None:
        """Restart mosquitto on the same port; clients are cut off and must reconnect."""
        if self._broker is None or self._link is None:
            raise RuntimeError("simulator not started")
        sessions = self._link.sessions
        await self._broker.restart()
        await self._link.wait_connected(newer_than=sessions)

    async def rotate_certificate(self) -> None:
        """Present a new leaf (same CA, same serial) on the same ports, as after a reflash."""
        if self._front is None or self._ftps is None:
            raise RuntimeError("simulator not started")
        context = await asyncio.to_thread(self._issue_certificate)
        await self._front.restart(context)
        if self.camera is not None:
            self.camera.ssl_context = context
        await self._ftps.stop()
        self._ftps.ssl_context = context
        await self._ftps.start(self.host, self.ftps_port or 0)

    # -- firmware ----------------------------------------------------------------------------

    async def _on_request(self, topic: str, payload: bytes) -> None:
        try:
            request = json.loads(payload)
        except ValueError:
            return  # real firmware ignores what it cannot parse
        if not isinstance(request, dict):
            return
        self.requests.append(request)
        async with self._request_arrived:
            self._request_arrived.notify_all()
        for category, body in request.items():
            if isinstance(body, dict):
                await self._handle(category, body)

    async def _handle(self, category: str, body: dict[str, Any]) -> None:
        command = body.get("command")
        if (category, command) in _READS:
            if category == "info":
                modules = version_modules(self.model, self.serial, self.firmware, self.ams_units)
                if self.product_name is not None:
                    modules[0]["product_name"] = self.product_name  # the `ota` module
                reply = {"command": command, "sequence_id": body.get("sequence_id", "0")}
                reply |= {"module": modules, "result": "success", "reason": ""}
                await self._reply({"info": reply})
            elif not self._silent:
                await self.push_full()
        elif (category, command) == ("system", "ledctrl"):
            await self._ack(category, body)
            await self._set_light(str(body.get("led_node")), str(body.get("led_mode")))
        elif self.lockdown:
            await self._refuse(category, body)
        elif category == "print":
            await self._print_command(str(command), body)

    async def _print_command(self, command: str, body: dict[str, Any]) -> None:
        param = str(body.get("param", ""))
        if command == "print_speed" and param not in SPEED_MAGNITUDE:
            await self._ack("print", body, result="failed")
            return
        if command not in ("pause", "resume", "stop", "print_speed", "gcode_line"):
            return  # unknown to this simulator: real firmware stays quiet too
        await self._ack("print", body)
        if command == "pause":
            await self.pause()
        elif command == "resume":
            await self.resume()
        elif command == "stop":
            await self.cancel()
        elif command == "print_speed":
            await self.update({"spd_lvl": int(param), "spd_mag": SPEED_MAGNITUDE[param]})
        else:
            await self._gcode(param)

    async def _gcode(self, param: str) -> None:
        """Heater targets (M104/M140, M141 on a chamber heater) and fans (M106 P1-P3 S0-255)."""
        targets = {"M104": "nozzle_target_temper", "M140": "bed_target_temper"}
        fields: dict[str, Any] = {}
        for code, value in _TARGET.findall(param):
            if code in targets:
                fields[targets[code]] = float(value)
            elif isinstance(device := self.report.get("device"), dict):
                ctc = copy.deepcopy(device["ctc"])
                ctc["info"]["temp"] = (min(int(float(value)), 0xFFFF) << 16) | (
                    ctc["info"]["temp"] & 0xFFFF
                )
                fields["device"] = device | {"ctc": ctc}
        for index, pwm in _FAN.findall(param):
            # Reports count 15 steps of 17 PWM units.
            fields[_FAN_KEYS[index]] = str(round(min(int(pwm), 255) / 17))
        await self.update(fields)

    async def _set_light(self, node: str, mode: str) -> None:
        lights = [light for light in self.report["lights_report"] if light.get("node") != node]
        await self.update({"lights_report": [*lights, {"node": node, "mode": mode}]})

    async def _ack(self, category: str, body: dict[str, Any], *, result: str = "success") -> None:
        await self._reply({category: body | {"result": result, "reason": ""}})

    async def _refuse(self, category: str, body: dict[str, Any]) -> None:
        refusal: dict[str, Any] = {"result": "failed", "reason": "mqtt message verify failed"}
        refusal["err_code"] = ERR_VERIFY_FAILED
        await self._reply({category: body | refusal})
        if HMS_VERIFY_FAILED not in self.report["hms"]:
            await self.update({"hms": [*self.report["hms"], HMS_VERIFY_FAILED]})

    async def _tick_loop(self) -> None:
        """Heaters move and, with jitter, sensors and Wi-Fi wobble: deltas even when idle."""
        last = self.clock.now()
        while True:
            active = self.report.get("gcode_state") in ("PREPARE", "RUNNING")
            interval = self._rng.uniform(0.5, 1.0) if active else self._rng.uniform(1.0, 2.0)
            await asyncio.sleep(max(interval / self.clock.speed, _MIN_TICK))
            now = self.clock.now()
            fields = thermal.step(
                self.report, now - last, self._rng if self.jitter else None, self._heaters
            )
            last = now
            if self.jitter and self._rng.random() < 0.3:
                fields["wifi_signal"] = f"-{self._rng.randint(48, 58)}dBm"
            await self.update(fields)

    def _spawn[T](self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=f"bambu-sim-{coro.__qualname__}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("Simulator task failed", exc_info=task.exception())
