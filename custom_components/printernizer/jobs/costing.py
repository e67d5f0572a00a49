"""A job record priced by the cost model: the bridge between `records` and `costs` (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
import math
from typing import cast

from ..costs import (
    CostBreakdown,
    CostSettings,
    MaterialLine,
    calculate_costs,
    energy_use,
    material_type,
)
from .lifecycle import with_costs
from .records import JobRecord, MaterialUse

_HOUR = Decimal(3600)
_ZERO = Decimal(0)


def _decimal(value: float | None) -> Decimal | None:
    """An amount a record holds; NaN, infinite or negative (a hand-edited file) is unknown.

    Pricing runs as a job ends: a value the cost model refuses must not lose the job's end.
    """
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return Decimal(str(value))


def meter_decimals(readings: tuple[float, ...]) -> list[Decimal]:
    """A record's meter readings for the cost model; none if any is not a reading."""
    decimals = [_decimal(value) for value in readings]
    return [] if None in decimals else cast("list[Decimal]", decimals)


def _lines(
    materials: tuple[MaterialUse, ...], fraction: Decimal | None, fallback: str | None
) -> tuple[MaterialLine, ...]:
    """Cost lines of used grams; `fraction` scales planned grams of a job still running."""
    if not materials:
        return (MaterialLine(material=material_type(fallback), grams=None),)
    lines = []
    for use in materials:
        if fraction is None:
            grams, source = _decimal(use.grams), use.source
        else:
            planned = _decimal(use.planned_grams)
            grams = None if planned is None else planned * fraction
            source = "estimate"
        lines.append(
            MaterialLine(
                material=material_type(use.material or fallback),
                grams=grams,
                source=source,
                name=use.material or fallback,
                color=use.color,
            )
        )
    return tuple(lines)


def record_costs(
    record: JobRecord, settings: CostSettings, *, fallback_material: str | None = None
) -> JobRecord:
    """An ended record with its energy and cost breakdown.

    Energy is measured when the record holds at least two meter readings, else estimated from
    the average power over print time (paused time excluded: a paused printer mostly idles).
    """
    seconds = _decimal(record.print_seconds)
    hours = None if seconds is None else seconds / _HOUR
    readings = meter_decimals(record.meter_readings)
    energy = energy_use(
        settings, hours=hours, meter_readings=readings if len(readings) >= 2 else ()
    )
    breakdown = calculate_costs(
        settings,
        lines=_lines(record.materials, None, fallback_material),
        energy=energy,
        hours=hours,
    )
    return with_costs(record, breakdown)


def running_costs(
    record: JobRecord,
    settings: CostSettings,
    *,
    now: datetime,
    meter_kwh: Decimal | None = None,
    fallback_material: str | None = None,
    progress: float | None = None,
) -> CostBreakdown:
    """Cost of a running job so far: planned grams x progress, time since start minus pauses.

    `meter_kwh` is what the energy meter counted since the start, when there is one;
    `progress`, the printer's current one when it is ahead of the record's.
    """
    # No progress yet (preparing: heating, levelling) means nothing extruded yet.
    progress = max(record.progress or 0.0, float(progress or 0.0))
    fraction = (_decimal(min(max(progress, 0.0), 100.0)) or _ZERO) / 100
    paused = record.paused_seconds
    if record.paused_since is not None:
        paused += max(0.0, (now - record.paused_since).total_seconds())
    seconds = max(0.0, (now - record.started_at).total_seconds() - paused)
    hours = (_decimal(seconds) or _ZERO) / _HOUR
    readings = () if meter_kwh is None else (Decimal(0), meter_kwh)
    energy = energy_use(settings, hours=hours, meter_readings=readings)
    lines = _lines(record.materials, fraction, fallback_material)
    return calculate_costs(settings, lines=lines, energy=energy, hours=hours)


def corrected_materials(record: JobRecord, corrections: list[tuple[str, float]]) -> JobRecord:
    """The record with materials the user weighed or counted: (material, grams), source user."""
    return replace(
        record,
        materials=tuple(
            MaterialUse(material=material, planned_grams=grams, grams=grams, source="user")
            for material, grams in corrections
        ),
    )
