"""The suite's guards are live: each catches what it is there to catch, inside HA's harness."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
import time

from homeassistant.core import HomeAssistant
import pytest

from custom_components.printernizer.history import JobHistory
from custom_components.printernizer.jobs import JobRecord

from .conftest import BlockingCallDetector

SERIAL = "01P00A000000001"


def _record() -> JobRecord:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    return JobRecord(id="job-1", serial=SERIAL, printer_name="P1S", started_at=now, updated_at=now)


def _write(path: Path) -> None:
    path.write_text("blocking")


def _sleep(_: Path) -> None:
    time.sleep(0)


@pytest.mark.parametrize(
    ("blocking", "function", "logged"),
    [
        # Checked in production only: HA's harness alone would not see it (`_IN_TESTS`).
        (_write, "write_text", "Detected blocking call to write_text"),
        # Strict: HA raises in the integration; the history's listener guard swallows it.
        (_sleep, "sleep", "Detected blocking call to sleep"),
    ],
)
async def test_blocking_call_from_the_integration_in_the_loop_fails_the_test(
    hass: HomeAssistant,
    blocking_calls: BlockingCallDetector,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    blocking: Callable[[Path], None],
    function: str,
    logged: str,
) -> None:
    history = JobHistory(hass)
    history.add_listener(SERIAL, lambda _: blocking(tmp_path / "file"))
    history.put(_record())  # the integration calls its listeners in the event loop

    assert logged in caplog.text
    assert "custom integration 'printernizer'" in caplog.text
    with pytest.raises(pytest.fail.Exception, match=f"blocking call.*first: {function} at"):
        blocking_calls.check()
    blocking_calls.seen.clear()  # caught as expected: this test itself passes


async def test_blocking_call_in_the_executor_is_fine(
    hass: HomeAssistant, blocking_calls: BlockingCallDetector, tmp_path: Path
) -> None:
    history = JobHistory(hass)
    history.add_listener(SERIAL, lambda _: hass.async_add_executor_job(_write, tmp_path / "file"))
    history.put(_record())
    await hass.async_block_till_done()

    assert (tmp_path / "file").read_text() == "blocking"  # sync test code, no loop involved
    blocking_calls.check()
