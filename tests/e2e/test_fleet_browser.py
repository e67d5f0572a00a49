"""The fleet in a real browser: the job calendar in HA's calendar panel, and a farm dashboard.

A print is started on the idle X1C on a fast clock, so it finishes within seconds, priced with
the demo's fleet prices; then the calendar panel must show it as an event, and the README's farm
dashboard (business vs private cost per month, material per type, the fleet sensors), made
through HA's websocket API as the frontend's dashboard editor would, must render its cards: the
job used PLA and PETG (an AMS plate), so the material chart's legend names both types.
Screenshots go to artifacts/e2e-fleet/.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
import re
from typing import Any
from urllib.parse import quote

from homeassistant.util import dt as dt_util
from playwright.async_api import Browser, Locator, Page
import pytest
import yaml

from demo.stack import FLEET_COSTS, PRINTER_COSTS, DemoStack, Ports, suggested
from simulator.bambu.printer import BambuSimulator
from simulator.bambu.scenarios import DEFAULT_FILAMENTS
from tests.e2e.test_demo_browser import (
    ARTIFACTS as DEMO_ARTIFACTS,
    DEEP_TEXT,
    WAIT,
    browser,
    eventually,
    log_in,
    run_in_page,
    value,
)

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, imported to be used here

ARTIFACTS = DEMO_ARTIFACTS.with_name("e2e-fleet")
# A fast clock: the X1C's job (preparing, heating, one minute of printing) takes seconds; the
# other printers' jobs are long enough that none of them ends while the test runs.
SPEED, JOB_MINUTES = 60.0, 600.0
JOB = "Calibration cube"
FARM_URL = "printernizer-farm"
FLEET_SENSORS = {
    "fleet_prints_running": "Prints running",
    "fleet_jobs_today": "Jobs today",
    "fleet_cost_business_month": "Business cost this month",
    "fleet_cost_private_month": "Private cost this month",
    "fleet_material_month": "Material this month",
    "fleet_success_rate": "Success rate (30 days)",
}
COST_CARD, MATERIAL_CARD, FLEET_CARD = "Print cost per month", "Material per type", "Fleet"
README = Path(__file__).resolve().parents[2] / "README.md"
COST = re.compile(r"^Cost: (\d+\.\d\d) EUR$", re.MULTILINE)


@pytest.fixture
async def stack(socket_enabled: None, tmp_path: Path) -> AsyncIterator[DemoStack]:
    """The demo stack on free ports with a fast clock."""
    async with DemoStack(
        tmp_path / "demo", ports=Ports.free(), speed=SPEED, job_minutes=JOB_MINUTES
    ) as demo:
        yield demo


async def test_calendar_and_farm_dashboard(stack: DemoStack, browser: Browser) -> None:
    """A finished print is an event in the calendar panel; the farm dashboard renders."""
    await run_in_page(browser, stack, ARTIFACTS, _check)


async def _check(page: Page, stack: DemoStack) -> None:
    entities = await stack.ha.ws("config/entity_registry/list")
    ours = [e for e in entities if e["platform"] == "printernizer"]
    calendars = {e["device_id"]: e["entity_id"] for e in ours if e["entity_id"][:9] == "calendar."}
    fleet = {
        e["translation_key"]: e["entity_id"] for e in ours if e["translation_key"] in FLEET_SENSORS
    }
    assert fleet.keys() == FLEET_SENSORS.keys(), fleet
    # The demo priced the fleet once; the MK4 overrides its PLA price, the X1C does not.
    pla = {key: await _shown_price(stack, key, "price_per_kg_pla") for key in ("x1c", "mk4")}
    assert pla == {
        "x1c": FLEET_COSTS["price_per_kg_pla"],
        "mk4": PRINTER_COSTS["mk4"]["price_per_kg_pla"],
    }
    assert FLEET_COSTS["price_per_kg_pla"] != PRINTER_COSTS["mk4"]["price_per_kg_pla"]
    x1c_calendar = calendars[stack.printers["x1c"].device_id]

    x1c = stack.printers["x1c"].simulator
    assert isinstance(x1c, BambuSimulator)
    await asyncio.wait_for(x1c.start_print(JOB, total_layers=20, minutes=1.0), 60.0)
    event = await eventually(
        f"{JOB} finished in {x1c_calendar}", _finished_event(stack, x1c_calendar)
    )
    assert "Completed" in event["description"], event
    # The demo's fleet prices reach a printer that has none of its own: a real cost, not 0.
    cost = COST.search(event["description"])
    assert cost is not None, event
    assert Decimal(cost[1]) > 0, event

    await log_in(page, stack)
    await page.goto(f"{stack.url}/calendar")
    body = page.locator("body")
    await eventually("the calendar panel's views", _text_with(body, "Jobs"))
    # The month view folds a busy day into "+3 more"; the list view shows every event's title.
    # Its buttons (month, week, day, list) are unlabelled outside the card editor: by place.
    await page.locator("ha-button-toggle-group ha-icon-button").nth(3).click()
    await page.get_by_text(JOB).first.wait_for(state="visible", timeout=WAIT * 1000)
    shown = await page.get_by_text(JOB, exact=True).count()
    assert shown == 2, f"{JOB}: {shown} events, expected the X1C's and the fleet's"
    text = await eventually(f"{JOB} in the calendar panel", _text_with(body, JOB))
    for calendar in calendars.values():  # each printer's and the fleet's, in the list
        name = (await stack.ha.request("GET", f"/api/states/{calendar}"))["attributes"]
        assert name["friendly_name"] in text, (name, text)
    shot = ARTIFACTS / "01-calendar.png"
    await page.screenshot(path=shot, full_page=True)
    print(f"calendar panel: {shot}")

    # The plate's grams per type, as the recorder holds them for this month.
    expected = {f"printernizer:material_{t.lower()}": 0.0 for t in ("PLA", "PETG")}
    for filament in DEFAULT_FILAMENTS:
        expected[f"printernizer:material_{filament.material.lower()}"] += filament.grams
    month = await eventually("material per type in the recorder", _monthly(stack, expected))
    assert month == pytest.approx(expected), month
    await _create_farm_dashboard(stack, fleet)
    await page.emulate_media(reduced_motion="reduce")  # bars drawn at once, not growing
    await page.goto(f"{stack.url}/{FARM_URL}/farm")
    series = {
        COST_CARD: ("Printernizer cost business", "Printernizer cost private"),
        MATERIAL_CARD: ("Printernizer material PLA", "Printernizer material PETG"),
    }
    for title, legend in series.items():
        card = page.locator("hui-statistics-graph-card", has_text=title)
        chart = await eventually(f"{title}: a chart with its series", _chart(card))
        assert all(name in chart for name in legend), (legend, chart)
    fleet_card = page.locator("hui-entities-card", has_text=FLEET_CARD)
    jobs_today = await eventually("Jobs today on the farm dashboard", _shown(fleet_card))
    assert int(jobs_today) >= 1, jobs_today
    for label in FLEET_SENSORS.values():
        row = label.partition(" (")[0]  # value() matches whole words: no trailing ")"
        assert await value(fleet_card, row) not in ("", "Unknown", "Unavailable"), label
    shot = ARTIFACTS / "02-farm-dashboard.png"
    await page.screenshot(path=shot, full_page=True)
    print(f"farm dashboard: {shot}")


def _finished_event(stack: DemoStack, calendar: str) -> Callable[[], Awaitable[dict[str, Any]]]:
    """The job's event once the history has it as finished (the running one says Printing)."""
    now = dt_util.utcnow()
    span = f"start={quote((now - timedelta(days=1)).isoformat())}"
    span += f"&end={quote((now + timedelta(days=1)).isoformat())}"

    async def probe() -> dict[str, Any]:
        events = await stack.ha.request("GET", f"/api/calendars/{calendar}?{span}")
        return next(
            (e for e in events if e["summary"] == JOB and "Completed" in e["description"]), {}
        )

    return probe


