"""The job history: every printer's job records in two Store files, indexed per printer.

Ended records live in the main file (`STORAGE_KEY`), active ones in a small second file
(`ACTIVE_STORAGE_KEY`), so the ~10-20 puts of a running print rewrite a few kB, not the whole
history: only a job's end or an edit of an ended record rewrites the main file.

Each record is one string in the Store's JSON, an entry: a checksum, a short JSON row of the
facts the indexes and totals need, a tab and the record's compact JSON, the dict of
`JobRecord.to_dict()` without the values `from_dict` fills in itself:

    9c3e0a1f["id","serial","completed",1740816000.0,1740819600.0,3540.0,[10.5],0.25,"4.5",null,
    ["serial",null,"completed",1740816000000000,…]]<tab>{"id":"id","serial":"serial",…}

(one line; the row: id, serial, status, start and end as POSIX timestamps, print seconds, grams,
kWh, gross cost, category, and the record's `JobFacts` for analytics). Analytics sum those facts
from column tables the history keeps beside its index (`jobs/columns.py`, `analytics_snapshot`;
filled once at load, changed by every put), or one by one for queries the tables are not grouped
for (`analytics_facts`): a year's overview neither parses a record nor holds one. Loaded facts
are kept as tuples, which the garbage collector stops tracking (JSON's lists it would scan at
every full collection). A row written before it held the facts is read in full at load (as any
record not in this form), and written with them by the next save.

The Store's indented file then has one line per record, and reading it makes 100k strings rather
than millions of objects, whose creation and garbage collection were most of a load. Loading
parses the rows only; the record itself is parsed when handed out or text-searched (see
bench/job_history.py). An entry is only ever made of a record that passed the checks `from_dict`
would make, so one whose checksum holds is such a record, if its row has the types we write; any
other (edited by hand, damaged, a record without row, or a plain JSON object) is parsed and
checked in full at load, and kept if it passes. An entry edited by hand with its checksum fixed
too is caught when its record is first read: it is left out and its file copied aside then, as
at load. A newer minor version may add record fields and append to the row; both are kept.

A record moving between the files (an active job ending) is first kept in both, the latest
version in each, and taken out of the one it left only once the other has written it. If Home
Assistant stops in between, loading finds it twice and keeps one: the ended version if one is,
else the one in the file it belongs to.

Nothing is lost. Invalid JSON is Home Assistant's Store's to move aside (with its own repair
issue). A file this version cannot read is moved aside, never overwritten; unreadable records
make us copy the file aside before the next save leaves them out. Either raises our repair issue.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, insort
from collections.abc import Callable, Collection, Iterable
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from decimal import Decimal, InvalidOperation
import inspect
import math
from operator import itemgetter
import os
import shutil
from typing import Any, NamedTuple, get_args
from zlib import crc32

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.issue_registry import IssueSeverity, async_create_issue
from homeassistant.helpers.json import json_bytes
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.json import json_loads

from .const import DOMAIN, LOGGER
from .guard import Listeners
from .jobs.analytics import FACT_CURRENCY, FACTS_LENGTH, JobFacts, job_facts, micros
from .jobs.columns import FactsIndex, Snapshot
from .jobs.hourly import Ended
from .jobs.records import EnergySource, GramsSource, JobRecord, JobStatus

STORAGE_KEY = "printernizer.jobs"
ACTIVE_STORAGE_KEY = "printernizer.active_jobs"
STORAGE_VERSION = 1
STORAGE_MINOR_VERSION = 1
SAVE_DELAY = 10  # seconds, for either file; puts in between are written together
DATA_HISTORY: HassKey[JobHistory] = HassKey("printernizer_history")

# Float totals are kept exactly, as integers in units of 2**-scale, a printer's scale growing
# with the finest float added: adding and later taking away a record's share then leaves no
# rounding error behind, and a total is the correctly rounded sum of its parts, what math.fsum
# gives. (A fixed unit of the smallest float, 2**-1074, made every addition one of 1100-bit
# integers: half the time of a load.)

# Values `from_dict` fills in when the key is missing (as `to_dict` writes them); print_seconds
# is derived from two stored fields.
_DEFAULTS: dict[str, Any] = {
    item.name: list(item.default) if isinstance(item.default, tuple) else item.default
    for item in fields(JobRecord)
    if item.default is not MISSING
}
_DERIVED = frozenset({"print_seconds"})
_KEEP = object()

_STATUSES = frozenset(JobStatus)  # StrEnum members hash and compare as their values
_ENERGY_SOURCES = frozenset({None, *get_args(EnergySource.__value__)})
_GRAMS_SOURCES = frozenset(get_args(GramsSource.__value__))
_TEXT_FIELDS = ("job_name", "file", "customer", "project", "notes")
_TIME_KEYS = ("updated_at", "printer_started_at", "paused_since")
_FLOAT_KEYS = ("duration_seconds", "paused_seconds", "progress", "energy_kwh")
_FLOAT = frozenset({float})
_FLOAT_OR_NONE = frozenset({float, type(None)})
_TEXT_OR_NONE = frozenset({str, type(None)})
_SEQUENCES = frozenset({list, tuple})
_NUMBERS = frozenset({int, float})  # type() in it: bool is no amount
# What _read raises for a record not in stored form; `from_dict` then decides if it reads it.
_NOT_STORED_FORM = (KeyError, TypeError, ValueError, OverflowError)
_fromisoformat = datetime.fromisoformat
_ID = itemgetter(1)  # of a (started, id, facts) item of JobHistory._order
_FACTS = itemgetter(2)
_INT_OR_NONE = frozenset({int, type(None)})
MAX_AMOUNT = Decimal(10) ** 15

# Newer Home Assistant serializes delayed saves in the event loop unless the data is thread-safe,
# which ours is (see JobHistory._main_data); 2025.4 always serializes in the executor.
_STORE_OPTIONS: dict[str, Any] = (
    {"serialize_in_event_loop": False}
    if "serialize_in_event_loop" in inspect.signature(Store.__init__).parameters
    else {}
)


@dataclass(frozen=True, slots=True)
class JobTotals:
    """One printer's ended jobs summed up; sums skip what a record does not know."""

    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    print_seconds: float = 0.0
    grams: float = 0.0
    energy_kwh: float = 0.0
    cost: Decimal = Decimal(0)
    without_cost: int = 0  # ended jobs whose gross cost is unknown, left out of `cost`
    last_cost: Decimal | None = None  # gross cost of the job that ended last
    last_job_id: str | None = None


