"""The job history: every printer's job records in one Store file, indexed per printer.

Records stay in memory in their stored form, the dict of `JobRecord.to_dict()` without the
values `from_dict` fills in itself, and `from_dict` runs only for the records handed out: for
100k records it costs more than reading the file, while the indexes and totals need a few fields
(see bench/job_history.py). Loading still checks every field `from_dict` would, so any record
kept in memory is one `from_dict` reads.

Nothing is lost. Invalid JSON is Home Assistant's Store's to move aside (with its own repair
issue). A file this version cannot read is moved aside, never overwritten; unreadable records
make us copy the file aside before the next save leaves them out. Either raises our repair issue.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Collection
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from decimal import Decimal, InvalidOperation
import inspect
import math
import os
import shutil
from typing import Any, NamedTuple

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.issue_registry import IssueSeverity, async_create_issue
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.json import json_loads

from .const import DOMAIN, LOGGER
from .jobs.records import JobRecord, JobStatus

STORAGE_KEY = "printernizer.jobs"
STORAGE_VERSION = 1
STORAGE_MINOR_VERSION = 1
SAVE_DELAY = 10  # seconds; puts in between are written together
DATA_HISTORY: HassKey[JobHistory] = HassKey("printernizer_history")

# Float totals are kept exactly, as integers in units of the smallest float (2**-1074): adding
# and later taking away a record's share then leaves no rounding error behind, and a total is
# the correctly rounded sum of its parts, what math.fsum gives.
_UNIT = 1 << 1074

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
_ENERGY_SOURCES = frozenset({None, "measured", "estimated"})
_GRAMS_SOURCES = frozenset({"slicer", "estimate"})
_TEXT_FIELDS = ("job_name", "file", "customer", "project", "notes")
_TIME_KEYS = ("updated_at", "printer_started_at", "paused_since")
_FLOAT_KEYS = ("duration_seconds", "paused_seconds", "progress", "energy_kwh")
_FLOAT = frozenset({float})
_FLOAT_OR_NONE = frozenset({float, type(None)})
_SEQUENCES = frozenset({list, tuple})
_NUMBERS = frozenset({int, float})  # type() in it: bool is no amount
# What _read raises for a record not in stored form; `from_dict` then decides if it reads it.
_NOT_STORED_FORM = (KeyError, TypeError, ValueError, OverflowError)

# Newer Home Assistant serializes delayed saves in the event loop unless the data is thread-safe,
# which ours is (see JobHistory._data_to_save); 2025.4 always serializes in the executor.
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
    last_cost: Decimal | None = None  # gross cost of the job that ended last
    last_job_id: str | None = None


class _Facts(NamedTuple):
    """What the indexes and totals need of one stored record."""

    serial: str
    started: datetime
    status: str
    ended: datetime | None  # ended_at (else started_at) of an ended record; None while active
    print_seconds: float | None
    grams: tuple[float, ...]
    energy_kwh: float | None
    gross: Decimal | None


@dataclass(slots=True)
class _Printer:
    """One serial's records, the latest ended one, running totals and listeners."""

    ids: set[str] = field(default_factory=set)
    active: set[str] = field(default_factory=set)
    latest: tuple[datetime, str] | None = None  # (ended, id) of the record that ended last
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    print_seconds: int = 0  # in _UNIT
    grams: int = 0
    energy_kwh: int = 0
    cost: Decimal = Decimal(0)
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
        if facts.status == JobStatus.COMPLETED:
            self.completed += sign
        elif facts.status == JobStatus.FAILED:
            self.failed += sign
        elif facts.status == JobStatus.CANCELLED:
            self.cancelled += sign
        if facts.print_seconds is not None:
            self.print_seconds += sign * _exact(facts.print_seconds)
        for grams in facts.grams:
            self.grams += sign * _exact(grams)
        if facts.energy_kwh is not None:
            self.energy_kwh += sign * _exact(facts.energy_kwh)
        if facts.gross is not None:
            self.cost += sign * facts.gross


class _HistoryStore(Store[dict[str, Any]]):
    """The history file; a newer major version is refused so its data is never overwritten."""

    def __init__(self, hass: HomeAssistant) -> None:
        super().__init__(
            hass,
            STORAGE_VERSION,
            STORAGE_KEY,
            atomic_writes=True,
            minor_version=STORAGE_MINOR_VERSION,
            **_STORE_OPTIONS,
        )

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


