"""File actions, events and sensors through HA against the simulated P1S (FTPS) and MK4 (HTTP).

Files are put on the simulated printers' storage; every listing, download, cancel and delete
goes over 127.0.0.1 through the real adapters and the file manager. Downloads are awaited on
their events (bounded), never on a sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
import hashlib
import json
import os
from pathlib import Path
import time
from typing import Any

from homeassistant.components import media_source
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import voluptuous as vol
import yaml

from custom_components.printernizer.actions.files import MAX_NAME
from custom_components.printernizer.const import (
    CONF_ENTRY_TYPE,
    DOMAIN,
    ENTRY_TYPE_FLEET,
    FLEET_UNIQUE_ID,
)
from custom_components.printernizer.events import EVENT_JOB_FINISHED
from custom_components.printernizer.files.local import LocalRecord, save_index
from custom_components.printernizer.printer_files import (
    EVENT_FILE_DOWNLOAD_COMPLETED,
    EVENT_FILE_DOWNLOAD_FAILED,
    printer_files,
)
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator
from tests.printers.waiting import wait_until

from .conftest import wait_for_state

MODEL = os.urandom(300_000)  # a "3MF" the printer holds
VIDEO = b"\x00\x00\x00\x18ftypmp42" + os.urandom(200_000)
TIMEOUT = 30
TRANSLATIONS = Path(__file__).parents[2] / "custom_components/printernizer/translations"


def fleet_entry(files: dict[str, Any]) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=FLEET_UNIQUE_ID,
        title="Fleet",
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_FLEET},
        options={"files": files},
    )


async def write(hass: HomeAssistant, path: Path, data: bytes) -> None:
    """Put a file in place (its folder created) off the event loop."""

    def put() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    await hass.async_add_executor_job(put)


async def read(hass: HomeAssistant, path: Path) -> bytes:
    return await hass.async_add_executor_job(path.read_bytes)


async def local_files(hass: HomeAssistant, folder: Path) -> list[str]:
    """Every file under a folder but the manager's index, partial files included."""

    def find() -> list[str]:
        return sorted(
            str(path.relative_to(folder))
            for path in folder.rglob("*")
            if path.is_file() and path.name != ".index.json"
        )

    return await hass.async_add_executor_job(find)


async def set_up(hass: HomeAssistant, entry: MockConfigEntry, tmp_path: Path) -> None:
    hass.config.config_dir = str(tmp_path / "config")
    assert await async_setup_component(hass, "media_source", {})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def bambu(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator, tmp_path: Path
) -> AsyncIterator[MockConfigEntry]:
    """The P1S loaded with a model and a timelapse on its SD card."""
    await write(hass, bambu_sim.sdcard / "model" / "Benchy.3mf", MODEL)
    await write(hass, bambu_sim.sdcard / "timelapse" / "video_2026-12-01_10-00-00.mp4", VIDEO)
    fleet_entry({"max_file_size_mb": 1}).add_to_hass(hass)
    await set_up(hass, bambu_entry, tmp_path)
    yield bambu_entry
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def prusa(
    hass: HomeAssistant, prusa_entry: MockConfigEntry, prusa_sim: PrusaSimulator, tmp_path: Path
) -> AsyncIterator[MockConfigEntry]:
    """The MK4 loaded with a G-code file on its USB stick."""
    prusa_sim.files["usb"].add_file("Part.gcode", MODEL)
    await set_up(hass, prusa_entry, tmp_path)
    yield prusa_entry
    assert await hass.config_entries.async_unload(prusa_entry.entry_id)
    await hass.async_block_till_done()


def device_id(hass: HomeAssistant, serial: str) -> str:
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, serial)})
    assert device is not None
    return device.id