class _Facts(NamedTuple):
    """What the indexes, filters and totals need of one record, kept beside its entry."""

    serial: str
    started: float  # started_at as a POSIX timestamp, exact to the microsecond
    status: str
    ended: float | None  # ended_at (else started_at) of an ended record; None while active
    print_seconds: float | None
    grams: tuple[float, ...]
    energy_kwh: float | None
    gross: Decimal | None
    category: str | None  # None unless a string: only strings match a category filter
    brief: JobFacts = ()  # what analytics need (`job_facts`)


@dataclass(slots=True)
class _Printer:
    """One serial's records, the latest ended one, running totals and listeners."""

    ids: set[str] = field(default_factory=set)
    active: set[str] = field(default_factory=set)
    latest: tuple[float, str] | None = None  # (ended, id) of the record that ended last
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    scale: int = 0
    print_seconds: int = 0  # in 2**-scale
    grams: int = 0
    energy_kwh: int = 0
    cost: Decimal = Decimal(0)
    without_cost: int = 0
    listeners: list[Callable[[JobRecord], None]] = field(default_factory=list)

    def add(self, job_id: str, facts: _Facts) -> None:
        """Index a record and add its share of the totals."""
        self.ids.add(job_id)
        if facts.ended is None:
            self.active.add(job_id)
            return
        key = (facts.ended, job_id)
        if self.latest is None or key > self.latest:
            self.latest = key
        self._count(facts, 1)

    def remove(self, job_id: str, facts: _Facts) -> None:
        """Take a record and its share out again; `latest` is the caller's to fix."""
        self.ids.discard(job_id)
        if facts.ended is None:
            self.active.discard(job_id)
        else:
            self._count(facts, -1)

    def _count(self, facts: _Facts, sign: int) -> None:
        status = facts.status
        if status == JobStatus.COMPLETED:
            self.completed += sign
        elif status == JobStatus.FAILED:
            self.failed += sign
        elif status == JobStatus.CANCELLED:
            self.cancelled += sign
        # Each float is numerator / 2**k, added as numerator << (scale - k): inline, as this is
        # most of indexing a record.
        if facts.print_seconds is not None:
            numerator, denominator = facts.print_seconds.as_integer_ratio()
            shift = self.scale + 1 - denominator.bit_length()
            if shift < 0:
                shift = self._rescale(-shift)
            self.print_seconds += sign * (numerator << shift)
        for grams in facts.grams:
            numerator, denominator = grams.as_integer_ratio()
            shift = self.scale + 1 - denominator.bit_length()
            if shift < 0:
                shift = self._rescale(-shift)
            self.grams += sign * (numerator << shift)
        if facts.energy_kwh is not None:
            numerator, denominator = facts.energy_kwh.as_integer_ratio()
            shift = self.scale + 1 - denominator.bit_length()
            if shift < 0:
                shift = self._rescale(-shift)
            self.energy_kwh += sign * (numerator << shift)
        if facts.gross is not None:
            self.cost += sign * facts.gross
        else:
            self.without_cost += sign

    def _rescale(self, finer: int) -> int:
        """Make the unit `finer` halvings smaller; the shift then due, 0."""
        self.scale += finer
        self.print_seconds <<= finer
        self.grams <<= finer
        self.energy_kwh <<= finer
        return 0

    def total(self, amount: int) -> float:
        """A total as the float nearest to it."""
        return amount / (1 << self.scale)


class _Saved(dict[str, Any]):
    """A file's data, and the active file's records as they were when it was taken."""

    __slots__ = ("active",)

    def __init__(self, records: list[str], active: dict[str, str]) -> None:
        super().__init__(records=records)
        self.active = active


class _HistoryStore(Store[dict[str, Any]]):
    """One history file; a newer major version is refused so its data is never overwritten.

    `on_written` is called in the event loop with the data of every write that succeeded.
    """

    def __init__(self, hass: HomeAssistant, key: str, on_written: Callable[[_Saved], None]) -> None:
        super().__init__(
            hass,
            STORAGE_VERSION,
            key,
            atomic_writes=True,
            minor_version=STORAGE_MINOR_VERSION,
            **_STORE_OPTIONS,
        )
        self._on_written = on_written

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        """Data of another version: migrate older majors step by step here once there are any.

        A newer minor version only adds what `from_dict` ignores.
        """
        if old_major_version > STORAGE_VERSION:
            raise ValueError(
                f"written by a newer version ({old_major_version}.{old_minor_version})"
            )
        return old_data

    async def _async_write_data(self, *args: Any, **kwargs: Any) -> None:
        """Write, then report what was written; Store logs a failed write and goes on.

        The last argument is the Store's dict whose "data_func" it replaces by its "data"
        (its signature differs between Home Assistant versions).
        """
        await super()._async_write_data(*args, **kwargs)
        written = (args[-1] if args else kwargs.get("data") or {}).get("data")
        if isinstance(written, _Saved):
            self._on_written(written)


