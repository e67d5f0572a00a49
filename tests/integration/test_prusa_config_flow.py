"""Adding, re-authenticating, moving and tuning a PrusaLink printer through the real flows.

Every flow runs against simulated printers (Buddy firmware and Prusa-Link on a Pi) on 127.0.0.1;
only the "unexpected error" path patches anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import logging
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType, InvalidData
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import slugify
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer import config_flow, diagnostics
from custom_components.printernizer.const import (
    AUTH_API_KEY,
    AUTH_PASSWORD,
    CONF_ACCESS_CODE,
    CONF_AUTH_METHOD,
    CONF_IDLE_POLL_SECONDS,
    CONF_MODEL,
    CONF_PRINTER_TYPE,
    CONF_SERIAL,
    DOMAIN,
    LOGGER,
    PRINTER_PRUSA,
)
from simulator.prusa import PrusaSimulator

from ..conftest import SecretGuard
from .conftest import PI_SERIAL, prusa_entry_data
from .test_config_flow import _closed_port, _defaults, _form_fields

WRONG_PASSWORD = "wr0ngpassw0rd"
WRONG_KEY = "not-the-k3y-42"
STALE_PASSWORD = "st4lepassw0rd"
MK4_SERIAL = "10589-3742441631036958"


def _prusa_input(
    sim: PrusaSimulator,
    *,
    host: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """What the user types into the Prusa form."""
    return {
        CONF_HOST: f"127.0.0.1:{sim.port}" if host is None else host,
        CONF_USERNAME: sim.username if username is None else username,
        CONF_PASSWORD: sim.password if password is None else password,
    }


@pytest.fixture
def printer(request: pytest.FixtureRequest) -> PrusaSimulator:
    """The simulator fixture named by an indirect parameter ("prusa_sim" or "pi_sim")."""
    sim: PrusaSimulator = request.getfixturevalue(request.param)
    return sim


def _identifications(sim: PrusaSimulator) -> int:
    """Connections set up against the printer: each starts by reading /api/version.

    The first request of a connection is answered 401 with the digest challenge; count the
    answered ones.
    """
    return sum(r.path == "/api/version" and r.status == 200 for r in sim.requests)


def _assert_password_not_logged(caplog: pytest.LogCaptureFixture, *passwords: str) -> None:
    """No record (message, arguments or traceback) carries a password."""
    assert caplog.records  # captured at DEBUG: the check below has something to look at
    for password in passwords:
        assert password not in caplog.text
        for record in caplog.records:
            assert password not in record.getMessage(), f"password logged by {record.name}"


async def _open_prusa_form(hass: HomeAssistant) -> FlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": PRINTER_PRUSA}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == PRINTER_PRUSA
    return result


async def _unload(hass: HomeAssistant, entry_id: str) -> None:
    assert await hass.config_entries.async_unload(entry_id)
    await hass.async_block_till_done()


def _status_entity(hass: HomeAssistant, entry: ConfigEntry) -> str:
    """The entity id of the printer's status sensor."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.unique_id}_status"
    )
    assert entity_id is not None
    return entity_id


