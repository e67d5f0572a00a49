"""The column tables give the figures the record-by-record reference gives, bit for bit.

`analytics.overview` over records (one job at a time, `Collector.add`) defines every figure;
`columns.FactsIndex` sums slices of typed arrays instead. Random histories (the strategy of
test_analytics: unknown times, grams and amounts, another currency, running jobs, jobs across
the period's bounds) are put into an index in random order, changed (re-categorized, priced
anew, ended, removed) and filled at once as loading does; every time the figures must equal the
reference's, whatever the period, the currency asked and the printers filtered.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
import random
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.printernizer.jobs import columns
from custom_components.printernizer.jobs.analytics import (
    Period,
    PeriodKind,
    calendar_period,
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
from custom_components.printernizer.jobs.records import JobRecord, JobStatus

from .test_analytics import BERLIN, OCTOBER, breakdown, job, pla, records, utc

NOW = OCTOBER.end - timedelta(days=2)
PERIODS = (
    OCTOBER,
    calendar_period(PeriodKind.TODAY, utc(2026, 10, 25, 12), BERLIN),  # 25 hours
    calendar_period(PeriodKind.WEEK, utc(2026, 10, 1), BERLIN),  # across the month's start
    calendar_period(PeriodKind.YEAR, utc(2026, 10, 1), BERLIN),
)


def _sorted(history: list[JobRecord]) -> list[JobRecord]:
    """The order the history keeps: by start, then id (it breaks ties of a start)."""
    return sorted(history, key=lambda record: (record.started_at, record.id))


def _assert_same(index: FactsIndex, history: list[JobRecord], period: Period) -> None:
    records = _sorted(history)
    start, end = micros(period.start), micros(period.end)
    printers = {"A": "Printer A (renamed)"}
    for currency in ("EUR", "USD"):
        snap = index.snapshot(start, end, currency)
        assert snapshot_overview(snap, period, now=NOW, printers=printers) == overview(
            records, period, currency=currency, now=NOW, printers=printers
        )
        assert snapshot_printer_stats(snap, period) == printer_stats(
            records, period, currency=currency
        )
        unfilled = index.snapshot(start, end, currency, before=False)
        assert snapshot_material_usage(unfilled, period) == material_usage(
            records, period, currency=currency
        )
    only_b = index.snapshot(start, end, "EUR", serials={"B"})
    assert snapshot_overview(only_b, period, now=NOW) == overview(
        [record for record in records if record.serial == "B"], period, now=NOW
    )


def _changed(record: JobRecord, rng: random.Random) -> JobRecord:
    """The record as a correction or the job's end makes it anew."""
    change = rng.randrange(4)
    if change == 0:
        return replace(record, category=rng.choice(["business", "private", None, "prototype"]))
    if change == 1:
        cost = breakdown("1.00", "0.20", None, "1.20", "0.23", "1.43", ["1.00"], currency="USD")
        return replace(record, cost=None if record.cost else cost)
    if change == 2 and record.status is JobStatus.ACTIVE:
        ended = record.started_at + timedelta(hours=rng.uniform(0, 30))
        return replace(
            record,
            status=JobStatus.COMPLETED,
            ended_at=ended,
            duration_seconds=(ended - record.started_at).total_seconds(),
        )
    return replace(record, printer_name="Renamed", started_at=record.started_at - timedelta(days=1))


