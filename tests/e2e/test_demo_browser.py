"""The demo stack headless: a real HA, real simulators, Debian's Chromium driven by Playwright.

Logs in through HA's login form, then checks the fleet dashboard and each printer's device page
the way a user would read them: values shown, values moving while a print advances, and Pause
reaching the printer and coming back to the page. Screenshots go to artifacts/e2e/.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from pathlib import Path
import re
import shutil
import time

from playwright.async_api import Browser, Locator, Page, async_playwright
import pytest

from demo.stack import PASSWORD, USERNAME, DemoStack, Ports
from simulator.bambu.printer import BambuSimulator

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "e2e"
BUDGET = 180.0  # seconds for the whole test, stack start and stop included
WAIT = 45.0  # seconds for any one thing to show up in the browser
# Fast enough that progress visibly moves within seconds, slow enough that no job ends mid-test.
SPEED, JOB_MINUTES = 20.0, 60.0
# innerText stops at shadow roots; HA's frontend is shadow roots all the way down.
DEEP_TEXT = """element => {
  const parts = [];
  const walk = node => {
    if (node.nodeType === Node.TEXT_NODE) parts.push(node.textContent);
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(element);
  return parts.join(" ").replace(/\\s+/g, " ").trim();
}"""
PERCENT = re.compile(r"^\d+(\.\d+)?\s*%$")
DEGREES = re.compile(r"^-?\d+(\.\d+)?\s*°C$")


@pytest.fixture
async def stack(socket_enabled: None, tmp_path: Path) -> AsyncIterator[DemoStack]:
    """The demo stack on free ports, next to a running `make demo` if there is one."""
    async with DemoStack(
        tmp_path / "demo", ports=Ports.free(), speed=SPEED, job_minutes=JOB_MINUTES
    ) as demo:
        yield demo


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium (no Playwright browser download)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run scripts/bootstrap.sh (make setup)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            await launched.close()


async def eventually[T](what: str, probe: Callable[[], Awaitable[T | None]]) -> T:
    """The probe's first truthy answer within WAIT seconds, else a failure saying what."""
    deadline = time.monotonic() + WAIT
    last: T | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the page may be re-rendering
            if last := await probe():
                return last
        await asyncio.sleep(0.5)
    pytest.fail(f"not seen within {WAIT:.0f} s: {what} (last seen: {last!r})")


async def value(scope: Locator, label: str) -> str:
    """What an entity row labelled `label` shows right now ("" while it is not rendered)."""
    rows = scope.locator(
        "hui-sensor-entity-row, hui-simple-entity-row",
        has_text=re.compile(rf"\b{re.escape(label)}\b"),  # case matters: not "Upload progress"
    )
    if not await rows.count():
        return ""
    text: str = await rows.first.evaluate(DEEP_TEXT)
    return text.partition(label)[2].strip()


async def readings(card: Locator, labels: tuple[str, ...]) -> dict[str, str]:
    """The rows' values, or an empty dict while any is missing, unknown or unavailable."""
    values = {label: await value(card, label) for label in labels}
    if any(v in ("", "Unknown", "Unavailable") for v in values.values()):
        return {}
    return values


def plausible(values: dict[str, str], progress: str = "Progress") -> bool:
    """Progress in percent and temperatures in degrees, as the sensors' units say."""
    temperatures = [v for label, v in values.items() if "Nozzle" in label or "Bed" in label]
    return bool(PERCENT.match(values[progress])) and all(DEGREES.match(t) for t in temperatures)


async def log_in(page: Page, stack: DemoStack) -> None:
    """HA's own login form, as a user fills it in."""
    await page.goto(stack.url)
    await page.locator("input[name=username]").fill(USERNAME)
    await page.locator("input[name=password]").fill(PASSWORD)
    await page.screenshot(path=ARTIFACTS / "01-login.png")
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(re.compile(r"/lovelace/"), timeout=WAIT * 1000)


async def test_fleet_in_the_browser(stack: DemoStack, browser: Browser) -> None:
    """Dashboard and device pages show live values; Pause reaches the printer and the page."""
    await run_in_page(browser, stack, ARTIFACTS, _check)


async def run_in_page(
    browser: Browser,
    stack: DemoStack,
    artifacts: Path,
    check: Callable[[Page, DemoStack], Awaitable[None]],
) -> None:
    """Run `check` in a fresh page within the budget; a failure leaves a screenshot and the log."""
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # log_in saves its screenshot there
    page = await browser.new_page(viewport={"width": 1600, "height": 1100})
    try:
        async with asyncio.timeout(BUDGET):
            await check(page, stack)
    except BaseException:
        print(stack.log_tail())  # pytest shows it with the failure
        with contextlib.suppress(Exception):
            await page.screenshot(path=artifacts / "failure.png", full_page=True)
        raise


async def _check(page: Page, stack: DemoStack) -> None:
    await log_in(page, stack)
    await page.goto(stack.dashboard_url)
    live = ("Status", "Progress", "Nozzle", "Bed")
    cards = {
        key: page.locator("hui-entities-card", has_text=printer.title)
        for key, printer in stack.printers.items()
    }
    first = {}
    for key, card in cards.items():
        first[key] = await eventually(f"{key}: status, progress, temperatures", _shown(card, live))
    assert first["x1c"]["Status"] == "Idle", first
    await page.screenshot(path=ARTIFACTS / "02-dashboard.png", full_page=True)

    # The idle X1C starts a job: status, temperatures, then progress move on the page.
    x1c = stack.printers["x1c"].simulator
    assert isinstance(x1c, BambuSimulator)
    x1c.start_print("Calibration tower", total_layers=80, minutes=30.0)
    for key, labels in (("x1c", ("Status", "Nozzle", "Bed")), ("p1s", ("Progress",)),
                        ("mk4", ("Progress",)), ("x1c", ("Progress",))):  # fmt: skip
        await eventually(
            f"{key}: {', '.join(labels)} moving", _moved(cards[key], first[key], labels)
        )
    await page.screenshot(path=ARTIFACTS / "03-dashboard-printing.png", full_page=True)

    # Pause on the P1S's card: the printer pauses, the page says so; Resume undoes it.
    p1s = stack.printers["p1s"].simulator
    assert isinstance(p1s, BambuSimulator)
    stack_card = page.locator("hui-vertical-stack-card", has_text=stack.printers["p1s"].title)
    await stack_card.locator("hui-button-card", has_text="Pause").click()
    await eventually("P1S simulator paused", _async(lambda: p1s.paused))
    await eventually("P1S status Paused", _shows(cards["p1s"], "Status", "Paused"))
    await page.screenshot(path=ARTIFACTS / "04-dashboard-paused.png", full_page=True)
    await stack_card.locator("hui-button-card", has_text="Resume").click()
    await eventually("P1S simulator resumed", _async(lambda: not p1s.paused))

    # Each printer's device page: the same readings, moving, in HA's own entity cards. A tall
    # window, since HA scrolls inside the page and screenshots show only what is in view.
    await page.set_viewport_size({"width": 1600, "height": 2200})
    for key, printer in stack.printers.items():
        await page.goto(f"{stack.url}/config/devices/device/{printer.device_id}")
        sensors = page.locator("ha-device-entities-card", has_text="Sensors")
        labels = ("Status", "Progress", "Nozzle temperature", "Bed temperature")
        shown = await eventually(f"{key} device page readings", _shown(sensors, labels))
        assert shown["Status"] in ("Printing", "Preparing", "Idle"), shown
        if shown["Status"] == "Printing":
            await eventually(
                f"{key} device page: progress moving", _moved(sensors, shown, ("Progress",))
            )
        await page.screenshot(path=ARTIFACTS / f"05-device-{key}.png", full_page=True)


def _shown(card: Locator, labels: tuple[str, ...]) -> Callable[[], Awaitable[dict[str, str]]]:
    async def probe() -> dict[str, str]:
        values = await readings(card, labels)
        return values if values and plausible(values) else {}

    return probe


def _moved(
    card: Locator, before: dict[str, str], labels: tuple[str, ...]
) -> Callable[[], Awaitable[dict[str, str]]]:
    async def probe() -> dict[str, str]:
        now = await readings(card, labels)
        return now if now and all(now[label] != before[label] for label in labels) else {}

    return probe


def _shows(card: Locator, label: str, expected: str) -> Callable[[], Awaitable[str]]:
    async def probe() -> str:
        return expected if await value(card, label) == expected else ""

    return probe


def _async(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return condition()

    return probe