# -- adding a printer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printer", "title", "model", "serial"),
    [
        ("prusa_sim", "prusa-mk4", "MK4", MK4_SERIAL),  # the hostname, which names the model
        ("pi_sim", "Prusa MK3S", "MK3S", PI_SERIAL),  # the name set in the Pi's wizard
    ],
    ids=["buddy", "pi"],
    indirect=["printer"],
)
async def test_add_printer(
    hass: HomeAssistant, printer: PrusaSimulator, title: str, model: str, serial: str
) -> None:
    sim = printer
    result = await _open_prusa_form(hass)
    assert not result["errors"]
    assert _defaults(result) == {CONF_HOST: "", CONF_USERNAME: "maker"}
    fields = _form_fields(result)
    assert set(fields) == {CONF_HOST, CONF_USERNAME, CONF_PASSWORD}
    assert fields[CONF_PASSWORD]["selector"]["text"]["type"] == "password"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _prusa_input(sim, host=f" 127.0.0.1:{sim.port} ", username=" maker "),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == title
    assert result["data"] == {
        CONF_PRINTER_TYPE: PRINTER_PRUSA,
        CONF_HOST: f"127.0.0.1:{sim.port}",
        CONF_USERNAME: "maker",
        CONF_PASSWORD: sim.password,
        CONF_SERIAL: serial,
        CONF_MODEL: model,
    }
    entry = result["result"]
    assert entry.unique_id == serial  # from the printer: the user never types it
    assert sim.max_in_flight == 1
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED  # the new entry works with what was stored
    assert _identifications(sim) == 2  # the check and the setup
    # The device and its entity ids carry the printer's name once ("sensor.prusa_mk4_status").
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, serial)})
    assert device is not None
    assert device.name == title
    assert _status_entity(hass, entry) == f"sensor.{slugify(title)}_status"
    await _unload(hass, entry.entry_id)


async def test_existing_entry_keeps_its_name_and_entity_ids(
    hass: HomeAssistant, prusa_entry: MockConfigEntry
) -> None:
    """An entry added before the naming rule changed keeps its title, device name and ids."""
    assert prusa_entry.title == "MK4 prusa-mk4"
    assert await hass.config_entries.async_setup(prusa_entry.entry_id)
    await hass.async_block_till_done()
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, MK4_SERIAL)})
    assert device is not None
    assert device.name == "MK4 prusa-mk4"
    assert _status_entity(hass, prusa_entry) == "sensor.mk4_prusa_mk4_status"
    await _unload(hass, prusa_entry.entry_id)


async def test_add_printer_already_configured_updates_the_address(
    hass: HomeAssistant, prusa_entry: MockConfigEntry, prusa_sim: PrusaSimulator
) -> None:
    """The printer got a new address; adding it again fixes the entry that could not reach it."""
    old_host = f"127.0.0.1:{_closed_port()}"
    hass.config_entries.async_update_entry(
        prusa_entry, data={**prusa_entry.data, CONF_HOST: old_host}
    )
    assert not await hass.config_entries.async_setup(prusa_entry.entry_id)
    assert prusa_entry.state is ConfigEntryState.SETUP_RETRY

    result = await _open_prusa_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _prusa_input(prusa_sim)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    # The printer's entry only (its first setup added the fleet's beside it).
    assert [e for e in hass.config_entries.async_entries(DOMAIN) if e.unique_id != "fleet"] == [
        prusa_entry
    ]
    assert prusa_entry.data[CONF_HOST] == f"127.0.0.1:{prusa_sim.port}"
    await hass.async_block_till_done()
    assert prusa_entry.state is ConfigEntryState.LOADED  # retried at once with the new address
    await _unload(hass, prusa_entry.entry_id)


@dataclass(frozen=True)
class Failure:
    """How to make the first attempt fail, and how to undo it for the retry."""

    id: str
    error: str
    printer: str  # the simulator fixture
    change: Callable[[PrusaSimulator, dict[str, Any]], dict[str, Any]]
    prepare: Callable[[PrusaSimulator], None] = lambda sim: None
    repair: Callable[[PrusaSimulator], None] = lambda sim: None


