"""The fleet sensors' figures from the history's column tables, on a hand-checked history.

Sunday 25 October 2026 in Europe/Berlin lasts 25 hours (clocks fall back at 03:00). At noon:
today began 24 Oct 22:00 UTC, the month 30 Sep 22:00 UTC, the 30 days 25 Sep 11:00 UTC.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.core import HomeAssistant

from custom_components.printernizer.fleet.summary import FleetPeriods, fleet_figures
from custom_components.printernizer.history import JobHistory
from custom_components.printernizer.jobs.analytics import overview
from custom_components.printernizer.jobs.records import JobRecord, JobStatus, MaterialUse

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 10, 25, 12, 0, tzinfo=BERLIN)


def local(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def priced(gross: str, currency: str = "EUR") -> dict[str, Any]:
    net = (Decimal(gross) / Decimal("1.19")).quantize(Decimal("0.01"))
    return {
        "currency": currency,
        "material": str(net),
        "energy": "0.00",
        "wear": "0.00",
        "net": str(net),
        "vat": str(Decimal(gross) - net),
        "gross": gross,
        "lines": [{"material": "PLA", "cost": str(net)}],
    }


def job(
    job_id: str,
    started: datetime,
    hours: float | None,
    *,
    status: JobStatus = JobStatus.COMPLETED,
    grams: float | None = 10.0,
    **fields: Any,
) -> JobRecord:
    ended = None if hours is None else started + timedelta(hours=hours)
    return JobRecord(
        id=job_id,
        serial="01P00A000000001",
        printer_name="P1S",
        started_at=started,
        updated_at=ended or started,
        status=status,
        ended_at=ended,
        duration_seconds=None if hours is None else hours * 3600,
        materials=(MaterialUse(material="PLA", grams=grams),),
        category=fields.pop("category", "business"),
        **fields,
    )


HISTORY = (
    # Yesterday into today (the month's, not today's): 2.38 business, 40 g.
    job("night", local(24, 23, 30), 2, cost=priced("2.38"), grams=40.0),
    # Today, across the hour the clocks repeat: 1.19 private, 50 g.
    job("dst", local(25, 1, 30), 2.5, cost=priced("1.19"), grams=50.0, category="private"),
    # Today, failed, cost and grams unknown: counted, not summed as 0.
    job("failed", local(25, 8), 1, status=JobStatus.FAILED, grams=None),
    # Last month, within the 30 days: only the success rate sees it.
    job("september", local(30, 23, 30, month=9), 1, cost=priced("9.99")),
    # This month in another currency: its cost is unknown in EUR, its grams count.
    job("francs", local(10, 10), 1, cost=priced("5.00", "CHF"), grams=5.0),
    # Running now: a job of today, not ended, neither cost nor rate.
    job("running", local(25, 11), None, status=JobStatus.ACTIVE, grams=None),
)


async def _figures(history: JobHistory, *, running: int = 1) -> Any:
    await history.async_analytics_ready()
    periods = FleetPeriods.at(NOW, BERLIN)
    snapshots = tuple(
        history.analytics_snapshot(period.start, period.end, "EUR")
        for period in (periods.today, periods.month, periods.window)
    )
    return periods, fleet_figures(periods, snapshots, running=running)  # type: ignore[arg-type]


async def test_fleet_figures_of_a_hand_checked_history(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    await history.async_load()
    for record in HISTORY:
        history.put(record)
    periods, figures = await _figures(history)
    assert periods.today.seconds == 25 * 3600
    assert figures.running == 1
    assert figures.jobs_today == 3  # dst, failed, running
    assert figures.today_start == local(25, 0)
    assert figures.month_start == local(1, 0)
    assert (figures.cost_business, figures.cost_private) == (Decimal("2.38"), Decimal("1.19"))
    assert figures.jobs_without_cost == 2  # failed (no breakdown), francs (CHF)
    assert (figures.grams, figures.jobs_without_grams) == (95.0, 1)  # 40 + 50 + 5; failed
    assert figures.success_rate == 80.0  # 4 completed of 5 ended in the 30 days

    # The same as the record-by-record overview of the month.
    month = overview(
        sorted(HISTORY, key=lambda record: (record.started_at, record.id)), periods.month
    )
    assert month.totals.grams == figures.grams
    assert month.categories["business"].gross == figures.cost_business

    # Re-categorized: the month's money moves, nothing else.
    history.put(replace(HISTORY[1], category="business"))
    _, moved = await _figures(history)
    assert (moved.cost_business, moved.cost_private) == (Decimal("3.57"), Decimal(0))
    assert replace(moved, cost_business=figures.cost_business, cost_private=Decimal("1.19")) == (
        figures
    )


async def test_fleet_figures_of_an_empty_history(hass: HomeAssistant) -> None:
    history = JobHistory(hass)
    await history.async_load()
    _, figures = await _figures(history, running=0)
    assert (figures.jobs_today, figures.grams, figures.success_rate) == (0, 0.0, None)
    assert (figures.cost_business, figures.jobs_without_cost) == (Decimal(0), 0)