class JobHistory:
    """All job records by id, indexed per printer serial, saved to one Store file."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Empty until `async_load`."""
        self.hass = hass
        self._store = _HistoryStore(hass)
        self._records: dict[str, dict[str, Any]] = {}  # id -> stored form, never mutated
        self._order: list[tuple[datetime, str]] = []  # (started_at, id), ascending
        self._texts: dict[str, str] = {}  # id -> searchable text, kept once a query needed it
        self._printers: dict[str, _Printer] = {}

    async def async_load(self) -> None:
        """Read the file, once, before anything else uses the history.

        Indexing runs in the executor: nothing else sees this object until it returns.
        """
        try:
            data = await self._store.async_load()
        except Exception as err:  # whatever the Store refused is not ours to overwrite
            await self._set_aside(str(err) or type(err).__name__)
            return
        if data is None:  # no file yet, or invalid JSON the Store moved aside
            return
        records = data.get("records") if isinstance(data, dict) else None
        if not isinstance(records, list):
            await self._set_aside("no records list")
            return
        unreadable = await self.hass.async_add_executor_job(self._load, records)
        if unreadable:
            await self._set_aside("not job records", unreadable)

    def get(self, job_id: str) -> JobRecord | None:
        """The record with this id."""
        raw = self._records.get(job_id)
        return None if raw is None else JobRecord.from_dict(raw)

    def restore_set(self, serial: str) -> list[JobRecord]:
        """What `JobTracker.restore` needs: the serial's active records and the latest ended."""
        printer = self._printers.get(serial)
        if printer is None:
            return []
        ids = [*printer.active, *(() if printer.latest is None else (printer.latest[1],))]
        return [JobRecord.from_dict(self._records[job_id]) for job_id in ids]

    @callback
    def put(self, record: JobRecord) -> None:
        """Insert or replace the record with this id, save later, then tell the listeners.

        Raises what `from_dict` raises for a record it could not read back.
        """
        raw, facts = _stored_form(_stored(record))
        job_id = raw["id"]
        old = self._records.get(job_id)
        old_printer = None
        if old is not None:
            old_facts = _read(old)
            old_printer = self._printers[old_facts.serial]
            old_printer.remove(job_id, old_facts)
            del self._order[bisect_left(self._order, (old_facts.started, job_id))]
        self._records[job_id] = raw
        self._texts.pop(job_id, None)
        insort(self._order, (facts.started, job_id))
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
        self._store.async_delay_save(self._data_to_save, SAVE_DELAY)
        for listener in list(printer.listeners):
            listener(record)

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
        low = 0 if start is None else bisect_left(order, (start,))
        high = len(order) if end is None else bisect_left(order, (end,))
        high = max(low, high)
        if serials is None and statuses is None and categories is None and not text:
            picked = order[max(low, high - offset - limit) : max(low, high - offset)]
            return [
                JobRecord.from_dict(self._records[key[1]]) for key in reversed(picked)
            ], high - low
        serial_set = None if serials is None else frozenset(serials)
        status_set = None if statuses is None else frozenset(statuses)
        category_set = None if categories is None else frozenset(categories)
        needle = text.casefold() if text else None
        page: list[dict[str, Any]] = []
        total = 0
        for index in range(high - 1, low - 1, -1):
            job_id = order[index][1]
            raw = self._records[job_id]
            if (
                (serial_set is not None and raw["serial"] not in serial_set)
                or (
                    status_set is not None and raw.get("status", JobStatus.ACTIVE) not in status_set
                )
                or (category_set is not None and not _member(raw.get("category"), category_set))
                or (needle is not None and needle not in self._text(job_id, raw))
            ):
                continue
            if offset <= total < offset + limit:
                page.append(raw)
            total += 1
        return [JobRecord.from_dict(raw) for raw in page], total

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
            print_seconds=printer.print_seconds / _UNIT,
            grams=printer.grams / _UNIT,
            energy_kwh=printer.energy_kwh / _UNIT,
            cost=printer.cost,
            last_cost=None
            if last_id is None
            else _gross((self._records[last_id].get("cost") or {}).get("gross")),
            last_job_id=last_id,
        )

    @callback
    def add_listener(
        self, serial: str, listener: Callable[[JobRecord], None]
    ) -> Callable[[], None]:
        """Call `listener` in the event loop with every record put for `serial`."""
        listeners = self._printer(serial).listeners
        listeners.append(listener)

        @callback
        def remove() -> None:
            listeners.remove(listener)

        return remove

    async def async_save_now(self) -> None:
        """Write now, a pending delayed save included."""
        await self._store.async_save(self._data_to_save())

    def _data_to_save(self) -> dict[str, Any]:
        """The file's data; safe to call from the executor thread HA 2025.4 calls it in.

        Copying the values is one C call the event loop cannot interleave with, and stored
        dicts are never changed, only replaced, so serializing them while put() runs is safe.
        """
        return {"records": list(self._records.values())}

    def _printer(self, serial: str) -> _Printer:
        printer = self._printers.get(serial)
        if printer is None:
            printer = self._printers[serial] = _Printer()
        return printer

    def _text(self, job_id: str, raw: dict[str, Any]) -> str:
        """The searchable fields, case-folded; kept, as casefolding is most of a text query."""
        text = self._texts.get(job_id)
        if text is None:
            values = (*map(raw.get, _TEXT_FIELDS), raw["printer_name"] or raw["serial"])
            text = "\x00".join(value for value in values if type(value) is str).casefold()
            self._texts[job_id] = text
        return text

    def _find_latest(self, printer: _Printer) -> None:
        """Look through one printer's records for the one that ended last."""
        printer.latest = None
        for job_id in printer.ids:
            ended = _read(self._records[job_id]).ended
            if ended is not None and (printer.latest is None or (ended, job_id) > printer.latest):
                printer.latest = (ended, job_id)

    def _load(self, records: list[Any]) -> int:
        """Index the file's records; the number that could not be read (left out)."""
        unreadable = 0
        for item in records:
            try:
                raw, facts = _stored_form(item)
            except Exception:  # any record from_dict cannot read is unreadable
                unreadable += 1
                continue
            job_id = raw["id"]
            if job_id in self._records:  # the first of two records with one id wins
                unreadable += 1
                continue
            self._records[job_id] = raw
            self._order.append((facts.started, job_id))
            self._printer(facts.serial).add(job_id, facts)
        self._order.sort()
        return unreadable

    async def _set_aside(self, reason: str, unreadable: int | None = None) -> None:
        """Keep the file out of the way of later saves; log it and raise the repair issue.

        `unreadable` None: nothing could be read, the file is moved and its records counted.
        Otherwise it is copied, as the records read are in memory. If neither works, the file
        stays where it is and the Store never writes it this run.
        """
        path = self._store.path
        stamp = dt_util.utcnow().strftime("%Y%m%dT%H%M%S.%fZ")
        aside = f"{path}.unreadable.{stamp}"
        try:
            await self.hass.async_add_executor_job(_put_aside, path, aside, unreadable is None)
        except OSError as err:
            self._store.make_read_only()
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
            f"history_unreadable_{stamp}",
            is_fixable=False,
            is_persistent=True,
            severity=IssueSeverity.ERROR,
            translation_key="history_unreadable",
            translation_placeholders={"path": aside, "records": str(unreadable)},
        )