async def _shown_price(stack: DemoStack, key: str, option: str) -> Any:
    """What the printer's options form shows for a price (its own, else the fleet's)."""
    devices = await stack.ha.ws("config/device_registry/list")
    device = next(d for d in devices if d["id"] == stack.printers[key].device_id)
    path = "/api/config/config_entries/options/flow"
    form = await stack.ha.request("POST", path, {"handler": device["config_entries"][0]})
    await stack.ha.request("DELETE", f"{path}/{form['flow_id']}")
    return suggested(form, "costs", option)


def _monthly(
    stack: DemoStack, expected: dict[str, float]
) -> Callable[[], Awaitable[dict[str, float]]]:
    """This month's change of each series once all are written (after the cooldown)."""

    async def probe() -> dict[str, float]:
        found = await stack.ha.ws(
            "recorder/statistics_during_period",
            start_time=(dt_util.utcnow() - timedelta(days=31)).isoformat(),
            statistic_ids=list(expected),
            period="month",
            types=["change"],
        )
        month = {key: sum(row["change"] for row in rows) for key, rows in found.items()}
        return month if month.keys() == expected.keys() else {}

    return probe


def _text_with(scope: Locator, wanted: str) -> Callable[[], Awaitable[str]]:
    async def probe() -> str:
        text: str = await scope.evaluate(DEEP_TEXT)
        return text if wanted in text else ""

    return probe


def _chart(card: Locator) -> Callable[[], Awaitable[str]]:
    """The card's text once its chart is drawn (no 'No statistics found')."""

    async def probe() -> str:
        if not await card.count() or not await card.locator("ha-chart-base").count():
            return ""
        text: str = await card.first.evaluate(DEEP_TEXT)
        return "" if "No statistics" in text else text

    return probe


def _shown(card: Locator) -> Callable[[], Awaitable[str]]:
    async def probe() -> str:
        shown = await value(card, "Jobs today")
        return shown if shown.isdigit() else ""

    return probe


def readme_farm_dashboard() -> dict[str, Any]:
    """The farm dashboard as the README shows it (its YAML block that starts `title: Farm`)."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    farm = [block for block in blocks if block.startswith("title: Farm\n")]
    assert len(farm) == 1, "the README has no farm dashboard (or two)"
    config: dict[str, Any] = yaml.safe_load(farm[0])
    return config


async def _create_farm_dashboard(stack: DemoStack, fleet: dict[str, str]) -> None:
    """The README's farm dashboard as a storage dashboard, saved as the editor saves it.

    Its fleet sensors must be the fleet device's entities as HA names them in English.
    """
    await stack.ha.ws(
        "lovelace/dashboards/create", url_path=FARM_URL, title="Farm", icon="mdi:factory",
        show_in_sidebar=True, require_admin=False, mode="storage",
    )  # fmt: skip
    config = readme_farm_dashboard()
    cards = {card["title"]: card for card in config["views"][0]["cards"]}
    assert cards.keys() == {COST_CARD, MATERIAL_CARD, FLEET_CARD}, cards
    assert cards[FLEET_CARD]["entities"] == [fleet[key] for key in FLEET_SENSORS], fleet
    await stack.ha.ws("lovelace/config/save", url_path=FARM_URL, config=config)