FAILURES = [
    Failure(
        "buddy-wrong-password",
        "invalid_auth",
        "prusa_sim",
        lambda sim, good: {**good, CONF_PASSWORD: WRONG_PASSWORD},
    ),
    Failure(
        "pi-wrong-password",
        "invalid_auth",
        "pi_sim",
        lambda sim, good: {**good, CONF_PASSWORD: WRONG_PASSWORD},
    ),
    Failure(
        "pi-wrong-username",
        "invalid_auth",
        "pi_sim",
        lambda sim, good: {**good, CONF_USERNAME: "admin"},
    ),
    Failure(
        "closed-port",
        "cannot_connect",
        "prusa_sim",
        lambda sim, good: {**good, CONF_HOST: f"127.0.0.1:{_closed_port()}"},
    ),
    Failure(
        "invalid-address",
        "cannot_connect",
        "prusa_sim",
        lambda sim, good: {**good, CONF_HOST: "127.0.0.1:99999"},
    ),
    Failure(
        "hanging-printer",
        "timeout",
        "prusa_sim",
        lambda sim, good: good,
        lambda sim: sim.go_offline(hang=True),
        PrusaSimulator.go_online,
    ),
]


@pytest.mark.parametrize(
    ("failure", "printer"),
    [(failure, failure.printer) for failure in FAILURES],
    ids=[failure.id for failure in FAILURES],
    indirect=["printer"],
)
async def test_add_printer_error_then_retry(
    hass: HomeAssistant,
    printer: PrusaSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Failure,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = printer
    monkeypatch.setattr(config_flow, "VALIDATION_TIMEOUT", 0.5)
    result = await _open_prusa_form(hass)
    bad = failure.change(sim, _prusa_input(sim))
    failure.prepare(sim)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == PRINTER_PRUSA
    assert result["errors"] == {"base": failure.error}
    # What was typed comes back, except the password.
    assert _defaults(result) == {CONF_HOST: bad[CONF_HOST], CONF_USERNAME: bad[CONF_USERNAME]}
    assert "Unexpected error" not in caplog.text
    _assert_password_not_logged(caplog, WRONG_PASSWORD, sim.password)

    failure.repair(sim)
    monkeypatch.undo()  # the retry gets the normal time
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _prusa_input(sim))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SERIAL] == sim.serial
    assert result["data"][CONF_PASSWORD] == sim.password
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    await _unload(hass, result["result"].entry_id)
    assert sim.max_in_flight == 1
    _assert_password_not_logged(caplog, WRONG_PASSWORD, sim.password)


async def test_add_printer_unexpected_error(
    hass: HomeAssistant, prusa_sim: PrusaSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await _open_prusa_form(hass)
    with patch(
        "custom_components.printernizer.config_flow.prusa_config",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], _prusa_input(prusa_sim)
        )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == PRINTER_PRUSA
    assert result["errors"] == {"base": "unknown"}
    assert f"Unexpected error while adding printer at 127.0.0.1:{prusa_sim.port}" in caplog.text
    _assert_password_not_logged(caplog, prusa_sim.password)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _prusa_input(prusa_sim)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await _unload(hass, result["result"].entry_id)


# -- API key -------------------------------------------------------------------------------------


def _key(sim: PrusaSimulator) -> str:
    """Buddy takes its PrusaLink password as the X-Api-Key; the Pi has a key of its own."""
    return sim.api_key if sim.family == "pi" else sim.password


async def _open_api_key_form(hass: HomeAssistant) -> FlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == [
        "bambu",
        PRINTER_PRUSA,
        config_flow.STEP_PRUSA_API_KEY,
        config_flow.STEP_FLEET,
    ]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": config_flow.STEP_PRUSA_API_KEY}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == config_flow.STEP_PRUSA_API_KEY
    return result


def _api_key_requests(sim: PrusaSimulator) -> list[int | None]:
    """Statuses of the requests that carried no digest header (the key, or nothing)."""
    return [r.status for r in sim.requests if r.authorization is None]


