"""The job history at 100k records: file size, load, query, totals, put and save, memory.

Records are realistic: a uuid, one material, the cost breakdown as `costs.py` writes it (12 keys
and a lines list), names, paths and a customer on most jobs. Loading goes through a real Store on
a temporary config dir inside a real Home Assistant instance. The baseline is what any reader of
the file pays: reading it and `orjson.loads`, what the Store does, plus the garbage collector's
pass over the new objects that the next allocations trigger (`gc.collect(1)`; ours pays it during
indexing, so both runs end with it). The file stores each record as one string, an entry (see
history.py), so the baseline yields 100k strings; the load checks each entry's checksum and parses
its row of facts on top of that, not the record. For reference,
the same records in the former layout (one indented JSON object per record, what the Store writes
for plain dicts) are measured the same way. Eager parsing, every record through
`JobRecord.from_dict`, is measured for comparison: it is what keeping the texts avoids.

A print's write volume: a history of PRINT_HISTORY records, one job put PRINT_PUTS times while
it runs and once when it ends, each put followed by the delayed saves it caused (as if the
puts were further apart than SAVE_DELAY); the bytes of every file the Store wrote are summed.
Before, one file held every record, so each of those puts rewrote all of it; that is computed
from the former layout's file size.

Timings are the best of ROUNDS, wall clock; "loop stall" is the longest a 1 ms ticker on the
event loop waited meanwhile (the load itself runs in the executor; what stalls the loop is the
garbage collector, which any thread's allocation may start and which holds every thread while it
runs: fewer objects it tracks, shorter stalls). The load's CPU time is all threads', median of
ROUNDS. The analytics column tables are built on their first use (in the executor, with the
loop's stall measured), not by the load; "a full collection after" is what the next full
garbage collection costs with the loaded history and its tables in memory.
Memory is traced in separate runs, as tracing slows everything down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
import gc
import logging
from pathlib import Path
import random
import statistics
import tempfile
import time
import tracemalloc
from typing import Any
from unittest.mock import patch
import uuid

from homeassistant.core import HomeAssistant
from homeassistant.helpers.json import _orjson_bytes_default_encoder
from homeassistant.helpers.storage import Store
from homeassistant.runner import HassEventLoopPolicy
import orjson
from pytest_homeassistant_custom_component.common import async_test_home_assistant

from bench.analytics import stalled
from custom_components.printernizer.history import (
    ACTIVE_STORAGE_KEY,
    STORAGE_KEY,
    STORAGE_MINOR_VERSION,
    STORAGE_VERSION,
    JobHistory,
    _raw,
    _stored,
)
from custom_components.printernizer.jobs.records import JobRecord, JobStatus, MaterialUse

N = 100_000
PRINT_HISTORY = 10_000
PRINT_PUTS = 15
SERIALS = [f"01P00C{index:09d}" for index in range(8)]
ROUNDS = 3
OUTCOMES = (JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.UNKNOWN)


def cost(grams: float, status: JobStatus) -> dict[str, Any]:
    """A breakdown as `CostBreakdown.as_dict()` gives it."""
    material = round(grams * 0.025, 2)
    net = round(material + 0.45 + 0.30, 2)
    vat = round(net * 0.19, 2)
    return {
        "currency": "EUR",
        "material": f"{material:.2f}",
        "energy": "0.45",
        "wear": "0.30",
        "net": f"{net:.2f}",
        "vat": f"{vat:.2f}",
        "gross": f"{net + vat:.2f}",
        "vat_percent": "19.00",
        "estimated": status is not JobStatus.COMPLETED,
        "unknown": [],
        "energy_kwh": "0.812",
        "energy_source": "measured",
        "lines": [
            {
                "material": "PLA",
                "grams": f"{grams:.2f}",
                "source": "slicer" if status is JobStatus.COMPLETED else "estimate",
                "price_per_kg": "24.99",
                "cost": f"{material:.2f}",
            }
        ],
    }


def build(count: int, seed: int = 7) -> list[JobRecord]:
    """`count` jobs over the printers, one every 20 minutes; the last one of each printer runs."""
    rng = random.Random(seed)
    start = datetime(2021, 1, 1, tzinfo=UTC)
    records = []
    for index in range(count):
        serial = SERIALS[index % len(SERIALS)]
        began = start + timedelta(minutes=20 * index, seconds=rng.random())
        running = index >= count - len(SERIALS)
        status = JobStatus.ACTIVE if running else rng.choices(OUTCOMES, (88, 6, 5, 1))[0]
        seconds = rng.uniform(600, 40_000)
        progress = 100.0 if status is JobStatus.COMPLETED else round(rng.uniform(1, 99), 1)
        planned = round(rng.uniform(2, 400), 2)
        used = planned if status is JobStatus.COMPLETED else round(planned * progress / 100, 2)
        name = f"{rng.choice(('bracket', 'housing', 'gear', 'clip', 'lid'))}_v{index % 40}"
        paused = index % 6 == 0
        business = index % 3 != 0
        records.append(
            JobRecord(
                id=uuid.UUID(int=rng.getrandbits(128), version=4).hex,
                serial=serial,
                printer_name=f"P1S Werkstatt {serial[-1]}",
                started_at=began,
                updated_at=began + timedelta(seconds=seconds),
                status=status,
                job_name=name,
                file=f"/cache/{name}_plate_{index % 4 + 1}.gcode.3mf",
                printer_job_id=str(rng.randrange(10**8, 10**9)),
                printer_started_at=began,
                ended_at=None if running else began + timedelta(seconds=seconds),
                duration_seconds=None if running else seconds,
                paused_seconds=300.0 if paused else 0.0,
                pause_count=1 if paused else 0,
                progress=progress,
                materials=(
                    MaterialUse(
                        material="PLA",
                        color="#FF6A13",
                        planned_grams=planned,
                        grams=used,
                        source="slicer" if status is JobStatus.COMPLETED else "estimate",
                    ),
                ),
                energy_kwh=None if running else round(rng.uniform(0.05, 3), 3),
                energy_source=None if running else "measured",
                cost=None if running else cost(used, status),
                category="business" if business else "private",
                customer=f"Kunde {index % 97} GmbH" if business else None,
                project=f"A-{index % 500:04d}" if business else None,
                notes="Kundenwunsch: matt" if index % 50 == 0 else None,
                meter_readings=(1000.0 + index, 1000.5 + index),
            )
        )
    return records


def best(func: Callable[[], Any]) -> float:
    """Best wall time of ROUNDS calls, in seconds."""
    times = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        func()
        times.append(time.perf_counter() - began)
    return min(times)


async def best_async(func: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """Best wall time of ROUNDS awaits, and the longest event-loop stall seen, in seconds."""
    runs = [await stalled(func) for _ in range(ROUNDS)]
    return min(run[1] for run in runs), min(run[3] for run in runs)


def traced(func: Callable[[], Any]) -> tuple[Any, int, int]:
    """The result, peak and retained bytes of one traced call."""
    gc.collect()
    tracemalloc.start()
    result = func()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, peak, retained


async def traced_async(func: Callable[[], Awaitable[Any]]) -> tuple[Any, int, int]:
    gc.collect()
    tracemalloc.start()
    result = await func()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, peak, retained


def read_file(path: Path) -> Any:
    """The baseline: what the Store does to read the file."""
    return orjson.loads(path.read_bytes())


def read_file_collected(path: Path) -> Any:
    """The baseline with the garbage collector's pass its new objects cost."""
    data = read_file(path)
    gc.collect(1)
    return data


