"""The suite's guards are live: each catches what it is there to catch, inside HA's harness."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
import time

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant, SupportsResponse
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.printernizer import diagnostics
from custom_components.printernizer.const import CONF_ACCESS_CODE, DOMAIN, LOGGER, PRINTER_PRUSA
from custom_components.printernizer.history import JobHistory
from custom_components.printernizer.jobs import JobRecord
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from ..conftest import SecretGuard
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
    writes: list[asyncio.Future[None]] = []
    history.add_listener(
        SERIAL, lambda _: writes.append(hass.async_add_executor_job(_write, tmp_path / "file"))
    )
    history.put(_record())
    await asyncio.gather(*writes)  # the write itself, not what block_till_done happens to track

    assert (tmp_path / "file").read_text() == "blocking"  # sync test code, no loop involved
    blocking_calls.check()


# -- the secret guard (tests/conftest.py) ---------------------------------------------------

ACCESS_CODE = "31415926"


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    """An entry whose access code the guard learns from the entry itself."""
    entry = MockConfigEntry(domain=DOMAIN, data={CONF_ACCESS_CODE: ACCESS_CODE})
    entry.add_to_hass(hass)
    return entry


def _leaks(guard: SecretGuard) -> str:
    """What the guard's teardown would fail the test with (not via pytest.raises: it scans)."""
    try:
        guard.check()
    except pytest.fail.Exception as failed:
        return str(failed)
    raise AssertionError("the guard found no leak")


@pytest.mark.parametrize(
    "log",
    [
        lambda: LOGGER.debug("connecting with %s", ACCESS_CODE),  # debug: users post those
        lambda: LOGGER.warning(f"code {ACCESS_CODE} refused"),
        lambda: LOGGER.error("failed", exc_info=ValueError(f"bad login bblp:{ACCESS_CODE}@host")),
        lambda: LOGGER.error("failed", exc_info=OSError(13, "denied", {"code": ACCESS_CODE})),
    ],
    ids=["debug-args", "message", "exception-text", "exception-args"],
)
async def test_secret_in_a_log_record_fails_the_test(
    entry: MockConfigEntry, secret_guard: SecretGuard, log: Callable[[], None]
) -> None:
    log()
    assert "31... (8 characters)" in _leaks(secret_guard)


async def test_secret_in_an_exception_raised_to_the_test_fails_it(
    entry: MockConfigEntry, secret_guard: SecretGuard
) -> None:
    def log_in() -> None:
        try:
            {}[ACCESS_CODE]
        except KeyError as error:
            raise RuntimeError("login failed") from error  # the cause carries it

    with pytest.raises(RuntimeError):
        log_in()
    assert "exception raised to the test (KeyError)" in _leaks(secret_guard)


async def test_secret_in_an_action_response_fails_the_test(
    hass: HomeAssistant, entry: MockConfigEntry, secret_guard: SecretGuard
) -> None:
    hass.services.async_register(
        "test", "echo", lambda _: {"code": ACCESS_CODE}, supports_response=SupportsResponse.ONLY
    )
    await hass.services.async_call("test", "echo", blocking=True, return_response=True)
    assert "response of test.echo" in _leaks(secret_guard)


async def test_secret_in_diagnostics_fails_the_test(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_prusa_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
    secret_guard: SecretGuard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(diagnostics, "async_redact_data", lambda data, _: data)  # a regression
    assert await async_setup_component(hass, "diagnostics", {})
    await get_diagnostics_for_config_entry(hass, hass_client, loaded_prusa_entry)
    assert f"diagnostics: {prusa_sim.password[:2]}..." in _leaks(secret_guard)


async def test_secrets_are_learned_from_simulators_and_adapter_configs(
    secret_guard: SecretGuard,
) -> None:
    BambuSimulator(access_code="27182818")
    PrusaSimulator(password="hunter2hunter2", api_key="key-0123456789")
    secret_guard.add_from({"costs": {CONF_PASSWORD: "nested-secret"}})
    assert {"27182818", "hunter2hunter2", "key-0123456789", "nested-secret"} <= (
        secret_guard.secrets
    )


async def test_a_secret_inside_a_longer_token_is_not_a_leak(
    entry: MockConfigEntry, secret_guard: SecretGuard
) -> None:
    LOGGER.warning("pushed at %s ms", f"17{ACCESS_CODE}01")  # a timestamp, not the code
    secret_guard.check()


async def test_a_password_typed_into_a_flow_is_guarded(
    hass: HomeAssistant, prusa_sim: PrusaSimulator, secret_guard: SecretGuard
) -> None:
    typed = "typed-but-wrong-1"
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": PRINTER_PRUSA}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: f"127.0.0.1:{prusa_sim.port}",
            CONF_USERNAME: prusa_sim.username,
            CONF_PASSWORD: typed,
        },
    )
    assert result["errors"] == {"base": "invalid_auth"}
    secret_guard.check()  # the flow itself showed and logged nothing of it
    LOGGER.debug("tried %s", typed)
    assert "ty... (17 characters)" in _leaks(secret_guard)