@pytest.mark.parametrize(
    ("printer", "title", "refusal"),
    [("prusa_sim", "prusa-mk4", 401), ("pi_sim", "Prusa MK3S", 403)],
    ids=["buddy", "pi"],
    indirect=["printer"],
)
async def test_add_printer_with_api_key(
    hass: HomeAssistant,
    printer: PrusaSimulator,
    caplog: pytest.LogCaptureFixture,
    title: str,
    refusal: int,
) -> None:
    """Host and key only; a wrong key is bad credentials (Buddy 401, Pi 403), never offline."""
    caplog.set_level(logging.DEBUG)
    sim = printer
    result = await _open_api_key_form(hass)
    fields = _form_fields(result)
    assert set(fields) == {CONF_HOST, CONF_API_KEY}
    assert fields[CONF_API_KEY]["selector"]["text"]["type"] == "password"
    host = f"127.0.0.1:{sim.port}"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: host, CONF_API_KEY: WRONG_KEY}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert _defaults(result) == {CONF_HOST: host}  # the key is not shown back
    assert _api_key_requests(sim) == [refusal]  # one request, no digest retry

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: host, CONF_API_KEY: f" {_key(sim)} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == title
    assert result["data"] == {
        CONF_PRINTER_TYPE: PRINTER_PRUSA,
        CONF_HOST: host,
        CONF_API_KEY: _key(sim),
        CONF_SERIAL: sim.serial,
        CONF_MODEL: sim.model,
    }
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert all(r.authorization is None for r in sim.requests)  # the key, never digest
    assert _identifications(sim) == 2  # the check and the setup
    report = await diagnostics.async_get_config_entry_diagnostics(hass, entry)
    assert report["entry"]["data"][CONF_API_KEY] == "**REDACTED**"
    assert _key(sim) not in repr(report)
    _assert_password_not_logged(caplog, WRONG_KEY, _key(sim))
    await _unload(hass, entry.entry_id)


@pytest.mark.parametrize("key", ["abc\r\nX-Evil: 1", "   "], ids=["control", "blank"])
async def test_unusable_api_key_is_refused(
    hass: HomeAssistant, prusa_sim: PrusaSimulator, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    """No printer takes it: bad credentials at once, nothing sent, no "unexpected error".

    A blank key must not quietly become a digest login with an empty password either.
    """
    caplog.set_level(logging.DEBUG)
    result = await _open_api_key_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: f"127.0.0.1:{prusa_sim.port}", CONF_API_KEY: key}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    assert not prusa_sim.requests
    assert "Unexpected error" not in caplog.text


async def test_a_key_typed_into_the_flow_is_guarded(
    hass: HomeAssistant, pi_sim: PrusaSimulator, secret_guard: SecretGuard
) -> None:
    """The suite's secret guard learns a key from the form: logging it would fail the test."""
    result = await _open_api_key_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: f"127.0.0.1:{pi_sim.port}", CONF_API_KEY: WRONG_KEY}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    secret_guard.check()  # the flow itself showed and logged nothing of it
    LOGGER.debug("tried %s", WRONG_KEY)
    with pytest.raises(pytest.fail.Exception, match=r"no\.\.\. \(14 characters\)"):
        secret_guard.check()


async def test_reauth_asks_for_the_api_key(
    hass: HomeAssistant, pi_sim: PrusaSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """An entry that logs in with a key is asked for the key, not a password."""
    caplog.set_level(logging.DEBUG)
    data = {
        CONF_PRINTER_TYPE: PRINTER_PRUSA,
        CONF_HOST: f"127.0.0.1:{pi_sim.port}",
        CONF_API_KEY: "st4le-k3y-0042",
        CONF_SERIAL: PI_SERIAL,
        CONF_MODEL: "MK3S",
    }
    entry = MockConfigEntry(domain=DOMAIN, title="Prusa MK3S", unique_id=PI_SERIAL, data=data)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    flow_id = flows[0]["flow_id"]

    result = await hass.config_entries.flow.async_configure(flow_id)
    assert set(_form_fields(result)) == {CONF_API_KEY}
    assert _form_fields(result)[CONF_API_KEY]["selector"]["text"]["type"] == "password"
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_API_KEY: WRONG_KEY})
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_API_KEY: f"{pi_sim.api_key} "}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data == {**data, CONF_API_KEY: pi_sim.api_key}
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    _assert_password_not_logged(caplog, WRONG_KEY, pi_sim.api_key, "st4le-k3y-0042")
    await _unload(hass, entry.entry_id)


