"""The history's analytics facts as column tables, so a year's overview sums slices in C.

Ended jobs are grouped into tables by what their figures share: printer, category, the
currency they were priced in (None: not priced), status, and which figures they do not know
(a bit mask). Each table keeps its jobs sorted by (start, id) in parallel typed arrays, one
per figure (`array('d')` seconds, `array('q')` cents; an unknown figure is its table's, so a
column never holds None), so a period is two bisects per table and every figure a C loop over
a slice: the count of jobs is the slice's length, a sum of cents `sum()`, float figures extend
the collector's value lists (`analytics.Collector`, summed exactly at the end). Material lines
(with their grams) and customers' and projects' money have tables of their own, keyed alike.

Arrays, not lists: a slice of one is a copy of contiguous memory, where a list's slice and sum
touch every float object wherever the heap put it (a year's overview spent most of its time
waiting for memory that way).

What does not fit is added job by job, as `Collector.add` defines every figure: running
jobs and jobs without an end (`odd`), jobs priced in another currency than the one asked
for, jobs started before the period that run into it and jobs that may run past its end
(both only for utilization, found within the longest run a table holds).

The history changes these tables in the event loop only; `snapshot` copies the slices a period
needs (a memory copy per column), in the loop or, through `taker`, in another thread while the
loop goes on (retried if a change came in between); `apply` sums them in any thread.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
import time
from typing import Any

from .analytics import (
    _ACTIVE,
    _CANCELLED,
    _COMPLETED,
    _FAILED,
    _UNPRICED_LINE,
    Collected,
    Collector,
    JobFacts,
    MaterialUsage,
    Overview,
    Period,
    PrinterStats,
    _Party,
    _share,
    collected_material_usage,
    collected_overview,
    collected_printer_stats,
)

# Bits of a job table's mask: the figures its jobs do not know.
NO_TIME = 1
NO_ENERGY = 2
NO_MATERIAL_COST = 4
NO_ENERGY_COST = 8
NO_WEAR = 16
NO_COST = 32  # net, VAT or gross
NO_GRAMS = 64
_UNPRICED = NO_MATERIAL_COST | NO_ENERGY_COST | NO_WEAR | NO_COST

# Columns of a table, after `started` and `ids`, as array type codes ("" a list).
_JOB_COLUMNS = ("", "d", "d", "q", "q", "q", "q", "q", "q", "b")  # see FactsIndex._rows
_FACTS, _SECONDS = 0, 1
_LINE_COLUMNS = ("d", "q", "b")  # grams, cost in cents, 1 on a job's first line of that key
_PARTY_COLUMNS = ("q", "q")  # net and gross in cents
_MAX_CENTS = 1 << 62  # beyond, a job is added one by one (an array('q') holds no more)
_MIN_CENTS = -_MAX_CENTS
_NO_CENTS = (0,) * 6
_ATTEMPTS = 200  # snapshots taken while the index changed, before giving up
_RETRY = 0.005  # seconds before taking another

type _Key = tuple[Any, ...]


class _Table:
    """Rows sorted by (start, id) in parallel columns; a job may have several rows (lines)."""

    __slots__ = ("columns", "ids", "max_run", "started")

    def __init__(self, codes: tuple[str, ...]) -> None:
        self.started = array("q")
        self.ids: list[str] = []
        self.columns: tuple[Any, ...] = tuple(array(code) if code else [] for code in codes)
        self.max_run = 0  # the longest run of a job in it (end - start), in microseconds

    def insert(self, started: int, job_id: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Add a job's rows in its place."""
        position = bisect_right(
            self.ids,
            job_id,
            bisect_left(self.started, started),
            bisect_right(self.started, started),
        )
        for row in rows:
            self.started.insert(position, started)
            self.ids.insert(position, job_id)
            for column, value in zip(self.columns, row, strict=True):
                column.insert(position, value)
            position += 1

    def remove(self, started: int, job_id: str) -> None:
        """Take a job's rows out."""
        low, high = bisect_left(self.started, started), bisect_right(self.started, started)
        first = bisect_left(self.ids, job_id, low, high)
        after = bisect_right(self.ids, job_id, low, high)
        del self.started[first:after], self.ids[first:after]
        for column in self.columns:
            del column[first:after]


