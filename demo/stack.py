"""The demo stack: three simulated printers, a real `hass`, and everything set up through HA's APIs.

`DemoStack` is used by `python -m demo` and by the end-to-end test alike, so what the browser
test checks is exactly what a user of `make demo` sees. The simulators run in this process on
an accelerated clock; Home Assistant runs as a subprocess in its own session, so Ctrl-C reaches
only us and we stop it in order (HA first, then the printers it talks to).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import signal
import socket
import sys
import time
from types import TracebackType
from typing import Any, Self

import aiohttp

from simulator.bambu.printer import BambuSimulator
from simulator.bambu.scenarios import PrintJob, run_forever
from simulator.bambu.threemf import SlicedFilament
from simulator.bambu.timelapse import ffmpeg_binary
from simulator.prusa.printer import PrusaSimulator

from .dashboard import DASHBOARD_URL, dashboard_config
from .ha import HomeAssistant

REPO = Path(__file__).resolve().parent.parent
DOMAIN = "printernizer"
USERNAME, PASSWORD = "demo", "printernizer"
STARTUP_TIMEOUT = 120.0  # seconds for hass to answer on a cold start (2 cores, fresh database)
_STOP_TIMEOUT = 30.0
_LOG_TAIL = 60
_ENTRIES = "/api/config/config_entries"
_UNLOADABLE = ("google_translate",)  # set up by onboarding; needs gTTS, which we do not install

# The multi-colour plate the P1S keeps printing: four AMS slots, as Bambu Studio slices it.
MULTICOLOUR = (
    SlicedFilament(material="PLA", color="#000000", grams=38.6, meters=12.9),
    SlicedFilament(material="PLA", color="#FFFFFF", grams=21.2, meters=7.1),
    SlicedFilament(material="PETG", color="#0A2989", grams=9.8, meters=3.2, tray_info_idx="GFG02"),
    SlicedFilament(material="PLA", color="#C12E1F", grams=6.4, meters=2.1, tray_info_idx="GFA01"),
)
# Sample prices, entered once in the fleet's options flow (EUR, as the demo config says).
FLEET_COSTS = {
    "price_per_kg_pla": 22.0, "price_per_kg_petg": 26.0, "price_per_kg_abs": 24.0,
    "price_per_kg_asa": 32.0, "price_per_kg_tpu": 38.0, "price_per_kg_pa": 60.0,
    "price_per_kg_pc": 45.0, "price_per_kg_other": 30.0, "energy_price_per_kwh": 0.32,
    "vat_percent": 19, "currency": "EUR",
}  # fmt: skip
CATEGORIES = {
    "category_mode": "business_hours", "business_weekdays": ["mon", "tue", "wed", "thu", "fri"],
    "business_start": "08:00:00", "business_end": "18:00:00",
}  # fmt: skip
# What each printer's own options hold: its average power and wear per hour; the MK4 prints
# Prusament PLA, dearer than the fleet's, so it overrides the PLA price.
PRINTER_COSTS: dict[str, dict[str, Any]] = {
    "p1s": {"average_power_w": 150, "wear_per_hour": 0.25},
    "x1c": {"average_power_w": 180, "wear_per_hour": 0.35},
    "mk4": {"average_power_w": 90, "wear_per_hour": 0.15, "price_per_kg_pla": 29.99},
}
FLEET_TITLE = "Printernizer fleet"

_CONFIGURATION = """\
# Written by `python -m demo` on every start: a minimal HA (no default_config).
homeassistant:
  name: Printernizer demo
  currency: EUR
  country: DE
  time_zone: Europe/Berlin
  unit_system: metric
  latitude: 52.52
  longitude: 13.40
  elevation: 34
http:
  server_host: 127.0.0.1
  server_port: {port}
frontend:
config:
history:
logbook:
recorder:
  commit_interval: 1
system_health:
diagnostics:
repairs:
energy:
logger:
  default: warning
# The static ffmpeg the simulator writes MP4 timelapses with: the P1S's AVI timelapses
# get their playable MP4 from it, as they would from HA OS's ffmpeg.
ffmpeg:
  ffmpeg_bin: {ffmpeg}