async def call(hass: HomeAssistant, service: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


class Events:
    """The file events seen, and a bounded wait for the one of a download."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.seen: list[Event] = []
        self._waiting: dict[str, asyncio.Future[Event]] = {}
        self._unsubscribe = [
            hass.bus.async_listen(kind, self._on_event)
            for kind in (EVENT_FILE_DOWNLOAD_COMPLETED, EVENT_FILE_DOWNLOAD_FAILED)
        ]

    @callback
    def _on_event(self, event: Event) -> None:
        self.seen.append(event)
        for key in (event.data["download_id"], "*"):
            waiting = self._waiting.get(key)
            if waiting is not None and not waiting.done():
                waiting.set_result(event)

    async def first(self) -> Event:
        if self.seen:
            return self.seen[0]
        future = self._waiting.setdefault("*", asyncio.get_running_loop().create_future())
        async with asyncio.timeout(TIMEOUT):
            return await future

    async def of(self, download_id: str) -> Event:
        for event in self.seen:
            if event.data["download_id"] == download_id:
                return event
        future = self._waiting.setdefault(download_id, asyncio.get_running_loop().create_future())
        async with asyncio.timeout(TIMEOUT):
            return await future

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()


@pytest.fixture
def events(hass: HomeAssistant) -> AsyncIterator[Events]:
    seen = Events(hass)
    yield seen
    seen.close()


async def wait_for_attribute(
    hass: HomeAssistant, entity_id: str, attribute: str, expected: Any
) -> None:
    """Wait (bounded) until an entity's attribute shows a value, on its state changes."""
    reached = asyncio.get_running_loop().create_future()

    @callback
    def changed(event: Event) -> None:
        new = event.data["new_state"]
        if new is not None and new.attributes.get(attribute) == expected and not reached.done():
            reached.set_result(None)

    unsubscribe = async_track_state_change_event(hass, entity_id, changed)
    try:
        state = hass.states.get(entity_id)
        if state is None or state.attributes.get(attribute) != expected:
            async with asyncio.timeout(TIMEOUT):
                await reached
    finally:
        unsubscribe()


def sensor(hass: HomeAssistant, serial: str, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{serial}_{key}")
    assert entity_id is not None, key
    return entity_id


async def test_bambu_list_download_and_browse(
    hass: HomeAssistant, bambu: MockConfigEntry, bambu_sim: BambuSimulator, events: Events
) -> None:
    serial = bambu_sim.serial
    printer = device_id(hass, serial)
    activity = sensor(hass, serial, "download_activity")
    assert hass.states.get(activity).state == "idle"
    shown: list[tuple[str, Any]] = []

    @callback
    def track(event: Event) -> None:
        if event.data["entity_id"] == activity and (new := event.data["new_state"]):
            shown.append((new.state, new.attributes.get("file")))

    unsubscribe = hass.bus.async_listen("state_changed", track)

    listing = await call(hass, "list_files", device_id=printer)
    assert listing["serial"] == serial
    files = {(item["folder"], item["name"]): item for item in listing["files"]}
    model = files["/model", "Benchy.3mf"]
    assert (model["kind"], model["status"], model["size"]) == ("print", "on_printer", len(MODEL))
    timelapse = files["/timelapse", "video_2026-12-01_10-00-00.mp4"]
    assert (timelapse["kind"], timelapse["status"]) == ("timelapse", "on_printer")
    only = await call(hass, "list_files", device_id=printer, kind="timelapse")
    assert [item["name"] for item in only["files"]] == ["video_2026-12-01_10-00-00.mp4"]

    started = await call(
        hass, "download_file", device_id=printer, folder="/timelapse", name=timelapse["name"]
    )
    done = await events.of(started["download_id"])
    unsubscribe()
    assert done.event_type == EVENT_FILE_DOWNLOAD_COMPLETED
    assert done.data["device_id"] == printer
    assert done.data["serial"] == serial
    assert done.data["sha256"] == hashlib.sha256(VIDEO).hexdigest()
    local = Path(done.data["local_path"])
    assert await read(hass, local) == VIDEO
    root = Path(hass.config.path(DOMAIN, "files"))
    assert local.parent.parent == root / serial
    assert ("downloading", timelapse["name"]) in shown
    assert hass.states.get(activity).state == "idle"

    status = await call(hass, "get_download_status", download_id=started["download_id"])
    assert (status["state"], status["progress"], status["serial"]) == ("completed", 100.0, serial)
    listing = await call(hass, "list_files", device_id=printer, status=["downloaded"])
    (copy,) = listing["files"]
    assert copy["sha256"] == done.data["sha256"]
    assert copy["media_content_id"] == done.data["media_content_id"]
    # The local copy plays in the media browser under the printer and its month.
    assert await media_source.async_resolve_media(hass, copy["media_content_id"], None)

    await hass.async_block_till_done()  # the usage is re-read in the background after a copy
    storage = hass.states.get(sensor(hass, serial, "local_files_size"))
    assert storage.attributes["unit_of_measurement"] == "MB"
    assert float(storage.state) == pytest.approx(len(VIDEO) / 1_000_000, abs=0.05)


async def test_prusa_download_and_delete(
    hass: HomeAssistant, prusa: MockConfigEntry, prusa_sim: PrusaSimulator, events: Events
) -> None:
    printer = device_id(hass, prusa_sim.serial)
    listing = await call(hass, "list_files", device_id=printer, refresh=True)
    (part,) = [item for item in listing["files"] if item["name"] == "Part.gcode"]
    assert (part["folder"], part["kind"], part["status"]) == ("/usb", "print", "on_printer")
    started = await call(hass, "download_file", device_id=printer, folder="/usb", name="Part.gcode")
    done = await events.of(started["download_id"])
    assert done.event_type == EVENT_FILE_DOWNLOAD_COMPLETED
    assert await read(hass, Path(done.data["local_path"])) == MODEL
    assert done.data["sha256"] == hashlib.sha256(MODEL).hexdigest()

    deleted = await call(
        hass, "delete_printer_file", device_id=printer, folder="/usb", name="Part.gcode"
    )
    assert deleted["deleted"] == {"folder": "/usb", "name": "Part.gcode"}
    listing = await call(hass, "list_files", device_id=printer, refresh=True)
    (left,) = [item for item in listing["files"] if item["name"] == "Part.gcode"]
    assert left["status"] == "local_only"  # the local copy stays
    assert await read(hass, Path(done.data["local_path"])) == MODEL


async def test_a_file_that_grows_past_the_limit_fails_with_an_event(
    hass: HomeAssistant, bambu: MockConfigEntry, bambu_sim: BambuSimulator, events: Events
) -> None:
    """The fleet allows 1 MB; the printer listed a smaller file that then grew."""
    printer = device_id(hass, bambu_sim.serial)
    await call(hass, "list_files", device_id=printer)
    await write(hass, bambu_sim.sdcard / "model" / "Benchy.3mf", os.urandom(3 * 1024 * 1024))
    started = await call(
        hass, "download_file", device_id=printer, folder="/model", name="Benchy.3mf"
    )
    failed = await events.of(started["download_id"])
    assert failed.event_type == EVENT_FILE_DOWNLOAD_FAILED
    assert failed.data["error"] == "too_large"
    assert failed.data["local_path"] is None
    folder = Path(hass.config.path(DOMAIN, "files")) / bambu_sim.serial
    assert await local_files(hass, folder) == []  # no partial file left
    status = await call(hass, "get_download_status", download_id=started["download_id"])
    assert status["state"] == "failed"
    listing = await call(hass, "list_files", device_id=printer, status="failed")
    assert [(item["name"], item["reason"]) for item in listing["files"]] == [
        ("Benchy.3mf", "too_large")
    ]


async def test_a_listed_file_over_the_limit_is_refused_at_once(
    hass: HomeAssistant, bambu: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    await write(hass, bambu_sim.sdcard / "model" / "Big.3mf", os.urandom(2 * 1024 * 1024))
    printer = device_id(hass, bambu_sim.serial)
    await call(hass, "list_files", device_id=printer, refresh=True)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "download_file", device_id=printer, folder="/model", name="Big.3mf")
    assert err.value.translation_key == "file_too_large"


async def test_cancel_a_download(
    hass: HomeAssistant, prusa: MockConfigEntry, prusa_sim: PrusaSimulator, events: Events
) -> None:
    """The MK4 answers slowly: one download runs, one waits; the running one is cancelled."""
    prusa_sim.files["usb"].add_file("Second.gcode", VIDEO)
    printer = device_id(hass, prusa_sim.serial)
    await call(hass, "list_files", device_id=printer, refresh=True)
    activity = sensor(hass, prusa_sim.serial, "download_activity")
    prusa_sim.faults.latency = 5
    first = await call(hass, "download_file", device_id=printer, folder="/usb", name="Part.gcode")
    second = await call(
        hass, "download_file", device_id=printer, folder="/usb", name="Second.gcode"
    )
    await wait_for_attribute(hass, activity, "state", "running")
    assert hass.states.get(activity).attributes["file"] == "Part.gcode"
    waiting = await call(hass, "get_download_status", download_id=second["download_id"])
    assert waiting["state"] == "queued"  # one transfer per printer at a time

    cancelled = await call(hass, "cancel_download", download_id=first["download_id"])
    assert cancelled["state"] == "cancelled"
    # The activity moves on to the download that waited.
    assert hass.states.get(activity).state == "downloading"
    assert hass.states.get(activity).attributes["file"] == "Second.gcode"
    prusa_sim.faults.latency = 0
    done = await events.of(second["download_id"])
    assert done.event_type == EVENT_FILE_DOWNLOAD_COMPLETED
    await hass.async_block_till_done()
    assert hass.states.get(activity).state == "idle"
    assert [event.data["download_id"] for event in events.seen] == [second["download_id"]]
    printer_folder = Path(hass.config.path(DOMAIN, "files")) / prusa_sim.serial
    local = Path(done.data["local_path"])
    assert await local_files(hass, printer_folder) == [str(local.relative_to(printer_folder))]
    # Cancelling again changes nothing.
    again = await call(hass, "cancel_download", download_id=first["download_id"])
    assert again["state"] == "cancelled"


async def test_cancel_right_after_download_file(
    hass: HomeAssistant, prusa: MockConfigEntry, prusa_sim: PrusaSimulator, events: Events
) -> None:
    """Cancelled before its transfer began, the download ends cancelled, not queued forever."""
    printer = device_id(hass, prusa_sim.serial)
    await call(hass, "list_files", device_id=printer, refresh=True)
    activity = sensor(hass, prusa_sim.serial, "download_activity")
    started = await call(hass, "download_file", device_id=printer, folder="/usb", name="Part.gcode")
    cancelled = await call(hass, "cancel_download", download_id=started["download_id"])
    assert cancelled["state"] == "cancelled"
    status = await call(hass, "get_download_status", download_id=started["download_id"])
    assert status["state"] == "cancelled"
    await hass.async_block_till_done()
    assert hass.states.get(activity).state == "idle"
    listing = await call(hass, "list_files", device_id=printer)
    (part,) = [item for item in listing["files"] if item["name"] == "Part.gcode"]
    assert part["status"] == "on_printer"
    # Downloading it again starts afresh and completes.
    again = await call(hass, "download_file", device_id=printer, folder="/usb", name="Part.gcode")
    assert again["download_id"] != started["download_id"]
    done = await events.of(again["download_id"])
    assert done.event_type == EVENT_FILE_DOWNLOAD_COMPLETED
    assert [event.data["download_id"] for event in events.seen] == [again["download_id"]]


async def test_printer_status_keeps_updating_during_a_slow_download(
    hass: HomeAssistant, prusa: MockConfigEntry, prusa_sim: PrusaSimulator
) -> None:
    """A Buddy sends a few hundred KB/s: a refresh during a download must not wait for it."""
    prusa_sim.files["usb"].add_file("Large.gcode", os.urandom(4 * 1024 * 1024))
    printer = device_id(hass, prusa_sim.serial)
    await call(hass, "list_files", device_id=printer, refresh=True)
    prusa_sim.files["usb"].download_faults.rate = 256 * 1024  # 16 s for the file
    activity = sensor(hass, prusa_sim.serial, "download_activity")
    started = await call(
        hass, "download_file", device_id=printer, folder="/usb", name="Large.gcode"
    )
    await wait_for_attribute(hass, activity, "state", "running")
    status = sensor(hass, prusa_sim.serial, "status")
    assert hass.states.get(status).state == "idle"
    prusa_sim.start_print("Benchy.bgcode", minutes=600)
    refresh = er.async_get(hass).async_get_entity_id(
        "button", DOMAIN, f"{prusa_sim.serial}_refresh"
    )
    assert refresh is not None
    async with asyncio.timeout(5):
        await hass.services.async_call("button", "press", {"entity_id": refresh}, blocking=True)
        await wait_for_state(hass, status, "printing")
    running = await call(hass, "get_download_status", download_id=started["download_id"])
    assert running["state"] == "running"  # still under way: the poll did not wait for it
    await call(hass, "cancel_download", download_id=started["download_id"])
    # The simulator notices the closed connection at its next (throttled) write.
    await wait_until(lambda: prusa_sim.in_flight == 0, timeout=5)


async def test_cleanup_dry_run_then_real(
    hass: HomeAssistant, bambu: MockConfigEntry, bambu_sim: BambuSimulator, events: Events
) -> None:
    """The printer holds the same video twice: the later copy is a duplicate, as a leftover."""
    await write(hass, bambu_sim.sdcard / "timelapse" / "video_copy.mp4", VIDEO)
    printer = device_id(hass, bambu_sim.serial)
    await call(hass, "list_files", device_id=printer)
    copies = []
    for name in ("video_2026-12-01_10-00-00.mp4", "video_copy.mp4"):
        started = await call(
            hass, "download_file", device_id=printer, folder="/timelapse", name=name
        )
        copies.append(Path((await events.of(started["download_id"])).data["local_path"]))
    first, second = copies
    leftover = first.with_name(".video.mp4.0123abcd.part")
    await write(hass, leftover, b"half")
    folder = Path(hass.config.path(DOMAIN, "files")) / bambu_sim.serial
    before = await local_files(hass, folder)
    assert len(before) == 3

    candidates = await call(hass, "get_cleanup_candidates", device_id=printer)
    why = {item["name"]: item["why"] for item in candidates["candidates"]}
    assert why == {leftover.name: "partial", "video_copy.mp4": "duplicate"}
    assert candidates["bytes"] == len(VIDEO) + len(b"half")
    dry = await call(hass, "cleanup_files", device_id=printer)
    assert dry["dry_run"] is True
    assert dry["freed_bytes"] == candidates["bytes"]
    assert await local_files(hass, folder) == before  # nothing deleted

    real = await call(hass, "cleanup_files", device_id=printer, dry_run=False)
    assert real["dry_run"] is False
    assert real["freed_bytes"] == candidates["bytes"]
    assert await local_files(hass, folder) == [str(first.relative_to(folder))]
    storage = hass.states.get(sensor(hass, bambu_sim.serial, "local_files_size"))
    assert float(storage.state) == pytest.approx(len(VIDEO) / 1_000_000, abs=0.05)
    # The printer's files were never touched.
    listing = await call(hass, "list_files", device_id=printer, refresh=True)
    assert {item["name"] for item in listing["files"]} >= {"Benchy.3mf", "video_copy.mp4"}
    assert second.name not in await local_files(hass, folder)


async def test_fleet_files_options_apply_without_a_reload(
    hass: HomeAssistant, bambu: MockConfigEntry, bambu_sim: BambuSimulator, events: Events
) -> None:
    """The fleet's form has a files section; a larger limit lets the 2 MB file through."""
    await write(hass, bambu_sim.sdcard / "model" / "Big.3mf", os.urandom(2 * 1024 * 1024))
    printer = device_id(hass, bambu_sim.serial)
    await call(hass, "list_files", device_id=printer, refresh=True)
    with pytest.raises(ServiceValidationError):
        await call(hass, "download_file", device_id=printer, folder="/model", name="Big.3mf")
    fleet = next(
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.unique_id == FLEET_UNIQUE_ID
    )
    result = await hass.config_entries.options.async_init(fleet.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert "files" in result["data_schema"].schema
    files = {"auto_timelapse": False, "max_file_size_mb": 5, "min_free_space_mb": 0}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"files": files | {"keep_days": 30}}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert fleet.options["files"]["max_file_size_mb"] == 5
    assert bambu.state is ConfigEntryState.LOADED
    settings = printer_files(hass).settings
    assert (settings.limits.max_file_bytes, settings.keep_days) == (5 * 1024 * 1024, 30)
    started = await call(hass, "download_file", device_id=printer, folder="/model", name="Big.3mf")
    done = await events.of(started["download_id"])
    assert done.event_type == EVENT_FILE_DOWNLOAD_COMPLETED


async def test_old_local_copies_go_daily_after_keep_days(
    hass: HomeAssistant,
    bambu_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    tmp_path: Path,
) -> None:
    fleet_entry({"keep_days": 7}).add_to_hass(hass)
    await set_up(hass, bambu_entry, tmp_path)
    month = Path(hass.config.path(DOMAIN, "files")) / bambu_sim.serial / "2026-01"
    await write(hass, month / "old.3mf", MODEL)
    await write(hass, month / "recent.3mf", MODEL)
    eight_days_ago = time.time() - 8 * 86400
    await hass.async_add_executor_job(os.utime, month / "old.3mf", (eight_days_ago, eight_days_ago))
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(days=1, seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await local_files(hass, month.parent) == ["2026-01/recent.3mf"]
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def test_printer_files_are_deleted_only_when_asked(
    hass: HomeAssistant, bambu: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    printer = device_id(hass, bambu_sim.serial)
    old = 1_600_000_000  # 2020
    target = bambu_sim.sdcard / "model" / "Benchy.3mf"
    os.utime(target, (old, old))
    await call(hass, "list_files", device_id=printer, refresh=True)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_cleanup_candidates", include_printer=True)
    assert err.value.translation_key == "printer_cleanup_needs_age"
    found = await call(
        hass, "get_cleanup_candidates", device_id=printer, older_than_days=365, include_printer=True
    )
    assert [(item["name"], item["on_printer"]) for item in found["candidates"]] == [
        ("Benchy.3mf", True)
    ]
    kept = await call(
        hass,
        "cleanup_files",
        device_id=printer,
        older_than_days=365,
        include_printer=True,
        dry_run=False,
    )
    assert kept["deleted"] == []
    assert [item["reason"] for item in kept["skipped"]] == ["printer_not_allowed"]
    assert target.exists()
    gone = await call(
        hass,
        "cleanup_files",
        device_id=printer,
        older_than_days=365,
        include_printer=True,
        dry_run=False,
        on_printer=True,
    )
    assert [item["name"] for item in gone["deleted"]] == ["Benchy.3mf"]
    assert not target.exists()


HOSTILE_NAMES = [
    "../../secrets.yaml",
    "../model/Benchy.3mf",
    "/etc/passwd",
    "..",
    ".",
    "C:\\Windows\\win.ini",
    "Benchy.3mf/../../x",
    "Benchy.3mf\x00.png",
    "a\nb",
    "\u202egnp.3mf",
    "\uff42\uff45\uff4e\uff43\uff48\uff59\uff0e\uff13\uff4d\uff46",  # fullwidth benchy.3mf
    "CON",
    "x" * MAX_NAME,
    "Benchy.3mf ",
    "%2e%2e%2fsecrets.yaml",
    "~/.ssh/id_rsa",
    "timelapse/../../../../etc/shadow",
    "video_2026-12-01_10-00-00.mp4",  # a real name, in the wrong folder
    "Benchy.3MF",
    "\\\\server\\share\\x.3mf",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
async def test_hostile_file_names_are_refused(
    hass: HomeAssistant, bambu: MockConfigEntry, bambu_sim: BambuSimulator, name: str
) -> None:
    printer = device_id(hass, bambu_sim.serial)
    for service in ("download_file", "delete_printer_file"):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, service, device_id=printer, folder="/model", name=name)
        assert err.value.translation_key in ("unknown_file", "invalid_file_name"), service
    root = Path(hass.config.path(DOMAIN, "files"))
    assert await local_files(hass, root) == []
    assert await read(hass, bambu_sim.sdcard / "model" / "Benchy.3mf") == MODEL


PRINTER_NAMES = [
    "..\\..\\evil.gcode",
    "CON.gcode",
    "\u202eedocg.exe.gcode",
    "a:b*c?.gcode",
    "\uff46\uff55\uff4c\uff4c\uff0f\uff2e\uff25.gcode",  # fullwidth "full/NE"
    "x" * 240 + ".gcode",
    ".hidden.gcode",
    "evil.gcode.part",
    "index.json",
    "..gcode",
]


async def test_hostile_printer_names_land_inside_the_folder(
    hass: HomeAssistant, prusa: MockConfigEntry, prusa_sim: PrusaSimulator, events: Events
) -> None:
    """Names the printer lists are the printer's (anyone's): each copy stays in its month."""
    printer = device_id(hass, prusa_sim.serial)
    before = await call(hass, "list_files", device_id=printer, refresh=True)
    for number, name in enumerate(PRINTER_NAMES):
        prusa_sim.files["usb"].add_file(name, bytes([number]) * 1000)
    listing = await call(hass, "list_files", device_id=printer, refresh=True)
    # As listed (the adapter may have cleaned a name already): what a user downloads by.
    known = {item["name"] for item in before["files"]}
    names = [item["name"] for item in listing["files"] if item["name"] not in known]
    assert len(names) == len(PRINTER_NAMES)
    contents = {bytes([number]) * 1000 for number in range(len(PRINTER_NAMES))}
    folder = Path(hass.config.path(DOMAIN, "files")) / prusa_sim.serial
    for name in names:
        started = await call(hass, "download_file", device_id=printer, folder="/usb", name=name)
        done = await events.of(started["download_id"])
        assert done.event_type == EVENT_FILE_DOWNLOAD_COMPLETED, name
        local = Path(done.data["local_path"])
        assert local.parent.parent == folder, name
        assert not local.name.startswith("."), name
        assert not local.name.endswith(".part"), name
        contents.remove(await read(hass, local))  # each file once, none mixed up
        # Each plays back in the media browser, which checks the path on its own.
        assert await media_source.async_resolve_media(hass, done.data["media_content_id"], None)
    assert len(await local_files(hass, folder)) == len(PRINTER_NAMES)


@pytest.mark.parametrize(
    ("service", "data"),
    [
        ("download_file", {"folder": "/model"}),
        ("download_file", {"folder": "/model", "name": ""}),
        ("download_file", {"folder": "/model", "name": "x" * (MAX_NAME + 1)}),
        ("download_file", {"folder": ["/model"], "name": "Benchy.3mf"}),
        ("download_file", {"folder": "/model", "name": {"a": 1}}),
        ("list_files", {"kind": "video"}),
        ("list_files", {"status": ["gone"]}),
        ("list_files", {"refresh": "maybe"}),
        ("get_cleanup_candidates", {"older_than_days": -1}),
        ("get_cleanup_candidates", {"older_than_days": 1e300}),
        ("get_cleanup_candidates", {"older_than_days": float("nan")}),
        ("get_cleanup_candidates", {"min_size_mb": "lots"}),
        ("cleanup_files", {"dry_run": "perhaps"}),
        ("cleanup_files", {"on_printer": [True]}),
        ("get_download_status", {}),
        ("get_download_status", {"download_id": "x" * 65}),
        ("cancel_download", {"download_id": ["a"]}),
    ],
    ids=repr,
)
async def test_malformed_calls_are_invalid(
    hass: HomeAssistant, bambu: MockConfigEntry, service: str, data: dict[str, Any]
) -> None:
    with pytest.raises(vol.Invalid):
        await call(hass, service, **data)


@pytest.mark.parametrize(
    ("service", "data", "key"),
    [
        ("list_files", {}, "no_target"),
        ("download_file", {"folder": "/model", "name": "Benchy.3mf"}, "no_target"),
        ("list_files", {"device_id": "not-a-device"}, "printer_not_found"),
        ("list_files", {"config_entry_id": "not-an-entry"}, "printer_not_found"),
        ("get_download_status", {"download_id": "../../etc/passwd"}, "unknown_download"),
        ("get_download_status", {"download_id": "0" * 32}, "unknown_download"),
        ("cancel_download", {"download_id": "f" * 32}, "unknown_download"),
        ("get_download_status", {"download_id": ""}, "unknown_download"),
        ("download_file", {"folder": "/model\x7f", "name": "Benchy.3mf"}, "invalid_file_name"),
        ("download_file", {"folder": "/model", "name": "\ud800"}, "invalid_file_name"),
        ("delete_printer_file", {"folder": "/model", "name": "a\x00b"}, "invalid_file_name"),
    ],
    ids=repr,
)
async def test_bad_requests_are_explained(
    hass: HomeAssistant,
    bambu: MockConfigEntry,
    bambu_sim: BambuSimulator,
    service: str,
    data: dict[str, Any],
    key: str,
) -> None:
    if key == "invalid_file_name":
        data = {**data, "device_id": device_id(hass, bambu_sim.serial)}
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, service, **data)
    assert err.value.translation_key == key


async def test_the_fleet_device_is_not_a_printer(
    hass: HomeAssistant, bambu: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    fleet = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, FLEET_UNIQUE_ID)})
    assert fleet is not None
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "list_files", device_id=fleet.id)
    assert err.value.translation_key == "printer_not_found"
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            "list_files",
            device_id=[device_id(hass, bambu_sim.serial), device_id(hass, bambu_sim.serial)],
            config_entry_id=[fleet.config_entries.copy().pop()],
        )
    assert err.value.translation_key == "printer_not_found"