def _filled(codes: tuple[str, ...], rows: list[tuple[Any, ...]], max_run: int) -> _Table:
    """A table of (start, id, *values) rows in any order (loading): sorted once, transposed in C.

    Rows of one job and line key may compare past (start, id); their values are numbers.
    """
    rows.sort()
    started, ids, *columns = zip(*rows, strict=True)
    table = _Table(())
    table.started = array("q", started)
    table.ids = list(ids)
    table.columns = tuple(
        array(code, column) if code else list(column)
        for code, column in zip(codes, columns, strict=True)
    )
    table.max_run = max_run
    return table


@dataclass(slots=True)
class _Slices:
    """One job table's rows in a period, copied."""

    key: _Key
    columns: list[Any]  # the summed columns over [low, high), then seconds of settled rows
    tail: list[JobFacts]  # facts of the rows that may run past the period's end
    tail_seconds: Any  # ... and their seconds, left out of the settled ones
    latest: tuple[int, str, str]  # (start, id, printer name) of its latest job


@dataclass(slots=True)
class Snapshot:
    """What a period needs of the tables, copied in the event loop, summed by `apply`."""

    currency: str
    jobs: list[_Slices] = field(default_factory=list)
    lines: list[tuple[_Key, Any, Any, Any]] = field(default_factory=list)
    customers: list[tuple[_Key, Any, Any]] = field(default_factory=list)
    projects: list[tuple[_Key, Any, Any]] = field(default_factory=list)
    one_by_one: list[tuple[str, JobFacts]] = field(default_factory=list)  # Collector.add's
    before: list[tuple[str, JobFacts]] = field(default_factory=list)  # Collector.before's


type _Placed = list[tuple[dict[_Key, _Table], _Key, tuple[str, ...], list[tuple[Any, ...]], int]]


