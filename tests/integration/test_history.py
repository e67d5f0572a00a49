"""The job history through Home Assistant's Store: batching, loading, indexes, totals, repairs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import json
import math
from pathlib import Path
import random
from typing import Any
from unittest.mock import patch
import zlib

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir, storage
from homeassistant.helpers.json import json_bytes
from homeassistant.util import dt as dt_util
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.printernizer.const import DOMAIN
from custom_components.printernizer.history import (
    ACTIVE_STORAGE_KEY,
    SAVE_DELAY,
    STORAGE_KEY,
    STORAGE_VERSION,
    JobHistory,
    JobTotals,
    _entry,
    _stored,
    _stored_form,
)
from custom_components.printernizer.jobs.analytics import custom_period, job_facts, overview
from custom_components.printernizer.jobs.columns import snapshot_overview
from custom_components.printernizer.jobs.lifecycle import JobTracker
from custom_components.printernizer.jobs.records import JobRecord, JobStatus, MaterialUse

# The real Store I/O, taken before the hass_storage fixture replaces it with a dict.
REAL_LOAD = storage.Store._async_load
REAL_WRITE = storage.Store._async_write_data

P1S, MK4 = "01P00A391800123", "10589X2B0C"
BASE = datetime(2025, 3, 1, 8, tzinfo=UTC)


def job(number: int, *, serial: str = P1S, status: JobStatus = JobStatus.COMPLETED, **changes: Any):
    """A job started `number` hours after BASE that ran an hour, priced as number.50 EUR."""
    started = BASE + timedelta(hours=number)
    ended = None if status is JobStatus.ACTIVE else started + timedelta(hours=1)
    record = JobRecord(
        id=f"job-{number}",
        serial=serial,
        printer_name="P1S Werkstatt" if serial == P1S else "MK4 Büro",
        started_at=started,
        updated_at=ended or started,
        status=status,
        job_name=f"Halter {number}",
        file=f"halter_{number}.gcode.3mf",
        ended_at=ended,
        duration_seconds=None if ended is None else 3600.0,
        paused_seconds=60.0,
        pause_count=1,
        progress=100.0 if status is JobStatus.COMPLETED else 40.0,
        materials=(MaterialUse(material="PLA", color="#000000", planned_grams=10.5, grams=10.5),),
        energy_kwh=None if ended is None else 0.25,
        energy_source=None if ended is None else "measured",
        cost=None if ended is None else {"currency": "EUR", "gross": f"{number}.50", "lines": []},
        category="business",
        customer="ACME GmbH",
    )
    return replace(record, **changes)


def stored(record: JobRecord) -> dict[str, Any]:
    """The stored form: to_dict() without defaults and the derived print_seconds."""
    defaults = {
        "status": "active", "job_name": None, "file": None, "printer_job_id": None,
        "printer_started_at": None, "ended_at": None, "duration_seconds": None,
        "paused_seconds": 0.0, "pause_count": 0, "paused_since": None, "progress": None,
        "materials": [], "energy_kwh": None, "energy_source": None, "cost": None,
        "category": None, "customer": None, "project": None, "notes": None,
        "closed_after_restart": False, "meter_readings": [],
    }  # fmt: skip
    return {
        key: value
        for key, value in record.to_dict().items()
        if key != "print_seconds" and (key not in defaults or defaults[key] != value)
    }


def file_data(
    records: Iterable[Any],
    *,
    version: int = STORAGE_VERSION,
    minor: int = 1,
    key: str = STORAGE_KEY,
):
    data = {"records": list(records)}
    return {"version": version, "minor_version": minor, "key": key, "data": data}


def checksummed(body: str) -> str:
    return f"{zlib.crc32(body.encode()):08x}{body}"


def split(entry: str) -> tuple[list[Any], dict[str, Any]]:
    """An entry's row and record, after checking its checksum."""
    assert entry == checksummed(entry[8:])
    row, tab, record = entry[8:].partition("\t")
    assert tab
    return json.loads(row), json.loads(record)


def saved(hass_storage: dict[str, Any], key: str = STORAGE_KEY) -> list[dict[str, Any]]:
    """The records a file holds, in stored form."""
    content = hass_storage[key]
    assert (content["version"], content["minor_version"], content["key"]) == (
        STORAGE_VERSION,
        1,
        key,
    )
    return [split(entry)[1] for entry in content["data"]["records"]]


def on_disk(path: Path) -> list[dict[str, Any]]:
    return [split(entry)[1] for entry in json.loads(path.read_bytes())["data"]["records"]]


def entry(record: JobRecord) -> str:
    """The entry the history writes for this record."""
    return _entry(*_stored_form(_stored(record)))


def gross(record: JobRecord) -> Decimal | None:
    value = (record.cost or {}).get("gross")
    return None if value is None else Decimal(value)


def expected_totals(records: Iterable[JobRecord], serial: str) -> JobTotals:
    """Totals computed from scratch, as the API promises them."""
    ended = [r for r in records if r.serial == serial and r.status is not JobStatus.ACTIVE]
    if not ended:
        return JobTotals()
    last = max(ended, key=lambda record: (record.ended_at or record.started_at, record.id))
    return JobTotals(
        completed=sum(record.status is JobStatus.COMPLETED for record in ended),
        failed=sum(record.status is JobStatus.FAILED for record in ended),
        cancelled=sum(record.status is JobStatus.CANCELLED for record in ended),
        print_seconds=math.fsum(r.print_seconds for r in ended if r.print_seconds is not None),
        grams=math.fsum(m.grams for r in ended for m in r.materials if m.grams is not None),
        energy_kwh=math.fsum(r.energy_kwh for r in ended if r.energy_kwh is not None),
        cost=sum((amount for r in ended if (amount := gross(r)) is not None), Decimal(0)),
        without_cost=sum(gross(r) is None for r in ended),
        last_cost=gross(last),
        last_job_id=last.id,
    )


def writes(key: str = STORAGE_KEY) -> int:
    """Writes hass_storage's stand-in for Store._async_write_data made for `key`."""
    return sum(call.args[0].key == key for call in storage.Store._async_write_data.call_args_list)


