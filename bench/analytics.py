"""Analytics and exports at 100k records: overview, per-printer stats, export time and memory.

Records are realistic ended jobs over one year on 8 printers in Europe/Berlin: one or two
materials with colours, a cost breakdown as `costs.py` writes it (amounts as strings, one line
per material), a category, a customer and project on most jobs, notes on some; a few jobs have
unknown costs. The overview covers the whole year, so every record counts.

Timings are the median of ROUNDS, wall clock and CPU time of this process: the machine may be
shared, so CPU time is the steadier figure, and a bare loop over the records calibrates it. The
records are built beforehand (parsing them is the history's cost, see bench/job_history.py).
Figures are summed from the history's column tables (`jobs/columns.py`: typed arrays of each
job's `JobFacts`, grouped by printer, category, currency, status and unknown figures): "tables"
is the copy of a period's slices (in the event loop) plus their sums (in the executor). "one by
one" sums each record's facts in a Python loop, what a query filtered by status, category or
customer still does; "records" the same over the parsed records, as until issue 13 asked for
100k records in under 200 ms.
Export memory is traced with tracemalloc in a separate run (tracing slows everything down) while
rows stream from a generator of records, so the figure is what the export itself holds.

The action path: the same records put into a real job history in a real Home Assistant (test
harness, Europe/Berlin), then `printernizer.get_overview` and `printernizer.export_jobs` called
as an automation would; the records are parsed from the history's stored entries in the
executor, so this includes the parsing the figures above leave out. "Loop stall" is the longest
a 1 ms ticker on the event loop waited meanwhile (the worst of the rounds); peak memory is
traced over one more export (all threads).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
import io
import logging
from pathlib import Path
import random
import statistics
import tempfile
import time
import tracemalloc
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.core import HomeAssistant
from homeassistant.runner import HassEventLoopPolicy
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_test_home_assistant

from custom_components.printernizer.actions.analytics import async_setup_analytics
from custom_components.printernizer.const import DOMAIN
from custom_components.printernizer.history import DATA_HISTORY, JobHistory, read_entry
from custom_components.printernizer.jobs.analytics import (
    PeriodKind,
    calendar_period,
    facts_material_usage,
    facts_overview,
    facts_printer_stats,
    job_facts,
    material_usage,
    micros,
    overview,
    printer_stats,
)
from custom_components.printernizer.jobs.columns import (
    FactsIndex,
    snapshot_material_usage,
    snapshot_overview,
    snapshot_printer_stats,
)
from custom_components.printernizer.jobs.export import (
    GERMAN,
    INTERNATIONAL,
    export_rows,
    write_csv,
    write_json_lines,
)
from custom_components.printernizer.jobs.records import JobRecord, JobStatus, MaterialUse

N = 100_000
ROUNDS = 5
TZ = ZoneInfo("Europe/Berlin")
YEAR_START = datetime(2026, 1, 1, tzinfo=TZ).astimezone(UTC)
SERIALS = [f"01P00C{index:09d}" for index in range(8)]
MATERIALS = [("PLA Basic", "FF6A13FF", 25.0), ("PETG HF", "000000FF", 30.0), ("ASA", None, 35.0)]
OUTCOMES = [JobStatus.COMPLETED] * 17 + [JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.UNKNOWN]


def _cost(lines: list[tuple[str, float, float]], hours: float) -> dict[str, Any]:
    line_costs = [round(grams * price / 1000, 2) for _, grams, price in lines]
    material = round(sum(line_costs), 2)
    energy = round(hours * 0.12 * 0.30, 2)
    wear = round(hours * 0.20, 2)
    net = round(material + energy + wear, 2)
    vat = round(net * 0.19, 2)
    return {
        "currency": "EUR",
        "material": f"{material:.2f}",
        "energy": f"{energy:.2f}",
        "wear": f"{wear:.2f}",
        "net": f"{net:.2f}",
        "vat": f"{vat:.2f}",
        "gross": f"{net + vat:.2f}",
        "vat_percent": "19.00",
        "estimated": False,
        "unknown": [],
        "energy_kwh": f"{hours * 0.12:.3f}",
        "energy_source": "estimated",
        "lines": [
            {
                "material": material_name,
                "grams": f"{grams:.2f}",
                "source": "slicer",
                "price_per_kg": f"{price:.2f}",
                "cost": f"{cost:.2f}",
            }
            for (material_name, grams, price), cost in zip(lines, line_costs, strict=True)
        ],
    }


def record(index: int, rng: random.Random) -> JobRecord:
    """One realistic ended job of the year."""
    started = YEAR_START + timedelta(seconds=rng.uniform(0, 364 * 86400))
    seconds = rng.uniform(600, 12 * 3600)
    status = rng.choice(OUTCOMES)
    uses = []
    lines = []
    for name, color, price in rng.sample(MATERIALS, rng.choice((1, 1, 1, 2))):
        grams = round(rng.uniform(5, 400), 2)
        uses.append(MaterialUse(material=name, color=color, planned_grams=grams, grams=grams))
        lines.append((name.split()[0], grams, price))
    hours = seconds / 3600
    return JobRecord(
        id=f"job-{index}",
        serial=SERIALS[index % len(SERIALS)],
        printer_name=f"Printer {index % len(SERIALS)}",
        started_at=started,
        updated_at=started + timedelta(seconds=seconds),
        status=status,
        job_name=f"part_{index % 500}.3mf",
        ended_at=started + timedelta(seconds=seconds),
        duration_seconds=seconds,
        progress=100.0,
        materials=tuple(uses),
        energy_kwh=round(hours * 0.12, 3),
        energy_source="estimated",
        cost=None if index % 50 == 0 else _cost(lines, hours),
        category="business" if index % 3 else "private",
        customer=f"Customer {index % 40}" if index % 4 else None,
        project=f"Order {index % 300}" if index % 5 else None,
        notes='=HYPERLINK("x")' if index % 1000 == 0 else ('; pauses, "quotes"\n' * (index % 2)),
    )


def records(seed: int = 1) -> Iterator[JobRecord]:
    rng = random.Random(seed)
    for index in range(N):
        yield record(index, rng)


def best(action: Callable[[], object]) -> tuple[float, float]:
    """Median wall-clock and median CPU time of ROUNDS runs, in seconds."""
    walls, cpus = [], []
    for _ in range(ROUNDS):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(walls), statistics.median(cpus)


def traced(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class _Sink(io.TextIOBase):
    """A file that counts what is written and keeps none of it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:  # type: ignore[override]
        self.size += len(text.encode("utf-8", "surrogatepass"))
        return len(text)


