"""Hourly sums of the fleet's ended jobs, the rows of HA's long-term statistics.

A job counts in the hour it ended, when its cost, material and energy are known. Each series
is cumulative (HA graphs the change of `sum`), so one re-categorized or corrected job changes
every later row: `changed_rows` compares two builds and names the rows to write again, which
makes restating idempotent (a row is replaced, never added twice).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
import math

HOUR = 3600
SERIES = ("cost", "cost_business", "cost_private", "material", "energy", "print_hours")
# Amounts above these are typing errors, not prints; they are left out like unknown ones.
_MAX_COST, _MAX_GRAMS, _MAX_KWH, _MAX_SECONDS = Decimal(10) ** 9, 1e7, 1e6, 1e8


@dataclass(frozen=True, slots=True)
class Ended:
    """What the statistics need of one ended job."""

    ended: float  # POSIX timestamp
    category: str | None
    gross: Decimal | None
    grams: float
    energy_kwh: float | None
    print_seconds: float | None


# One series: hour start (POSIX) -> (the hour's amount, the running sum up to its end).
Rows = dict[int, tuple[float, float]]


def hourly_sums(jobs: Iterable[Ended]) -> dict[str, Rows]:
    """Every series over the hours in which any job ended (the same hours in each)."""
    hours: dict[int, dict[str, Decimal | float]] = {}
    for job in jobs:
        if not math.isfinite(job.ended):
            continue
        hour = hours.setdefault(int(job.ended // HOUR) * HOUR, {})
        gross = job.gross
        if gross is not None and gross.is_finite() and 0 <= gross < _MAX_COST:
            _add(hour, "cost", gross)
            if job.category in ("business", "private"):
                _add(hour, f"cost_{job.category}", gross)
        if math.isfinite(job.grams) and 0 <= job.grams < _MAX_GRAMS:
            _add(hour, "material", job.grams)
        kwh = job.energy_kwh
        if kwh is not None and math.isfinite(kwh) and 0 <= kwh < _MAX_KWH:
            _add(hour, "energy", kwh)
        seconds = job.print_seconds
        if seconds is not None and math.isfinite(seconds) and 0 <= seconds < _MAX_SECONDS:
            _add(hour, "print_hours", seconds / HOUR)
    series: dict[str, Rows] = {name: {} for name in SERIES}
    totals: dict[str, Decimal | float] = dict.fromkeys(SERIES, 0)
    for start in sorted(hours):
        amounts = hours[start]
        for name in SERIES:
            amount = amounts.get(name, 0)
            totals[name] += amount  # type: ignore[operator]  # Decimal + Decimal, float + float
            series[name][start] = (_rounded(name, amount), _rounded(name, totals[name]))
    return series


def changed_rows(before: Mapping[int, tuple[float, float]], after: Rows) -> Rows:
    """The rows to write so the recorder holds `after` where it held `before`.

    An hour that no longer has a job keeps its row with no amount and the sum as of then.
    """
    rows = {hour: row for hour, row in after.items() if before.get(hour) != row}
    if gone := before.keys() - after.keys():
        hours = sorted(after)
        for hour in gone:
            index = bisect_right(hours, hour)
            row = (0.0, after[hours[index - 1]][1] if index else 0.0)
            if before[hour] != row:
                rows[hour] = row
    return rows


def _add(hour: dict[str, Decimal | float], name: str, amount: Decimal | float) -> None:
    hour[name] = hour.get(name, 0) + amount  # type: ignore[operator]


def _rounded(name: str, amount: Decimal | float) -> float:
    """Cents for money, otherwise what a statistics graph can show."""
    return round(float(amount), 2 if name.startswith("cost") else 4)