class FactsIndex:
    """Column tables of the history's ended jobs, and the jobs that do not fit (`odd`).

    A job is added with its facts and removed with the same facts: its place follows from them.
    """

    def __init__(self) -> None:
        """Empty."""
        self.jobs: dict[_Key, _Table] = {}
        self.lines: dict[_Key, _Table] = {}
        self.customers: dict[_Key, _Table] = {}
        self.projects: dict[_Key, _Table] = {}
        self.odd: dict[str, JobFacts] = {}
        # Odd while a change is under way, and one more after it: see `taker`.
        self.version = 0

    def add(self, job_id: str, job: JobFacts) -> None:
        """Add a job's facts (not yet held)."""
        self.version += 1
        try:
            placed = self._rows(job_id, job)
            for tables, key, codes, rows, run in placed or ():
                table = tables.get(key)
                if table is None:
                    table = tables[key] = _Table(codes)
                table.insert(job[3], job_id, rows)
                table.max_run = max(table.max_run, run)
        finally:
            self.version += 1

    def remove(self, job_id: str, job: JobFacts) -> None:
        """Take a job's facts out again (the facts it was added with)."""
        self.version += 1
        try:
            if self.odd.pop(job_id, None) is not None:
                return
            for tables, key, _, _, _ in self._rows(None, job) or ():
                table = tables.get(key)
                if table is not None:
                    table.remove(job[3], job_id)
                    if not table.ids:
                        del tables[key]
        finally:
            self.version += 1

    def taker(
        self,
        start: int,
        end: int,
        currency: str,
        *,
        serials: Collection[str] | None = None,
        before: bool = True,
    ) -> Callable[[], Snapshot]:
        """`snapshot`, to be taken in another thread while the event loop changes the index.

        The loop changes the index only by `add` and `remove`, each making `version` odd while
        under way and even again after; a thread may run between any two of their steps. So a
        snapshot counts only when the version was even before it and unchanged after it (every
        slice is one C call the loop cannot interleave with); else it is taken again. Jobs end
        or are corrected a few times an hour: the loop spends nothing on a snapshot this way.
        """

        def take() -> Snapshot:
            for _ in range(_ATTEMPTS):
                version = self.version
                if not version & 1:
                    try:
                        snap = self.snapshot(start, end, currency, serials=serials, before=before)
                    except (RuntimeError, IndexError):  # a dict or table changed under it
                        snap = None
                    if snap is not None and self.version == version:
                        return snap
                time.sleep(_RETRY)
            raise RuntimeError("the job history kept changing while its figures were summed")

        return take

    def fill(self, jobs: Iterable[tuple[str, JobFacts]]) -> None:
        """Add many jobs to an empty index at once (loading): sorted once, not per insert."""
        staged: dict[
            tuple[int, _Key], tuple[tuple[str, ...], list[tuple[Any, ...]], list[int]]
        ] = {}
        for job_id, job in jobs:
            started = job[3]
            for tables, key, codes, rows, run in self._rows(job_id, job) or ():
                slot = (id(tables), key)
                stage = staged.get(slot)
                if stage is None:
                    stage = staged[slot] = (codes, [], [0])
                stage[1].extend([(started, job_id, *row) for row in rows])
                stage[2][0] = max(stage[2][0], run)
        by_id = {id(tables): tables for tables in self._tables()}
        for (tables_id, key), (codes, rows, (max_run,)) in staged.items():
            by_id[tables_id][key] = _filled(codes, rows, max_run)

    def _tables(self) -> tuple[dict[_Key, _Table], ...]:
        return self.jobs, self.lines, self.customers, self.projects

    def _rows(self, job_id: str | None, job: JobFacts) -> _Placed | None:
        """The tables and rows of a job; None for one kept in `odd` (with `job_id`).

        One pass over the job (this is most of loading the tables): the figures it does not know
        (its mask), whether its amounts fit the arrays, its lines. A fast table is summed for
        its own currency only, so a priced job's lines are priced there.
        """
        (
            serial,
            category,
            status,
            started,
            ended,
            run_end,
            seconds,
            _,
            _,
            _,
            kwh,
            restarted,
            _,
            customer,
            project,
            priced,
            currency,
            amounts,
            uses,
            synthetic,
        ) = job[:20]
        if status == _ACTIVE or ended is None or (priced and type(currency) is not str):
            self._odd(job_id, job)
            return None
        mask = 0
        if seconds is None:
            mask |= NO_TIME
        if kwh is None:
            mask |= NO_ENERGY
        if not priced or amounts is None:
            mask |= _UNPRICED
            cents: Any = _NO_CENTS
        else:
            if None in amounts:
                material, energy, wear, net, vat, gross = amounts
                if material is None:
                    mask |= NO_MATERIAL_COST
                if energy is None:
                    mask |= NO_ENERGY_COST
                if wear is None:
                    mask |= NO_WEAR
                if net is None or vat is None or gross is None:
                    mask |= NO_COST
                cents = [value or 0 for value in amounts]
            else:
                cents = amounts
            if min(cents) <= _MIN_CENTS or max(cents) >= _MAX_CENTS:
                self._odd(job_id, job)
                return None
        if not priced and synthetic:
            uses = _UNPRICED_LINE
        money = currency if priced else None
        line_rows: dict[_Key, list[tuple[Any, ...]]] = {}
        for material_name, color, grams, cost in uses:
            if grams is None:
                mask |= NO_GRAMS
            known = bool(priced) and cost is not None
            if known and not _MIN_CENTS < cost < _MAX_CENTS:
                self._odd(job_id, job)
                return None
            key = (serial, category, money, material_name, color, grams is not None, known)
            first = not line_rows or all(
                other[3:5] != (material_name, color) for other in line_rows
            )
            row = (grams or 0.0, cost if known else 0, first)
            rows = line_rows.get(key)
            if rows is None:
                line_rows[key] = [row]
            else:
                rows.append(row)
        placed: _Placed = [
            (
                self.jobs,
                (serial, category, money, status, mask),
                _JOB_COLUMNS,
                [(job, seconds or 0.0, kwh or 0.0, *cents, restarted)],
                max(0, ended - started, run_end - started),
            )
        ]
        for key, rows in line_rows.items():
            placed.append((self.lines, key, _LINE_COLUMNS, rows, 0))
        known = not mask & NO_COST
        party = (cents[3], cents[5]) if known else (0, 0)
        if customer:
            placed.append(
                (self.customers, (serial, money, customer, known), _PARTY_COLUMNS, [party], 0)
            )
        if project:
            placed.append(
                (self.projects, (serial, money, project, known), _PARTY_COLUMNS, [party], 0)
            )
        return placed

    def _odd(self, job_id: str | None, job: JobFacts) -> None:
        """Keep a job that fits no table, to be added one by one (not when only asked)."""
        if job_id is not None:
            self.odd[job_id] = job

    def snapshot(
        self,
        start: int,
        end: int,
        currency: str,
        *,
        serials: Collection[str] | None = None,
        before: bool = True,
    ) -> Snapshot:
        """Copies of the rows of jobs started in [start, end), in microseconds, for `apply`.

        `before` adds the jobs started earlier that may run into the period (utilization).
        Runs in the event loop: slices only, a copy of memory per column.
        """
        snap = Snapshot(currency)
        for key, table in self.jobs.items():
            if serials is not None and key[0] not in serials:
                continue
            started = table.started
            low, high = bisect_left(started, start), bisect_left(started, end)
            facts = table.columns[_FACTS]
            first = bisect_left(started, start - table.max_run, 0, low) if before else low
            if key[2] is not None and key[2] != currency:  # added one by one
                snap.one_by_one.extend(zip(table.ids[first:high], facts[first:high], strict=True))
                continue
            if first < low:
                snap.before.extend(zip(table.ids[first:low], facts[first:low], strict=True))
            if high <= low:
                continue
            # Rows from `tail` on may end after the period: their busy time is judged one by one.
            tail = max(low, bisect_left(started, end - table.max_run, low, high))
            last = bisect_left(started, started[high - 1], low, high)
            seconds = table.columns[_SECONDS]
            snap.jobs.append(
                _Slices(
                    key=key,
                    columns=[
                        *(column[low:high] for column in table.columns[_SECONDS:]),
                        seconds[low:tail],
                    ],
                    tail=facts[tail:high],
                    tail_seconds=seconds[tail:high],
                    latest=(started[last], table.ids[last], facts[last][12]),
                )
            )
        for tables, into in (
            (self.lines, snap.lines),
            (self.customers, snap.customers),
            (self.projects, snap.projects),
        ):
            money = 2 if tables is self.lines else 1
            for key, table in tables.items():
                if (serials is not None and key[0] not in serials) or key[money] not in (
                    None,
                    currency,
                ):
                    continue
                started = table.started
                low, high = bisect_left(started, start), bisect_left(started, end)
                if high > low:
                    into.append((key, *(column[low:high] for column in table.columns)))
        for job_id, job in self.odd.items():
            if job[3] < end and (serials is None or job[0] in serials):
                snap.one_by_one.append((job_id, job))
        return snap


