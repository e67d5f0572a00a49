"""Pricing a job record: a running job so far, an ended one, corrected materials."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import math
from typing import Any

import pytest

from custom_components.printernizer.costs import CostSettings, Material
from custom_components.printernizer.jobs import JobRecord, JobStatus, MaterialUse
from custom_components.printernizer.jobs.costing import (
    corrected_materials,
    record_costs,
    running_costs,
)

T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)
SETTINGS = CostSettings(
    material_prices={Material.PLA: Decimal(20)},
    energy_price_per_kwh=Decimal("0.30"),
    average_power_w=Decimal(100),
    wear_per_hour=Decimal(1),
)
RUNNING = JobRecord(
    id="j",
    serial="S",
    printer_name="P",
    started_at=T0,
    updated_at=T0,
    materials=(MaterialUse(material="PLA", planned_grams=200.0, grams=200.0),),
)


def test_a_job_still_preparing_has_used_no_material() -> None:
    costs = running_costs(RUNNING, SETTINGS, now=T0 + timedelta(minutes=6))
    assert costs.material == Decimal("0.00")
    assert costs.lines[0].line.grams == 0
    assert costs.wear == Decimal("0.10")  # 0.1 h


def test_running_cost_follows_progress_and_leaves_pauses_out() -> None:
    record = replace(
        RUNNING, progress=50.0, paused_seconds=1800.0, paused_since=T0 + timedelta(hours=2)
    )
    costs = running_costs(record, SETTINGS, now=T0 + timedelta(hours=3))
    # 100 g x 20 €/kg = 2.00; printing 3 h - 0.5 h - 1 h (open pause) = 1.5 h.
    assert costs.material == Decimal("2.00")
    assert costs.wear == Decimal("1.50")
    assert costs.energy == Decimal("0.05")  # 0.15 kWh x 0.30
    assert costs.estimated
    metered = running_costs(record, SETTINGS, now=T0 + timedelta(hours=3), meter_kwh=Decimal(1))
    assert metered.energy == Decimal("0.30")


def test_ended_job_is_priced_from_meter_readings_when_it_has_them() -> None:
    ended = replace(
        RUNNING,
        status=JobStatus.COMPLETED,
        ended_at=T0 + timedelta(hours=2),
        duration_seconds=7200.0,
        meter_readings=(10.0, 10.4),
    )
    priced = record_costs(ended, SETTINGS)
    assert priced.energy_kwh == 0.4
    assert priced.energy_source == "measured"
    assert priced.cost is not None
    assert (priced.cost["material"], priced.cost["energy"], priced.cost["wear"]) == (
        "4.00",
        "0.12",
        "2.00",
    )
    unknown = record_costs(corrected_materials(ended, [("PETG", 10.0)]), SETTINGS)
    assert unknown.cost is not None
    assert unknown.cost["gross"] is None
    assert "price_per_kg_petg" in unknown.cost["unknown"]


@pytest.mark.parametrize(
    ("change", "unknown"),
    [
        ({"materials": (MaterialUse(material="PLA", planned_grams=-5.0, grams=-5.0),)}, "grams"),
        ({"materials": (MaterialUse(material="PLA", grams=math.nan),)}, "grams"),
        ({"meter_readings": (10.0, -3.0)}, None),
        ({"meter_readings": (10.0, math.inf)}, None),
        ({"duration_seconds": math.inf}, "hours"),
    ],
    ids=["negative grams", "NaN grams", "negative reading", "infinite reading", "endless job"],
)
def test_impossible_amounts_of_a_record_are_unknown_not_an_error(
    change: dict[str, Any], unknown: str | None
) -> None:
    """A hand-edited record priced as its job ends: the cost model must not raise there."""
    ended = replace(
        RUNNING,
        **{
            "status": JobStatus.COMPLETED,
            "ended_at": T0 + timedelta(hours=2),
            "duration_seconds": 7200.0,
            **change,
        },
    )
    priced = record_costs(ended, SETTINGS)
    assert priced.cost is not None
    if unknown is None:  # bad meter readings: energy estimated from the average power instead
        assert priced.energy_source == "estimated"
        assert priced.cost["gross"] is not None
    else:
        assert priced.cost["gross"] is None
    running = running_costs(replace(RUNNING, **change), SETTINGS, now=T0 + timedelta(hours=1))
    assert running.wear is not None