class JobHistory:
    """All job records by id, indexed per printer serial, saved to two Store files."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Empty until `async_load`."""
        self.hass = hass
        self._store = _HistoryStore(hass, STORAGE_KEY, self._main_written)
        self._active_store = _HistoryStore(hass, ACTIVE_STORAGE_KEY, self._active_written)
        # The files' entries by id. Active records belong to `_active`, ended ones to `_main`; a
        # record in both (moving) has the same entry in both.
        self._main: dict[str, str] = {}
        self._active: dict[str, str] = {}
        self._facts: dict[str, _Facts] = {}
        # (started, id, facts), ascending: the facts ride along for `analytics_facts`.
        self._order: list[tuple[float, str, _Facts]] = []
        self._texts: dict[str, str] = {}  # id -> searchable text, kept once a query needed it
        # Every record's facts in column tables, built on first use (`async_analytics_ready`);
        # meanwhile the ids put or dropped since the build took the facts.
        self._analytics: FactsIndex | None = None
        self._building: asyncio.Task[None] | None = None
        self._changed: set[str] | None = None
        self._printers: dict[str, _Printer] = {}
        self._fleet_listeners: list[Callable[[JobRecord], None]] = []  # of every printer
        self._listener_errors = Listeners(LOGGER, "Job history")

    async def async_load(self) -> None:
        """Read both files, once, before anything else uses the history.

        Parsing and indexing run in the executor: nothing else sees this object until it
        returns.
        """
        save_main = save_active = False
        for store in (self._store, self._active_store):
            items = await self._async_read(store)
            if items is None:
                continue
            unreadable, to_main, to_active = await self.hass.async_add_executor_job(
                self._load, store, items
            )
            if unreadable:
                await self._set_aside(store, "not job records", unreadable)
            save_main |= to_main
            save_active |= to_active
        # Only now: a Store with a save pending loads that instead of its file.
        if save_main:
            self._save_main()
        if save_active:
            self._save_active()

    def get(self, job_id: str) -> JobRecord | None:
        """The record with this id."""
        return self._record(job_id) if job_id in self._facts else None

    def restore_set(self, serial: str) -> list[JobRecord]:
        """What `JobTracker.restore` needs: the serial's active records and the latest ended."""
        printer = self._printers.get(serial)
        if printer is None:
            return []
        ids = [*printer.active, *(() if printer.latest is None else (printer.latest[1],))]
        return [record for job_id in ids if (record := self._record(job_id)) is not None]

    @callback
    def put(self, record: JobRecord) -> None:
        """Insert or replace the record with this id, save later, then tell the listeners.

        Raises what `from_dict` raises for a record it could not read back, and what JSON
        raises for a value it cannot hold, before anything changed. A listener that raises is
        logged and skipped (see `guard`).
        """
        raw, facts = _stored_form(_stored(record), record)
        job_id = raw["id"]
        entry = _entry(raw, facts)
        self._index(job_id, facts)
        self._file(job_id, entry, facts)
        self._listener_errors.call_all(self._printers[facts.serial].listeners, record)
        self._listener_errors.call_all(self._fleet_listeners, record)

    def query(
        self,
        *,
        serials: Collection[str] | None = None,
        statuses: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[JobRecord], int]:
        """One page of the matching records, newest start first, and how many match in all.

        `start` (inclusive) and `end` (exclusive) bound started_at and must be timezone-aware;
        `text` is a case-insensitive part of the job name, file, printer name, customer,
        project or notes.
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        if (start is not None and start.tzinfo is None) or (end is not None and end.tzinfo is None):
            raise ValueError("start and end must be timezone-aware")
        order = self._order
        low = 0 if start is None else bisect_left(order, (start.timestamp(),))
        high = len(order) if end is None else bisect_left(order, (end.timestamp(),))
        high = max(low, high)
        if serials is None and statuses is None and categories is None and not text:
            picked = order[max(low, high - offset - limit) : max(low, high - offset)]
            return _present(map(self._record, [key[1] for key in reversed(picked)])), high - low
        serial_set = None if serials is None else frozenset(serials)
        status_set = None if statuses is None else frozenset(statuses)
        category_set = None if categories is None else frozenset(categories)
        needle = text.casefold() if text else None
        facts_of = self._facts
        page: list[str] = []
        total = 0
        for index in range(high - 1, low - 1, -1):
            job_id = order[index][1]
            facts = facts_of[job_id]
            if (
                (serial_set is not None and facts.serial not in serial_set)
                or (status_set is not None and facts.status not in status_set)
                or (category_set is not None and facts.category not in category_set)
                or (needle is not None and needle not in self._text(job_id))
            ):
                continue
            if offset <= total < offset + limit:
                page.append(job_id)
            total += 1
        return _present(map(self._record, page)), total

    def entries(
        self,
        start: datetime,
        end: datetime,
        *,
        serials: Collection[str] | None = None,
        statuses: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        running_at_start: bool = False,
    ) -> list[str]:
        """The stored entries of the records started in [start, end), oldest first.

        Entries are immutable strings, so another thread may parse them (`read_entry`) while
        the history changes: analytics and exports read a snapshot without holding records.
        `running_at_start` adds the records started earlier that were still running at `start`.
        """
        order, facts_of = self._order, self._facts
        first = start.timestamp()
        low = bisect_left(order, (first,))
        # In C where it can be: this runs in the event loop, over every record of a year.
        ids = list(map(_ID, order[low : bisect_left(order, (end.timestamp(),))]))
        if running_at_start:
            earlier = [
                job_id
                for _, job_id, facts in order[:low]
                if (ended := facts.ended) is None or ended > first
            ]
            ids = earlier + ids
        if serials is not None or statuses is not None or categories is not None:
            ids = [
                job_id
                for job_id in ids
                for facts in (facts_of[job_id],)
                if (serials is None or facts.serial in serials)
                and (statuses is None or facts.status in statuses)
                and (categories is None or facts.category in categories)
            ]
        # A record in both files has the same entry in both; only active ones miss in _main.
        entries = list(map(self._main.get, ids))
        index = -1
        try:
            while True:
                index = entries.index(None, index + 1)
                entries[index] = self._active[ids[index]]
        except ValueError:  # no more active records
            pass
        return entries  # type: ignore[return-value]  # no None left

    def analytics_facts(
        self,
        start: datetime,
        end: datetime,
        *,
        serials: Collection[str] | None = None,
        statuses: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        running_at_start: bool = False,
    ) -> Callable[[], list[JobFacts]]:
        """The `JobFacts` of the records `entries` would give, to be picked in any thread.

        Only a slice of the index is taken now, in the event loop (one C call); the returned
        function picks the facts from it, in the executor while the history changes: a put
        replaces an index item, never changes one.
        """
        order = self._order
        first = start.timestamp()
        low = bisect_left(order, (first,))
        high = max(low, bisect_left(order, (end.timestamp(),)))
        taken = order[:high] if running_at_start else order[low:high]

        def pick() -> list[JobFacts]:
            facts: list[_Facts] = list(map(_FACTS, taken))
            if running_at_start:
                facts = [
                    item for item in facts[:low] if item.ended is None or item.ended > first
                ] + facts[low:]
            if serials is not None or statuses is not None or categories is not None:
                facts = [
                    item
                    for item in facts
                    if (serials is None or item.serial in serials)
                    and (statuses is None or item.status in statuses)
                    and (categories is None or item.category in categories)
                ]
            return [item.brief for item in facts]

        return pick

    def analytics_snapshot(
        self,
        start: datetime,
        end: datetime,
        currency: str,
        *,
        serials: Collection[str] | None = None,
        running_at_start: bool = False,
    ) -> Callable[[], Snapshot]:
        """The column tables' rows of the records `analytics_facts` would give, to be taken.

        What the `columns.snapshot_*` figures sum. The returned function copies them in any
        thread, as they are then (`FactsIndex.taker`): the event loop spends nothing on it.
        `currency` is the one money is summed in. Only once `async_analytics_ready` returned.
        """
        if self._analytics is None:
            raise RuntimeError("the analytics tables are not built yet")
        return self._analytics.taker(
            micros(start), micros(end), currency, serials=serials, before=running_at_start
        )

    async def async_analytics_ready(self) -> None:
        """Build the analytics tables if not yet done: once, in the executor.

        Loading leaves them to their first use, so Home Assistant starts without waiting for
        them; puts meanwhile are replayed onto them before they are used.
        """
        if self._analytics is not None:
            return
        if self._building is None:
            self._building = self.hass.async_create_task(
                self._async_build(), "printernizer analytics tables"
            )
        await asyncio.shield(self._building)

    async def _async_build(self) -> None:
        taken = list(self._facts.items())  # one C copy: the facts as the tables start from
        self._changed = set()
        index = FactsIndex()

        def fill() -> dict[str, _Facts]:
            index.fill((job_id, facts.brief) for job_id, facts in taken)
            return dict(taken)

        try:
            filled = await self.hass.async_add_executor_job(fill)
        except BaseException:
            self._changed = self._building = None
            raise
        for job_id in self._changed:
            if (old := filled.get(job_id)) is not None:
                index.remove(job_id, old.brief)
            if (new := self._facts.get(job_id)) is not None:
                index.add(job_id, new.brief)
        self._analytics, self._changed = index, None

    def totals(self, serial: str) -> JobTotals:
        """The serial's ended jobs summed up."""
        printer = self._printers.get(serial)
        if printer is None:
            return JobTotals()
        last_id = None if printer.latest is None else printer.latest[1]
        return JobTotals(
            completed=printer.completed,
            failed=printer.failed,
            cancelled=printer.cancelled,
            print_seconds=printer.total(printer.print_seconds),
            grams=printer.total(printer.grams),
            energy_kwh=printer.total(printer.energy_kwh),
            cost=printer.cost,
            without_cost=printer.without_cost,
            last_cost=None if last_id is None else self._facts[last_id].gross,
            last_job_id=last_id,
        )

    def ended_jobs(self, currency: str | None = None) -> Callable[[], list[Ended]]:
        """What the fleet statistics need of every ended record, to be made in any thread.

        Only the facts are taken now, in the event loop (one C copy); the returned function
        makes the list, in the executor for a big history. No record is parsed. With a
        `currency`, a job priced in another has no cost: sums in two currencies mean nothing.
        """
        taken = list(self._facts.values())

        def make() -> list[Ended]:
            return [
                Ended(
                    ended=facts.ended,
                    category=facts.category,
                    gross=facts.gross
                    if currency is None or facts.brief[FACT_CURRENCY] == currency
                    else None,
                    grams=math.fsum(facts.grams),
                    energy_kwh=facts.energy_kwh,
                    print_seconds=facts.print_seconds,
                )
                for facts in taken
                if facts.ended is not None
            ]

        return make

    @callback
    def add_listener(
        self, serial: str | None, listener: Callable[[JobRecord], None]
    ) -> Callable[[], None]:
        """Call `listener` in the event loop with every record put for `serial` (None: any)."""
        listeners = self._fleet_listeners if serial is None else self._printer(serial).listeners
        listeners.append(listener)

        @callback
        def remove() -> None:
            listeners.remove(listener)

        return remove

    async def async_save_now(self) -> None:
        """Write both files now, pending delayed saves included; the main file first."""
        await self._store.async_save(self._main_data())
        await self._active_store.async_save(self._active_data())

    def _main_data(self) -> _Saved:
        """The main file's data; safe to call from the executor thread HA 2025.4 calls it in.

        Copying a dict or its values is one C call the event loop cannot interleave with, and
        entries are strings, so serializing them while put() runs is safe. The active file's
        entries are taken first: any entry there that also is in `_main` was put there first
        (see `_file`), so it or a later one is in what this writes.
        """
        active = self._active.copy()
        return _Saved(list(self._main.values()), active)

    def _active_data(self) -> _Saved:
        """The active file's data, as `_main_data`."""
        active = self._active.copy()
        return _Saved(list(active.values()), active)

    @callback
    def _main_written(self, saved: _Saved) -> None:
        """Ended records the main file now holds leave the active file.

        Not while Home Assistant stops: its last writes are under way, and the next load finds
        such records in both files.
        """
        if not self.hass.is_stopping and self._unfile(saved.active, self._active, ended=True):
            self._save_active()

    @callback
    def _active_written(self, saved: _Saved) -> None:
        """Active records the active file now holds leave the main file; as `_main_written`."""
        if not self.hass.is_stopping and self._unfile(saved.active, self._main, ended=False):
            self._save_main()

    def _unfile(self, written: dict[str, str], other: dict[str, str], *, ended: bool) -> bool:
        """Drop the written records from the file they left, if they have not changed since."""
        moved = [
            job_id
            for job_id, entry in written.items()
            if self._active.get(job_id) is entry
            and self._main.get(job_id) is entry
            and (facts := self._facts.get(job_id)) is not None
            and (facts.ended is not None) is ended
        ]
        for job_id in moved:
            del other[job_id]
        return bool(moved)

    def _save_main(self) -> None:
        self._store.async_delay_save(self._main_data, SAVE_DELAY)

    def _save_active(self) -> None:
        self._active_store.async_delay_save(self._active_data, SAVE_DELAY)

    def _file(self, job_id: str, entry: str, facts: _Facts) -> None:
        """Put the entry into the file it belongs to, and into the other while it is in it."""
        home, other, save_home, save_other = (
            (self._active, self._main, self._save_active, self._save_main)
            if facts.ended is None
            else (self._main, self._active, self._save_main, self._save_active)
        )
        home[job_id] = entry  # first: see _main_data
        save_home()
        if job_id in other:
            other[job_id] = entry
            save_other()

    def _index(self, job_id: str, facts: _Facts) -> None:
        """Replace the record's facts in the indexes and totals."""
        old = self._facts.get(job_id)
        old_printer = None
        if old is not None:
            old_printer = self._printers[old.serial]
            old_printer.remove(job_id, old)
            del self._order[bisect_left(self._order, (old.started, job_id))]
        self._facts[job_id] = facts
        self._tabulate(job_id, old, facts)
        self._texts.pop(job_id, None)
        insort(self._order, (facts.started, job_id, facts))
        printer = self._printer(facts.serial)
        printer.add(job_id, facts)
        # Still its printer's latest only if it stayed there and ended no earlier.
        if (
            old_printer is not None
            and old_printer.latest is not None
            and old_printer.latest[1] == job_id
            and (old_printer is not printer or old_printer.latest[0] != facts.ended)
        ):
            self._find_latest(old_printer)

    def _tabulate(self, job_id: str, old: _Facts | None, new: _Facts | None) -> None:
        """Keep the analytics tables in step with a record, or note it while they are built."""
        if self._analytics is not None:
            if old is not None:
                self._analytics.remove(job_id, old.brief)
            if new is not None:
                self._analytics.add(job_id, new.brief)
        elif self._changed is not None:
            self._changed.add(job_id)

    def _record(self, job_id: str) -> JobRecord | None:
        """The record, parsed; None if it cannot be (see `_unreadable`)."""
        try:
            return _record(self._active.get(job_id) or self._main[job_id])
        except Exception:  # any record from_dict cannot read is unreadable
            self._unreadable(job_id)
            return None

    def _unreadable(self, job_id: str) -> None:
        """Leave out a record whose entry passed its checksum but whose record does not read.

        Only a hand edit that fixed the checksum too makes one: loading trusts an entry's row
        and leaves its record for later (see the module docstring). The record leaves the
        indexes now and its file once a copy of the file is set aside, as at load.
        """
        facts = self._facts.pop(job_id)
        printer = self._printers[facts.serial]
        printer.remove(job_id, facts)
        del self._order[bisect_left(self._order, (facts.started, job_id))]
        self._tabulate(job_id, facts, None)
        self._texts.pop(job_id, None)
        if printer.latest is not None and printer.latest[1] == job_id:
            self._find_latest(printer)
        for store, records in ((self._store, self._main), (self._active_store, self._active)):
            if job_id in records:
                self.hass.async_create_task(
                    self._set_aside_record(store, records, job_id, records[job_id]),
                    f"printernizer history set aside {store.key}",
                )

    async def _set_aside_record(
        self, store: _HistoryStore, records: dict[str, str], job_id: str, entry: str
    ) -> None:
        """Copy the file aside, then drop the record from it, unless it was put again since."""
        await self._set_aside(store, "a record with a valid checksum is not a job record", 1)
        if records.get(job_id) is entry:
            del records[job_id]
            if store is self._store:
                self._save_main()
            else:
                self._save_active()

    def _printer(self, serial: str) -> _Printer:
        printer = self._printers.get(serial)
        if printer is None:
            printer = self._printers[serial] = _Printer()
        return printer

    def _text(self, job_id: str) -> str:
        """The searchable fields, case-folded; kept, as parsing is most of a text query."""
        text = self._texts.get(job_id)
        if text is None:
            try:
                raw = _raw(self._active.get(job_id) or self._main[job_id])
                values = (*map(raw.get, _TEXT_FIELDS), raw["printer_name"] or raw["serial"])
            except Exception:  # as in _record
                self._unreadable(job_id)
                return ""
            text = "\x00".join(value for value in values if type(value) is str).casefold()
            self._texts[job_id] = text
        return text

    def _find_latest(self, printer: _Printer) -> None:
        """Look through one printer's records for the one that ended last."""
        printer.latest = None
        for job_id in printer.ids:
            ended = self._facts[job_id].ended
            if ended is not None and (printer.latest is None or (ended, job_id) > printer.latest):
                printer.latest = (ended, job_id)

    async def _async_read(self, store: _HistoryStore) -> list[Any] | None:
        """A file's records; None when there are none or the file was set aside."""
        try:
            data = await store.async_load()
        except Exception as err:  # whatever the Store refused is not ours to overwrite
            await self._set_aside(store, str(err) or type(err).__name__)
            return None
        if data is None:  # no file yet, or invalid JSON the Store moved aside
            return None
        records = data.get("records") if isinstance(data, dict) else None
        if not isinstance(records, list):
            await self._set_aside(store, "no records list")
            return None
        return records

    def _load(self, store: _HistoryStore, items: list[Any]) -> tuple[int, bool, bool]:
        """Index a file's records; how many could not be read, and which file to write.

        Unreadable records are left out; a file is written when records move out of it or into
        it. The main file is read first, into empty indexes. A record the active file holds too is
        the main file's if that one has ended, else the active file's.
        """
        unreadable = 0
        save_main = save_active = False
        if store is self._store:
            order, facts_of, records = self._order, self._facts, self._main
            for item in items:
                try:
                    job_id, entry, facts = _parse(item)
                except Exception:  # any record from_dict cannot read is unreadable
                    unreadable += 1
                    continue
                if job_id in records:  # the first of two records with one id wins
                    unreadable += 1
                    continue
                records[job_id] = entry
                facts_of[job_id] = facts
                order.append((facts.started, job_id, facts))
                self._printer(facts.serial).add(job_id, facts)
                if facts.ended is None:  # active: moves to the active file
                    self._active[job_id] = entry
                    save_active = True
            order.sort()
            return unreadable, save_main, save_active
        seen = set()
        for item in items:
            try:
                job_id, entry, facts = _parse(item)
            except Exception:
                unreadable += 1
                continue
            if job_id in seen:
                unreadable += 1
                continue
            seen.add(job_id)
            kept = self._facts.get(job_id)
            if kept is not None and kept.ended is not None:  # written after it ended
                save_active = True  # the main file's wins
                continue
            if kept is not None and self._main.pop(job_id, None) is not None:
                save_main = True  # an active record the main file no longer needs
            self._index(job_id, facts)
            self._active[job_id] = entry
            if facts.ended is not None:  # ended, not yet in the main file: moves there
                self._main[job_id] = entry
                save_main = True
        return unreadable, save_main, save_active

    async def _set_aside(
        self, store: _HistoryStore, reason: str, unreadable: int | None = None
    ) -> None:
        """Keep the file out of the way of later saves; log it and raise the repair issue.

        `unreadable` None: nothing could be read, the file is moved and its records counted.
        Otherwise it is copied, as the records read are in memory. If neither works, the file
        stays where it is and the Store never writes it this run.
        """
        path = store.path
        stamp = dt_util.utcnow().strftime("%Y%m%dT%H%M%S.%fZ")
        aside = f"{path}.unreadable.{stamp}"
        try:
            await self.hass.async_add_executor_job(_put_aside, path, aside, unreadable is None)
        except OSError as err:
            store.make_read_only()
            reason = f"{reason}; not set aside ({err}), so not saved until restarted"
            aside = path
        if unreadable is None:
            unreadable = await self.hass.async_add_executor_job(_count_records, aside)
        LOGGER.error(
            "Job history %s: %s records could not be read (%s); the file is kept as %s",
            path,
            unreadable,
            reason,
            aside,
        )
        async_create_issue(
            self.hass,
            DOMAIN,
            f"history_unreadable_{store.key}_{stamp}",
            is_fixable=False,
            is_persistent=True,
            severity=IssueSeverity.ERROR,
            translation_key="history_unreadable",
            translation_placeholders={"path": aside, "records": str(unreadable)},
        )