async def wait(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Let time pass, on the loop clock too: the Store re-arms its timer until that is due."""
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass, dt_util.utcnow())
    await hass.async_block_till_done()


async def loaded(hass: HomeAssistant) -> JobHistory:
    history = JobHistory(hass)
    await history.async_load()
    return history


# --- Store round trip ---------------------------------------------------------------------


async def test_puts_are_saved_once_after_the_delay(
    hass: HomeAssistant, hass_storage: dict[str, Any], freezer: FrozenDateTimeFactory
) -> None:
    history = await loaded(hass)
    records = [job(n, serial=P1S if n % 2 else MK4) for n in range(30)]
    for record in records[:20]:
        history.put(record)
    await wait(hass, freezer, SAVE_DELAY / 2)
    for record in records[20:]:
        history.put(record)
    corrected = replace(records[3], notes="Farbe nachgefragt", status=JobStatus.FAILED)
    history.put(corrected)
    records[3] = corrected
    await wait(hass, freezer, SAVE_DELAY - 1)
    assert STORAGE_KEY not in hass_storage

    await wait(hass, freezer, 2)

    assert writes() == 1
    assert writes(ACTIVE_STORAGE_KEY) == 0  # nothing active
    assert saved(hass_storage) == [stored(record) for record in records]
    row, _ = split(hass_storage[STORAGE_KEY]["data"]["records"][3])
    assert row[:10] == [
        "job-3", P1S, "failed", (BASE + timedelta(hours=3)).timestamp(),
        (BASE + timedelta(hours=4)).timestamp(), 3540.0, [10.5], 0.25, "3.50", "business",
    ]  # fmt: skip
    assert row[10] == json.loads(json_bytes(job_facts(corrected)))  # analytics read these
    fresh = await loaded(hass)
    assert [fresh.get(record.id) for record in records] == records
    assert fresh.totals(P1S) == history.totals(P1S) == expected_totals(records, P1S)


async def test_save_now_writes_the_pending_save(
    hass: HomeAssistant, hass_storage: dict[str, Any], freezer: FrozenDateTimeFactory
) -> None:
    history = await loaded(hass)
    history.put(job(1))
    history.put(job(2, status=JobStatus.ACTIVE))
    await history.async_save_now()
    assert saved(hass_storage) == [stored(job(1))]
    assert saved(hass_storage, ACTIVE_STORAGE_KEY) == [stored(job(2, status=JobStatus.ACTIVE))]

    await wait(hass, freezer, SAVE_DELAY + 1)
    assert writes() == writes(ACTIVE_STORAGE_KEY) == 1  # the delayed saves were written now


async def test_a_pending_save_is_written_when_home_assistant_stops(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    history = await loaded(hass)
    history.put(job(1))
    history.put(job(2, status=JobStatus.ACTIVE))
    await hass.async_stop()
    assert saved(hass_storage) == [stored(job(1))]
    assert saved(hass_storage, ACTIVE_STORAGE_KEY) == [stored(job(2, status=JobStatus.ACTIVE))]


async def test_round_trip_keeps_every_field(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    full = job(
        7,
        status=JobStatus.CANCELLED,
        printer_job_id="51234",
        printer_started_at=BASE,
        paused_since=BASE + timedelta(minutes=5),
        materials=(
            MaterialUse(material="PETG", planned_grams=20.0, grams=8.0, source="estimate"),
            MaterialUse(material="TPU", planned_grams=5.0, grams=6.5, source="user"),
            MaterialUse(material=None),
        ),
        project="A-0042",
        notes="Zweite Platte",
        closed_after_restart=True,
        meter_readings=(1001.25, 1002.5),
    )  # fmt: skip
    bare = JobRecord(id="bare", serial=MK4, printer_name="MK4", started_at=BASE, updated_at=BASE)
    history = await loaded(hass)
    history.put(full)
    history.put(bare)
    await history.async_save_now()

    assert saved(hass_storage, ACTIVE_STORAGE_KEY) == [{
        "id": "bare", "serial": MK4, "printer_name": "MK4",
        "started_at": "2025-03-01T08:00:00+00:00", "updated_at": "2025-03-01T08:00:00+00:00",
    }]  # fmt: skip
    assert split(hass_storage[ACTIVE_STORAGE_KEY]["data"]["records"][0])[0] == [
        "bare", MK4, "active", BASE.timestamp(), None, None, [], None, None, None,
        json.loads(json_bytes(job_facts(bare))),
    ]  # fmt: skip
    fresh = await loaded(hass)
    assert fresh.get("job-7") == full
    assert fresh.get("bare") == bare
    assert fresh.get("nope") is None


async def test_loads_existing_records_in_any_form_from_dict_reads(
    hass: HomeAssistant, hass_storage: dict[str, Any], freezer: FrozenDateTimeFactory
) -> None:
    """Dicts and JSON texts of full to_dict output, naive times, ints, no status load."""
    naive = {"id": "naive", "serial": MK4, "started_at": "2025-03-01T08:00:00", "progress": 5}
    hass_storage[STORAGE_KEY] = file_data(
        [job(1).to_dict(), json.dumps(stored(job(2))), json.dumps(job(3).to_dict(), indent=1)]
    )
    hass_storage[ACTIVE_STORAGE_KEY] = file_data([naive], key=ACTIVE_STORAGE_KEY)
    history = await loaded(hass)

    assert [history.get(f"job-{n}") for n in (1, 2, 3)] == [job(1), job(2), job(3)]
    assert history.get("naive") == JobRecord(
        id="naive", serial=MK4, printer_name=MK4, started_at=BASE, updated_at=BASE, progress=5.0
    )
    assert history.query(limit=0)[1] == 4
    assert history.totals(P1S) == expected_totals([job(1), job(2), job(3)], P1S)
    assert ir.async_get(hass).issues == {}
    assert history.restore_set(MK4) == [history.get("naive")]

    await wait(hass, freezer, SAVE_DELAY + 1)
    assert writes() == writes(ACTIVE_STORAGE_KEY) == 0  # rewritten as entries with the next save


async def test_an_entry_that_fails_its_checksum_is_read_in_full(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """A hand-edited record counts, its row does not; an edit from_dict cannot read does not."""
    one, two, three = map(entry, (job(1), job(2), job(3)))
    edited = one.replace("ACME GmbH", "Muster AG")
    row_lie = two.replace('"completed"', '"failed"', 1)  # the row's status: checksum now wrong
    not_hex = "zzzzzzzz" + three[8:]
    hass_storage[STORAGE_KEY] = file_data([edited, row_lie, not_hex])
    history = await loaded(hass)

    assert history.get("job-1") == replace(job(1), customer="Muster AG")
    assert history.get("job-2") == job(2)
    assert history.get("job-3") == job(3)
    assert history.totals(P1S) == expected_totals([job(1), job(2), job(3)], P1S)
    assert ir.async_get(hass).issues == {}
    await history.async_save_now()
    assert saved(hass_storage) == [
        stored(replace(job(1), customer="Muster AG")),
        *map(stored, (job(2), job(3))),
    ]


async def test_a_newer_minor_version_loads_and_keeps_unknown_fields(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """Record fields and row values added later are kept, as is a plain dict's extra field."""
    ours = entry(job(1))
    row, tab, record = ours[8:].partition("\t")
    future = checksummed(f'{row[:-1]},"later"]{tab}{record[:-1]},"printed_by":"Anna"}}')
    plain = stored(job(2)) | {"printed_by": "Ben"}
    hass_storage[STORAGE_KEY] = file_data([future, plain], minor=2)
    history = await loaded(hass)
    assert [history.get("job-1"), history.get("job-2")] == [job(1), job(2)]
    assert history.totals(P1S) == expected_totals([job(1), job(2)], P1S)
    history.put(job(3))
    await history.async_save_now()
    assert hass_storage[STORAGE_KEY]["data"]["records"][0] == future
    assert saved(hass_storage)[1] == plain


# --- the active file --------------------------------------------------------------------------


async def test_a_running_print_never_writes_the_main_file(
    hass: HomeAssistant, hass_storage: dict[str, Any], freezer: FrozenDateTimeFactory
) -> None:
    history = await loaded(hass)
    for number in (1, 2, 3):
        history.put(job(number))
    await wait(hass, freezer, SAVE_DELAY + 1)
    running = job(4, status=JobStatus.ACTIVE)
    for progress in range(0, 100, 10):
        running = replace(running, progress=float(progress))
        history.put(running)
        await wait(hass, freezer, SAVE_DELAY + 1)
    assert (writes(), writes(ACTIVE_STORAGE_KEY)) == (1, 10)
    assert saved(hass_storage, ACTIVE_STORAGE_KEY) == [stored(running)]
    assert saved(hass_storage) == [stored(job(n)) for n in (1, 2, 3)]

    history.put(job(4))  # it ended
    await wait(hass, freezer, SAVE_DELAY + 1)

    # The main file first; the active file then lets it go.
    assert (writes(), writes(ACTIVE_STORAGE_KEY)) == (2, 10)
    await wait(hass, freezer, SAVE_DELAY + 1)  # its save postponed by the main file's news
    assert (writes(), writes(ACTIVE_STORAGE_KEY)) == (2, 11)
    assert saved(hass_storage) == [stored(job(n)) for n in (1, 2, 3, 4)]
    assert saved(hass_storage, ACTIVE_STORAGE_KEY) == []
    history.put(replace(job(2), notes="nachgetragen"))  # an edit writes the main file only
    await wait(hass, freezer, SAVE_DELAY + 1)
    assert (writes(), writes(ACTIVE_STORAGE_KEY)) == (3, 11)
    fresh = await loaded(hass)
    assert fresh.query(limit=0)[1] == 4
    assert fresh.totals(P1S) == history.totals(P1S)


async def test_an_ended_job_stays_in_the_active_file_until_the_main_file_has_it(
    hass: HomeAssistant, hass_storage: dict[str, Any], freezer: FrozenDateTimeFactory
) -> None:
    history = await loaded(hass)
    history.put(job(1, status=JobStatus.ACTIVE))
    await wait(hass, freezer, SAVE_DELAY + 1)
    history._store.make_read_only()  # the main file is not written: as if HA died before
    history.put(job(1))
    await wait(hass, freezer, SAVE_DELAY + 1)
    await wait(hass, freezer, SAVE_DELAY + 1)

    assert STORAGE_KEY not in hass_storage
    assert saved(hass_storage, ACTIVE_STORAGE_KEY) == [stored(job(1))]  # the ended version
    fresh = await loaded(hass)
    assert fresh.query() == ([job(1)], 1)
    assert fresh.totals(P1S) == expected_totals([job(1)], P1S)
    assert fresh.restore_set(P1S) == [job(1)]
    await wait(hass, freezer, SAVE_DELAY + 1)  # it moves: the main file, then the active file
    await wait(hass, freezer, SAVE_DELAY + 1)
    assert saved(hass_storage) == [stored(job(1))]
    assert saved(hass_storage, ACTIVE_STORAGE_KEY) == []


@pytest.mark.parametrize(
    ("main", "active", "kept"),
    [
        # HA died after the main file took the ended job, before the active file let it go.
        (job(1), job(1, status=JobStatus.ACTIVE), job(1)),
        (job(1), replace(job(1), notes="older"), job(1)),
        # A main file holding a running job (edited by hand): the active file's is the one.
        (job(1, status=JobStatus.ACTIVE), job(1, status=JobStatus.ACTIVE, progress=70.0), None),
        (job(1, status=JobStatus.ACTIVE), job(1), job(1)),
    ],
    ids=["ended and active", "ended twice", "active twice", "active and ended"],
)
async def test_a_job_in_both_files_loads_once(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
    main: JobRecord,
    active: JobRecord,
    kept: JobRecord | None,
) -> None:
    kept = kept or active
    hass_storage[STORAGE_KEY] = file_data([entry(main), entry(job(2))])
    hass_storage[ACTIVE_STORAGE_KEY] = file_data([entry(active)], key=ACTIVE_STORAGE_KEY)
    history = await loaded(hass)

    assert history.query() == ([job(2), kept], 2)
    assert history.totals(P1S) == expected_totals([kept, job(2)], P1S)
    ended = kept.status is not JobStatus.ACTIVE
    assert history.restore_set(P1S) == ([job(2)] if ended else [kept, job(2)])
    for _ in range(3):
        await wait(hass, freezer, SAVE_DELAY + 1)
    in_main = sorted(saved(hass_storage), key=lambda record: record["id"])
    assert in_main == [stored(kept), stored(job(2))] if ended else [stored(job(2))]
    assert saved(hass_storage, ACTIVE_STORAGE_KEY) == ([] if ended else [stored(kept)])
    assert ir.async_get(hass).issues == {}


async def test_put_refuses_a_record_it_could_not_read_back(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    with pytest.raises(ValueError, match="energy source"):
        history.put(job(1, energy_source="guessed"))  # type: ignore[arg-type]
    assert history.get("job-1") is None


# --- restore_set, query, listeners ------------------------------------------------------------


async def test_restore_set_is_the_active_records_and_the_latest_ended(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    for record in (job(1), job(2), job(3, status=JobStatus.FAILED), job(4, serial=MK4)):
        history.put(record)
    history.put(job(5, status=JobStatus.ACTIVE))
    assert history.restore_set(P1S) == [
        job(5, status=JobStatus.ACTIVE),
        job(3, status=JobStatus.FAILED),
    ]
    assert history.restore_set("unknown") == []

    tracker = JobTracker(P1S, "P1S Werkstatt", now=lambda: BASE, match_start_time=True)
    assert tracker.restore(history.restore_set(P1S)) == []
    assert tracker.active == job(5, status=JobStatus.ACTIVE)


async def test_latest_ended_follows_corrections(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    for number in (1, 2, 3):
        history.put(job(number))
    assert history.totals(P1S).last_job_id == "job-3"
    history.put(replace(job(3), cost={"gross": "9.99"}))  # priced later: still the latest
    assert history.totals(P1S).last_job_id == "job-3"
    assert history.totals(P1S).last_cost == Decimal("9.99")
    history.put(replace(job(3), ended_at=BASE))  # corrected to end before the others
    assert history.totals(P1S).last_job_id == "job-2"
    history.put(replace(job(2), serial=MK4))  # it was the other printer's
    assert (history.totals(P1S).last_job_id, history.totals(MK4).last_job_id) == ("job-1", "job-2")
    history.put(job(1, status=JobStatus.ACTIVE))
    assert history.totals(P1S).last_job_id == "job-3"
    assert [r.id for r in history.restore_set(P1S)] == ["job-1", "job-3"]


async def test_query_filters_pages_and_counts(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    records = [
        job(n, serial=P1S if n % 3 else MK4,
            status=JobStatus.FAILED if n % 4 == 0 else JobStatus.COMPLETED,
            category="private" if n % 5 == 0 else "business", customer=f"Kunde {n % 7}")
        for n in range(1, 41)
    ]  # fmt: skip
    records.append(job(41, status=JobStatus.ACTIVE, notes="Neue DÜSE eingebaut"))
    for record in random.Random(3).sample(records, len(records)):
        history.put(record)

    def ids(found: tuple[list[JobRecord], int]) -> tuple[list[str], int]:
        return [record.id for record in found[0]], found[1]

    def newest_first(matching: Iterable[JobRecord]) -> list[str]:
        return [r.id for r in sorted(matching, key=lambda r: r.started_at, reverse=True)]

    everything = newest_first(records)
    assert ids(history.query()) == (everything, 41)
    assert ids(history.query(limit=10, offset=35)) == (everything[35:], 41)
    assert ids(history.query(limit=0)) == ([], 41)
    assert ids(history.query(offset=100)) == ([], 41)

    mk4 = [r for r in records if r.serial == MK4]
    assert ids(history.query(serials=[MK4], limit=3)) == (newest_first(mk4)[:3], len(mk4))
    failed = [r for r in records if r.status is JobStatus.FAILED]
    assert ids(history.query(statuses={"failed"})) == (newest_first(failed), len(failed))
    assert ids(history.query(statuses=[JobStatus.ACTIVE, JobStatus.FAILED], serials=[P1S])) == (
        newest_first(r for r in records if r.serial == P1S and r.status in ("active", "failed")),
        sum(r.serial == P1S and r.status in ("active", "failed") for r in records),
    )
    private = [r for r in records if r.category == "private"]
    assert ids(history.query(categories=["private"], offset=1, limit=2)) == (
        newest_first(private)[1:3],
        len(private),
    )
    assert ids(history.query(serials=[])) == ([], 0)

    start, end = BASE + timedelta(hours=10), BASE + timedelta(hours=20)
    window = [r for r in records if start <= r.started_at < end]
    assert ids(history.query(start=start, end=end)) == (newest_first(window), 10)
    assert ids(history.query(start=start, end=end, serials=[MK4]))[1] == 3
    assert ids(history.query(start=end, end=start)) == ([], 0)

    assert ids(history.query(text="düse")) == (["job-41"], 1)  # notes, case-insensitive
    assert ids(history.query(text="HALTER_12."))[0] == ["job-12"]  # file
    assert ids(history.query(text="kunde 3"))[1] == sum(r.customer == "Kunde 3" for r in records)
    assert ids(history.query(text="mk4 büro")) == (newest_first(mk4), len(mk4))  # printer name
    assert ids(history.query(text="nirgends")) == ([], 0)
    history.put(replace(records[-1], notes="Düse gewechselt"))
    assert ids(history.query(text="NEUE düse")) == ([], 0)

    with pytest.raises(ValueError, match="timezone-aware"):
        history.query(start=datetime(2025, 3, 1))
    with pytest.raises(ValueError, match="negative"):
        history.query(limit=-1)


async def test_listeners_hear_their_printer_after_the_put(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    heard: list[tuple[str, JobTotals]] = []

    def listener(record: JobRecord) -> None:
        heard.append((record.id, history.totals(P1S)))  # the put is done when it is called

    remove = history.add_listener(P1S, listener)
    history.put(job(1))
    history.put(job(2, serial=MK4))
    remove()
    history.put(job(3))
    assert heard == [("job-1", expected_totals([job(1)], P1S))]


async def test_a_listener_may_remove_itself(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    calls: list[str] = []

    def once(record: JobRecord) -> None:
        calls.append(record.id)
        remove()

    remove = history.add_listener(P1S, once)
    history.add_listener(P1S, lambda record: calls.append(f"{record.id} again"))
    history.put(job(1))
    history.put(job(2))
    assert calls == ["job-1", "job-1 again", "job-2 again"]


async def test_a_listener_that_raises_costs_only_itself(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Logged once, not per record; the listeners after it hear every record."""
    history = JobHistory(hass)
    heard: list[str] = []

    def broken(record: JobRecord) -> None:
        raise RuntimeError("listener bug")

    history.add_listener(P1S, broken)
    history.add_listener(P1S, lambda record: heard.append(record.id))
    history.put(job(1))
    history.put(job(2))
    assert heard == ["job-1", "job-2"]
    assert history.get("job-2") == job(2)
    logged = [r for r in caplog.records if "listener bug" in (r.exc_text or "")]
    assert len(logged) == 1


# --- totals -----------------------------------------------------------------------------------


async def test_totals_follow_corrections(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    current = {r.id: r for r in (job(1), job(2), job(3, status=JobStatus.CANCELLED), job(4))}
    for record in current.values():
        history.put(record)
    assert history.totals(P1S) == expected_totals(current.values(), P1S)
    assert history.totals(P1S) == JobTotals(
        completed=3, cancelled=1, print_seconds=4 * 3540.0, grams=42.0, energy_kwh=1.0,
        cost=Decimal("12.00"), without_cost=0, last_cost=Decimal("4.50"), last_job_id="job-4",
    )  # fmt: skip
    for corrected in (
        replace(job(2), status=JobStatus.FAILED, materials=(), cost=None, energy_kwh=0.1),
        replace(job(3), serial=MK4),
        job(4, status=JobStatus.ACTIVE),
        replace(job(1), duration_seconds=30.0),  # paused longer than it ran: 0 s printing
    ):
        history.put(corrected)
        current[corrected.id] = corrected
        for serial in (P1S, MK4):
            assert history.totals(serial) == expected_totals(current.values(), serial)
    assert history.totals("unknown") == JobTotals()


async def test_gross_amounts_that_are_not_amounts_count_as_unknown(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    for number, gross in enumerate(("n/a", "NaN", True, 2.5, "1.25")):
        history.put(job(number, cost={"gross": gross}))
    totals = history.totals(P1S)
    assert (totals.cost, totals.last_cost, totals.completed) == (
        Decimal("3.75"),
        Decimal("1.25"),
        5,
    )


FLOATS = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False) | st.none()
RECORDS = st.builds(
    lambda number, serial, status, start, end, duration, paused, grams, energy, cents: JobRecord(
        id=f"job-{number}",
        serial=serial,
        printer_name=serial,
        started_at=BASE + timedelta(minutes=start),
        updated_at=BASE,
        status=status,
        ended_at=None if end is None else BASE + timedelta(minutes=end),
        duration_seconds=duration,
        paused_seconds=paused,
        materials=tuple(MaterialUse(material="PLA", grams=value) for value in grams),
        energy_kwh=energy,
        cost=None if cents is None else {"gross": str(Decimal(cents).scaleb(-2))},
    ),
    number=st.integers(0, 7),
    serial=st.sampled_from((P1S, MK4)),
    status=st.sampled_from(JobStatus),
    start=st.integers(0, 5),
    end=st.none() | st.integers(0, 5),
    duration=FLOATS,
    paused=st.floats(min_value=0, max_value=1e6),
    grams=st.lists(FLOATS, max_size=3),
    energy=FLOATS,
    cents=st.none() | st.integers(-(10**12), 10**12),
)


async def test_totals_equal_a_recomputation_after_any_puts(hass: HomeAssistant) -> None:
    """Replacements, moves between printers, ties: incremental totals stay exact."""

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(RECORDS, max_size=25))
    def check(puts: list[JobRecord]) -> None:
        history = JobHistory(hass)
        current: dict[str, JobRecord] = {}
        for record in puts:
            history.put(record)
            current[record.id] = record
        for serial in (P1S, MK4):
            assert history.totals(serial) == expected_totals(current.values(), serial)
            restored = {record.id for record in history.restore_set(serial)}
            active = {r.id for r in current.values() if r.serial == serial and r.status == "active"}
            latest = expected_totals(current.values(), serial).last_job_id
            assert restored == active | ({latest} if latest else set())
        assert history.query(limit=0)[1] == len(current)

    check()


async def test_loaded_totals_equal_a_recomputation(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    rng = random.Random(5)
    records = [
        job(n, serial=rng.choice((P1S, MK4)), status=rng.choice(list(JobStatus)),
            duration_seconds=rng.uniform(0, 1e5), energy_kwh=rng.choice((None, rng.random())),
            materials=(MaterialUse(material="PLA", grams=rng.uniform(0, 500)),) * rng.randrange(3))
        for n in range(300)
    ]  # fmt: skip
    hass_storage[STORAGE_KEY] = file_data(stored(record) for record in records)
    history = await loaded(hass)
    for serial in (P1S, MK4):
        assert history.totals(serial) == expected_totals(records, serial)


# --- unreadable files, on disk ----------------------------------------------------------------


@pytest.fixture
def disk(hass: HomeAssistant, tmp_path: Path):
    """The real Store file I/O under tmp_path/.storage; the file's path."""
    hass.config.config_dir = str(tmp_path)
    with (
        patch.object(storage.Store, "_async_load", REAL_LOAD),
        patch.object(storage.Store, "_async_write_data", REAL_WRITE),
    ):
        path = tmp_path / ".storage" / STORAGE_KEY
        path.parent.mkdir()
        yield path


def our_issue(hass: HomeAssistant) -> ir.IssueEntry:
    (issue,) = (i for i in ir.async_get(hass).issues.values() if i.domain == DOMAIN)
    assert issue.translation_key == "history_unreadable"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.is_persistent
    assert not issue.is_fixable
    return issue


def aside_files(path: Path, kind: str) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.{kind}.*"))


async def test_invalid_json_is_moved_aside_by_home_assistant(
    hass: HomeAssistant, disk: Path
) -> None:
    broken = b'{"version": 1, "minor_version": 1, "key": "printernizer.jobs", "data": {"reco'
    disk.write_bytes(broken)
    history = await loaded(hass)

    (corrupt,) = aside_files(disk, "corrupt")
    assert corrupt.read_bytes() == broken
    issues = ir.async_get(hass).issues.values()
    assert [i.translation_key for i in issues if i.domain == "homeassistant"] == [
        "storage_corruption"
    ]
    assert not any(issue.domain == DOMAIN for issue in issues)

    history.put(job(1))
    await history.async_save_now()
    assert on_disk(disk) == [stored(job(1))]
    assert corrupt.read_bytes() == broken


@pytest.mark.parametrize(
    ("content", "records"),
    [
        (
            {"version": 2, "minor_version": 1, "key": STORAGE_KEY, "data": {"records": [{}, {}]}},
            "2",
        ),
        ({"version": 1, "minor_version": 1, "key": STORAGE_KEY, "data": {"jobs": []}}, "0"),
        ({"version": 1, "minor_version": 1, "key": STORAGE_KEY, "data": [1, 2]}, "0"),
        ({"key": STORAGE_KEY, "data": {"records": [{}]}}, "1"),
        ([1, 2, 3], "0"),
    ],
    ids=["newer major version", "no records", "data not a dict", "no version", "not a dict"],
)
async def test_a_file_we_cannot_read_is_moved_aside(
    hass: HomeAssistant, disk: Path, content: Any, records: str
) -> None:
    original = json.dumps(content, indent=2).encode()
    disk.write_bytes(original)
    history = await loaded(hass)

    (aside,) = aside_files(disk, "unreadable")
    assert aside.read_bytes() == original
    assert not disk.exists()
    assert our_issue(hass).translation_placeholders == {"path": str(aside), "records": records}
    assert history.query() == ([], 0)

    history.put(job(1))
    await history.async_save_now()
    assert on_disk(disk) == [stored(job(1))]
    assert aside.read_bytes() == original
    assert aside_files(disk, "unreadable") == [aside]


async def test_unreadable_records_are_copied_aside_and_the_rest_kept(
    hass: HomeAssistant, disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    one, three, five = map(entry, (job(1), job(3), job(5)))
    unreadable = [
        stored(job(2)) | {"status": "exploded"},
        five.replace('"status":"completed"', '"status":"exploded"'),  # fails its checksum too
        "not a record",
        {"id": "no start", "serial": P1S},
        stored(job(1)) | {"notes": "the same id again"},
    ]
    original = json.dumps(file_data([one, *unreadable, three])).encode()
    disk.write_bytes(original)
    history = await loaded(hass)

    (aside,) = aside_files(disk, "unreadable")
    assert aside.read_bytes() == original
    assert disk.read_bytes() == original  # untouched until the next save
    assert our_issue(hass).translation_placeholders == {"path": str(aside), "records": "5"}
    ours = [r.levelname for r in caplog.records if r.name.startswith("custom_components")]
    assert ours == ["ERROR"]
    assert history.query()[1] == 2
    assert history.get("job-1") == job(1)
    assert history.totals(P1S) == expected_totals([job(1), job(3)], P1S)

    history.put(job(4))
    await history.async_save_now()
    assert on_disk(disk) == [stored(job(n)) for n in (1, 3, 4)]
    assert aside.read_bytes() == original


async def test_a_file_that_cannot_be_set_aside_is_never_written(
    hass: HomeAssistant, disk: Path, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to("2025-03-01T12:00:00+00:00")
    original = json.dumps(file_data([stored(job(1))], version=STORAGE_VERSION + 1)).encode()
    disk.write_bytes(original)
    taken = disk.with_name(f"{disk.name}.unreadable.20250301T120000.000000Z")
    taken.write_bytes(b"an earlier one")
    history = await loaded(hass)

    assert our_issue(hass).translation_placeholders == {"path": str(disk), "records": "1"}
    history.put(job(2))
    assert history.get("job-2") == job(2)
    await history.async_save_now()
    assert disk.read_bytes() == original
    assert taken.read_bytes() == b"an earlier one"


@pytest.mark.parametrize(
    ("content", "issue"),
    [
        (
            b'{"version": 1, "minor_version": 1, "key": "printernizer.active_jobs", "data": {"r',
            None,
        ),
        (json.dumps(file_data([{}], version=2, key=ACTIVE_STORAGE_KEY)).encode(), "1"),
        (json.dumps(file_data(["no record"], key=ACTIVE_STORAGE_KEY)).encode(), "1"),
    ],
    ids=["invalid JSON", "newer major version", "unreadable record"],
)
async def test_an_unreadable_active_file_is_set_aside_and_the_rest_works(
    hass: HomeAssistant, disk: Path, content: bytes, issue: str | None
) -> None:
    disk.write_text(json.dumps(file_data([entry(job(1))])))
    active = disk.with_name(ACTIVE_STORAGE_KEY)
    active.write_bytes(content)
    history = await loaded(hass)

    assert history.query() == ([job(1)], 1)
    (aside,) = aside_files(active, "corrupt" if issue is None else "unreadable")
    assert aside.read_bytes() == content
    if issue is None:
        assert not any(issue.domain == DOMAIN for issue in ir.async_get(hass).issues.values())
    else:
        placeholders = our_issue(hass).translation_placeholders
        assert placeholders == {"path": str(aside), "records": issue}

    history.put(job(2, status=JobStatus.ACTIVE))
    await history.async_save_now()
    assert on_disk(active) == [stored(job(2, status=JobStatus.ACTIVE))]
    assert on_disk(disk) == [stored(job(1))]
    assert aside.read_bytes() == content
    fresh = await loaded(hass)
    assert fresh.query() == ([job(2, status=JobStatus.ACTIVE), job(1)], 2)


async def test_jobs_without_a_known_cost_are_counted_not_summed(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    await history.async_load()
    priced = _ended_for_cost("a", gross="2.50")
    unpriced = _ended_for_cost("b", gross=None)
    history.put(priced)
    history.put(unpriced)
    totals = history.totals("SERIAL-COST")
    assert (totals.cost, totals.without_cost) == (Decimal("2.50"), 1)
    history.put(replace(unpriced, cost={"gross": "1.00"}))
    totals = history.totals("SERIAL-COST")
    assert (totals.cost, totals.without_cost) == (Decimal("3.50"), 0)


def _ended_for_cost(job_id: str, *, gross: str | None) -> JobRecord:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    return JobRecord(
        id=job_id,
        serial="SERIAL-COST",
        printer_name="P",
        started_at=start,
        updated_at=start,
        ended_at=start,
        duration_seconds=0.0,
        status=JobStatus.COMPLETED,
        cost={"gross": gross},
    )


# --- entries with a valid checksum and values of the wrong type -------------------------------


def forged(row: list[Any], record: dict[str, Any]) -> str:
    """An entry as someone editing the file by hand and fixing the checksum would write it."""
    return checksummed(f"{json.dumps(row)}\t{json.dumps(record)}")


def good_row_and_record(record: JobRecord) -> tuple[list[Any], dict[str, Any]]:
    return split(entry(record))


# (row index, value) of a row and (key, value) of a record whose types _read never makes.
ROW_LIES = [
    (0, ["job-1"]), (1, ["x"]), (1, None), (2, 5), (2, "exploded"), (3, "yesterday"),
    (3, 1e400), (3, True), (4, None), (4, "later"), (5, "long"), (5, {"s": 1}), (6, "PLA"),
    (6, ["10"]), (6, [1e400]), (7, [1]), (8, {"gross": 1}), (8, "NaN"), (8, "1e999999"),
    (9, 5),
]  # fmt: skip
RECORD_LIES = [
    ("started_at", 1740816000), ("materials", "PLA"), ("materials", [5]), ("cost", [1]),
    ("cost", "1.00"), ("job_name", {"a": 1}), ("printer_name", 5), ("notes", ["x"]),
    ("ended_at", "9999-12-31T23:00:00-05:00"), ("meter_readings", "1"), ("status", "exploded"),
    ("pause_count", 1.5), ("closed_after_restart", "no"),
]  # fmt: skip


@pytest.mark.parametrize(("index", "value"), ROW_LIES, ids=repr)
async def test_a_row_with_values_of_the_wrong_type_is_read_in_full(
    hass: HomeAssistant, hass_storage: dict[str, Any], index: int, value: Any
) -> None:
    """The checksum holds but the row lies: the record decides, as for a failed checksum."""
    row, record = good_row_and_record(job(1))
    row[index] = value
    hass_storage[STORAGE_KEY] = file_data([forged(row, record), entry(job(2))])
    history = await loaded(hass)

    assert history.query() == ([job(2), job(1)], 2)
    assert history.totals(P1S) == expected_totals([job(1), job(2)], P1S)
    assert ir.async_get(hass).issues == {}


@pytest.mark.parametrize(("key", "value"), RECORD_LIES, ids=repr)
async def test_a_record_with_values_of_the_wrong_type_is_set_aside(
    hass: HomeAssistant, disk: Path, key: str, value: Any
) -> None:
    """Checksum valid or not: the record is left out, the file copied aside, the rest kept."""
    row, record = good_row_and_record(job(1))
    bad = record | {key: value}
    # The same record twice: with its checksum fixed (loading trusts its row) and without.
    trusted, plain = forged(row, bad), {**bad, "id": "job-3"}
    original = json.dumps(file_data([trusted, plain, entry(job(2))])).encode()
    disk.write_bytes(original)
    history = await loaded(hass)

    # Reading the trusted one is where it shows: it is left out and its file copied aside then.
    assert history.restore_set(P1S) == [job(2)]
    assert history.get("job-1") is None
    assert history.query() == ([job(2)], 1)
    assert history.query(text="halter") == ([job(2)], 1)
    assert history.totals(P1S) == expected_totals([job(2)], P1S)
    await hass.async_block_till_done()
    asides = aside_files(disk, "unreadable")
    assert asides
    assert all(aside.read_bytes() == original for aside in asides)
    issues = [i for i in ir.async_get(hass).issues.values() if i.domain == DOMAIN]
    assert {i.translation_key for i in issues} == {"history_unreadable"}
    await history.async_save_now()
    assert on_disk(disk) == [stored(job(2))]


ROW_VALUES = st.deferred(
    lambda: st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["NaN", "Infinity", "1e999999", "-0", "completed", "active", P1S])
    | st.lists(ROW_VALUES, max_size=3)
    | st.dictionaries(st.text(max_size=5), ROW_VALUES, max_size=3)
)


async def test_any_row_or_record_with_a_valid_checksum_never_breaks_the_history(
    hass: HomeAssistant,
) -> None:
    """Type-confused rows and records, checksums fixed: loading, reading and saving all work."""
    good_row, good_record = good_row_and_record(job(1))
    keys = sorted(good_record)
    cases: list[list[str]] = []

    @settings(max_examples=700, derandomize=True, database=None, deadline=None)
    @given(
        row_changes=st.dictionaries(st.integers(0, 10), ROW_VALUES, max_size=3),
        record_changes=st.dictionaries(st.sampled_from(keys), ROW_VALUES, max_size=3),
    )
    def collect(row_changes: dict[int, Any], record_changes: dict[str, Any]) -> None:
        row = list(good_row) + [None] * max(0, max(row_changes, default=0) + 1 - len(good_row))
        for index, value in row_changes.items():
            row[index] = value
        cases.append([forged(row, good_record | record_changes), entry(job(2))])

    collect()
    for items in cases:
        storage = JobHistory(hass)
        items_read = await hass.async_add_executor_job(storage._load, storage._store, items)
        assert items_read[0] in (0, 1)
        try:
            assert storage.get("job-2") == job(2)
            for record in (storage.get("job-1"), *storage.query()[0]):
                assert record is None or record.to_dict()
            storage.restore_set(P1S)
            storage.totals(P1S)
            storage.query(text="halter", statuses=["completed"])
            json_bytes(storage._main_data())
        except Exception as err:
            raise AssertionError(f"history broke on {items[0]!r}") from err
    await hass.async_block_till_done()


# --- Analytics facts ------------------------------------------------------------------------


def _facts(history: JobHistory, **kwargs: Any) -> list[Any]:
    start = kwargs.pop("start", BASE - timedelta(days=1))
    return _plain(history.analytics_facts(start, BASE + timedelta(days=30), **kwargs)())


def _plain(facts: Iterable[Any]) -> list[Any]:
    """Facts as they read back from JSON: tuples are lists."""
    return [json.loads(json_bytes(item)) for item in facts]


async def test_analytics_facts_come_with_every_record_put_and_loaded(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """The facts the figures sum are made once per record, and equal the record's own."""
    records = [job(n, serial=P1S if n % 2 else MK4, category="private" if n % 3 else None)
               for n in range(6)]  # fmt: skip
    running = job(6, status=JobStatus.ACTIVE)
    history = await loaded(hass)
    for record in (*records, running):
        history.put(record)
    assert _facts(history) == _plain(job_facts(record) for record in (*records, running))
    await history.async_save_now()

    fresh = await loaded(hass)
    assert _facts(fresh) == _plain(job_facts(record) for record in (*records, running))
    assert _facts(fresh, serials={MK4}) == _plain(job_facts(r) for r in records[::2])
    assert _facts(fresh, categories={"private"}, statuses={"completed"}) == _plain(
        job_facts(record) for record in records if record.category == "private"
    )


async def test_analytics_facts_are_a_snapshot(hass: HomeAssistant) -> None:
    """Puts after the facts were taken (a re-categorized job, a new one) are not in them."""
    history = await loaded(hass)
    for number in range(3):
        history.put(job(number))
    pick = history.analytics_facts(BASE, BASE + timedelta(days=1))
    history.put(job(1, category="private"))
    history.put(job(5))
    assert _plain(pick()) == _plain(job_facts(job(number)) for number in range(3))
    assert [item[1] for item in _facts(history)] == ["business", "private", "business", "business"]


async def test_analytics_facts_of_jobs_running_at_the_start(hass: HomeAssistant) -> None:
    """Earlier jobs count for utilization only while they ran into the period."""
    history = await loaded(hass)
    for record in (job(0), job(1, status=JobStatus.ACTIVE), job(2), job(4)):
        history.put(record)
    start = BASE + timedelta(hours=2, minutes=30)  # job-2 runs until 3:00, job-0 ended at 1:00
    ids = [item[3] for item in _facts(history, start=start, running_at_start=True)]
    assert ids == [
        job_facts(record)[3] for record in (job(1, status=JobStatus.ACTIVE), job(2), job(4))
    ]
    assert len(_facts(history, start=start)) == 1


async def test_a_row_without_facts_is_read_in_full_and_saved_with_them(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """A file of the version before the facts: its records count, their facts are made."""
    old = []
    for number in (1, 2):
        row, raw = split(entry(job(number)))
        old.append(checksummed(f"{json.dumps(row[:10])}\t{json.dumps(raw)}"))
    hass_storage[STORAGE_KEY] = file_data(old)
    history = await loaded(hass)

    assert _facts(history) == _plain([job_facts(job(1)), job_facts(job(2))])
    assert history.totals(P1S) == expected_totals([job(1), job(2)], P1S)
    history.put(job(3))
    await history.async_save_now()
    assert [split(item)[0][10] for item in hass_storage[STORAGE_KEY]["data"]["records"]] == (
        _plain(job_facts(job(number)) for number in (1, 2, 3))
    )


@pytest.mark.parametrize(
    ("position", "value"),
    [(3, "2025-03-01"), (6, "3540"), (8, None), (17, ["1", 2]), (18, [["PLA", None, "10", 1]]),
     (18, [[["PLA"], None, 10.5, None]]), (0, MK4), (12, None), (11, "yes")],
)  # fmt: skip
async def test_facts_edited_with_their_checksum_are_made_again(
    hass: HomeAssistant, hass_storage: dict[str, Any], position: int, value: Any
) -> None:
    """Facts of the wrong type or of another printer are not summed: the record is read."""
    row, raw = split(entry(job(1)))
    row[10][position] = value
    hass_storage[STORAGE_KEY] = file_data([checksummed(f"{json.dumps(row)}\t{json.dumps(raw)}")])
    history = await loaded(hass)
    assert _facts(history) == _plain([job_facts(job(1))])


# --- Analytics column tables ------------------------------------------------------------------


def _same_figures(history: JobHistory, records: Iterable[JobRecord], currency: str = "EUR") -> None:
    """The history's tables give the figures the records give, one by one."""
    ordered = sorted(records, key=lambda record: (record.started_at, record.id))
    now = BASE + timedelta(days=2)
    for start, end in (
        (BASE - timedelta(days=1), BASE + timedelta(days=30)),
        (BASE + timedelta(hours=2, minutes=30), BASE + timedelta(hours=5)),  # cuts jobs
    ):
        period = custom_period(start, end, UTC)
        snapshot = history.analytics_snapshot(start, end, currency, running_at_start=True)()
        assert snapshot_overview(snapshot, period, now=now) == overview(
            ordered, period, currency=currency, now=now
        )


async def test_analytics_tables_follow_puts_corrections_and_loading(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """Re-categorized, re-priced, ended and new jobs move between tables; loading fills them."""
    records = {
        f"job-{n}": job(n, serial=P1S if n % 2 else MK4, category="private" if n % 3 else None)
        for n in range(8)
    }
    records["job-8"] = job(8, status=JobStatus.ACTIVE)
    history = await loaded(hass)
    for record in list(records.values())[:4]:
        history.put(record)
    # Built on first use, in the executor; puts while it runs are replayed onto the tables.
    with pytest.raises(RuntimeError, match="not built"):
        history.analytics_snapshot(BASE, BASE + timedelta(days=1), "EUR")
    ready = hass.async_create_task(history.async_analytics_ready())
    assert history._changed == set()  # the build took the facts and waits for the executor
    for record in list(records.values())[4:]:
        history.put(record)
    history.put(replace(records["job-0"], category="prototype"))
    history.put(records["job-0"])
    await ready
    await history.async_analytics_ready()  # once
    _same_figures(history, records.values())

    corrections = [
        job(1, serial=P1S, category="business"),  # re-categorized
        job(2, serial=MK4, category="private", cost={"currency": "CHF", "gross": "9.00"}),
        job(3, serial=P1S, category="private", cost=None, energy_kwh=None),  # unknown
        job(8),  # the running job ended
        job(9, serial=MK4, status=JobStatus.FAILED),
        job(4, serial=MK4, cost={"currency": "EUR", "net": "4.00", "vat": "0.76", "gross": "4.76"}),
    ]
    for record in corrections:
        history.put(record)
        records[record.id] = record
    _same_figures(history, records.values())
    _same_figures(history, records.values(), currency="CHF")
    result = snapshot_overview(
        history.analytics_snapshot(BASE, BASE + timedelta(days=1), "EUR")(),
        custom_period(BASE, BASE + timedelta(days=1), UTC),
    )
    assert (result.totals.jobs, result.totals.active, result.totals.other_currency) == (10, 0, 1)
    # Only job-4 has a whole breakdown; the others are counted, not summed as 0.
    assert (str(result.totals.gross), result.totals.without_cost) == ("4.76", 9)
    assert result.categories["business"].jobs == 4  # job-1 and job-4 moved, job-8, job-9

    await history.async_save_now()
    fresh = await loaded(hass)
    await fresh.async_analytics_ready()
    _same_figures(fresh, records.values())
