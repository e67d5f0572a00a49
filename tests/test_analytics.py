"""Analytics over job records: periods in a time zone, a hand-checked October, properties.

The history below was worked out by hand (figures in the comments). October 2026 in
Europe/Berlin runs from 30 Sep 22:00 UTC (CEST) to 31 Oct 23:00 UTC (CET): 745 hours, as the
clocks fall back on 25 October.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
import math
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.printernizer.jobs.analytics import (
    REASON_ENDED_DURING_RESTART,
    REASON_FAILED,
    UNCATEGORIZED,
    Figures,
    Period,
    PeriodKind,
    calendar_period,
    custom_period,
    day_start,
    material_usage,
    money,
    overview,
    printer_stats,
    select,
)
from custom_components.printernizer.jobs.records import JobRecord, JobStatus, MaterialUse

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def breakdown(
    material: str | None,
    energy: str | None,
    wear: str | None,
    net: str | None,
    vat: str | None,
    gross: str | None,
    lines: list[str | None],
    *,
    currency: str = "EUR",
) -> dict[str, Any]:
    """A cost breakdown as `CostBreakdown.as_dict()` stores it."""
    return {
        "currency": currency,
        "material": material,
        "energy": energy,
        "wear": wear,
        "net": net,
        "vat": vat,
        "gross": gross,
        "vat_percent": "19.00",
        "lines": [{"material": "PLA", "cost": cost} for cost in lines],
    }


def job(
    job_id: str,
    serial: str,
    started: datetime,
    hours: float | None,
    status: JobStatus = JobStatus.COMPLETED,
    **fields: Any,
) -> JobRecord:
    ended = None
    if status is not JobStatus.ACTIVE and hours is not None:
        ended = started + timedelta(hours=hours)
    return JobRecord(
        id=job_id,
        serial=serial,
        printer_name=fields.pop("printer_name", f"Printer {serial}"),
        started_at=started,
        updated_at=ended or started,
        status=status,
        job_name=job_id,
        ended_at=ended,
        duration_seconds=None if ended is None else hours * HOUR,  # type: ignore[operator]
        **fields,
    )


def pla(grams: float | None, color: str | None = "FF0000FF") -> MaterialUse:
    return MaterialUse(material="PLA Basic", color=color, planned_grams=grams, grams=grams)


def petg(grams: float) -> MaterialUse:
    return MaterialUse(material="PETG HF", color="000000FF", planned_grams=grams, grams=grams)


OCTOBER_HISTORY = (
    # A: completed, 2 h, 100 g PLA red, all costs known; business, ACME, P1.
    job(
        "j1",
        "A",
        utc(2026, 10, 5, 10),
        2,
        materials=(pla(100.0),),
        energy_kwh=0.5,
        cost=breakdown("2.00", "0.30", "0.40", "2.70", "0.51", "3.21", ["2.00"]),
        category="business",
        customer="ACME",
        project="P1",
    ),
    # A: failed after 1 h, 30 g PETG.
    job(
        "j2",
        "A",
        utc(2026, 10, 10, 8),
        1,
        JobStatus.FAILED,
        materials=(petg(30.0),),
        energy_kwh=0.25,
        cost=breakdown("0.90", "0.15", "0.20", "1.25", "0.24", "1.49", ["0.90"]),
        category="private",
    ),
    # B: starts 31 Oct 23:30 local, ends 1 Nov 01:30 local: an October job, half an hour of
    # it inside October. Never priced: cost unknown.
    job(
        "j3",
        "B",
        utc(2026, 10, 31, 22, 30),
        2,
        materials=(pla(50.0, "ff0000ff"),),
        energy_kwh=0.4,
        category="business",
        customer="ACME",
    ),
    # B: a September job (30 Sep 23:00 local) running 1 h into October: utilization only.
    job("j4", "B", utc(2026, 9, 30, 21), 2, materials=(pla(80.0),), energy_kwh=0.3),
    # A: across the fall-back night, 2 real hours with 30 min paused; ended unseen while Home
    # Assistant restarted; energy and grams unknown, so net/VAT/gross unknown too.
    job(
        "j5",
        "A",
        utc(2026, 10, 25, 0, 30),
        2,
        JobStatus.UNKNOWN,
        paused_seconds=1800.0,
        closed_after_restart=True,
        materials=(pla(None, None),),
        cost=breakdown("1.00", None, "0.30", None, None, None, ["1.00"]),
        category="private",
    ),
    # A: running since 31 Oct 21:00 local, the printer's latest job: its name is the printer's.
    job(
        "j6",
        "A",
        utc(2026, 10, 31, 20),
        None,
        JobStatus.ACTIVE,
        printer_name="Alpha",
        materials=(pla(200.0),),
        category="business",
        customer="Beta",
        project="P2",
    ),
    # B: 1 Nov 01:00 local is November.
    job("j7", "B", utc(2026, 11, 1), 1, materials=(pla(10.0),), category="business"),
    # A: two materials, no category, project P1.
    job(
        "j8",
        "A",
        utc(2026, 10, 20, 12),
        1,
        materials=(pla(20.0), petg(10.0)),
        energy_kwh=0.1,
        cost=breakdown("0.70", "0.05", "0.20", "0.95", "0.18", "1.13", ["0.40", "0.30"]),
        project="P1",
    ),
    # B: priced in another currency: left out of the money, counted.
    job(
        "j9",
        "B",
        utc(2026, 10, 15, 12),
        1,
        materials=(pla(10.0),),
        energy_kwh=0.1,
        cost=breakdown("5.00", "0.10", "0.10", "5.20", "0.99", "6.19", ["5.00"], currency="USD"),
        category="business",
        customer=" ACME ",
    ),
)
NOW = utc(2026, 10, 31, 22)
OCTOBER = calendar_period(PeriodKind.MONTH, utc(2026, 10, 15), BERLIN)


# Periods


def test_a_day_in_a_dst_switch_lasts_23_or_25_hours() -> None:
    spring = calendar_period(PeriodKind.TODAY, utc(2026, 3, 29, 12), BERLIN)
    assert (spring.start, spring.end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert spring.seconds == 23 * HOUR
    assert spring.label == "2026-03-29"
    autumn = calendar_period(PeriodKind.TODAY, utc(2026, 10, 25, 12), BERLIN)
    assert (autumn.start, autumn.end) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert autumn.seconds == 25 * HOUR


def test_periods_follow_the_local_calendar() -> None:
    # 31 March 22:30 UTC is 1 April 00:30 in Berlin: April, not March.
    now = utc(2026, 3, 31, 22, 30)
    assert calendar_period(PeriodKind.TODAY, now, BERLIN).label == "2026-04-01"
    april = calendar_period(PeriodKind.MONTH, now, BERLIN)
    assert (april.start, april.label) == (utc(2026, 3, 31, 22), "2026-04")
    march = calendar_period(PeriodKind.MONTH, now, BERLIN, offset=-1)
    assert (march.start, march.end) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))
    assert march.seconds == (31 * 24 - 1) * HOUR
    assert OCTOBER.seconds == (31 * 24 + 1) * HOUR
    assert calendar_period(PeriodKind.MONTH, utc(2026, 1, 10), BERLIN, offset=-1).label == (
        "2025-12"
    )
    year = calendar_period(PeriodKind.YEAR, now, BERLIN)
    assert (year.start, year.end, year.label) == (
        utc(2025, 12, 31, 23),
        utc(2026, 12, 31, 23),
        "2026",
    )
    assert year.seconds == 365 * 24 * HOUR
    assert calendar_period(PeriodKind.YEAR, now, BERLIN, offset=-1).label == "2025"
    yesterday = calendar_period(PeriodKind.TODAY, now, BERLIN, offset=-1)
    assert yesterday.label == "2026-03-31"


def test_weeks_start_on_monday_and_carry_their_iso_number() -> None:
    week = calendar_period(PeriodKind.WEEK, utc(2026, 11, 4, 12), BERLIN)  # a Wednesday
    assert (week.start, week.end, week.label) == (
        utc(2026, 11, 1, 23),
        utc(2026, 11, 8, 23),
        "2026-W45",
    )
    switch = calendar_period(PeriodKind.WEEK, utc(2026, 10, 25, 12), BERLIN)
    assert switch.seconds == (7 * 24 + 1) * HOUR
    new_year = calendar_period(PeriodKind.WEEK, utc(2027, 1, 1, 12), BERLIN, offset=1)
    assert new_year.label == "2027-W01"


def test_a_midnight_skipped_by_dst_starts_the_day_after_the_gap() -> None:
    santiago = ZoneInfo("America/Santiago")  # 6 Sep 2026: 00:00 -> 01:00
    start = day_start(date(2026, 9, 6), santiago)
    assert start.astimezone(santiago).isoformat() == "2026-09-06T01:00:00-03:00"
    assert (start - timedelta(microseconds=1)).astimezone(santiago).date() == date(2026, 9, 5)
    havana = ZoneInfo("America/Havana")  # 1 Nov 2026: 01:00 -> 00:00, midnight twice
    start = day_start(date(2026, 11, 1), havana)
    assert (start - timedelta(microseconds=1)).astimezone(havana).date() == date(2026, 10, 31)


def test_custom_ranges() -> None:
    november = custom_period(date(2026, 11, 1), date(2026, 11, 30), BERLIN)
    month = calendar_period(PeriodKind.MONTH, utc(2026, 11, 15), BERLIN)
    assert (november.start, november.end) == (month.start, month.end)
    assert november.label == "2026-11-01_2026-11-30"
    assert november.kind is PeriodKind.CUSTOM
    assert custom_period(date(2026, 11, 5), date(2026, 11, 5), BERLIN).label == "2026-11-05"
    # Datetimes: naive ones are local, aware ones instants; the end is excluded.
    hours = custom_period(datetime(2026, 11, 5, 8), utc(2026, 11, 5, 16), BERLIN)
    assert (hours.start, hours.end, hours.label) == (
        utc(2026, 11, 5, 7),
        utc(2026, 11, 5, 16),
        "2026-11-05",
    )
    assert utc(2026, 11, 5, 7) in hours
    assert utc(2026, 11, 5, 16) not in hours
    assert hours.as_dict() == {
        "kind": "custom",
        "label": "2026-11-05",
        "start": "2026-11-05T07:00:00+00:00",
        "end": "2026-11-05T16:00:00+00:00",
    }
    with pytest.raises(ValueError, match="end after"):
        custom_period(date(2026, 11, 5), date(2026, 11, 4), BERLIN)


def test_periods_refuse_what_cannot_be_one() -> None:
    with pytest.raises(ValueError, match="custom_period"):
        calendar_period(PeriodKind.CUSTOM, NOW, BERLIN)
    with pytest.raises(ValueError, match="aware"):
        calendar_period(PeriodKind.TODAY, datetime(2026, 1, 1), BERLIN)
    with pytest.raises(ValueError, match="aware"):
        Period(kind=PeriodKind.CUSTOM, start=datetime(2026, 1, 1), end=NOW, label="x")
    with pytest.raises(ValueError, match="end after"):
        Period(kind=PeriodKind.CUSTOM, start=NOW, end=NOW, label="x")


# The hand-checked October


def test_overview_of_october() -> None:
    result = overview(OCTOBER_HISTORY, OCTOBER, now=NOW)
    totals = result.totals
    # Started in October: j1, j2, j3, j5, j6 (running), j8, j9.
    assert (totals.jobs, totals.active, totals.ended) == (7, 1, 6)
    assert (totals.completed, totals.failed, totals.cancelled, totals.unknown) == (4, 1, 0, 1)
    assert totals.success_rate == 0.8  # 4 / (4 + 1 + 0): j5 ended unseen, no outcome
    # 2 + 1 + 2 + (2 - 0.5) + 1 + 1 hours; j3 counts whole, though it ends in November.
    assert totals.print_seconds == 8.5 * HOUR
    assert (totals.grams, totals.without_grams) == (220.0, 1)  # 100+30+50+20+10+10; j5
    assert totals.energy_kwh == pytest.approx(1.35)
    assert totals.without_energy == 1
    # EUR only: j3 unpriced, j9 in USD, j5 without energy cost.
    assert (totals.material_cost, totals.without_material_cost) == (Decimal("4.60"), 2)
    assert (totals.energy_cost, totals.without_energy_cost) == (Decimal("0.50"), 3)
    assert (totals.wear, totals.without_wear) == (Decimal("1.10"), 2)
    assert (totals.net, totals.vat, totals.gross) == (
        Decimal("4.90"),
        Decimal("0.93"),
        Decimal("5.83"),
    )
    assert (totals.without_cost, totals.other_currency) == (3, 1)
    assert totals.as_dict() == {
        "jobs": 7,
        "by_status": {"completed": 4, "failed": 1, "cancelled": 0, "unknown": 1, "active": 1},
        "success_rate": 80.0,
        "print_hours": 8.5,
        "grams": 220.0,
        "energy_kwh": 1.35,
        "material_cost": "4.60",
        "energy_cost": "0.50",
        "wear": "1.10",
        "net": "4.90",
        "vat": "0.93",
        "gross": "5.83",
        "jobs_without_time": 0,
        "jobs_without_grams": 1,
        "jobs_without_energy": 1,
        "jobs_without_material_cost": 2,
        "jobs_without_energy_cost": 3,
        "jobs_without_wear": 2,
        "jobs_without_cost": 3,
        "jobs_other_currency": 1,
    }


def test_business_and_private_of_october() -> None:
    categories = overview(OCTOBER_HISTORY, OCTOBER).categories
    assert list(categories) == ["business", "private", UNCATEGORIZED]
    business = categories["business"]
    assert (business.jobs, business.active, business.gross, business.without_cost) == (
        4,
        1,
        Decimal("3.21"),
        2,
    )
    private = categories["private"]
    assert (private.jobs, private.net, private.gross, private.without_cost) == (
        2,
        Decimal("1.25"),
        Decimal("1.49"),
        1,
    )
    assert categories[UNCATEGORIZED].gross == Decimal("1.13")
    # Both always there for a dashboard, if only with zeros.
    empty = overview((), OCTOBER)
    assert list(empty.categories) == ["business", "private"]
    assert empty.categories["business"] == Figures()
    assert empty.totals.success_rate is None


def test_top_customers_and_projects() -> None:
    result = overview(OCTOBER_HISTORY, OCTOBER)
    # " ACME " is ACME; j3 unpriced and j9 in USD are counted, not zeroed; Beta's job runs.
    assert [item.as_dict() for item in result.customers] == [
        {"name": "ACME", "jobs": 3, "net": "2.70", "gross": "3.21", "jobs_without_cost": 2},
        {"name": "Beta", "jobs": 1, "net": "0.00", "gross": "0.00", "jobs_without_cost": 0},
    ]
    assert [item.as_dict() for item in result.projects] == [
        {"name": "P1", "jobs": 2, "net": "3.65", "gross": "4.34", "jobs_without_cost": 0},
        {"name": "P2", "jobs": 1, "net": "0.00", "gross": "0.00", "jobs_without_cost": 0},
    ]
    assert len(overview(OCTOBER_HISTORY, OCTOBER, top=1).customers) == 1


def test_printers_of_october() -> None:
    alpha, bravo, charlie = printer_stats(
        OCTOBER_HISTORY, OCTOBER, now=NOW, printers={"C": "Charlie", "A": "Workshop A"}
    )
    assert (alpha.serial, alpha.name) == ("A", "Workshop A")  # as the caller names it now
    assert printer_stats(OCTOBER_HISTORY, OCTOBER)[0].name == "Alpha"  # as on its latest job
    assert bravo.name == "Printer B"
    assert (alpha.figures.jobs, alpha.figures.completed, alpha.figures.failed) == (5, 2, 1)
    assert alpha.figures.success_rate == pytest.approx(2 / 3)
    assert alpha.figures.print_seconds == 5.5 * HOUR  # 2 + 1 + 1.5 + 1
    # Print time plus the running job's 2 hours up to now.
    assert alpha.busy_seconds == 7.5 * HOUR
    assert alpha.utilization == pytest.approx(7.5 / 745)
    assert alpha.average_job_seconds == 1.5 * HOUR  # completed j1 (2 h) and j8 (1 h)
    assert alpha.failures == {REASON_ENDED_DURING_RESTART: 1, REASON_FAILED: 1}
    # B: j3's half hour before the month ends, j9's hour, j4's hour after it starts.
    assert bravo.busy_seconds == 2.5 * HOUR
    assert bravo.figures.print_seconds == 3 * HOUR
    assert bravo.failures == {}
    assert bravo.as_dict()["utilization"] == round(2.5 / 745 * 100, 1)
    # A printer without a job in the period is listed, idle.
    assert (charlie.name, charlie.figures.jobs, charlie.utilization) == ("Charlie", 0, 0.0)
    assert charlie.average_job_seconds is None
    assert charlie.as_dict()["average_job_hours"] is None
    # Without `now` a running job is counted but adds no busy time.
    alpha_now_unknown = printer_stats(OCTOBER_HISTORY, OCTOBER)[0]
    assert alpha_now_unknown.busy_seconds == 5.5 * HOUR
    assert alpha.as_dict()["average_job_hours"] == 1.5


def test_a_job_started_before_the_period_makes_its_printer_known_only_if_it_ran_into_it() -> None:
    september_only = job("s", "S", utc(2026, 9, 10), 2, printer_name="Sierra")
    spanning = job("t", "T", utc(2026, 9, 30, 21), 2, printer_name="Tango")
    running = job("u", "U", utc(2026, 9, 30, 21), None, JobStatus.ACTIVE)
    stats = printer_stats((september_only, spanning, running), OCTOBER, now=utc(2026, 9, 30, 23))
    assert [(item.serial, item.name, item.busy_seconds) for item in stats] == [
        ("T", "Tango", HOUR),
        ("U", "Printer U", HOUR),
    ]
    assert stats[0].figures.jobs == 0


def test_utilization_spreads_print_time_over_the_run() -> None:
    # 4 h run with 2 h paused, 1 h of the run inside the period: a quarter of 2 h printing.
    paused = job("p", "P", utc(2026, 9, 30, 19), 4, paused_seconds=2 * HOUR)
    assert printer_stats((paused,), OCTOBER)[0].busy_seconds == 0.5 * HOUR
    # A paused job still running: its open pause is not printing.
    running = replace(
        job("r", "R", utc(2026, 10, 31, 20), None, JobStatus.ACTIVE),
        paused_seconds=HOUR,
        paused_since=utc(2026, 10, 31, 22),
    )
    assert printer_stats((running,), OCTOBER, now=utc(2026, 10, 31, 23))[0].busy_seconds == HOUR
    # A job longer than the period counts the whole period at most.
    year = job("y", "Y", utc(2026, 9, 1), 24 * 90)
    assert printer_stats((year,), OCTOBER)[0].utilization == 1.0
    # What cannot be timed adds nothing: no duration, no run, a clock gone backwards.
    untimed = job("n", "N", utc(2026, 9, 30, 21), None, JobStatus.UNKNOWN)
    untimed = replace(untimed, ended_at=utc(2026, 10, 1))
    instant = replace(job("i", "I", utc(2026, 9, 30, 21), 0), ended_at=None, duration_seconds=0.0)
    assert printer_stats((untimed, instant), OCTOBER) == ()


def test_material_usage_of_october() -> None:
    usage = material_usage(OCTOBER_HISTORY, OCTOBER)
    assert [item.as_dict() for item in usage.by_type] == [
        # j1, j3, j5 (grams unknown), j8, j9 (USD, no line cost counted) and j3 (unpriced).
        {
            "material": "PLA",
            "jobs": 5,
            "grams": 180.0,
            "cost": "3.40",
            "lines_without_grams": 1,
            "lines_without_cost": 2,
        },
        {
            "material": "PETG",
            "jobs": 2,
            "grams": 40.0,
            "cost": "1.20",
            "lines_without_grams": 0,
            "lines_without_cost": 0,
        },
    ]
    by_color = [(item.material, item.color, item.grams, item.jobs) for item in usage.by_color]
    assert by_color == [
        ("PLA", "FF0000FF", 180.0, 4),  # "ff0000ff" is the same colour
        ("PETG", "000000FF", 40.0, 2),
        ("PLA", None, 0.0, 1),
    ]
    by_printer = [(item.serial, item.material, item.grams) for item in usage.by_printer]
    assert by_printer == [("A", "PLA", 120.0), ("B", "PLA", 60.0), ("A", "PETG", 40.0)]
    assert usage.by_printer[0].as_dict()["serial"] == "A"
    assert "color" in usage.by_color[0].as_dict()
    assert usage == overview(OCTOBER_HISTORY, OCTOBER).materials
    assert set(usage.as_dict()) == {"by_type", "by_color", "by_printer"}


def test_overview_as_dict_is_an_action_response() -> None:
    data = overview(OCTOBER_HISTORY, OCTOBER, now=NOW).as_dict()
    assert data["period"]["label"] == "2026-10"
    assert data["currency"] == "EUR"
    assert data["gross"] == "5.83"
    assert data["categories"]["business"]["gross"] == "3.21"
    assert data["top_customers"][0]["name"] == "ACME"
    assert data["materials"]["by_type"][0]["material"] == "PLA"


def test_a_job_that_used_one_material_twice_counts_once_for_it() -> None:
    twice = job(
        "t",
        "A",
        utc(2026, 10, 2),
        1,
        materials=(pla(10.0), pla(5.0), petg(1.0)),
        cost=breakdown("0.31", "0", "0", "0.31", "0.06", "0.37", ["0.20", "0.10", "0.01"]),
    )
    (pla_line, petg_line) = material_usage((twice,), OCTOBER).by_type
    assert (pla_line.jobs, pla_line.grams, pla_line.cost) == (1, 15.0, Decimal("0.30"))
    assert petg_line.jobs == 1


def test_hand_edited_values_are_unknown_not_a_crash() -> None:
    """A breakdown from a file someone edited: odd values count as unknown."""
    odd = replace(
        job("odd", "A", utc(2026, 10, 2), 1),
        duration_seconds=float("nan"),
        energy_kwh=float("inf"),
        materials=(
            MaterialUse(material="PLA", grams=-5.0),
            MaterialUse(material="PLA", grams=10.0),
        ),
        cost={
            "currency": "EUR",
            "material": ["1.00"],
            "net": "abc",
            "vat": "1",
            "gross": "1",
            "lines": "not a list",
        },
        category=["business"],
    )
    totals = overview((odd,), OCTOBER).totals
    assert (totals.jobs, totals.without_time, totals.without_energy) == (1, 1, 1)
    assert (totals.grams, totals.without_grams, totals.without_cost) == (10.0, 1, 1)
    assert totals.without_material_cost == 1
    assert overview((odd,), OCTOBER).categories[UNCATEGORIZED].jobs == 1
    half = replace(odd, cost={"currency": "EUR", "material": "1", "net": "abc", "vat": "1"})
    assert overview((half,), OCTOBER).totals.material_cost == Decimal("1.00")
    assert overview((half,), OCTOBER).totals.without_cost == 1
    # Amounts someone wrote as numbers, or with more places, are read and rounded half-up.
    numbers = replace(
        odd,
        duration_seconds=3600.0,
        materials=(),
        cost={
            "currency": "EUR",
            "material": 1,
            "energy": 0.125,
            "wear": "0.005",
            "net": "1.13",
            "vat": "0.21",
            "gross": "1.34",
            "lines": [{"material": "PETG", "cost": "1.00"}],
        },
    )
    result = overview((numbers,), OCTOBER)
    assert (result.totals.material_cost, result.totals.energy_cost, result.totals.wear) == (
        Decimal("1.00"),
        Decimal("0.13"),
        Decimal("0.01"),
    )
    # Without materials the job was priced as its breakdown's one line, grams unknown.
    (line,) = result.materials.by_type
    assert (line.material, line.cost, line.without_grams) == ("PETG", Decimal("1.00"), 1)
    nothing = replace(numbers, cost={"currency": "EUR", "lines": [["x"]]})
    (line,) = material_usage((nothing,), OCTOBER).by_type
    assert (line.material, line.without_cost) == ("other", 1)
    listed = replace(numbers, cost={"currency": "EUR", "lines": [{"material": "ASA", "cost": [1]}]})
    (line,) = material_usage((listed,), OCTOBER).by_type
    assert (line.material, line.without_cost) == ("ASA", 1)


def test_money_reads_stored_amounts() -> None:
    assert money("12.345") == Decimal("12.35")
    assert money(2) == Decimal("2.00")
    for bad in (None, "abc", "NaN", "-1", True, [1], float("inf"), "1e30"):
        assert money(bad) is None


def test_select_filters() -> None:
    picked = select(
        OCTOBER_HISTORY,
        OCTOBER,
        serials={"A", "B"},
        categories={"business"},
        statuses={JobStatus.COMPLETED},
        customers={"ACME"},
    )
    # Records keep their text stripped: " ACME " is ACME.
    assert [record.id for record in picked] == ["j1", "j3", "j9"]
    assert [record.id for record in select(OCTOBER_HISTORY)] == [r.id for r in OCTOBER_HISTORY]


# Properties: totals are the sums of their parts, whatever the history.

_START = OCTOBER.start - timedelta(days=3)
_SPAN = (OCTOBER.end - OCTOBER.start + timedelta(days=6)).total_seconds()
_CENTS = st.one_of(st.none(), st.integers(0, 10_000).map(lambda c: f"{c / 100:.2f}"))


@st.composite
def records(draw: st.DrawFn) -> JobRecord:
    status = draw(st.sampled_from(JobStatus))
    started = _START + timedelta(seconds=draw(st.floats(0, _SPAN)))
    hours = draw(st.one_of(st.none(), st.floats(0, 72)))
    materials = tuple(
        MaterialUse(
            material=draw(st.sampled_from(["PLA", "PETG", "ASA CF", None])),
            color=draw(st.sampled_from(["FF0000FF", "000000ff", None])),
            grams=draw(st.one_of(st.none(), st.floats(0, 500))),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    cost = None
    if draw(st.booleans()):
        cost = breakdown(
            *(draw(_CENTS) for _ in range(6)),  # type: ignore[arg-type]
            [draw(_CENTS) for _ in range(len(materials) or 1)],
            currency=draw(st.sampled_from(["EUR", "EUR", "USD"])),
        )
    return job(
        draw(st.uuids()).hex,
        draw(st.sampled_from("ABC")),
        started,
        None if status is JobStatus.ACTIVE else hours,
        status,
        materials=materials,
        energy_kwh=draw(st.one_of(st.none(), st.floats(0, 10))),
        cost=cost,
        category=draw(st.sampled_from(["business", "private", None])),
        customer=draw(st.sampled_from(["ACME", "Beta", None])),
        paused_seconds=draw(st.floats(0, 3600)),
    )


def _assert_sum(total: Figures, parts: list[Figures]) -> None:
    for name in Figures.__dataclass_fields__:
        value = getattr(total, name)
        summed = sum((getattr(part, name) for part in parts), type(value)())
        if isinstance(value, float):
            assert value == pytest.approx(summed, rel=1e-9, abs=1e-6), name
        else:
            assert value == summed, name


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(records(), max_size=25))
def test_totals_are_the_sums_of_printers_and_of_categories(history: list[JobRecord]) -> None:
    result = overview(history, OCTOBER, now=OCTOBER.end)
    totals = result.totals
    _assert_sum(totals, [item.figures for item in printer_stats(history, OCTOBER)])
    _assert_sum(totals, list(result.categories.values()))
    in_period = [record for record in history if record.started_at in OCTOBER]
    assert totals.jobs == len(in_period)
    assert Counter(str(r.status) for r in in_period)["completed"] == totals.completed
    # Money against a naive sum of each ended job's complete breakdown in EUR.
    priced = [
        record.cost
        for record in in_period
        if record.status is not JobStatus.ACTIVE
        and record.cost is not None
        and record.cost["currency"] == "EUR"
        and None not in (record.cost["net"], record.cost["vat"], record.cost["gross"])
    ]
    assert totals.gross == sum((Decimal(cost["gross"]) for cost in priced), Decimal(0))
    assert totals.without_cost == totals.ended - len(priced)
    # Materials: the three views hold the same grams and cost as the totals' lines.
    usage = result.materials
    for view in (usage.by_color, usage.by_printer):
        assert math.fsum(item.grams for item in view) == pytest.approx(
            math.fsum(item.grams for item in usage.by_type), abs=1e-6
        )
        assert sum(item.cost for item in view) == sum(item.cost for item in usage.by_type)
    assert math.fsum(item.grams for item in usage.by_type) == pytest.approx(totals.grams, abs=1e-6)
    for stats in printer_stats(history, OCTOBER, now=OCTOBER.end):
        assert 0.0 <= stats.utilization <= 1.0


def test_a_job_across_midnight_on_the_25_hour_day() -> None:
    # 24 Oct 23:00 to 25 Oct 01:00 local (CEST both): one hour on the day clocks fall back.
    day = calendar_period(PeriodKind.TODAY, utc(2026, 10, 25, 12), BERLIN)
    night = job("n", "A", utc(2026, 10, 24, 21), 2)
    (stats,) = printer_stats((night,), day)
    assert (stats.figures.jobs, stats.busy_seconds) == (0, HOUR)  # it started the day before
    assert stats.utilization == pytest.approx(1 / 25)
    previous = calendar_period(PeriodKind.TODAY, utc(2026, 10, 25, 12), BERLIN, offset=-1)
    (stats,) = printer_stats((night,), previous)
    assert (stats.figures.jobs, stats.figures.print_seconds, stats.busy_seconds) == (
        1,
        2 * HOUR,
        HOUR,
    )
    assert stats.utilization == pytest.approx(1 / 24)