def former_file(records: list[JobRecord], key: str = STORAGE_KEY) -> bytes:
    """The file the former layout, one indented object per record, had for these records."""
    document = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_MINOR_VERSION,
        "key": key,
        "data": {"records": [_stored(record) for record in records]},
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


async def load(hass: HomeAssistant) -> JobHistory:
    history = JobHistory(hass)
    await history.async_load()
    gc.collect(1)  # as in the baseline
    return history


async def store_load(hass: HomeAssistant) -> Any:
    """The baseline inside Home Assistant: a plain Store reading the file."""
    data = await Store[dict[str, Any]](hass, STORAGE_VERSION, STORAGE_KEY).async_load()
    gc.collect(1)
    return data


async def writing(config_dir: str, records: list[JobRecord]) -> dict[str, float]:
    """Fill a history with put(), save both files; corrections afterwards."""
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        history = JobHistory(hass)
        await history.async_load()
        for record in records:
            history.put(record)
        await history.async_save_now()
        main, main_stall = await best_async(lambda: history._store.async_save(history._main_data()))
        active, active_stall = await best_async(
            lambda: history._active_store.async_save(history._active_data())
        )
        figures = {
            "save": main,
            "save_stall": main_stall,
            "save_active": active,
            "save_active_stall": active_stall,
            "data_func": best(history._main_data),
            "dump": best(lambda: _orjson_bytes_default_encoder({"data": history._main_data()})),
            "eager_to_dict": best(lambda: [record.to_dict() for record in records]),
        }
        corrected = [replace(record, notes="Nachtrag") for record in records[-2000:-8]]
        began = time.perf_counter()
        for record in corrected:
            history.put(record)
        figures["put"] = (time.perf_counter() - began) / len(corrected)
        await history.async_save_now()
        await hass.async_stop(force=True)
    return figures