async def test_reconfigure_switches_between_password_and_api_key(
    hass: HomeAssistant, prusa_entry: MockConfigEntry, prusa_sim: PrusaSimulator
) -> None:
    """A digest entry moves to the key and back; only the chosen login is stored."""
    assert await hass.config_entries.async_setup(prusa_entry.entry_id)
    await hass.async_block_till_done()
    host = prusa_entry.data[CONF_HOST]

    result = await prusa_entry.start_reconfigure_flow(hass)
    selector = _form_fields(result)[CONF_AUTH_METHOD]["selector"]["select"]
    assert selector["options"] == [AUTH_PASSWORD, AUTH_API_KEY]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: host, CONF_AUTH_METHOD: AUTH_API_KEY}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure_login"
    assert result["description_placeholders"] == {"name": "MK4 prusa-mk4"}
    assert set(_form_fields(result)) == {CONF_API_KEY}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: WRONG_KEY}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    assert CONF_API_KEY not in prusa_entry.data
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: prusa_sim.password}
    )
    assert result["reason"] == "reconfigure_successful"
    assert prusa_entry.data == {
        CONF_PRINTER_TYPE: PRINTER_PRUSA,
        CONF_HOST: host,
        CONF_API_KEY: prusa_sim.password,
        CONF_SERIAL: MK4_SERIAL,
        CONF_MODEL: "MK4",
    }
    await hass.async_block_till_done()
    assert prusa_entry.state is ConfigEntryState.LOADED  # reloaded with the key
    # From the reloaded entry's first request on (the old one may have polled meanwhile).
    setup = max(i for i, r in enumerate(prusa_sim.requests) if r.path == "/api/version")
    assert all(r.authorization is None and r.auth for r in prusa_sim.requests[setup:])

    result = await prusa_entry.start_reconfigure_flow(hass)
    assert _defaults(result) == {CONF_HOST: host, CONF_AUTH_METHOD: AUTH_API_KEY}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: host, CONF_AUTH_METHOD: AUTH_PASSWORD}
    )
    assert _defaults(result) == {CONF_USERNAME: "maker"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "maker", CONF_PASSWORD: prusa_sim.password}
    )
    assert result["reason"] == "reconfigure_successful"
    assert prusa_entry.data == prusa_entry_data(prusa_sim)
    await hass.async_block_till_done()
    assert prusa_entry.state is ConfigEntryState.LOADED
    await _unload(hass, prusa_entry.entry_id)


# -- a new password ------------------------------------------------------------------------------


