"""Analytics over job records: periods in a time zone, the overview, printers and materials.

No Home Assistant imports and no I/O: the caller passes the records (any iterable of
`JobRecord`, read once), the period and the time zone. Rules, so every figure can be checked by
hand:

* A period is a half-open span of local calendar time, [start, end), held as UTC instants: a day
  in a DST switch lasts 23 or 25 hours. It starts at the first instant of its first local day
  (a midnight skipped by DST starts the day at the instant after the gap).
* A job belongs to the period in which it started (as `history.query` selects and `categorize`
  judges). Only utilization looks across boundaries: a job spanning one counts with its share
  inside the period, its print time spread evenly over its run.
* Active jobs count by status; every other figure covers ended jobs only.
* Money comes from each job's stored breakdown, each amount read as a `Decimal` rounded to cents
  half-up (as `costs.py` stores it) and summed exactly, in integer cents: totals are the exact
  sums of what each job shows. A job in another currency than the one asked for is left out of
  the money and counted.
* Unknown is never 0: each figure sums what is known and counts the ended jobs it leaves out
  (`jobs_without_cost` and its siblings). A job with some grams unknown adds the known ones and
  is counted as without grams.
* Success rate is completed / (completed + failed + cancelled): a job that ended unseen
  (status unknown) has no outcome to judge.

The figures are sums over `JobFacts`: a small tuple of what they need of one job, made once per
record (`job_facts`) when the history stores or loads it, so a year of 100k jobs is summed
without parsing a record or a cost breakdown per call. Times in it are whole microseconds since
the epoch: their differences are exact, as those of datetimes are.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from math import fsum
from typing import Any, cast

from ..costs import CENT, material_type
from .records import JobRecord, JobStatus, MaterialUse

_ZERO = Decimal(0)


def _doubles() -> array[float]:
    return array("d")


_HOUR = 3600.0
UNCATEGORIZED = "uncategorized"  # the category key of jobs without one
CATEGORIES = ("business", "private")  # always in an overview, if only with zeros


class PeriodKind(StrEnum):
    """Calendar periods; weeks start on Monday (ISO 8601)."""

    TODAY = "today"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """[start, end) as UTC instants, with the local label it is known by ("2026-11")."""

    kind: PeriodKind
    start: datetime
    end: datetime
    label: str

    def __post_init__(self) -> None:
        """Reject naive or empty spans."""
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("a period must end after it starts")

    @property
    def seconds(self) -> float:
        """Real length: 23 hours for the day clocks spring forward."""
        return (self.end - self.start).total_seconds()

    def __contains__(self, instant: datetime) -> bool:
        """Whether the instant lies in [start, end)."""
        return self.start <= instant < self.end

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly values."""
        return {
            "kind": self.kind.value,
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


def day_start(day: date, tz: tzinfo) -> datetime:
    """The first instant (UTC) of a local calendar day.

    `fold=0` reads a skipped midnight at the offset before the gap, which is the instant the day
    begins, and a repeated midnight at its first occurrence.
    """
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def calendar_period(kind: PeriodKind, now: datetime, tz: tzinfo, *, offset: int = 0) -> Period:
    """The day, week, month or year containing `now` in `tz`; `offset` -1 gives the one before."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(tz).date()
    if kind is PeriodKind.TODAY:
        first = today + timedelta(days=offset)
        after = first + timedelta(days=1)
        label = first.isoformat()
    elif kind is PeriodKind.WEEK:
        first = today - timedelta(days=today.weekday()) + timedelta(weeks=offset)
        after = first + timedelta(weeks=1)
        year, week, _ = first.isocalendar()
        label = f"{year}-W{week:02d}"
    elif kind is PeriodKind.MONTH:
        first = _add_months(today.replace(day=1), offset)
        after = _add_months(first, 1)
        label = f"{first.year}-{first.month:02d}"
    elif kind is PeriodKind.YEAR:
        first = date(today.year + offset, 1, 1)
        after = date(first.year + 1, 1, 1)
        label = str(first.year)
    else:
        raise ValueError("a custom period needs custom_period()")
    return Period(kind=kind, start=day_start(first, tz), end=day_start(after, tz), label=label)


def custom_period(start: date | datetime, end: date | datetime, tz: tzinfo) -> Period:
    """A custom range: dates are whole local days with `end` included (1 to 30 November).

    Datetimes are instants with `end` excluded; naive ones are local wall-clock time in `tz`.
    """

    def instant(value: date | datetime, *, last_day: bool) -> datetime:
        if isinstance(value, datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=tz)
            return aware.astimezone(UTC)
        return day_start(value + timedelta(days=1) if last_day else value, tz)

    first, after = instant(start, last_day=False), instant(end, last_day=True)
    if after <= first:
        raise ValueError("a period must end after it starts")
    last = (after - timedelta(microseconds=1)).astimezone(tz).date()
    label = first.astimezone(tz).date().isoformat()
    if last.isoformat() != label:
        label = f"{label}_{last.isoformat()}"
    return Period(kind=PeriodKind.CUSTOM, start=first, end=after, label=label)


def select(
    records: Iterable[JobRecord],
    period: Period | None = None,
    *,
    serials: Collection[str] | None = None,
    categories: Collection[str] | None = None,
    statuses: Collection[str] | None = None,
    customers: Collection[str] | None = None,
) -> Iterator[JobRecord]:
    """The records started in the period that pass every filter given (lazily, in order)."""
    for record in records:
        if (
            (period is None or record.started_at in period)
            and (serials is None or record.serial in serials)
            and (categories is None or record.category in categories)
            and (statuses is None or record.status in statuses)
            and (customers is None or record.customer in customers)
        ):
            yield record


def money(value: Any) -> Decimal | None:
    """A stored amount ("12.34", or a number someone wrote by hand) in cents; None if unknown.

    Not a finite number >= 0 (NaN, "abc", True, -1) is as good as unknown.
    """
    if type(value) is str or type(value) is int or type(value) is float:
        try:
            amount = Decimal(str(value))
            if amount.is_finite() and amount >= 0:
                return amount.quantize(CENT, rounding=ROUND_HALF_UP)
        except InvalidOperation:  # not a number, or more digits than any real amount
            return None
    return None


def _fixed(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


def _ratio(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole


# Failure reasons from what a record knows: its outcome, and whether the end was missed.
REASON_FAILED = "failed"  # the printer reported a failure or error
REASON_CANCELLED = "cancelled"
REASON_ENDED_UNSEEN = "ended_unseen"  # idle or another job when next seen
REASON_ENDED_DURING_RESTART = "ended_during_restart"  # ended while Home Assistant was down


def _decimal(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


@dataclass(slots=True)
class _Sums:
    """Running sums over a set of jobs; money in integer cents (exact, and fast to add).

    Float figures keep every value added (arrays of doubles, summed by `math.fsum` at the end):
    a total is the correctly rounded sum of its jobs' values whatever their order or grouping,
    so the history's column tables and a loop over records give the same bits. Arrays, as
    merging them is a copy of memory and summing them reads it in order.
    """

    jobs: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    unknown: int = 0
    restarted: int = 0  # of the unknown ones, those closed after a restart
    active: int = 0
    print_seconds: array[float] = field(default_factory=_doubles)
    completed_seconds: array[float] = field(default_factory=_doubles)
    completed_timed: int = 0
    busy_seconds: array[float] = field(default_factory=_doubles)
    grams: array[float] = field(default_factory=_doubles)
    energy_kwh: array[float] = field(default_factory=_doubles)
    material_cost: int = 0
    energy_cost: int = 0
    wear: int = 0
    net: int = 0
    vat: int = 0
    gross: int = 0
    without_time: int = 0
    without_grams: int = 0
    without_energy: int = 0
    without_material_cost: int = 0
    without_energy_cost: int = 0
    without_wear: int = 0
    without_cost: int = 0
    other_currency: int = 0

    def merge(self, other: _Sums) -> None:
        """Add another set's sums (its values, for the float figures)."""
        for name in self.__slots__:
            value = getattr(self, name)
            value += getattr(other, name)  # a list in place: merging is no copy of the sum
            setattr(self, name, value)

    def figures(self) -> Figures:
        """Frozen figures."""
        return Figures(
            jobs=self.jobs,
            completed=self.completed,
            failed=self.failed,
            cancelled=self.cancelled,
            unknown=self.unknown,
            active=self.active,
            print_seconds=fsum(self.print_seconds),
            grams=fsum(self.grams),
            energy_kwh=fsum(self.energy_kwh),
            material_cost=_decimal(self.material_cost),
            energy_cost=_decimal(self.energy_cost),
            wear=_decimal(self.wear),
            net=_decimal(self.net),
            vat=_decimal(self.vat),
            gross=_decimal(self.gross),
            without_time=self.without_time,
            without_grams=self.without_grams,
            without_energy=self.without_energy,
            without_material_cost=self.without_material_cost,
            without_energy_cost=self.without_energy_cost,
            without_wear=self.without_wear,
            without_cost=self.without_cost,
            other_currency=self.other_currency,
        )

    def failures(self) -> dict[str, int]:
        """Ended jobs that did not complete, by reason; reasons without any left out."""
        reasons = {
            REASON_CANCELLED: self.cancelled,
            REASON_ENDED_DURING_RESTART: self.restarted,
            REASON_ENDED_UNSEEN: self.unknown - self.restarted,
            REASON_FAILED: self.failed,
        }
        return {reason: count for reason, count in reasons.items() if count}


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """Sums over a set of jobs; each `without_*` counts ended jobs the figure beside it skips."""

    jobs: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    unknown: int = 0
    active: int = 0
    print_seconds: float = 0.0
    grams: float = 0.0
    energy_kwh: float = 0.0
    material_cost: Decimal = _ZERO
    energy_cost: Decimal = _ZERO
    wear: Decimal = _ZERO
    net: Decimal = _ZERO
    vat: Decimal = _ZERO
    gross: Decimal = _ZERO
    without_time: int = 0
    without_grams: int = 0
    without_energy: int = 0
    without_material_cost: int = 0
    without_energy_cost: int = 0
    without_wear: int = 0
    without_cost: int = 0  # ended jobs whose gross is unknown (or in another currency)
    other_currency: int = 0  # of those, the ones priced in another currency

    @property
    def ended(self) -> int:
        """Jobs with a final status."""
        return self.jobs - self.active

    @property
    def success_rate(self) -> float | None:
        """Completed / (completed + failed + cancelled); None without any such job."""
        return _ratio(self.completed, self.completed + self.failed + self.cancelled)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly values: amounts as strings with 2 places, rates in percent."""
        rate = self.success_rate
        return {
            "jobs": self.jobs,
            "by_status": {
                JobStatus.COMPLETED.value: self.completed,
                JobStatus.FAILED.value: self.failed,
                JobStatus.CANCELLED.value: self.cancelled,
                JobStatus.UNKNOWN.value: self.unknown,
                JobStatus.ACTIVE.value: self.active,
            },
            "success_rate": None if rate is None else round(rate * 100, 1),
            "print_hours": round(self.print_seconds / _HOUR, 2),
            "grams": round(self.grams, 2),
            "energy_kwh": round(self.energy_kwh, 3),
            "material_cost": _fixed(self.material_cost),
            "energy_cost": _fixed(self.energy_cost),
            "wear": _fixed(self.wear),
            "net": _fixed(self.net),
            "vat": _fixed(self.vat),
            "gross": _fixed(self.gross),
            "jobs_without_time": self.without_time,
            "jobs_without_grams": self.without_grams,
            "jobs_without_energy": self.without_energy,
            "jobs_without_material_cost": self.without_material_cost,
            "jobs_without_energy_cost": self.without_energy_cost,
            "jobs_without_wear": self.without_wear,
            "jobs_without_cost": self.without_cost,
            "jobs_other_currency": self.other_currency,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterStats:
    """One printer's jobs started in the period, and its busy time inside it."""

    serial: str
    name: str
    figures: Figures
    busy_seconds: float  # print time inside the period, jobs across its bounds pro rata
    period_seconds: float
    average_job_seconds: float | None  # print time of completed jobs, on average
    failures: Mapping[str, int]  # by REASON_*

    @property
    def utilization(self) -> float:
        """Busy time / period length, 0 to 1."""
        return min(1.0, self.busy_seconds / self.period_seconds)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly values."""
        average = self.average_job_seconds
        return {
            "serial": self.serial,
            "name": self.name,
            "utilization": round(self.utilization * 100, 1),
            "busy_hours": round(self.busy_seconds / _HOUR, 2),
            "average_job_hours": None if average is None else round(average / _HOUR, 2),
            "failures": dict(self.failures),
            **self.figures.as_dict(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Party:
    """A customer's or project's jobs and money."""

    name: str
    jobs: int
    net: Decimal
    gross: Decimal
    without_cost: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly values."""
        return {
            "name": self.name,
            "jobs": self.jobs,
            "net": _fixed(self.net),
            "gross": _fixed(self.gross),
            "jobs_without_cost": self.without_cost,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterialFigures:
    """Grams and cost of one material type (and colour, and printer, where grouped by them).

    `jobs` counts ended jobs using it; `without_*` counts those of its lines with the figure
    unknown. Colours are as the printer reports them, upper-cased ("FF6A13FF"); None unknown.
    """

    material: str
    color: str | None = None
    serial: str | None = None
    jobs: int = 0
    grams: float = 0.0
    cost: Decimal = _ZERO
    without_grams: int = 0
    without_cost: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly values; the grouping keys not used are left out."""
        keys = {"material": self.material}
        if self.color is not None:
            keys["color"] = self.color
        if self.serial is not None:
            keys["serial"] = self.serial
        return keys | {
            "jobs": self.jobs,
            "grams": round(self.grams, 2),
            "cost": _fixed(self.cost),
            "lines_without_grams": self.without_grams,
            "lines_without_cost": self.without_cost,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterialUsage:
    """Material by type, by type and colour, and by printer and type; largest grams first."""

    by_type: tuple[MaterialFigures, ...]
    by_color: tuple[MaterialFigures, ...]
    by_printer: tuple[MaterialFigures, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly values."""
        return {
            "by_type": [item.as_dict() for item in self.by_type],
            "by_color": [item.as_dict() for item in self.by_color],
            "by_printer": [item.as_dict() for item in self.by_printer],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    """The fleet in a period: totals, categories, top customers and projects, materials."""

    period: Period
    currency: str
    totals: Figures
    categories: Mapping[str, Figures]  # business, private, others seen, UNCATEGORIZED
    customers: tuple[Party, ...]
    projects: tuple[Party, ...]
    materials: MaterialUsage
    printers: tuple[PrinterStats, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly values for an action response (printers left to their own action)."""
        return {
            "period": self.period.as_dict(),
            "currency": self.currency,
            **self.totals.as_dict(),
            "categories": {name: item.as_dict() for name, item in self.categories.items()},
            "top_customers": [item.as_dict() for item in self.customers],
            "top_projects": [item.as_dict() for item in self.projects],
            "materials": self.materials.as_dict(),
        }


@dataclass(slots=True)
class _Material:
    jobs: int = 0
    grams: array[float] = field(default_factory=_doubles)  # every line's, as in _Sums
    cost: int = 0  # cents
    without_grams: int = 0
    without_cost: int = 0

    def merge(self, other: _Material) -> None:
        self.jobs += other.jobs
        self.grams += other.grams
        self.cost += other.cost
        self.without_grams += other.without_grams
        self.without_cost += other.without_cost


@dataclass(slots=True)
class _Party:
    jobs: int = 0
    net: int = 0
    gross: int = 0
    without_cost: int = 0


_INF = float("inf")
_US = 1_000_000  # microseconds per second
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NEVER = 1 << 62  # later than any start: a printer name given by the caller stays
_AMOUNTS = ("material", "energy", "wear", "net", "vat", "gross")
_ACTIVE = JobStatus.ACTIVE.value
_COMPLETED = JobStatus.COMPLETED.value
_FAILED = JobStatus.FAILED.value
_CANCELLED = JobStatus.CANCELLED.value

# What the figures need of one job, as a plain tuple (a JSON array once stored), by position:
#  0 serial, 1 category (a string, else None), 2 status, 3 started, 4 ended_at or None,
#  5 the end of its run (ended_at, else started + duration), 6 print seconds as the figures
#  count them (None: without time), 7 `JobRecord.print_seconds` (for utilization), 8 paused
#  seconds, 9 paused_since or None, 10 kWh (None: unknown), 11 closed after a restart,
#  12 printer name, 13 customer, 14 project, 15 has a cost breakdown, 16 its currency,
#  17 its six amounts in cents (material, energy, wear, net, vat, gross; None: unknown), or None
#  when one is no amount at all, 18 materials: (material, colour, grams or None, the cost of
#  the breakdown's line of that index in cents or None), 19 whether that single material was
#  taken from the breakdown's first line (a record without materials).
# Times are microseconds since the epoch. Stored and loaded as they are: change only by
# appending, and `job_facts` must stay in step with what the collector reads.
type JobFacts = Sequence[Any]
FACTS_LENGTH = 20
FACT_STATUS, FACT_STARTED, FACT_ENDED = 2, 3, 4
FACT_CUSTOMER = 13
FACT_CURRENCY = 16
FACT_MATERIALS = 18


def micros(instant: datetime) -> int:
    """An aware datetime as whole microseconds since the epoch (exact)."""
    return (instant - _EPOCH) // _MICROSECOND


@lru_cache(maxsize=4096, typed=True)  # amounts repeat; typed: True is no 1
def _cents(value: Any) -> int | None:
    """An amount in cents; raises TypeError for an unhashable one (hand-edited)."""
    amount = money(value)
    return None if amount is None else int(amount.scaleb(2))


def _valid(value: float | None) -> float | None:
    return float(value) if value is not None and 0 <= value < _INF else None


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def job_facts(record: JobRecord) -> tuple[Any, ...]:
    """The record's facts for the figures (see `JobFacts`): made once, summed many times."""
    started = record.started_at
    duration = _valid(record.duration_seconds)
    seconds = None
    if duration is not None:
        paused = record.paused_seconds
        seconds = float(duration - paused) if duration > paused else 0.0
    ended_at = record.ended_at
    try:
        run_end = ended_at or started + timedelta(seconds=record.duration_seconds or 0)
    except OverflowError:  # no run to spread time over
        run_end = started
    cost = record.cost
    priced = type(cost) is dict and bool(cost)
    currency = amounts = lines = None
    if priced:
        assert cost is not None
        currency = cost.get("currency")
        try:
            amounts = tuple([_cents(cost.get(name)) for name in _AMOUNTS])
        except TypeError:  # an unhashable amount, hand-edited: the whole breakdown is unknown
            amounts = None
        lines = cost.get("lines")
        if type(lines) not in (list, tuple):  # as read back from JSON, a list
            lines = None
    uses = record.materials
    synthetic = not uses
    if synthetic:
        line = lines[0] if lines and type(lines[0]) is dict else {}
        name = line.get("material")
        uses = (MaterialUse(material=name if type(name) is str else None),)
    materials = []
    for index, use in enumerate(uses):
        try:
            line_cost = _cents(lines[index]["cost"])  # type: ignore[index]
        except (TypeError, KeyError, IndexError):  # no such line, or not a cost
            line_cost = None
        materials.append((use.material, use.color, _valid(use.grams), line_cost))
    category = record.category
    return (
        record.serial,
        category if type(category) is str else None,
        record.status.value,
        micros(started),
        None if ended_at is None else micros(ended_at),
        micros(run_end),
        seconds,
        _float(record.print_seconds),
        float(record.paused_seconds),
        None if record.paused_since is None else micros(record.paused_since),
        _valid(record.energy_kwh),
        record.closed_after_restart,
        record.printer_name,
        record.customer,
        record.project,
        priced,
        currency,
        amounts,
        tuple(materials),
        synthetic,
    )


_UNPRICED_LINE = ((None, None, None, None),)


@dataclass(slots=True)
class Collected:
    """What a collector summed: per printer, category, material line and party."""

    period: Period
    names: dict[str, str]  # serial -> printer name
    printers: dict[str, _Sums]
    categories: dict[str, _Sums]
    materials: dict[tuple[str, Any, Any], _Material]  # (serial, material, colour) as recorded
    customers: dict[str, _Party]
    projects: dict[str, _Party]


def _share(job: JobFacts, start: int, end: int, now: int | None) -> float:
    """The job's print time inside [start, end), spread evenly over its run."""
    started: int = job[3]
    ended: int
    if job[2] == _ACTIVE:
        if now is None:
            return 0.0
        ended = max(now, started)
        paused = job[8]
        since = job[9]
        if since is not None:
            paused += max(0.0, (ended - since) / _US)
        seconds: float | None = max(0.0, (ended - started) / _US - paused)
    else:
        seconds = cast("float | None", job[7])
        ended = job[5]
    run = (ended - started) / _US
    if seconds is None or not 0 <= seconds < _INF or run <= 0:
        return 0.0
    inside = (min(ended, end) - max(started, start)) / _US
    return seconds * max(0.0, min(inside, run)) / run


def _party(parties: dict[str, _Party], name: str) -> _Party:
    try:
        party = parties[name]
    except KeyError:
        party = parties[name] = _Party()
    party.jobs += 1
    return party


def _bill(party: _Party, net: Any, gross: Any) -> None:
    """A customer's or project's money from one ended job, or one more job without a cost."""
    if gross is None:
        party.without_cost += 1
    else:
        party.net += net
        party.gross += gross


def _offer(latest: dict[str, tuple[int, Any, str]], serial: str, key: tuple[int, Any, str]) -> None:
    """Keep the (start, tiebreak, name) of a printer's latest job; on one start, the first."""
    current = latest.get(serial)
    if current is None or key[0] > current[0] or (key[0] == current[0] and key[1] < current[1]):
        latest[serial] = key


class Collector:
    """Sums of one period per (printer, category), material line and party, then `result`.

    Jobs come one at a time (`add`, the reference every figure is defined by) or as a column
    table's rows at once (`columns.FactsIndex`); either adds the same values to the same sums.
    A printer is named as on its latest job started in the period, else on its latest job from
    before that ran into it, unless `printers` names it.
    """

    __slots__ = (
        "buckets",
        "busy",
        "currency",
        "customers",
        "early",
        "end",
        "given",
        "latest",
        "materials",
        "now",
        "period",
        "projects",
        "start",
    )

    def __init__(
        self,
        period: Period,
        currency: str,
        now: datetime | None,
        printers: Mapping[str, str] | None,
    ) -> None:
        """Empty sums for the period."""
        self.period = period
        self.currency = currency
        self.start = micros(period.start)
        self.end = micros(period.end)
        self.now = None if now is None else micros(now)
        self.given = dict(printers or {})
        self.latest: dict[str, tuple[int, Any, str]] = {}  # serial -> its latest job in it
        self.early: dict[str, tuple[int, Any, str]] = {}  # of jobs from before, running into it
        self.buckets: dict[tuple[str, Any], _Sums] = {}
        self.busy: dict[str, array[float]] = {}  # shares of jobs started before the period
        self.materials: dict[tuple[str, Any, Any], _Material] = {}
        self.customers: dict[str, _Party] = {}
        self.projects: dict[str, _Party] = {}

    def bucket(self, serial: str, category: Any) -> _Sums:
        """The sums of a (printer, category)."""
        key = (serial, category)
        try:
            return self.buckets[key]
        except KeyError:
            acc = self.buckets[key] = _Sums()
            return acc

    def material(self, key: tuple[str, Any, Any]) -> _Material:
        """The sums of a (printer, material, colour) as recorded."""
        try:
            return self.materials[key]
        except KeyError:
            group = self.materials[key] = _Material()
            return group

    def offer(self, serial: str, key: tuple[int, Any, str]) -> None:
        """A (start, tiebreak, name) of a job the printer started in the period."""
        _offer(self.latest, serial, key)

    def before(self, tiebreak: Any, job: JobFacts) -> None:
        """A job started before the period: its print time inside it, if it ran into it."""
        ended = job[4]
        if ended is None or ended > self.start:
            share = _share(job, self.start, self.end, self.now)
            if share > 0:
                serial = job[0]
                busy = self.busy.get(serial)
                if busy is None:
                    busy = self.busy[serial] = _doubles()
                busy.append(share)
                _offer(self.early, serial, (job[3], tiebreak, job[12]))

    def add(self, tiebreak: Any, job: JobFacts) -> None:
        """One job of any time; `tiebreak` orders jobs of one start (smallest is the first).

        Kept without calls on the common path: a call per figure was most of the time of an
        overview of a year.
        """
        (
            serial,
            category,
            status,
            started,
            ended,
            _,
            seconds,
            _,
            _,
            _,
            kwh,
            restarted,
            name,
            customer,
            project,
            priced,
            job_currency,
            amounts,
            uses,
            synthetic,
        ) = job
        if started >= self.end:
            return
        if started < self.start:
            self.before(tiebreak, job)
            return
        latest = self.latest.get(serial)
        if latest is None or started > latest[0] or (started == latest[0] and tiebreak < latest[1]):
            self.latest[serial] = (started, tiebreak, name)
        try:
            acc = self.buckets[serial, category]
        except KeyError:
            acc = self.buckets[serial, category] = _Sums()
        acc.jobs += 1
        if status == _ACTIVE:
            acc.active += 1
            acc.busy_seconds.append(_share(job, self.start, self.end, self.now))
            if customer:
                _party(self.customers, customer)
            if project:
                _party(self.projects, project)
            return
        if status == _COMPLETED:
            acc.completed += 1
        elif status == _FAILED:
            acc.failed += 1
        elif status == _CANCELLED:
            acc.cancelled += 1
        else:
            acc.unknown += 1
            acc.restarted += restarted
        if seconds is not None:
            acc.print_seconds.append(seconds)
            if status == _COMPLETED:
                acc.completed_seconds.append(seconds)
                acc.completed_timed += 1
        else:
            acc.without_time += 1
        if ended is not None and ended <= self.end:
            if seconds:
                acc.busy_seconds.append(seconds)
        else:
            acc.busy_seconds.append(_share(job, self.start, self.end, self.now))
        if kwh is not None:
            acc.energy_kwh.append(kwh)
        else:
            acc.without_energy += 1
        lined = False
        if priced:
            if job_currency != self.currency:
                acc.other_currency += 1
                amounts = None
            else:
                lined = True
        net: Any = None  # the job's money, if known
        gross: Any = None
        if amounts is not None:
            material, energy, wear, net, vat, gross = amounts
            if material is None:
                acc.without_material_cost += 1
            else:
                acc.material_cost += material
            if energy is None:
                acc.without_energy_cost += 1
            else:
                acc.energy_cost += energy
            if wear is None:
                acc.without_wear += 1
            else:
                acc.wear += wear
            if net is None or vat is None or gross is None:
                acc.without_cost += 1
                net = gross = None
            else:
                acc.net += net
                acc.vat += vat
                acc.gross += gross
        else:
            acc.without_material_cost += 1
            acc.without_energy_cost += 1
            acc.without_wear += 1
            acc.without_cost += 1
        if not lined and synthetic:
            uses = _UNPRICED_LINE
        unknown = False
        seen: set[tuple[str, Any, Any]] | None = set() if len(uses) > 1 else None
        materials = self.materials
        for material_name, color, grams, cost in uses:
            group_key = (serial, material_name, color)
            try:
                group = materials[group_key]
            except KeyError:
                group = materials[group_key] = _Material()
            if seen is None:
                group.jobs += 1
            elif group_key not in seen:  # a job using one material and colour twice counts once
                group.jobs += 1
                seen.add(group_key)
            if grams is None:
                unknown = True
                group.without_grams += 1
            else:
                acc.grams.append(grams)
                group.grams.append(grams)
            if cost is None or not lined:
                group.without_cost += 1
            else:
                group.cost += cost
        acc.without_grams += unknown
        if customer:
            _bill(_party(self.customers, customer), net, gross)
        if project:
            _bill(_party(self.projects, project), net, gross)

    def result(self) -> Collected:
        """Per printer and per category, from the (printer, category) sums."""
        names = {serial: name for serial, (_, _, name) in self.early.items()}
        names.update((serial, name) for serial, (_, _, name) in self.latest.items())
        names.update(self.given)
        result = Collected(
            period=self.period,
            names=names,
            printers={
                serial: _Sums(busy_seconds=self.busy.get(serial) or _doubles()) for serial in names
            },
            categories={},
            materials=self.materials,
            customers=self.customers,
            projects=self.projects,
        )
        for (serial, category), acc in self.buckets.items():
            result.printers[serial].merge(acc)
            label = category if type(category) is str and category else UNCATEGORIZED
            result.categories.setdefault(label, _Sums()).merge(acc)
        return result


def _collect(
    jobs: Iterable[JobFacts],
    period: Period,
    currency: str,
    now: datetime | None,
    printers: Mapping[str, str] | None,
) -> Collected:
    """The sums of the jobs, one at a time, in the order given (it breaks ties of a start)."""
    collector = Collector(period, currency, now, printers)
    add = collector.add
    for position, job in enumerate(jobs):
        add(position, job)
    return collector.result()


def collected_printer_stats(result: Collected) -> tuple[PrinterStats, ...]:
    """Each printer's stats of a collector's result, by serial."""
    return tuple(
        PrinterStats(
            serial=serial,
            name=result.names[serial],
            figures=sums.figures(),
            busy_seconds=fsum(sums.busy_seconds),
            period_seconds=result.period.seconds,
            average_job_seconds=None
            if not sums.completed_timed
            else fsum(sums.completed_seconds) / sums.completed_timed,
            failures=sums.failures(),
        )
        for serial, sums in sorted(result.printers.items())
    )


def collected_material_usage(result: Collected) -> MaterialUsage:
    """Material usage of a collector's result.

    Lines grouped by printer, type and colour, then summed into the three views.
    """
    types: dict[Any, str] = {}
    base: dict[tuple[str, str, str | None], _Material] = {}
    for (serial, name, color), group in result.materials.items():
        kind = types.get(name)
        if kind is None:
            kind = types[name] = material_type(name if type(name) is str else None).value
        shade = (color.strip().upper() or None) if type(color) is str else None
        base.setdefault((serial, kind, shade), _Material()).merge(group)

    def view(*, serial: bool = False, color: bool = False) -> tuple[MaterialFigures, ...]:
        groups: dict[tuple[str | None, str, str | None], _Material] = {}
        for (printer, kind, shade), source in base.items():
            key = (printer if serial else None, kind, shade if color else None)
            groups.setdefault(key, _Material()).merge(source)
        items = [
            MaterialFigures(
                material=kind,
                color=shade,
                serial=printer,
                jobs=group.jobs,
                grams=fsum(group.grams),
                cost=_decimal(group.cost),
                without_grams=group.without_grams,
                without_cost=group.without_cost,
            )
            for (printer, kind, shade), group in groups.items()
        ]
        items.sort(
            key=lambda item: (-item.grams, item.serial or "", item.material, item.color or "")
        )
        return tuple(items)

    return MaterialUsage(by_type=view(), by_color=view(color=True), by_printer=view(serial=True))


def _top(parties: Mapping[str, _Party], top: int) -> tuple[Party, ...]:
    ranked = sorted(parties.items(), key=lambda item: (-item[1].gross, -item[1].jobs, item[0]))
    return tuple(
        Party(
            name=name,
            jobs=party.jobs,
            net=_decimal(party.net),
            gross=_decimal(party.gross),
            without_cost=party.without_cost,
        )
        for name, party in ranked[:top]
    )


def overview(
    records: Iterable[JobRecord],
    period: Period,
    *,
    currency: str = "EUR",
    now: datetime | None = None,
    printers: Mapping[str, str] | None = None,
    top: int = 10,
) -> Overview:
    """The fleet in a period (see the module docstring for what counts where).

    `records` may hold jobs of any time: only those started in the period count, and earlier
    ones only for utilization. `now` lets running jobs count towards utilization. `printers`
    (serial -> current name) are listed even without a job, so an idle printer shows 0 %;
    another printer is named as on its latest job.
    """
    return facts_overview(
        map(job_facts, records), period, currency=currency, now=now, printers=printers, top=top
    )


def facts_overview(
    jobs: Iterable[JobFacts],
    period: Period,
    *,
    currency: str = "EUR",
    now: datetime | None = None,
    printers: Mapping[str, str] | None = None,
    top: int = 10,
) -> Overview:
    """`overview` of the jobs' facts (`job_facts`, as the history keeps them)."""
    return collected_overview(_collect(jobs, period, currency, now, printers), currency, top)


def collected_overview(result: Collected, currency: str, top: int = 10) -> Overview:
    """The overview of a collector's result (`Collector.result`)."""
    period = result.period
    totals = _Sums()
    for sums in result.printers.values():
        totals.merge(sums)
    for name in CATEGORIES:
        result.categories.setdefault(name, _Sums())
    return Overview(
        period=period,
        currency=currency,
        totals=totals.figures(),
        categories={name: sums.figures() for name, sums in sorted(result.categories.items())},
        customers=_top(result.customers, top),
        projects=_top(result.projects, top),
        materials=collected_material_usage(result),
        printers=collected_printer_stats(result),
    )


def printer_stats(
    records: Iterable[JobRecord],
    period: Period,
    *,
    currency: str = "EUR",
    now: datetime | None = None,
    printers: Mapping[str, str] | None = None,
) -> tuple[PrinterStats, ...]:
    """Each printer's figures in the period, by serial; as `overview`."""
    return facts_printer_stats(
        map(job_facts, records), period, currency=currency, now=now, printers=printers
    )


def facts_printer_stats(
    jobs: Iterable[JobFacts],
    period: Period,
    *,
    currency: str = "EUR",
    now: datetime | None = None,
    printers: Mapping[str, str] | None = None,
) -> tuple[PrinterStats, ...]:
    """`printer_stats` of the jobs' facts."""
    return collected_printer_stats(_collect(jobs, period, currency, now, printers))


def material_usage(
    records: Iterable[JobRecord], period: Period, *, currency: str = "EUR"
) -> MaterialUsage:
    """Material by type, colour and printer for the jobs started in the period."""
    return facts_material_usage(map(job_facts, records), period, currency=currency)


def facts_material_usage(
    jobs: Iterable[JobFacts], period: Period, *, currency: str = "EUR"
) -> MaterialUsage:
    """`material_usage` of the jobs' facts."""
    return collected_material_usage(_collect(jobs, period, currency, None, None))