def reading_plainly(path: Path, records: list[JobRecord]) -> dict[str, float]:
    """The baseline, the former layout's, and parsing every record on top of the baseline."""
    entries = read_file(path)["data"]["records"]
    former = Path(f"{path}.former")
    former.write_bytes(former_file(records))
    figures = {
        "base": best(lambda: read_file_collected(path)),
        "former_size": former.stat().st_size,
        "former_base": best(lambda: read_file_collected(former)),
        "eager": best(lambda: [JobRecord.from_dict(_raw(entry)) for entry in entries]),
        "eager_kept": traced(lambda: [JobRecord.from_dict(_raw(entry)) for entry in entries])[2],
    }
    figures["former_base_kept"] = traced(lambda: read_file(former))[2]
    former.unlink()
    return figures


async def load_cpu(hass: HomeAssistant) -> float:
    """Median CPU time (all threads) of a load, in seconds."""
    cpus = []
    for _ in range(ROUNDS):
        began = time.process_time()
        await load(hass)
        cpus.append(time.process_time() - began)
    return statistics.median(cpus)


async def reading(config_dir: str) -> dict[str, float]:
    """Load through the Store, then query."""
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        store, store_stall = await best_async(lambda: store_load(hass))
        loaded, load_stall = await best_async(lambda: load(hass))
        cpu = await load_cpu(hass)
        history = await load(hass)
        began, tables_cpu = time.perf_counter(), time.process_time()
        _, _, _, tables_stall = await stalled(history.async_analytics_ready)
        tables = time.perf_counter() - began
        tables_cpu = time.process_time() - tables_cpu
        gc.collect()
        began = time.perf_counter()
        gc.collect()
        full_collection = time.perf_counter() - began
        tracked = len(gc.get_objects())
        began = time.perf_counter()
        history.query(text="kunde 42 gmbh")
        first_text = time.perf_counter() - began
        month = datetime(2022, 6, 1, tzinfo=UTC), datetime(2022, 7, 1, tzinfo=UTC)
        figures = {
            "store": store,
            "store_stall": store_stall,
            "first text": first_text,
            "load": loaded,
            "load_stall": load_stall,
            "load_cpu": cpu,
            "tables": tables,
            "tables_cpu": tables_cpu,
            "tables_stall": tables_stall,
            "full_collection": full_collection,
            "tracked": tracked,
            "total": history.query(limit=0)[1],
            "hits": history.query(text="kunde 42 gmbh")[1],
            "text, first page": best(lambda: history.query(text="kunde 42 gmbh")),
            "text, no match": best(lambda: history.query(text="no such job")),
            "serial + status": best(
                lambda: history.query(serials=[SERIALS[3]], statuses=["failed"])
            ),
            "page at offset 50k": best(lambda: history.query(offset=50_000)),
            "one month": best(lambda: history.query(start=month[0], end=month[1])),
            "totals": best(lambda: [history.totals(serial) for serial in SERIALS]) / len(SERIALS),
            "restore": best(lambda: history.restore_set(SERIALS[0])),
        }
        await hass.async_stop(force=True)
    return figures


async def memory(config_dir: str, path: Path) -> dict[str, float]:
    """Traced peak and retained bytes: the baseline's, a loaded history's, its text cache."""
    _, base_peak, base_kept = traced(lambda: read_file(path))
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        history, load_peak, load_kept = await traced_async(lambda: load(hass))
        texts = traced(lambda: history.query(text="kunde"))[2]
        await hass.async_stop(force=True)
    return {
        "base_peak": base_peak,
        "base_kept": base_kept,
        "load_peak": load_peak,
        "load_kept": load_kept,
        "texts": texts,
    }