async def test_reauth_asks_for_the_password(
    hass: HomeAssistant,
    prusa_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stored password is rejected at startup; the new one sets the printer up at once."""
    caplog.set_level(logging.DEBUG)
    hass.config_entries.async_update_entry(
        prusa_entry, data={**prusa_entry.data, CONF_PASSWORD: STALE_PASSWORD}
    )
    assert not await hass.config_entries.async_setup(prusa_entry.entry_id)
    await hass.async_block_till_done()
    assert prusa_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == SOURCE_REAUTH
    assert flows[0]["step_id"] == "reauth_confirm"
    flow_id = flows[0]["flow_id"]

    result = await hass.config_entries.flow.async_configure(flow_id)
    assert result["type"] is FlowResultType.FORM
    assert result["description_placeholders"] == {"name": "MK4 prusa-mk4"}
    fields = _form_fields(result)
    assert set(fields) == {CONF_PASSWORD}  # not the Bambu access code
    assert CONF_ACCESS_CODE not in fields
    assert fields[CONF_PASSWORD]["selector"]["text"]["type"] == "password"
    assert _defaults(result) == {}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PASSWORD: WRONG_PASSWORD}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {"base": "invalid_auth"}
    assert prusa_entry.data[CONF_PASSWORD] == STALE_PASSWORD

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_PASSWORD: prusa_sim.password}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert prusa_entry.data == prusa_entry_data(prusa_sim)
    await hass.async_block_till_done()
    assert prusa_entry.state is ConfigEntryState.LOADED
    _assert_password_not_logged(caplog, STALE_PASSWORD, WRONG_PASSWORD, prusa_sim.password)
    await _unload(hass, prusa_entry.entry_id)


# -- a new address -------------------------------------------------------------------------------


async def test_reconfigure_new_address(
    hass: HomeAssistant,
    prusa_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
    pi_sim: PrusaSimulator,
) -> None:
    """The printer moved to another address; another printer at the new one is refused."""
    old_host = f"127.0.0.1:{_closed_port()}"
    hass.config_entries.async_update_entry(
        prusa_entry, data={**prusa_entry.data, CONF_HOST: old_host}
    )
    assert not await hass.config_entries.async_setup(prusa_entry.entry_id)
    assert prusa_entry.state is ConfigEntryState.SETUP_RETRY

    result = await prusa_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {"name": "MK4 prusa-mk4"}
    assert _defaults(result) == {CONF_HOST: old_host, CONF_AUTH_METHOD: AUTH_PASSWORD}

    # Another printer, which happens to accept the same credentials.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: f"127.0.0.1:{pi_sim.port}"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "wrong_serial"}
    assert prusa_entry.data[CONF_HOST] == old_host
    assert _identifications(pi_sim) == 1

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: f" 127.0.0.1:{prusa_sim.port} "}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert prusa_entry.data[CONF_HOST] == f"127.0.0.1:{prusa_sim.port}"
    assert prusa_entry.data[CONF_PASSWORD] == prusa_sim.password
    assert prusa_entry.unique_id == MK4_SERIAL
    await hass.async_block_till_done()
    assert prusa_entry.state is ConfigEntryState.LOADED
    assert _identifications(prusa_sim) == 2  # the check and the setup at the new address
    await _unload(hass, prusa_entry.entry_id)


# -- options -------------------------------------------------------------------------------------


async def test_options_idle_interval(
    hass: HomeAssistant, prusa_entry: MockConfigEntry, prusa_sim: PrusaSimulator
) -> None:
    hass.config_entries.async_update_entry(prusa_entry, options={})
    assert await hass.config_entries.async_setup(prusa_entry.entry_id)
    await hass.async_block_till_done()
    assert prusa_entry.runtime_data.coordinator.adapter.poll_interval == 60

    result = await hass.config_entries.options.async_init(prusa_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert _defaults(result) == {CONF_IDLE_POLL_SECONDS: 60}
    selector = _form_fields(result)[CONF_IDLE_POLL_SECONDS]["selector"]["number"]
    assert (selector["min"], selector["max"], selector["unit_of_measurement"]) == (30, 300, "s")
    assert _identifications(prusa_sim) == 1

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_IDLE_POLL_SECONDS: 120}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert prusa_entry.options == {CONF_IDLE_POLL_SECONDS: 120}
    await hass.async_block_till_done()
    assert prusa_entry.state is ConfigEntryState.LOADED
    assert _identifications(prusa_sim) == 2  # reloaded to apply the option
    assert prusa_entry.runtime_data.coordinator.adapter.poll_interval == 120

    result = await hass.config_entries.options.async_init(prusa_entry.entry_id)
    assert _defaults(result) == {CONF_IDLE_POLL_SECONDS: 120}
    for out_of_range in (29, 301):
        with pytest.raises(InvalidData):
            await hass.config_entries.options.async_configure(
                result["flow_id"], {CONF_IDLE_POLL_SECONDS: out_of_range}
            )
    assert prusa_entry.options == {CONF_IDLE_POLL_SECONDS: 120}
    await _unload(hass, prusa_entry.entry_id)
