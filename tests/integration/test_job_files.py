"""A job's local files in `get_job`/`list_jobs`, through HA against the simulated P1S (FTPS).

The print runs on the simulator, its timelapse is fetched by the fleet's `files` option and the
print file is downloaded with `download_file`: all over 127.0.0.1 through the real adapter and
file manager. Waits are bounded and on events, never on a sleep.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import hashlib
from pathlib import Path
from typing import Any

from homeassistant.components import media_source
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import DOMAIN
from custom_components.printernizer.events import EVENT_JOB_FINISHED
from custom_components.printernizer.files import manager as manager_module
from custom_components.printernizer.history import DATA_HISTORY
from custom_components.printernizer.jobs import JobRecord, JobStatus
from custom_components.printernizer.printer_files import printer_files
from simulator.bambu.printer import BambuSimulator

from .test_files_actions import (
    MODEL,
    TIMEOUT,
    Events,
    call,
    device_id,
    fleet_entry,
    read,
    set_up,
    write,
)


@pytest.fixture
def events(hass: HomeAssistant) -> Any:
    seen = Events(hass)
    yield seen
    seen.close()


async def finished_print(hass: HomeAssistant, sim: BambuSimulator) -> str:
    """Run a short print on the simulator; the finished job's id."""
    finished = hass.loop.create_future()

    @callback
    def ended(event: Event) -> None:
        if not finished.done():
            finished.set_result(event.data["job_id"])

    unsubscribe = hass.bus.async_listen(EVENT_JOB_FINISHED, ended)
    try:
        await sim.start_print("Benchy", total_layers=5, minutes=2)
        async with asyncio.timeout(TIMEOUT):
            return str(await finished)
    finally:
        unsubscribe()


async def job_files(hass: HomeAssistant, job_id: str) -> dict[str, dict[str, Any]]:
    """The job's files by kind, as `get_job` returns them (each kind at most once)."""
    job = (await call(hass, "get_job", job_id=job_id))["job"]
    by_kind = {item["kind"]: item for item in job["files"]}
    assert len(by_kind) == len(job["files"])
    return by_kind


def record(serial: str, **changes: Any) -> JobRecord:
    now = dt_util.utcnow()
    return JobRecord(
        id=changes.pop("id"),
        serial=serial,
        printer_name="P1S",
        started_at=now - timedelta(hours=1),
        updated_at=now,
        status=JobStatus.COMPLETED,
        ended_at=now,
        **changes,
    )


