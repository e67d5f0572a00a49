"""The job history at 100k records: file size, load, query, totals, put and save, memory.

Records are realistic: a uuid, one material, the cost breakdown as `costs.py` writes it (12 keys
and a lines list), names, paths and a customer on most jobs. Loading goes through a real Store on
a temporary config dir inside a real Home Assistant instance. The baseline is what any reader of
the file pays: reading it and `orjson.loads`, what the Store does, plus the garbage collector's
pass over the new objects that the next allocations trigger (`gc.collect(1)`; ours pays it during
indexing, so both runs end with it). Eager parsing, every record through `JobRecord.from_dict`,
is measured for comparison: it is what keeping the stored dicts avoids. Timings are the best of
ROUNDS, wall clock; "loop stall" is the longest a 1 ms ticker on the event loop waited meanwhile.
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
import tempfile
import time
import tracemalloc
from typing import Any
import uuid

from homeassistant.core import HomeAssistant
from homeassistant.helpers.json import _orjson_bytes_default_encoder
from homeassistant.helpers.storage import Store
from homeassistant.runner import HassEventLoopPolicy
import orjson
from pytest_homeassistant_custom_component.common import async_test_home_assistant

from custom_components.printernizer.history import STORAGE_KEY, STORAGE_VERSION, JobHistory
from custom_components.printernizer.jobs.records import JobRecord, JobStatus, MaterialUse

N = 100_000
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
    times, stalls = [], []
    for _ in range(ROUNDS):
        stall = 0.0

        async def ticker() -> None:
            nonlocal stall
            while True:
                before = time.perf_counter()
                await asyncio.sleep(0.001)
                stall = max(stall, time.perf_counter() - before - 0.001)

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        began = time.perf_counter()
        await func()
        times.append(time.perf_counter() - began)
        ticking.cancel()
        stalls.append(stall)
    return min(times), min(stalls)


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


async def writing(config_dir: str) -> dict[str, float]:
    """Fill a history with put(), save it; corrections afterwards."""
    records = build(N)
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        history = JobHistory(hass)
        await history.async_load()
        for record in records:
            history.put(record)
        save, save_stall = await best_async(history.async_save_now)
        figures = {
            "save": save,
            "save_stall": save_stall,
            "data_func": best(history._data_to_save),
            "dump": best(lambda: _orjson_bytes_default_encoder({"data": history._data_to_save()})),
            "eager_to_dict": best(lambda: [record.to_dict() for record in records]),
        }
        corrected = [replace(record, notes="Nachtrag") for record in records[-2000:]]
        began = time.perf_counter()
        for record in corrected:
            history.put(record)
        figures["put"] = (time.perf_counter() - began) / len(corrected)
        await history.async_save_now()
        await hass.async_stop(force=True)
    return figures


def reading_plainly(path: Path) -> dict[str, float]:
    """The baseline, and parsing every record on top of it."""
    raw = read_file(path)["data"]["records"]
    return {
        "base": best(lambda: read_file_collected(path)),
        "eager": best(lambda: [JobRecord.from_dict(item) for item in raw]),
        "eager_kept": traced(lambda: [JobRecord.from_dict(item) for item in raw])[2],
    }


async def reading(config_dir: str) -> dict[str, float]:
    """Load through the Store, then query."""
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        store, store_stall = await best_async(lambda: store_load(hass))
        loaded, load_stall = await best_async(lambda: load(hass))
        history = await load(hass)
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


async def measure(config_dir: str) -> list[tuple[str, str, str]]:
    path = Path(config_dir) / ".storage" / STORAGE_KEY
    f = await writing(config_dir)
    f |= {"size": path.stat().st_size} | reading_plainly(path) | await reading(config_dir)
    f |= await memory(config_dir, path)
    ms, mb = 1e3, 1 / 2**20
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
            f"{f['size'] / N:.0f} B per record (HA indents JSON)",
        ),
        ("baseline: read + loads + GC", f"{f['base'] * ms:7.0f} ms", "what any reader pays"),
        (
            "load: JobHistory.async_load",
            f"{f['load'] * ms:7.0f} ms",
            f"{f['load'] / f['base']:.2f}x baseline: Store, checks, indexes, totals; "
            f"{f['total']:.0f} records",
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
            f"more, avoided; would keep {f['eager_kept'] * mb:.0f} MB of JobRecords",
        ),
        (
            "query: text, first ever",
            f"{f['first text'] * ms:7.2f} ms",
            f"casefolds all 100k and keeps them: {f['texts'] * mb:.0f} MB",
        ),
        *((f"query: {name}", f"{f[name] * ms:7.2f} ms", "") for name in queries),
        ("  text matches", f"{f['hits']:7.0f}", "first page of 50 parsed"),
        ("totals(serial)", f"{f['totals'] * 1e6:7.1f} us", "kept up to date by put()"),
        ("restore_set(serial)", f"{f['restore'] * 1e6:7.1f} us", ""),
        ("put (replace)", f"{f['put'] * 1e6:7.1f} us", "totals, indexes, delayed-save call"),
        ("save: data_func", f"{f['data_func'] * ms:7.2f} ms", "a list of the stored dicts"),
        ("save: JSON dump", f"{f['dump'] * ms:7.0f} ms", "as the Store does it, off the loop"),
        ("  eager: to_dict of all", f"{f['eager_to_dict'] * ms:7.0f} ms", "more, avoided"),
        (
            "save: async_save_now",
            f"{f['save'] * ms:7.0f} ms",
            f"dump + atomic write; loop stall {f['save_stall'] * ms:.1f} ms",
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