@settings(derandomize=True, max_examples=120, deadline=None)
@given(st.lists(records(), max_size=30, unique_by=lambda record: record.id), st.randoms())
def test_tables_sum_as_the_records_do(history: list[JobRecord], rng: random.Random) -> None:
    index = FactsIndex()
    for record in rng.sample(history, len(history)):
        index.add(record.id, job_facts(record))
    for period in PERIODS:
        _assert_same(index, history, period)
    # Corrections, a job's end and removals change only what they change.
    current = {record.id: record for record in history}
    for record in rng.sample(history, len(history) // 2):
        index.remove(record.id, job_facts(current[record.id]))
        if rng.random() < 0.3:
            del current[record.id]
            continue
        current[record.id] = _changed(current[record.id], rng)
        index.add(record.id, job_facts(current[record.id]))
    _assert_same(index, list(current.values()), OCTOBER)
    # Loading fills the tables at once, sorted once: the same figures.
    loaded = FactsIndex()
    loaded.fill((record.id, job_facts(record)) for record in rng.sample(history, len(history)))
    for period in PERIODS[:2]:
        _assert_same(loaded, history, period)
    # Nothing is left behind by removing everything.
    for record in current.values():
        index.remove(record.id, job_facts(record))
    assert (index.jobs, index.lines, index.customers, index.projects, index.odd) == (
        {},
        {},
        {},
        {},
        {},
    )


def test_a_long_job_before_the_period_and_one_running_past_its_end() -> None:
    """Utilization looks back as far as a table's longest run, and no further than needed."""
    long = job("long", "A", OCTOBER.start - timedelta(hours=40), 50, materials=(pla(10.0),))
    late = job("late", "A", OCTOBER.end - timedelta(hours=1), 4, materials=(pla(5.0),))
    # Ended before October, in the long one's table (one mask): looked at, not counted.
    short = job("short", "A", OCTOBER.start - timedelta(hours=3), 1, materials=(pla(1.0),))
    old = job("old", "A", OCTOBER.start - timedelta(days=9), 1, materials=(pla(1.0),))
    history = [long, late, short, old]
    index = FactsIndex()
    for record in history:
        index.add(record.id, job_facts(record))
    snap = index.snapshot(micros(OCTOBER.start), micros(OCTOBER.end), "EUR")
    assert [job_id for job_id, _ in snap.before] == ["long", "short"]
    (stats,) = snapshot_printer_stats(snap, OCTOBER)
    assert stats.figures.jobs == 1
    assert stats.busy_seconds == 10 * 3600 + 3600  # the long one's last 10 h, the late one's 1 h
    assert (stats,) == printer_stats(_sorted(history), OCTOBER)


def test_unknown_costs_are_counted_not_zeroed_in_the_tables() -> None:
    priced = job(
        "p",
        "A",
        OCTOBER.start + timedelta(days=1),
        1,
        cost=breakdown("1.00", "0.10", "0.20", "1.30", "0.25", "1.55", ["1.00"]),
        materials=(pla(10.0),),
    )
    unpriced = job("u", "A", OCTOBER.start + timedelta(days=2), 1, materials=(pla(None),))
    half = job(
        "h",
        "A",
        OCTOBER.start + timedelta(days=3),
        None,
        cost=breakdown("2.00", None, "0.20", None, None, None, [None]),
    )
    index = FactsIndex()
    for record in (priced, unpriced, half):
        index.add(record.id, job_facts(record))
    result = snapshot_overview(
        index.snapshot(micros(OCTOBER.start), micros(OCTOBER.end), "EUR"), OCTOBER
    )
    totals = result.totals
    assert (totals.jobs, str(totals.gross), totals.without_cost) == (3, "1.55", 2)
    assert (str(totals.material_cost), totals.without_material_cost) == ("3.00", 1)
    assert (str(totals.energy_cost), totals.without_energy_cost) == ("0.10", 2)
    assert (totals.grams, totals.without_grams, totals.without_time) == (10.0, 2, 1)
    assert result == overview([priced, unpriced, half], OCTOBER)


def test_a_snapshot_stays_as_taken() -> None:
    """Puts after a snapshot (the history's, in the event loop) change nothing it holds."""
    first = job("a", "A", OCTOBER.start + timedelta(days=1), 2, category="business")
    index = FactsIndex()
    index.add("a", job_facts(first))
    snap = index.snapshot(micros(OCTOBER.start), micros(OCTOBER.end), "EUR")
    index.remove("a", job_facts(first))
    index.add("a", job_facts(replace(first, category="private")))
    index.add("b", job_facts(job("b", "A", OCTOBER.start + timedelta(days=2), 1)))
    result = snapshot_overview(snap, OCTOBER)
    assert result.totals.jobs == 1
    assert result.categories["business"].jobs == 1
    assert result.categories["private"].jobs == 0


def test_amounts_beyond_the_arrays_are_summed_one_by_one() -> None:
    huge = "1" + "0" * 25
    record = job(
        "h",
        "A",
        datetime(2026, 10, 5, tzinfo=UTC),
        1,
        cost=breakdown(huge, "0.10", "0.20", huge, "0.00", huge, [huge]),
    )
    index = FactsIndex()
    index.add("h", job_facts(record))
    assert index.odd  # no array('q') holds it
    snap = index.snapshot(micros(OCTOBER.start), micros(OCTOBER.end), "EUR")
    assert snapshot_overview(snap, OCTOBER) == overview([record], OCTOBER)
    assert str(snapshot_overview(snap, OCTOBER).totals.gross) == huge + ".00"


def test_a_snapshot_taken_while_the_index_changes_is_taken_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another thread takes it while the event loop puts: a change in between means again."""
    index = FactsIndex()
    first = job("a", "A", OCTOBER.start + timedelta(days=1), 2)
    index.add("a", job_facts(first))
    taken = FactsIndex.snapshot
    calls = 0

    def interleaved(self: FactsIndex, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        snap = taken(self, *args, **kwargs)
        if calls == 1:  # the loop put a job while this one was being copied
            self.add("b", job_facts(job("b", "A", OCTOBER.start + timedelta(days=2), 1)))
        return snap

    monkeypatch.setattr(FactsIndex, "snapshot", interleaved)
    take = index.taker(micros(OCTOBER.start), micros(OCTOBER.end), "EUR")
    assert snapshot_overview(take(), OCTOBER).totals.jobs == 2
    assert calls == 2

    # A change under way (the version odd) is waited for, not copied half done.
    monkeypatch.setattr(columns, "_RETRY", 0)
    index.version += 1
    with pytest.raises(RuntimeError, match="kept changing"):
        take()
    assert calls == 2