"""


def suggested(form: Mapping[str, Any], section: str, key: str) -> Any:
    """What an options form suggests for a field of a section (None: nothing)."""
    for item in form.get("data_schema") or ():
        if item.get("name") == section:
            for inner in item.get("schema") or ():
                if inner.get("name") == key:
                    return (inner.get("description") or {}).get("suggested_value")
    return None


class StackError(Exception):
    """The stack did not come up; the message ends with the tail of the HA log."""


@dataclass(frozen=True, slots=True)
class Ports:
    """Where everything listens; 0 lets the simulators pick free ports."""

    http: int = 8123
    p1s: tuple[int, int] = (18883, 18990)  # MQTT, FTPS
    x1c: tuple[int, int] = (18884, 18991)
    mk4: int = 18080

    @classmethod
    def free(cls) -> Ports:
        """A free HTTP port and free printer ports: a second stack next to a running demo."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            http = int(probe.getsockname()[1])
        return cls(http=http, p1s=(0, 0), x1c=(0, 0), mk4=0)


@dataclass(slots=True)
class DemoPrinter:
    """One simulated printer and what HA made of it."""

    key: str
    simulator: BambuSimulator | PrusaSimulator
    title: str = ""
    device_id: str = ""
    entities: dict[str, str] = field(default_factory=dict)  # translation key -> entity id

    @property
    def serial(self) -> str:
        """The serial HA keys the printer by."""
        return self.simulator.serial

    def flow_answers(self) -> list[dict[str, Any]]:
        """The config flow's menu choice and form answers, as the frontend would post them."""
        sim = self.simulator
        if isinstance(sim, PrusaSimulator):
            form = {"host": f"{sim.host}:{sim.port}", "username": "maker"}
            return [{"next_step_id": "prusa"}, form | {"password": sim.password}]
        ports = {"mqtt_port": sim.mqtt_port, "ftps_port": sim.ftps_port}
        form = {"host": sim.host, "serial": sim.serial, "access_code": sim.access_code}
        return [{"next_step_id": "bambu"}, form | {"advanced": ports}, {}]  # {} confirms

    def options(self) -> dict[str, Any]:
        """The options form: the brand's polling field and what is this machine's own.

        The categories section is left out: the printer follows the fleet's business hours.
        """
        polling = (
            {"idle_poll_seconds": 30}
            if isinstance(self.simulator, PrusaSimulator)
            else {"refresh_minutes": 5}
        )
        return polling | {"costs": PRINTER_COSTS[self.key]}