def apply(snap: Snapshot, collector: Collector) -> None:
    """Add the snapshot's jobs to the collector, as its `add` would one by one."""
    if snap.currency != collector.currency:
        raise ValueError("a snapshot is for the currency it was taken for")
    start, end, now = collector.start, collector.end, collector.now
    for item in snap.jobs:
        serial, category, _, status, mask = item.key
        seconds, kwh, material, energy, wear, net, vat, gross, restarted, settled = item.columns
        count = len(seconds)
        acc = collector.bucket(serial, category)
        acc.jobs += count
        if status == _COMPLETED:
            acc.completed += count
        elif status == _FAILED:
            acc.failed += count
        elif status == _CANCELLED:
            acc.cancelled += count
        else:
            acc.unknown += count
            acc.restarted += sum(restarted)
        if mask & NO_TIME:
            acc.without_time += count
        else:
            acc.print_seconds += seconds
            acc.busy_seconds += settled
            if status == _COMPLETED:
                acc.completed_seconds += seconds
                acc.completed_timed += count
        for job, job_seconds in zip(item.tail, item.tail_seconds, strict=True):
            if job[4] <= end:
                if job_seconds:
                    acc.busy_seconds.append(job_seconds)
            else:
                acc.busy_seconds.append(_share(job, start, end, now))
        if mask & NO_ENERGY:
            acc.without_energy += count
        else:
            acc.energy_kwh += kwh
        if mask & NO_MATERIAL_COST:
            acc.without_material_cost += count
        else:
            acc.material_cost += sum(material)
        if mask & NO_ENERGY_COST:
            acc.without_energy_cost += count
        else:
            acc.energy_cost += sum(energy)
        if mask & NO_WEAR:
            acc.without_wear += count
        else:
            acc.wear += sum(wear)
        if mask & NO_COST:
            acc.without_cost += count
        else:
            acc.net += sum(net)
            acc.vat += sum(vat)
            acc.gross += sum(gross)
        if mask & NO_GRAMS:
            acc.without_grams += count
        collector.offer(serial, item.latest)
    for key, grams, cost, first in snap.lines:
        serial, category, _, material_name, color, grams_known, cost_known = key
        group = collector.material((serial, material_name, color))
        group.jobs += sum(first)
        if grams_known:
            group.grams += grams
            collector.bucket(serial, category).grams += grams
        else:
            group.without_grams += len(grams)
        if cost_known:
            group.cost += sum(cost)
        else:
            group.without_cost += len(cost)
    for parties, rows in (
        (collector.customers, snap.customers),
        (collector.projects, snap.projects),
    ):
        for (_, _, name, known), net, gross in rows:
            party = parties.get(name)
            if party is None:
                party = parties[name] = _Party()
            party.jobs += len(net)
            if known:
                party.net += sum(net)
                party.gross += sum(gross)
            else:
                party.without_cost += len(net)
    add, early = collector.add, collector.before
    for job_id, job in snap.before:
        early(job_id, job)
    for job_id, job in snap.one_by_one:
        add(job_id, job)


def _collected(
    snap: Snapshot, period: Period, now: datetime | None, printers: Mapping[str, str] | None
) -> Collected:
    collector = Collector(period, snap.currency, now, printers)
    apply(snap, collector)
    return collector.result()


def snapshot_overview(
    snap: Snapshot,
    period: Period,
    *,
    now: datetime | None = None,
    printers: Mapping[str, str] | None = None,
    top: int = 10,
) -> Overview:
    """`analytics.overview` of the snapshot's jobs (taken for this period)."""
    return collected_overview(_collected(snap, period, now, printers), snap.currency, top)


def snapshot_printer_stats(
    snap: Snapshot,
    period: Period,
    *,
    now: datetime | None = None,
    printers: Mapping[str, str] | None = None,
) -> tuple[PrinterStats, ...]:
    """`analytics.printer_stats` of the snapshot's jobs."""
    return collected_printer_stats(_collected(snap, period, now, printers))


def snapshot_material_usage(snap: Snapshot, period: Period) -> MaterialUsage:
    """`analytics.material_usage` of the snapshot's jobs."""
    return collected_material_usage(_collected(snap, period, None, None))