def _raw(entry: str) -> dict[str, Any]:
    """An entry's record, parsed."""
    raw: dict[str, Any] = json_loads(entry[entry.index("\t") + 1 :])  # type: ignore[assignment]
    return raw


def _record(entry: str) -> JobRecord:
    return JobRecord.from_dict(_raw(entry))


def read_entry(entry: str) -> JobRecord | None:
    """The record of an entry from `JobHistory.entries`; None if it cannot be read."""
    try:
        return _record(entry)
    except Exception:  # as in JobHistory._record, which also sets the file aside
        return None


def _present(records: Iterable[JobRecord | None]) -> list[JobRecord]:
    return [record for record in records if record is not None]


def _entry(raw: dict[str, Any], facts: _Facts) -> str:
    """The entry of a record in stored form with these facts."""
    row = [
        raw["id"],
        facts.serial,
        facts.status,
        facts.started,
        facts.ended,
        facts.print_seconds,
        facts.grams,
        facts.energy_kwh,
        None if facts.gross is None else str(facts.gross),
        facts.category,
        facts.brief,
    ]
    body = f"{json_bytes(row).decode()}\t{json_bytes(raw).decode()}"
    return f"{crc32(body.encode()):08x}{body}"


def _stored(record: JobRecord) -> dict[str, Any]:
    """`to_dict()` without what `from_dict` fills in by itself."""
    return {
        key: value
        for key, value in record.to_dict().items()
        if key not in _DERIVED and _DEFAULTS.get(key, _KEEP) != value
    }