def timings(history: list[JobRecord]) -> None:
    year = calendar_period(PeriodKind.YEAR, datetime(2026, 6, 1, tzinfo=UTC), TZ)
    month = calendar_period(PeriodKind.MONTH, datetime(2026, 6, 15, tzinfo=UTC), TZ)
    history.sort(key=lambda record: (record.started_at, record.id))  # the history's order
    result = overview(history, year)
    facts = [job_facts(record) for record in history]
    tables = FactsIndex()
    tables.fill(zip([record.id for record in history], facts, strict=True))
    assert facts_overview(facts, year) == result
    print(f"analytics: {N} records, {result.totals.jobs} in {year.label} (median of {ROUNDS})")
    wall, cpu = best(lambda: [job_facts(record) for record in history])
    print(
        f"  {'facts of every record:':26s}{wall * 1000:7.0f} ms wall, {cpu * 1000:5.0f} ms CPU"
        " (once, as the history stores them)"
    )

    def fill() -> FactsIndex:
        index = FactsIndex()
        index.fill(zip([record.id for record in history], facts, strict=True))
        return index

    wall, cpu = best(fill)
    print(
        f"  {'tables of every record:':26s}{wall * 1000:7.0f} ms wall, {cpu * 1000:5.0f} ms CPU"
        " (once, as the history loads them)"
    )

    def sliced(period: Any) -> Any:
        return tables.snapshot(micros(period.start), micros(period.end), "EUR")

    for period in (year, month):
        assert snapshot_overview(sliced(period), period) == overview(history, period)
    for name, action in (
        ("overview, whole year", lambda: snapshot_overview(sliced(year), year)),
        ("  slices alone", lambda: sliced(year)),
        ("  one by one (facts)", lambda: facts_overview(facts, year)),
        ("  records", lambda: overview(history, year)),
        ("overview, one month", lambda: snapshot_overview(sliced(month), month)),
        ("  one by one (facts)", lambda: facts_overview(facts, month)),
        ("  records", lambda: overview(history, month)),
        ("printer stats, year", lambda: snapshot_printer_stats(sliced(year), year)),
        ("  one by one (facts)", lambda: facts_printer_stats(facts, year)),
        ("  records", lambda: printer_stats(history, year)),
        ("material usage, year", lambda: snapshot_material_usage(sliced(year), year)),
        ("  one by one (facts)", lambda: facts_material_usage(facts, year)),
        ("  records", lambda: material_usage(history, year)),
    ):
        wall, cpu = best(action)
        print(f"  {name + ':':26s}{wall * 1000:7.0f} ms wall, {cpu * 1000:5.0f} ms CPU")
    for name, write in (
        (
            "CSV international",
            lambda file: write_csv(file, export_rows(history, TZ), INTERNATIONAL),
        ),
        ("CSV German", lambda file: write_csv(file, export_rows(history, TZ), GERMAN)),
        ("JSON lines", lambda file: write_json_lines(file, export_rows(history, TZ))),
    ):
        sink = _Sink()
        write(sink)
        wall, cpu = best(lambda write=write: write(_Sink()))
        print(
            f"  export {name + ',':20s}{wall * 1000:6.0f} ms wall, {cpu * 1000:5.0f} ms CPU,"
            f" {sink.size / 1e6:.1f} MB"
        )


def memory() -> None:
    """Peak memory of a German CSV export of N rows, the records made one at a time."""
    alone = traced(lambda: sum(1 for _ in records()))
    export = traced(lambda: write_csv(_Sink(), export_rows(records(), TZ), GERMAN))
    print(
        f"  export peak memory, {N} rows streamed: {export / 1e6:.2f} MB"
        f" (making the records alone: {alone / 1e6:.2f} MB)"
    )


