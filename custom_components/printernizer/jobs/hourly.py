"""Hourly sums of the fleet's ended jobs, the rows of HA's long-term statistics.

A job counts in the hour it ended, when its cost, material and energy are known. Each series
is cumulative (HA graphs the change of `sum`), so one re-categorized or corrected job changes
every later row: `changed_rows` compares two builds and names the rows to write again, which
makes restating idempotent (a row is replaced, never added twice).

Material is also summed per type (`material_sums`), one series per type as the records name it
(PLA, PETG, ...), keyed by a slug that is safe in a statistic id: a multi-material job adds each
material's grams to its own type. Those series are sparse, with rows only in the hours their
type was used: a farm with twenty types would otherwise write twenty rows for every job.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
import math
import re
import unicodedata
from zlib import crc32

HOUR = 3600
SERIES = ("cost", "cost_business", "cost_private", "material", "energy", "print_hours")
MATERIAL_PREFIX = "material_"
UNKNOWN_MATERIAL = "unknown"  # the slug of a material without a (usable) name
_SLUG_LENGTH = 40  # a longer slug is cut here and told apart by a hash of the whole name
_LABEL_LENGTH = 60
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
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


@dataclass(frozen=True, slots=True)
class MaterialUsed:
    """One material of one ended job: its type as recorded and the grams it used."""

    ended: float  # POSIX timestamp of the job's end
    material: str | None
    grams: float | None  # None: unknown


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


@lru_cache(maxsize=1024)  # a farm has a few types, spelled the same way job after job
def material_slug(material: str | None) -> str:
    """The type's part of a statistic id: lower-case ASCII letters, digits and single `_`.

    Case, accents and spacing do not make another type ("PETG", "petg ", "PÉTG" are one); `+`
    does ("PLA+" is not PLA). A name with nothing left (empty, only symbols) is the unknown
    type; one with no Latin letters (e.g. CJK) or a long one keeps a hash of the whole name,
    so two such types stay apart.
    """
    text = unicodedata.normalize("NFKD", (material or "").strip().casefold())
    text = "".join(char for char in text if not unicodedata.combining(char))
    slug = _NOT_SLUG.sub("_", text.replace("+", " plus ")).strip("_")
    plain = bool(slug) and text.isascii()
    if plain and len(slug) <= _SLUG_LENGTH:
        return slug
    if not text or not any(char.isalnum() for char in text):
        return UNKNOWN_MATERIAL
    digest = f"{crc32(text.encode()):08x}"
    return f"{slug[:_SLUG_LENGTH].rstrip('_')}_{digest}" if slug else f"x{digest}"


@lru_cache(maxsize=1024)
def material_label(material: str | None) -> str:
    """How a type is named in its series' name: as recorded, on one line, not too long."""
    text = " ".join((material or "").split())
    return text if len(text) <= _LABEL_LENGTH else text[: _LABEL_LENGTH - 1] + "\u2026"


def material_sums(uses: Iterable[MaterialUsed]) -> tuple[dict[str, Rows], dict[str, str]]:
    """Per type (`material_<slug>`): its rows, in the hours it was used; and its label.

    Uses of unknown or absurd grams are left out, as in the material series. The label is the
    spelling used in the most hours (the first in sort order on a tie); the unknown type has
    none.
    """
    by_spelling: dict[str | None, dict[int, float]] = {}  # a few spellings: slugs made once
    for use in uses:
        grams = use.grams
        if (
            grams is None
            or not math.isfinite(grams)
            or not 0 <= grams < _MAX_GRAMS
            or not math.isfinite(use.ended)
        ):
            continue
        per_hour = by_spelling.get(use.material)
        if per_hour is None:
            per_hour = by_spelling[use.material] = {}
        hour = int(use.ended // HOUR) * HOUR
        per_hour[hour] = per_hour.get(hour, 0.0) + grams
    hours: dict[str, dict[int, float]] = {}
    spellings: dict[str, Counter[str]] = {}
    for material, amounts in by_spelling.items():
        name = MATERIAL_PREFIX + material_slug(material)
        merged = hours.setdefault(name, {})
        for hour, grams in amounts.items():
            merged[hour] = merged.get(hour, 0.0) + grams
        spellings.setdefault(name, Counter())[material_label(material)] += len(amounts)
    series: dict[str, Rows] = {}
    for name, amounts in hours.items():
        total, rows = 0.0, {}
        for start in sorted(amounts):
            total += amounts[start]
            rows[start] = (round(amounts[start], 4), round(total, 4))
        series[name] = rows
    labels = {
        name: min(counts.items(), key=lambda item: (-item[1], item[0]))[0]
        for name, counts in spellings.items()
        if name != MATERIAL_PREFIX + UNKNOWN_MATERIAL
    }
    return series, labels


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