def _parse(item: Any) -> tuple[str, str, _Facts]:
    """A file's record: its id, entry and facts.

    An entry whose checksum holds is kept as it is, its facts taken from its row. Anything else
    is parsed and checked in full: an entry's record, a record's JSON text or its dict.
    Raises what JSON or `from_dict` raise for a record they cannot read.
    """
    if type(item) is str:
        try:
            checked = _checked(item)
        except (TypeError, ValueError, ArithmeticError):  # a row we did not write
            checked = None
        if checked is not None:
            return checked[0], item, checked[1]
        item = json_loads(item if item.startswith("{") else item.partition("\t")[2])
    raw, facts = _stored_form(item)
    return raw["id"], _entry(raw, facts), facts


def _checked(entry: str) -> tuple[str, _Facts] | None:
    """The id and facts of an entry whose checksum holds; None for any other string."""
    data = entry.encode()
    tab = data.find(b"\t")
    if tab < 8 or data[:8] != b"%08x" % crc32(memoryview(data)[8:]):
        return None
    row: Any = json_loads(memoryview(data)[8:tab])
    job_id, serial, status, started, ended, seconds, grams, kwh, gross, category, brief = row[:11]
    # Types as _read makes them: a row edited with its checksum fixed is read in full instead.
    # (JSON from the Store holds no NaN or infinity.)
    if (
        type(job_id) is not str
        or type(serial) is not str
        or status not in _STATUSES
        or type(started) is not float
        or (ended is None) is not (status == JobStatus.ACTIVE)
        or (ended is not None and type(ended) is not float)
        or (seconds is not None and type(seconds) is not float)
        or (kwh is not None and type(kwh) is not float)
        or type(grams) is not list
        or (grams and not _FLOAT.issuperset(map(type, grams)))
        or (category is not None and type(category) is not str)
        or not _brief_holds(brief, serial, status, category)
    ):
        return None
    amount = None
    if gross is not None:
        if type(gross) is not str:
            return None
        amount = Decimal(gross)
        if not amount.is_finite() or abs(amount) >= MAX_AMOUNT:
            return None
    return job_id, _Facts(
        serial, started, status, ended, seconds, tuple(grams), kwh, amount, category, _frozen(brief)
    )