async def test_an_offline_printer_is_explained(
    hass: HomeAssistant, bambu: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    printer = device_id(hass, bambu_sim.serial)
    await bambu_sim.stop()
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "list_files", device_id=printer, refresh=True)
    assert err.value.translation_key in ("printer_files_unavailable", "printer_busy")


async def test_timelapse_is_fetched_after_a_print_and_linked_to_the_job(
    hass: HomeAssistant,
    bambu_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    tmp_path: Path,
    events: Events,
    hass_client: ClientSessionGenerator,
) -> None:
    """A print on the P1S ends; the timelapse it writes (not last year's) is fetched and linked."""
    timelapses = bambu_sim.sdcard / "timelapse"
    old = timelapses / "video_2020-01-01_10-00-00.avi"
    await write(hass, old, b"old")
    await hass.async_add_executor_job(os.utime, old, (1_577_872_800, 1_577_872_800))
    fleet_entry({"auto_timelapse": True}).add_to_hass(hass)
    await set_up(hass, bambu_entry, tmp_path)
    device = device_id(hass, bambu_sim.serial)
    finished: list[Event] = []
    hass.bus.async_listen(EVENT_JOB_FINISHED, finished.append)
    await bambu_sim.start_print("Benchy", total_layers=5, minutes=2)
    done = await events.first()
    (job,) = finished
    name = done.data["name"]
    assert done.event_type == EVENT_FILE_DOWNLOAD_COMPLETED
    assert done.data["job_id"] == job.data["job_id"]
    assert done.data["folder"] == "/timelapse"
    assert name.startswith("video_")
    assert name.endswith(".avi")
    assert name != old.name
    video = await read(hass, timelapses / name)
    assert await read(hass, Path(done.data["local_path"])) == video
    assert video[:4] == b"RIFF"
    assert done.data["sha256"] == hashlib.sha256(video).hexdigest()
    listing = await call(hass, "list_files", device_id=device, kind="timelapse")
    linked = {item["name"]: item["job_id"] for item in listing["files"]}
    assert linked == {name: job.data["job_id"], old.name: None}
    link = printer_files(hass).job_files[job.data["job_id"]]["timelapse"]
    assert (link["name"], link["sha256"]) == (name, done.data["sha256"])

    # In the media browser the local copy shows the cover the printer keeps for it.
    month = done.data["media_content_id"].rsplit("/", 1)[0]
    browsed = await media_source.async_browse_media(hass, month)
    (shown,) = [child for child in browsed.children if child.title == name]
    assert shown.media_class == "video"
    client = await hass_client()
    response = await client.get(shown.thumbnail)
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    cover = timelapses / "thumbnail" / f"{name.removesuffix('.avi')}.jpg"
    assert await response.read() == await read(hass, cover)
    # A local video the printer has no cover for has no thumbnail.
    await write(hass, Path(done.data["local_path"]).with_name("other.mp4"), VIDEO)
    response = await client.get(shown.thumbnail.rsplit("/", 1)[0] + "/other.mp4")
    assert response.status == 404
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def test_a_partial_download_from_before_a_restart_is_failed_and_removed(
    hass: HomeAssistant,
    prusa_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
    tmp_path: Path,
    events: Events,
) -> None:
    """HA stopped mid-download: the partial file goes, the file shows failed, a retry works."""
    prusa_sim.files["usb"].add_file("Part.gcode", MODEL)
    folder = tmp_path / "config" / DOMAIN / "files" / prusa_sim.serial
    part = folder / "2026-12" / ".Part.gcode.0123abcd.part"
    record = LocalRecord(
        folder="/usb",
        name="Part.gcode",
        relpath="2026-12/Part.gcode",
        state="partial",
        part=part.name,
        saved_at="2026-12-01T10:00:00+00:00",
    )

    def crashed() -> None:
        part.parent.mkdir(parents=True)
        part.write_bytes(MODEL[:1000])
        save_index(folder, {("/usb", "Part.gcode"): record})

    await hass.async_add_executor_job(crashed)
    await set_up(hass, prusa_entry, tmp_path)
    printer = device_id(hass, prusa_sim.serial)
    listing = await call(hass, "list_files", device_id=printer, refresh=True)
    (item,) = [item for item in listing["files"] if item["name"] == "Part.gcode"]
    assert (item["status"], item["reason"]) == ("failed", "interrupted")
    assert await local_files(hass, folder) == []
    started = await call(hass, "download_file", device_id=printer, folder="/usb", name="Part.gcode")
    done = await events.of(started["download_id"])
    assert await read(hass, Path(done.data["local_path"])) == MODEL
    assert await hass.config_entries.async_unload(prusa_entry.entry_id)
    await hass.async_block_till_done()