class DemoStack:
    """Printers, Home Assistant and its setup; `async with` brings all up and down."""

    def __init__(
        self,
        directory: Path,
        *,
        ports: Ports | None = None,
        speed: float = 15.0,
        job_minutes: float = 45.0,
    ) -> None:
        self.directory = directory.resolve()
        self.config = self.directory / "config"
        self.ports = ports or Ports()
        self.speed, self.job_minutes = speed, job_minutes
        self.url = f"http://127.0.0.1:{self.ports.http}"
        self.log_file = self.config / "home-assistant.log"
        self.printers = {
            "p1s": DemoPrinter("p1s", self._bambu("P1S", "01P00A000000001", self.ports.p1s)),
            "x1c": DemoPrinter("x1c", self._bambu("X1C", "00M00A000000002", self.ports.x1c)),
            "mk4": DemoPrinter(
                "mk4",
                PrusaSimulator(
                    family="buddy",
                    model="MK4",
                    speed=speed,
                    port=self.ports.mk4,
                    serial="10589-3742441631036958",
                ),
            ),  # fmt: skip
        }
        self.ha = HomeAssistant(self.url)
        self._hass: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._exits = contextlib.AsyncExitStack()

    def _bambu(self, model: str, serial: str, ports: tuple[int, int]) -> BambuSimulator:
        # A workdir of its own keeps the certificate HA pinned for the next run.
        return BambuSimulator(
            model=model, serial=serial, speed=self.speed, mqtt_port=ports[0],
            ftps_port=ports[1], workdir=self.directory / "printers" / serial,
        )  # fmt: skip

    @property
    def dashboard_url(self) -> str:
        """The fleet dashboard in the frontend."""
        return f"{self.url}/{DASHBOARD_URL}/fleet"

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _start(self) -> None:
        for printer in self.printers.values():
            await self._exits.enter_async_context(printer.simulator)
        self._scenarios()
        await asyncio.to_thread(self._write_config)
        await self._start_hass()
        await self._provision()

    def _scenarios(self) -> None:
        """P1S: a multi-colour plate over and over; X1C: idle; MK4: print, finish, repeat."""
        p1s = self.printers["p1s"].simulator
        mk4 = self.printers["mk4"].simulator
        assert isinstance(p1s, BambuSimulator)
        assert isinstance(mk4, PrusaSimulator)
        job = PrintJob("Multicolour vase", 120, self.job_minutes, MULTICOLOUR)
        self._tasks = [
            asyncio.create_task(run_forever(p1s, job, idle_minutes=3.0)),
            asyncio.create_task(mk4.run_loop(minutes=self.job_minutes * 2 / 3, idle_minutes=3.0)),
        ]

    def _write_config(self) -> None:
        custom = self.config / "custom_components"
        custom.mkdir(parents=True, exist_ok=True)
        (self.config / "configuration.yaml").write_text(
            _CONFIGURATION.format(port=self.ports.http, ffmpeg=ffmpeg_binary())
        )
        link = custom / DOMAIN
        if not link.is_symlink():
            link.symlink_to(REPO / "custom_components" / DOMAIN, target_is_directory=True)

    async def _start_hass(self) -> None:
        """`hass --skip-pip` in its own session; wait until the frontend answers."""
        with socket.socket() as probe:  # HA would log the clash and run on without HTTP
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as HA binds it
            try:
                probe.bind(("127.0.0.1", self.ports.http))
            except OSError as err:
                raise StackError(f"port {self.ports.http} is taken ({err}): --port") from err
        hass = Path(sys.executable).with_name("hass")
        with (self.config / "hass.out").open("wb") as out:
            self._hass = await asyncio.create_subprocess_exec(
                str(hass), "-c", str(self.config), "--skip-pip", "--log-no-color",
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True, env=os.environ | {"PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        deadline = time.monotonic() + STARTUP_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while True:
                if self._hass.returncode is not None:
                    raise StackError(f"hass exited with {self._hass.returncode}" + self.log_tail())
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{self.url}/manifest.json") as response:
                        if response.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise StackError(
                        f"hass did not answer on {self.url} in {STARTUP_TIMEOUT:.0f} s"
                        + self.log_tail()
                    )
                await asyncio.sleep(0.5)

    async def _provision(self) -> None:
        """Onboarding, printers and dashboard, each only when not done in an earlier run."""
        try:
            onboarding = await self._onboarding_pending()
            if onboarding:
                await self.ha.onboard("Demo", USERNAME, PASSWORD)
            else:
                await self.ha.login(USERNAME, PASSWORD)
            devices = await self.ha.ws("config/device_registry/list")
            known = {device["serial_number"] for device in devices}
            added = {}
            for printer in self.printers.values():
                if printer.serial not in known:
                    added[printer.key] = await self._add(printer)
            await self._price_fleet()  # before the printers' options: they price from it
            for key, entry_id in added.items():
                await self._set_options(self.printers[key], entry_id)
            if onboarding:
                await self._remove_unloadable()
            await self._find_entities()
            dashboards = await self.ha.ws("lovelace/dashboards/list")
            if all(board["url_path"] != DASHBOARD_URL for board in dashboards):
                await self.ha.ws(
                    "lovelace/dashboards/create", url_path=DASHBOARD_URL, title="Printers",
                    icon="mdi:printer-3d", show_in_sidebar=True, require_admin=False,
                    mode="storage",
                )  # fmt: skip
                config = dashboard_config(list(self.printers.values()))
                await self.ha.ws("lovelace/config/save", url_path=DASHBOARD_URL, config=config)
        except Exception as err:
            raise StackError(f"setting up Home Assistant failed: {err}" + self.log_tail()) from err

    async def _onboarding_pending(self) -> bool:
        """HA drops the onboarding API once every step is done."""
        try:
            return bool(await self.ha.onboarding_pending())
        except Exception as err:
            if " 404 " in str(err):
                return False
            raise

    async def _add(self, printer: DemoPrinter) -> str:
        """The printer's config flow; its config entry's id."""
        start = {"handler": DOMAIN, "show_advanced_options": False}
        result = await self.ha.flow(f"{_ENTRIES}/flow", start, *printer.flow_answers())
        if result.get("type") != "create_entry":
            raise StackError(f"adding {printer.key} did not create an entry: {result}")
        return str(result["result"]["entry_id"])

    async def _set_options(self, printer: DemoPrinter, entry_id: str) -> None:
        """The printer's options flow: its power, wear and overrides of the fleet's prices."""
        options = await self.ha.flow(
            f"{_ENTRIES}/options/flow", {"handler": entry_id}, printer.options()
        )
        if options.get("type") != "create_entry":
            raise StackError(f"options of {printer.key} not saved: {options}")

    async def _price_fleet(self) -> None:
        """The fleet's options flow with the sample prices, unless it has prices already.

        The first printer's setup creates the fleet entry in the background: wait for it.
        """
        deadline = time.monotonic() + 30.0
        while True:
            entries = await self.ha.request("GET", f"{_ENTRIES}/entry")
            fleet = next(
                (e for e in entries if e["domain"] == DOMAIN and e["title"] == FLEET_TITLE), None
            )
            if fleet is not None:
                break
            if time.monotonic() > deadline:
                raise StackError("the fleet entry did not appear within 30 s")
            await asyncio.sleep(0.5)
        path = f"{_ENTRIES}/options/flow"
        form = await self.ha.request("POST", path, {"handler": fleet["entry_id"]})
        if suggested(form, "costs", "price_per_kg_pla") is not None:  # priced in an earlier run
            await self.ha.request("DELETE", f"{path}/{form['flow_id']}")
            return
        answers = {"costs": FLEET_COSTS, "categories": CATEGORIES}
        result = await self.ha.request("POST", f"{path}/{form['flow_id']}", answers)
        if result.get("type") != "create_entry":
            raise StackError(f"the fleet's options were not saved: {result}")

    async def _remove_unloadable(self) -> None:
        """Drop what onboarding set up but cannot load here (Google Translate: no gTTS).

        Onboarding adds a few integrations of its own; with `--skip-pip` their requirements
        are missing, and a failed integration is not what the demo should show first.
        """
        path = f"{_ENTRIES}/entry"
        for entry in await self.ha.request("GET", path):
            if entry["domain"] in _UNLOADABLE:
                await self.ha.request("DELETE", f"{path}/{entry['entry_id']}")

    async def _find_entities(self) -> None:
        """Wait until every printer has its entities; remember ids by translation key."""
        deadline = time.monotonic() + 60.0
        while True:
            devices = await self.ha.ws("config/device_registry/list")
            entities = await self.ha.ws("config/entity_registry/list")
            for printer in self.printers.values():
                device = next((d for d in devices if d["serial_number"] == printer.serial), None)
                if device is None:
                    continue
                printer.device_id, printer.title = device["id"], device["name"]
                printer.entities = {
                    e["translation_key"]: e["entity_id"]
                    for e in entities
                    if e["device_id"] == device["id"] and e["translation_key"]
                }
            if all({"status", "job_preview"} <= p.entities.keys() for p in self.printers.values()):
                return
            if time.monotonic() > deadline:
                raise StackError("the printers' entities did not appear within 60 s")
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        """HA first (it holds connections to the printers), then scenarios and simulators."""
        await self.ha.close()
        await self._stop_hass()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._exits.aclose()

    async def _stop_hass(self) -> None:
        process, self._hass = self._hass, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    def log_tail(self, lines: int = _LOG_TAIL) -> str:
        """The end of the HA log (or of its console when the log was never written)."""
        for path in (self.log_file, self.config / "hass.out"):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()
                if text:
                    return f"\n--- last {lines} lines of {path} ---\n" + "\n".join(text[-lines:])
        return "\n(no Home Assistant log was written)"