def _frozen(brief: list[Any]) -> JobFacts:
    """A stored row's `JobFacts` in tuples, as `job_facts` makes them.

    Tuples of numbers and strings leave the garbage collector's view once it saw them, where
    JSON's lists stay in it: 100k records' facts in lists were most of a load's collections.
    """
    amounts = brief[17]
    return (
        *brief[:17],
        None if amounts is None else tuple(amounts),
        tuple(map(tuple, brief[18])),
        *brief[19:],
    )


def _brief_holds(brief: Any, serial: str, status: str, category: str | None) -> bool:
    """Whether a stored row's `JobFacts` have the types `job_facts` makes, and its row's keys.

    A row edited with its checksum fixed fails here and is read in full instead, as any other.
    """
    if type(brief) is not list or len(brief) < FACTS_LENGTH:
        return False
    (
        brief_serial,
        brief_category,
        brief_status,
        started,
        ended,
        run_end,
        seconds,
        print_seconds,
        paused,
        paused_since,
        kwh,
        restarted,
        name,
        customer,
        project,
        priced,
        _,
        amounts,
        materials,
        synthetic,
    ) = brief[:FACTS_LENGTH]
    if not (
        brief_serial == serial
        and brief_status == status
        and brief_category == category
        and type(started) is int
        and type(run_end) is int
        and type(ended) in _INT_OR_NONE
        and type(paused_since) in _INT_OR_NONE
        and _FLOAT_OR_NONE.issuperset((type(seconds), type(print_seconds), type(kwh)))
        and type(paused) is float
        and type(restarted) is bool
        and type(priced) is bool
        and type(synthetic) is bool
        and type(name) is str
        and _TEXT_OR_NONE.issuperset((type(customer), type(project)))
        and (amounts is None or (type(amounts) is list and len(amounts) == 6))
        and type(materials) is list
        and (amounts is None or _INT_OR_NONE.issuperset(map(type, amounts)))
    ):
        return False
    for material in materials:
        if (
            type(material) is not list
            or len(material) != 4
            or not _TEXT_OR_NONE.issuperset((type(material[0]), type(material[1])))
            or type(material[2]) not in _FLOAT_OR_NONE
            or type(material[3]) not in _INT_OR_NONE
        ):
            return False
    return True