async def test_the_listing_is_read_again_after_a_print(
    hass: HomeAssistant, bambu: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    """The cached listing goes stale when a print ends (a timelapse appears), not before."""
    printer = device_id(hass, bambu_sim.serial)
    before = await call(hass, "list_files", device_id=printer, kind="timelapse")
    finished = hass.loop.create_future()

    @callback
    def ended(event: Event) -> None:
        if not finished.done():
            finished.set_result(event)

    unsubscribe = hass.bus.async_listen(EVENT_JOB_FINISHED, ended)
    await bambu_sim.start_print("Benchy", total_layers=5, minutes=2)
    async with asyncio.timeout(TIMEOUT):
        await finished
    unsubscribe()
    after = await call(hass, "list_files", device_id=printer, kind="timelapse")  # no refresh
    new = {item["name"] for item in after["files"]} - {item["name"] for item in before["files"]}
    assert len(new) == 1
    assert new.pop().endswith(".avi")


def test_every_refusal_is_translated() -> None:
    """Each translation key the file actions and the media browser can raise, in en and de."""
    keys = {
        "invalid_file_name",
        "unknown_printer",
        "unknown_file",
        "unknown_download",
        "file_too_large",
        "not_enough_space",
        "file_in_use",
        "file_error",
        "printer_busy",
        "printer_files_unavailable",
        "printer_cleanup_needs_age",
        "media_not_found",
        "no_target",
        "one_printer_only",
        "printer_not_found",
        "printer_not_loaded",
        "invalid_auth",
    }
    for language in ("en", "de"):
        exceptions = json.loads((TRANSLATIONS / f"{language}.json").read_text())["exceptions"]
        assert keys <= set(exceptions), (language, keys - set(exceptions))


FILE_ACTIONS = (
    "list_files",
    "download_file",
    "get_download_status",
    "cancel_download",
    "get_cleanup_candidates",
    "cleanup_files",
    "delete_printer_file",
)


def test_file_actions_are_described() -> None:
    """Each file action and each of its fields has a name and description in en and de."""
    root = TRANSLATIONS.parent
    actions = yaml.safe_load((root / "services.yaml").read_text(encoding="utf-8"))
    icons = json.loads((root / "icons.json").read_text(encoding="utf-8"))
    for language in ("en", "de"):
        strings = json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))
        for action in FILE_ACTIONS:
            described = strings["services"][action]
            assert described["name"], (language, action)
            assert described["description"], (language, action)
            fields = set(actions[action]["fields"])
            assert set(described["fields"]) == fields, (language, action)
            for field in fields:
                assert described["fields"][field]["name"], (language, action, field)
                assert described["fields"][field]["description"], (language, action, field)
        for key in ("download_activity", "local_files_size"):
            assert strings["entity"]["sensor"][key]["name"], (language, key)
    assert all(icons["services"][action]["service"] for action in FILE_ACTIONS)