async def one_print(config_dir: str) -> dict[str, float]:
    """Bytes written for one print into a history of PRINT_HISTORY ended records."""
    history_records = [
        replace(record, status=JobStatus.COMPLETED) if record.status is JobStatus.ACTIVE else record
        for record in build(PRINT_HISTORY, seed=11)
    ]
    template = build(len(SERIALS) + 1, seed=12)[0]  # an ended one
    started = history_records[-1].started_at + timedelta(hours=1)
    running = replace(
        template,
        started_at=started,
        updated_at=started,
        printer_started_at=started,
        status=JobStatus.ACTIVE,
        ended_at=None,
        duration_seconds=None,
        progress=0.0,
        energy_kwh=None,
        energy_source=None,
        cost=None,
        meter_readings=(5000.0,),
    )
    written = {STORAGE_KEY: 0, ACTIVE_STORAGE_KEY: 0}
    writes = {STORAGE_KEY: 0, ACTIVE_STORAGE_KEY: 0}
    original = Store._write_data

    def counting(store: Store[Any], *args: Any) -> None:
        original(store, *args)
        written[store.key] += Path(store.path).stat().st_size
        writes[store.key] += 1

    async with async_test_home_assistant(config_dir=config_dir) as hass:
        history = JobHistory(hass)
        await history.async_load()
        for record in history_records:
            history.put(record)
        await history.async_save_now()
        stores = (history._store, history._active_store)

        async def saves_due() -> None:
            """What the delayed saves write once SAVE_DELAY has passed, follow-ups included."""
            while pending := [store for store in stores if store._data is not None]:
                for store in pending:
                    await store._async_handle_write_data()

        with patch.object(Store, "_write_data", counting):
            for step in range(PRINT_PUTS):
                running = replace(
                    running,
                    updated_at=started + timedelta(minutes=10 * step),
                    progress=float(min(100, 7 * (step + 1))),
                    meter_readings=(*running.meter_readings[:1], 5000.0 + 0.05 * step),
                )
                history.put(running)
                await saves_due()
            after_running = dict(written)
            ended = template.ended_at or started
            history.put(
                replace(
                    template,
                    started_at=started,
                    printer_started_at=started,
                    updated_at=ended,
                    ended_at=started + (ended - template.started_at),
                )
            )
            await saves_due()
        await hass.async_stop(force=True)
    former = len(former_file([*history_records, running]))
    return {
        "print_running_main": after_running[STORAGE_KEY],
        "print_running_active": after_running[ACTIVE_STORAGE_KEY],
        "print_main": written[STORAGE_KEY],
        "print_active": written[ACTIVE_STORAGE_KEY],
        "print_main_writes": writes[STORAGE_KEY],
        "print_active_writes": writes[ACTIVE_STORAGE_KEY],
        "print_before": (PRINT_PUTS + 1) * former,
        "print_before_file": former,
    }