def _stored_form(item: Any, record: JobRecord | None = None) -> tuple[dict[str, Any], _Facts]:
    """The record as kept in memory and its facts; anything else goes through `from_dict`.

    `record` is the record `item` was made of, if at hand. Raises what `from_dict` raises for a
    record it cannot read.
    """
    try:
        raw, facts = item, _read(item)
    except _NOT_STORED_FORM:
        record = JobRecord.from_dict(item)
        raw = _stored(record)
        facts = _read(raw)
    if record is None:
        record = JobRecord.from_dict(raw)  # what is kept, is read when handed out
    return raw, facts._replace(brief=job_facts(record))


def _read(raw: Any) -> _Facts:
    """The facts of a record in stored form, checking the fields they come from.

    Stricter than `from_dict` there (floats as floats, aware start and end); raises one of
    _NOT_STORED_FORM otherwise. A record read from a file is also read by `from_dict` (see
    `_parse`); one put is a `JobRecord`'s. This is most of a load's own time, hence the checks
    in few Python steps.
    """
    if type(raw) is not dict:
        raise TypeError("not a stored record")
    get = raw.get
    serial, status, cost = raw["serial"], get("status", JobStatus.ACTIVE), get("cost")
    started = _fromisoformat(raw["started_at"])
    ended_at = get("ended_at")
    ended = started if ended_at is None else _fromisoformat(ended_at)
    for value in map(get, _TIME_KEYS):
        if value is not None:
            _fromisoformat(value)
    duration, paused, progress, energy = map(get, _FLOAT_KEYS)
    materials, readings = get("materials", ()), get("meter_readings", ())
    if (
        type(raw["id"]) is not str
        or type(serial) is not str
        or type(raw["printer_name"]) is not str
        or status not in _STATUSES
        or get("energy_source") not in _ENERGY_SOURCES
        or started.tzinfo is None
        or ended.tzinfo is None
        or not _FLOAT_OR_NONE.issuperset((type(duration), type(paused), type(progress)))
        or type(energy) not in _FLOAT_OR_NONE
        or type(get("pause_count", 0)) is not int
        or (cost is not None and type(cost) is not dict)
        or type(materials) not in _SEQUENCES
        or type(readings) not in _SEQUENCES
        or not _FLOAT.issuperset(map(type, readings))
    ):
        raise TypeError("not a stored record")
    grams = []
    for material in materials:
        if type(material) is not dict:
            raise TypeError("not a stored material")
        used = material.get("grams")
        if (
            type(used) not in _FLOAT_OR_NONE
            or type(material.get("planned_grams")) not in _FLOAT_OR_NONE
            or material.get("source", "slicer") not in _GRAMS_SOURCES
        ):
            raise TypeError("not a stored material")
        if used is not None and math.isfinite(used):
            grams.append(used)
    category = get("category")
    if type(category) is not str:
        category = None
    if status == JobStatus.ACTIVE:
        return _Facts(serial, started.timestamp(), status, None, None, (), None, None, category)
    print_seconds = None if duration is None else max(0.0, duration - (paused or 0.0))
    return _Facts(
        serial,
        started.timestamp(),
        status,
        ended.timestamp(),
        print_seconds if print_seconds is not None and math.isfinite(print_seconds) else None,
        tuple(grams),
        energy if energy is not None and math.isfinite(energy) else None,
        None if cost is None else _gross(cost.get("gross")),
        category,
    )


def _gross(value: Any) -> Decimal | None:
    """A cost breakdown's gross amount; None when unknown or not a plausible finite amount.

    Beyond MAX_AMOUNT a sum of amounts could overflow the decimal context.
    """
    if type(value) in _NUMBERS:
        value = str(value)
    if type(value) is not str or len(value) > 64:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and abs(amount) < MAX_AMOUNT else None


def _put_aside(path: str, aside: str, move: bool) -> None:
    """Move or copy the file, never onto another."""
    if os.path.exists(aside):
        raise FileExistsError(aside)
    if move:
        os.rename(path, aside)
    else:
        shutil.copy2(path, aside)


def _count_records(path: str) -> int:
    """The number of records a history file holds, as far as it is one."""
    try:
        with open(path, "rb") as file:
            document = json_loads(file.read())
    except (OSError, ValueError):
        return 0
    data = document.get("data") if isinstance(document, dict) else None
    records = data.get("records") if isinstance(data, dict) else None
    return len(records) if isinstance(records, list) else 0