async def test_timelapse_and_print_file_show_on_the_job(
    hass: HomeAssistant,
    bambu_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    tmp_path: Path,
    events: Events,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fetched timelapse, then the downloaded print file, show on the job; deleted ones go."""
    fleet_entry({"auto_timelapse": True}).add_to_hass(hass)
    await set_up(hass, bambu_entry, tmp_path)
    root = Path(hass.config.path(DOMAIN, "files"))
    job_id = await finished_print(hass, bambu_sim)
    fetched = await events.first()
    assert fetched.data["job_id"] == job_id

    files = await job_files(hass, job_id)
    assert list(files) == ["timelapse"]
    timelapse = files["timelapse"]
    video = await read(hass, bambu_sim.sdcard / "timelapse" / timelapse["name"])
    assert timelapse["folder"] == "/timelapse"
    assert (timelapse["size"], timelapse["sha256"]) == (
        len(video),
        hashlib.sha256(video).digest().hex(),
    )
    assert await read(hass, root / timelapse["path"]) == video
    assert timelapse["path"].startswith(f"{bambu_sim.serial}/")
    assert timelapse["media_content_id"] == f"media-source://{DOMAIN}/{timelapse['path']}"
    assert await media_source.async_resolve_media(hass, timelapse["media_content_id"], None)

    # The job's print file, kept locally, shows too (the P1S names the file inside the 3MF).
    printer = device_id(hass, bambu_sim.serial)
    listing = await call(hass, "list_files", device_id=printer, refresh=True)
    (model,) = [item for item in listing["files"] if item["kind"] == "print"]
    assert model["name"] == "Benchy.gcode.3mf"
    started = await call(
        hass, "download_file", device_id=printer, folder=model["folder"], name=model["name"]
    )
    done = await events.of(started["download_id"])
    files = await job_files(hass, job_id)
    assert set(files) == {"timelapse", "print"}
    printed = files["print"]
    assert (printed["name"], printed["folder"]) == (model["name"], model["folder"])
    assert printed["sha256"] == done.data["sha256"]
    assert printed["media_content_id"] == done.data["media_content_id"]
    assert root / printed["path"] == Path(done.data["local_path"])
    assert printed["size"] == len(await read(hass, root / printed["path"]))

    listed = await call(hass, "list_jobs", device_id=printer)
    (job,) = [item for item in listed["jobs"] if item["id"] == job_id]
    assert {item["kind"] for item in job["files"]} == {"timelapse", "print"}

    # A local copy deleted by hand is no longer linked once the folder is read again (the
    # manager reads it when its last scan is older than LOCAL_SCAN_TTL; cleanups at once).
    await hass.async_add_executor_job((root / timelapse["path"]).unlink)
    monkeypatch.setattr(manager_module, "LOCAL_SCAN_TTL", 0.0)
    assert set(await job_files(hass, job_id)) == {"print"}
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def test_a_job_without_local_copies_has_no_files(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator, tmp_path: Path
) -> None:
    """Without the timelapse option and downloads, a job's files (on the printer only) are none."""
    fleet_entry({"auto_timelapse": False}).add_to_hass(hass)
    await set_up(hass, bambu_entry, tmp_path)
    job_id = await finished_print(hass, bambu_sim)
    printer = device_id(hass, bambu_sim.serial)
    listing = await call(hass, "list_files", device_id=printer, refresh=True)
    assert {item["status"] for item in listing["files"]} == {"on_printer"}
    assert await job_files(hass, job_id) == {}
    (job,) = (await call(hass, "list_jobs", device_id=printer))["jobs"]
    assert job["files"] == []
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def test_hostile_and_absent_links_show_nothing_outside_the_printer(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator, tmp_path: Path
) -> None:
    """Names with paths, another printer's copies, stale or forged links: never linked."""
    fleet_entry({}).add_to_hass(hass)
    await set_up(hass, bambu_entry, tmp_path)
    serial = bambu_sim.serial
    root = Path(hass.config.path(DOMAIN, "files"))
    # Files the hostile names point at, outside the printer's folder or in another printer's.
    await write(hass, root / "secret.3mf", MODEL)
    await write(hass, root.parent / "secret.3mf", MODEL)
    await write(hass, root / "OTHER" / "2026-12" / "Benchy.gcode.3mf", MODEL)
    await write(hass, root / serial / "2026-12" / "notes.txt", b"not a print file")
    history = hass.data[DATA_HISTORY]
    hostile = {
        "dots": {"file": "../../secret.3mf", "job_name": "../secret"},
        "absolute": {"file": str(root / "secret.3mf"), "job_name": str(root.parent / "secret")},
        "other_printer": {"file": "Benchy.gcode.3mf", "job_name": "Benchy"},
        "not_a_print": {"file": "notes.txt", "job_name": "notes"},
        "nothing": {},
        "control": {"file": "\x00\n..\\..\\secret.3mf", "job_name": "\u202e3mf.terces"},
    }
    for job_id, fields in hostile.items():
        history.put(record(serial, id=job_id, **fields))
    history.put(record("../../..", id="hostile_serial", file="secret.3mf", job_name="secret"))
    # Forged or stale timelapse links: another printer, a path outside, a copy no longer there.
    links = printer_files(hass).job_files
    links["nothing"] = {"timelapse": {"serial": "OTHER", "folder": "/", "name": "Benchy.gcode.3mf"}}
    links["dots"] = {"timelapse": {"serial": serial, "folder": "/..", "name": "../secret.3mf"}}
    links["absolute"] = {"timelapse": "not a link"}
    links["control"] = {"timelapse": {"serial": serial, "folder": "/timelapse", "name": "gone.mp4"}}

    for job_id in [*hostile, "hostile_serial"]:
        assert await job_files(hass, job_id) == {}, job_id
    jobs = (await call(hass, "list_jobs", limit=1000))["jobs"]
    assert {job["id"]: job["files"] for job in jobs} == {
        job_id: [] for job_id in [*hostile, "hostile_serial"]
    }
    assert await hass.async_add_executor_job((root.parent / "secret.3mf").exists)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_job", job_id="no such job")
    assert err.value.translation_key == "job_not_found"
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()