async def measure(config_dir: str) -> list[tuple[str, str, str]]:
    path = Path(config_dir) / ".storage" / STORAGE_KEY
    active_path = Path(config_dir) / ".storage" / ACTIVE_STORAGE_KEY
    records = build(N)
    f = await writing(config_dir, records)
    f |= {"size": path.stat().st_size, "active_size": active_path.stat().st_size}
    f |= reading_plainly(path, records) | await reading(config_dir)
    del records
    f |= await memory(config_dir, path)
    with tempfile.TemporaryDirectory() as print_dir:
        f |= await one_print(print_dir)
    ms, mb, kb = 1e3, 1 / 2**20, 1 / 2**10
    queries = (
        "text, first page",
        "text, no match",
        "serial + status",
        "page at offset 50k",
        "one month",
    )
    return [
        (
            "file",
            f"{f['size'] * mb:7.1f} MB",
            f"{f['size'] / N:.0f} B per record, one entry each; "
            f"active file {f['active_size'] / len(SERIALS):.0f} B per record",
        ),
        (
            "  former layout",
            f"{f['former_size'] * mb:7.1f} MB",
            f"{f['former_size'] / N:.0f} B per record (one indented object each)",
        ),
        ("baseline: read + loads + GC", f"{f['base'] * ms:7.0f} ms", "what any reader pays"),
        (
            "  former layout",
            f"{f['former_base'] * ms:7.0f} ms",
            f"{f['former_base'] / f['base']:.1f}x; keeps {f['former_base_kept'] * mb:.0f} MB",
        ),
        (
            "load: JobHistory.async_load",
            f"{f['load'] * ms:7.0f} ms",
            f"{f['load'] / f['base']:.2f}x baseline: Store, checksums, rows, indexes, totals; "
            f"{f['total']:.0f} records",
        ),
        ("  CPU, all threads", f"{f['load_cpu'] * ms:7.0f} ms", ""),
        (
            "analytics tables, first use",
            f"{f['tables'] * ms:7.0f} ms",
            f"{f['tables_cpu'] * ms:.0f} ms CPU, in the executor; "
            f"loop stall {f['tables_stall'] * ms:.0f} ms",
        ),
        (
            "  a full collection after",
            f"{f['full_collection'] * ms:7.0f} ms",
            f"the garbage collector tracks {f['tracked'] / 1e6:.2f} M objects in all",
        ),
        (
            "  loop stall during load",
            f"{f['load_stall'] * ms:7.1f} ms",
            f"longest; a plain Store's load + GC: {f['store'] * ms:.0f} ms, "
            f"stall {f['store_stall'] * ms:.0f} ms",
        ),
        (
            "  eager: from_dict of all",
            f"{f['eager'] * ms:7.0f} ms",
            f"parse + from_dict, avoided; would keep {f['eager_kept'] * mb:.0f} MB of JobRecords",
        ),
        (
            "query: text, first ever",
            f"{f['first text'] * ms:7.2f} ms",
            f"parses and casefolds all 100k, keeps the text: {f['texts'] * mb:.0f} MB",
        ),
        *((f"query: {name}", f"{f[name] * ms:7.2f} ms", "") for name in queries),
        ("  text matches", f"{f['hits']:7.0f}", "first page of 50 parsed"),
        ("totals(serial)", f"{f['totals'] * 1e6:7.1f} us", "kept up to date by put()"),
        ("restore_set(serial)", f"{f['restore'] * 1e6:7.1f} us", ""),
        ("put (replace)", f"{f['put'] * 1e6:7.1f} us", "entry, totals, indexes, save call"),
        ("save: data_func", f"{f['data_func'] * ms:7.2f} ms", "a list of the entries"),
        ("save: JSON dump", f"{f['dump'] * ms:7.0f} ms", "as the Store does it, off the loop"),
        ("  eager: to_dict of all", f"{f['eager_to_dict'] * ms:7.0f} ms", "more, avoided"),
        (
            "save: main file",
            f"{f['save'] * ms:7.0f} ms",
            f"dump + atomic write; loop stall {f['save_stall'] * ms:.1f} ms",
        ),
        (
            "save: active file",
            f"{f['save_active'] * ms:7.2f} ms",
            f"{len(SERIALS)} running jobs; loop stall {f['save_active_stall'] * ms:.1f} ms",
        ),
        (
            "memory: baseline",
            f"{f['base_kept'] * mb:7.0f} MB",
            f"peak {f['base_peak'] * mb:.0f} MB",
        ),
        (
            "memory: loaded history",
            f"{f['load_kept'] * mb:7.0f} MB",
            f"{f['load_kept'] / f['base_kept']:.2f}x baseline; peak {f['load_peak'] * mb:.0f} MB",
        ),
        (
            f"one print, {PRINT_HISTORY // 1000}k history",
            f"{(f['print_main'] + f['print_active']) * kb:7.0f} kB",
            f"written: {PRINT_PUTS} puts running "
            f"{(f['print_running_main'] + f['print_running_active']) * kb:.0f} kB "
            f"({f['print_running_main'] * kb:.0f} kB main file), then the end; "
            f"{f['print_main_writes']} main, {f['print_active_writes']} active file writes",
        ),
        (
            "  before: one file",
            f"{f['print_before'] * kb:7.0f} kB",
            f"{PRINT_PUTS + 1} rewrites of {f['print_before_file'] * kb:.0f} kB; "
            f"{f['print_before'] / (f['print_main'] + f['print_active']):.0f}x",
        ),
    ]


def main() -> None:
    """Print the figures."""
    logging.basicConfig(level=logging.ERROR)
    with (
        tempfile.TemporaryDirectory() as config_dir,
        asyncio.Runner(loop_factory=HassEventLoopPolicy(False).new_event_loop) as runner,
    ):
        rows = runner.run(measure(config_dir))
    print(f"job history: {N} records, {len(SERIALS)} printers (best of {ROUNDS})")
    for label, value, note in rows:
        print(f"  {label:32} {value:12} {note}")


if __name__ == "__main__":
    main()