def calibration() -> None:
    """How fast this machine runs Python: one pass over the records reading one field."""
    history = list(records())
    wall, cpu = best(lambda: sum(1 for record in history if record.cost))
    print(
        f"  calibration, a bare loop over {N} records: {wall * 1000:.0f} ms wall,"
        f" {cpu * 1000:.0f} ms CPU"
    )


async def stalled(action: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float, float]:
    """The result, wall and CPU time (all threads) and longest event-loop stall of one await."""
    stall = 0.0

    async def ticker() -> None:
        nonlocal stall
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            stall = max(stall, time.perf_counter() - before - 0.001)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    began, cpu = time.perf_counter(), time.process_time()
    result = await action()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    ticking.cancel()
    return result, wall, cpu, stall


async def action_path(config_dir: str) -> None:
    """Overview and export of N records through the actions in a real Home Assistant."""
    async with async_test_home_assistant(config_dir=config_dir) as hass:
        await hass.config.async_set_time_zone(str(TZ))
        assert await async_setup_component(hass, "http", {})
        history = JobHistory(hass)
        await history.async_load()
        for item in records():
            history.put(item)
        await history.async_save_now()  # not during the measurements
        await history.async_analytics_ready()  # the tables, built once on first use
        hass.data[DATA_HISTORY] = history
        await async_setup_analytics(hass)

        def call(service: str, **data: Any) -> Callable[[], Awaitable[Any]]:
            return lambda: hass.services.async_call(
                DOMAIN, service, data, blocking=True, return_response=True
            )

        year = {"start": "2026-01-01", "end": "2026-12-31"}
        print(f"action path: {N} records in a job history (median of {ROUNDS})")
        first, after = YEAR_START, YEAR_START.replace(year=2027)
        snapshot = best(
            lambda: history.analytics_snapshot(first, after, "EUR", running_at_start=True)()
        )[0]
        print(
            f"  {'tables sliced:':26s}{snapshot * 1000:7.0f} ms wall"
            " (every table's rows of the year, copied in the executor)"
        )
        snapshot = best(lambda: history.analytics_facts(first, after, running_at_start=True))[0]
        print(
            f"  {'facts taken in the loop:':26s}{snapshot * 1000:7.0f} ms wall"
            " (a slice of the index, for queries filtered by status, category, customer)"
        )
        entries = best(lambda: history.entries(first, after, running_at_start=True))[0]
        print(
            f"  {'entries taken in the loop:':26s}{entries * 1000:7.0f} ms wall"
            " (for exports; the figures took these before)"
        )
        year_period = calendar_period(PeriodKind.YEAR, datetime(2026, 6, 1, tzinfo=UTC), TZ)
        wall, cpu = best(
            lambda: overview(
                map(read_entry, history.entries(first, after, running_at_start=True)),
                year_period,
            )
        )
        print(
            f"  {'before: entries + parse:':26s}{wall * 1000:7.0f} ms wall, {cpu * 1000:5.0f} ms"
            " CPU (get_overview's work for a year until the facts)"
        )
        for name, action in (
            ("get_overview, year", call("get_overview", **year)),
            ("  filtered by category", call("get_overview", **year, category="business")),
            ("get_overview, month", call("get_overview", start="2026-06-01", end="2026-06-30")),
            ("get_printer_stats, year", call("get_printer_stats", **year)),
            ("get_material_usage, year", call("get_material_usage", **year)),
            ("export_jobs, CSV German", call("export_jobs", **year, dialect="german")),
            ("export_jobs, JSON", call("export_jobs", **year, format="json")),
        ):
            walls, cpus, worst_stall = [], [], 0.0
            for _ in range(ROUNDS):
                result, wall, cpu, stall = await stalled(action)
                walls.append(wall)
                cpus.append(cpu)
                worst_stall = max(worst_stall, stall)
            best_wall, best_cpu = statistics.median(walls), statistics.median(cpus)
            size = (
                f", {result['rows']} rows, {result['size'] / 1e6:.1f} MB"
                if "size" in result
                else ""
            )
            print(
                f"  {name + ':':26s}{best_wall * 1000:7.0f} ms wall, {best_cpu * 1000:5.0f} ms CPU,"
                f" loop stall {worst_stall * 1000:4.0f} ms{size}"
            )
        tracemalloc.start()
        await call("export_jobs", **year, dialect="german")()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"  export_jobs peak memory (traced, all threads): {peak / 1e6:.1f} MB")
        await _cleanup(hass)


async def _cleanup(hass: HomeAssistant) -> None:
    for path in Path(hass.config.path(DOMAIN, "exports")).iterdir():
        path.unlink()


def main() -> None:
    timings(list(records()))
    calibration()
    memory()
    logging.basicConfig(level=logging.ERROR)
    with (
        tempfile.TemporaryDirectory() as config_dir,
        asyncio.Runner(loop_factory=HassEventLoopPolicy(False).new_event_loop) as runner,
    ):
        runner.run(action_path(config_dir))


if __name__ == "__main__":
    main()