def _stored(record: JobRecord) -> dict[str, Any]:
    """`to_dict()` without what `from_dict` fills in by itself."""
    return {
        key: value
        for key, value in record.to_dict().items()
        if key not in _DERIVED and _DEFAULTS.get(key, _KEEP) != value
    }


def _stored_form(item: Any) -> tuple[dict[str, Any], _Facts]:
    """The record as kept in memory and its facts; anything else goes through `from_dict`.

    Raises what `from_dict` raises for a record it cannot read.
    """
    try:
        return item, _read(item)
    except _NOT_STORED_FORM:
        raw = _stored(JobRecord.from_dict(item))
        return raw, _read(raw)


def _read(raw: Any) -> _Facts:
    """The facts of a record in stored form, checking each field as `from_dict` would.

    Stricter than `from_dict` (floats as floats, aware start and end), so whatever passes, it
    reads; raises one of _NOT_STORED_FORM otherwise. This is most of a load's own time, hence
    the checks in few Python steps.
    """
    if type(raw) is not dict:
        raise TypeError("not a stored record")
    get = raw.get
    serial, status, cost = raw["serial"], get("status", JobStatus.ACTIVE), get("cost")
    started = datetime.fromisoformat(raw["started_at"])
    ended_at = get("ended_at")
    ended = started if ended_at is None else datetime.fromisoformat(ended_at)
    for value in map(get, _TIME_KEYS):
        if value is not None:
            datetime.fromisoformat(value)
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
    if status == JobStatus.ACTIVE:
        return _Facts(serial, started, status, None, None, (), None, None)
    print_seconds = None if duration is None else max(0.0, duration - (paused or 0.0))
    return _Facts(
        serial,
        started,
        status,
        ended,
        print_seconds if print_seconds is not None and math.isfinite(print_seconds) else None,
        tuple(grams),
        energy if energy is not None and math.isfinite(energy) else None,
        None if cost is None else _gross(cost.get("gross")),
    )


def _exact(value: float) -> int:
    """A finite float exactly, in _UNIT."""
    numerator, denominator = value.as_integer_ratio()
    return numerator << (1075 - denominator.bit_length())


def _gross(value: Any) -> Decimal | None:
    """A cost breakdown's gross amount; None when unknown or not a finite number."""
    if type(value) in _NUMBERS:
        value = str(value)
    if type(value) is not str:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _member(value: Any, choices: frozenset[str]) -> bool:
    """`value in choices` for any JSON value (a list is unhashable)."""
    return isinstance(value, str) and value in choices


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
