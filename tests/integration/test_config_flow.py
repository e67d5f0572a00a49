"""Adding, re-authenticating, moving and tuning a printer through the real flows.

Every flow runs against the simulated printer on 127.0.0.1; only the "unexpected error" path
patches anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
import logging
import socket
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType, InvalidData
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol
import voluptuous_serialize

from custom_components.printernizer import config_flow
from custom_components.printernizer.const import (
    CONF_ACCESS_CODE,
    CONF_CERTIFICATE,
    CONF_FTPS_PORT,
    CONF_MODEL,
    CONF_MQTT_PORT,
    CONF_PRINTER_TYPE,
    CONF_REFRESH_MINUTES,
    CONF_SERIAL,
    DOMAIN,
    PRINTER_BAMBU,
    PRINTER_PRUSA,
)
from custom_components.printernizer.printers.bambu.tls import fingerprint
from simulator.bambu.printer import BambuSimulator

OTHER_SERIAL = "01P00A999999999"
WRONG_CODE = "q7wr0ngX"
STALE_CODE = "k3stal3Z"


def _form_fields(result: FlowResult) -> dict[str, dict[str, Any]]:
    """The form as the frontend receives it, by field name; sections are flattened."""
    schema = result["data_schema"]
    assert isinstance(schema, vol.Schema)
    fields: dict[str, dict[str, Any]] = {}
    for field in voluptuous_serialize.convert(schema, custom_serializer=cv.custom_serializer):
        fields[field["name"]] = field
        if field.get("type") == "expandable":
            for inner in field["schema"]:
                fields[f"{field['name']}.{inner['name']}"] = inner
    return fields


def _defaults(result: FlowResult) -> dict[str, Any]:
    """The values the form is pre-filled with."""
    return {
        name: field["default"] for name, field in _form_fields(result).items() if "default" in field
    }


def _bambu_input(
    sim: BambuSimulator,
    *,
    host: str = "127.0.0.1",
    serial: str | None = None,
    access_code: str | None = None,
    mqtt_port: int | None = None,
) -> dict[str, Any]:
    """What the user types into the Bambu form."""
    return {
        CONF_HOST: host,
        CONF_SERIAL: sim.serial if serial is None else serial,
        CONF_ACCESS_CODE: sim.access_code if access_code is None else access_code,
        config_flow.CONF_ADVANCED: {
            CONF_MQTT_PORT: sim.mqtt_port if mqtt_port is None else mqtt_port,
            CONF_FTPS_PORT: sim.ftps_port,
        },
    }


def _closed_port() -> int:
    """A loopback port that was just free: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _logins(sim: BambuSimulator) -> int:
    """Sessions the printer saw: every connection asks for the version once."""
    return sum(
        1 for request in sim.requests if request.get("info", {}).get("command") == "get_version"
    )


async def _assert_disconnected(sim: BambuSimulator) -> None:
    """The check hung up: the printer sees its connection close soon after."""
    async with asyncio.timeout(5):
        while sim.connected_clients():
            await asyncio.sleep(0.01)


def _assert_code_not_logged(caplog: pytest.LogCaptureFixture, *codes: str) -> None:
    """No record (message, arguments or traceback) carries an access code."""
    assert caplog.records  # captured at DEBUG: the check below has something to look at
    for code in codes:
        assert code not in caplog.text
        for record in caplog.records:
            assert code not in record.getMessage(), f"access code logged by {record.name}"


async def _open_bambu_form(hass: HomeAssistant) -> FlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert result["menu_options"] == [
        PRINTER_BAMBU,
        PRINTER_PRUSA,
        config_flow.STEP_PRUSA_API_KEY,
        config_flow.STEP_FLEET,
    ]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": PRINTER_BAMBU}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == PRINTER_BAMBU
    return result


async def _unload(hass: HomeAssistant, entry_id: str) -> None:
    assert await hass.config_entries.async_unload(entry_id)
    await hass.async_block_till_done()


# -- adding a printer ----------------------------------------------------------------------------


async def test_add_printer(hass: HomeAssistant, bambu_sim: BambuSimulator) -> None:
    result = await _open_bambu_form(hass)
    assert not result["errors"]
    fields = _form_fields(result)
    assert fields[config_flow.CONF_ADVANCED]["expanded"] is False
    assert fields[CONF_ACCESS_CODE]["selector"]["text"]["type"] == "password"
    assert _defaults(result) == {
        CONF_HOST: "",
        CONF_SERIAL: "",
        f"advanced.{CONF_MQTT_PORT}": 8883,
        f"advanced.{CONF_FTPS_PORT}": 990,
    }

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _bambu_input(
            bambu_sim,
            host=" 127.0.0.1 ",
            serial=f"  {bambu_sim.serial.lower()} ",
            access_code=f" {bambu_sim.access_code} ",
        ),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "bambu_confirm"
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders == {
        "model": "P1S",
        "serial": "01P00A000000001",
        "firmware": "01.08.02.00",
        "fingerprint": fingerprint(bambu_sim.cert_pem),
    }
    shown = placeholders["fingerprint"]
    assert shown == shown.upper()
    assert shown.replace(":", "").lower() == bambu_sim.cert_fingerprint
    assert len(shown.split(":")) == 32
    await _assert_disconnected(bambu_sim)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The LAN protocol has no printer name: the model and the serial's last digits, once.
    assert result["title"] == "P1S 0001"
    assert result["data"] == {
        CONF_PRINTER_TYPE: PRINTER_BAMBU,
        CONF_HOST: "127.0.0.1",
        CONF_SERIAL: "01P00A000000001",
        CONF_ACCESS_CODE: bambu_sim.access_code,
        CONF_CERTIFICATE: bambu_sim.cert_pem,
        CONF_MQTT_PORT: bambu_sim.mqtt_port,
        CONF_FTPS_PORT: bambu_sim.ftps_port,
        CONF_MODEL: "P1S",
    }
    entry = result["result"]
    assert entry.unique_id == "01P00A000000001"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED  # the new entry works with what was stored
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, "01P00A000000001")})
    assert device is not None
    assert device.name == "P1S 0001"
    status = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, "01P00A000000001_status")
    assert status == "sensor.p1s_0001_status"
    await _unload(hass, entry.entry_id)


@pytest.mark.parametrize(
    ("model", "name", "fallback", "title"),
    [
        ("MK4", "prusa-mk4", "10.0.0.5", "prusa-mk4"),  # the default hostname names the model
        ("Core One", "prusa-coreone", "10.0.0.5", "prusa-coreone"),
        ("MK3.9", "prusa-mk39", "10.0.0.5", "prusa-mk39"),
        ("MK3S", "Prusa MK3S", "10.0.0.5", "Prusa MK3S"),  # a Pi's own name
        ("MK4", "workshop", "10.0.0.5", "MK4 workshop"),  # a name that does not say the model
        ("MK4", None, "10.0.0.5", "MK4 10.0.0.5"),  # no name at all: the address
        ("P1S", None, "0042", "P1S 0042"),  # Bambu: the serial's last digits
        ("X1C", "Garage X1C", "0042", "Garage X1C"),  # a user's name (SSDP DevName), once
        ("A1", "Garage", "0042", "A1 Garage"),
    ],
)
def test_entry_title(model: str, name: str | None, fallback: str, title: str) -> None:
    assert config_flow.entry_title(model, name, fallback) == title


async def test_add_printer_already_configured(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    result = await _open_bambu_form(hass)
    # Unusable connection details: any connection attempt would end in an error form.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _bambu_input(
            bambu_sim,
            serial=f" {bambu_sim.serial.lower()}",
            access_code=WRONG_CODE,
            mqtt_port=_closed_port(),
        ),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert bambu_sim.requests == []
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


@dataclass(frozen=True)
class Failure:
    """How to make the first attempt fail, and how to undo it for the retry."""

    error: str
    change: Callable[[BambuSimulator, dict[str, Any]], dict[str, Any]]
    prepare: Callable[[BambuSimulator], None] = lambda sim: None
    repair: Callable[[BambuSimulator], None] = lambda sim: None


FAILURES = [
    Failure("invalid_auth", lambda sim, bad: {**bad, CONF_ACCESS_CODE: WRONG_CODE}),
    Failure("wrong_serial", lambda sim, bad: {**bad, CONF_SERIAL: OTHER_SERIAL.lower()}),
    Failure(
        "cannot_connect",
        lambda sim, bad: {
            **bad,
            config_flow.CONF_ADVANCED: {CONF_MQTT_PORT: _closed_port(), CONF_FTPS_PORT: 2121},
        },
    ),
    Failure("timeout", lambda sim, bad: bad, BambuSimulator.go_silent, BambuSimulator.wake),
]


@pytest.mark.parametrize("failure", FAILURES, ids=[failure.error for failure in FAILURES])
async def test_add_printer_error_then_retry(
    hass: HomeAssistant,
    bambu_sim: BambuSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Failure,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(config_flow, "VALIDATION_TIMEOUT", 1.0)
    result = await _open_bambu_form(hass)
    bad = failure.change(bambu_sim, _bambu_input(bambu_sim, host=" 127.0.0.1"))
    failure.prepare(bambu_sim)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == PRINTER_BAMBU
    assert result["errors"] == {"base": failure.error}
    advanced = bad[config_flow.CONF_ADVANCED]
    assert _defaults(result) == {
        CONF_HOST: "127.0.0.1",
        CONF_SERIAL: bad[CONF_SERIAL].strip().upper(),
        f"advanced.{CONF_MQTT_PORT}": advanced[CONF_MQTT_PORT],
        f"advanced.{CONF_FTPS_PORT}": advanced[CONF_FTPS_PORT],
    }  # the access code is not sent back to the browser
    await _assert_disconnected(bambu_sim)
    _assert_code_not_logged(caplog, WRONG_CODE, bambu_sim.access_code)

    failure.repair(bambu_sim)
    monkeypatch.undo()  # the retry gets the normal time
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _bambu_input(bambu_sim)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "bambu_confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SERIAL] == bambu_sim.serial
    assert result["data"][CONF_MQTT_PORT] == bambu_sim.mqtt_port
    await hass.async_block_till_done()
    await _unload(hass, result["result"].entry_id)
    _assert_code_not_logged(caplog, WRONG_CODE, bambu_sim.access_code)


async def test_add_printer_unexpected_error(
    hass: HomeAssistant, bambu_sim: BambuSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await _open_bambu_form(hass)
    with patch(
        "custom_components.printernizer.config_flow.fetch_certificate",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], _bambu_input(bambu_sim)
        )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == PRINTER_BAMBU
    assert result["errors"] == {"base": "unknown"}
    assert _defaults(result)[CONF_SERIAL] == bambu_sim.serial
    assert "Unexpected error while adding printer at 127.0.0.1" in caplog.text
    _assert_code_not_logged(caplog, bambu_sim.access_code)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _bambu_input(bambu_sim)
    )
    assert result["step_id"] == "bambu_confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await _unload(hass, result["result"].entry_id)


# -- a new access code ---------------------------------------------------------------------------


async def test_reauth_after_rejected_code(
    hass: HomeAssistant,
    bambu_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stored code is rejected at startup; the new one sets the printer up at once."""
    caplog.set_level(logging.DEBUG)
    hass.config_entries.async_update_entry(
        bambu_entry, data={**bambu_entry.data, CONF_ACCESS_CODE: STALE_CODE}
    )
    assert not await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    assert bambu_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == SOURCE_REAUTH
    assert flows[0]["step_id"] == "reauth_confirm"
    flow_id = flows[0]["flow_id"]

    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_ACCESS_CODE: WRONG_CODE})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {"base": "invalid_auth"}
    assert bambu_entry.data[CONF_ACCESS_CODE] == STALE_CODE

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_ACCESS_CODE: f" {bambu_sim.access_code} "}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert bambu_entry.data[CONF_ACCESS_CODE] == bambu_sim.access_code
    assert bambu_entry.data[CONF_CERTIFICATE] == bambu_sim.cert_pem
    await hass.async_block_till_done()
    assert bambu_entry.state is ConfigEntryState.LOADED
    _assert_code_not_logged(caplog, STALE_CODE, WRONG_CODE, bambu_sim.access_code)
    await _unload(hass, bambu_entry.entry_id)


async def test_reauth_of_loaded_entry(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    result = await loaded_entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {"name": "P1S 01P00A000000001"}
    assert set(_form_fields(result)) == {CONF_ACCESS_CODE}
    assert _defaults(result) == {}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_CODE: WRONG_CODE}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_CODE: bambu_sim.access_code}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert _logins(bambu_sim) == 2  # setup and the check; nothing changed, so no reload


async def test_reauth_certificate_changed(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    old_certificate = bambu_sim.cert_pem
    await bambu_sim.rotate_certificate()
    result = await bambu_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_CODE: bambu_sim.access_code}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {"base": "certificate_changed"}
    assert bambu_entry.data[CONF_CERTIFICATE] == old_certificate  # never trusted silently
    assert bambu_sim.requests == []  # the handshake failed before the code was sent


# -- a new address or certificate ----------------------------------------------------------------


async def test_reconfigure_new_address(
    hass: HomeAssistant,
    bambu_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The printer got another address (and a new certificate) while HA was off."""
    monkeypatch.setattr(config_flow, "VALIDATION_TIMEOUT", 1.0)
    old_certificate = bambu_sim.cert_pem
    await bambu_sim.rotate_certificate()
    hass.config_entries.async_update_entry(
        bambu_entry,
        data={**bambu_entry.data, CONF_HOST: "192.0.2.7", CONF_CERTIFICATE: old_certificate},
    )
    result = await bambu_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {"name": "P1S 01P00A000000001"}
    assert _defaults(result) == {CONF_HOST: "192.0.2.7"}

    bambu_sim.go_silent()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "timeout"}
    assert bambu_entry.data[CONF_HOST] == "192.0.2.7"
    assert bambu_entry.data[CONF_CERTIFICATE] == old_certificate

    bambu_sim.wake()
    monkeypatch.undo()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: " 127.0.0.1 "}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert bambu_entry.data[CONF_HOST] == "127.0.0.1"
    assert bambu_entry.data[CONF_CERTIFICATE] == bambu_sim.cert_pem != old_certificate
    assert bambu_entry.data[CONF_ACCESS_CODE] == bambu_sim.access_code
    await hass.async_block_till_done()
    assert bambu_entry.state is ConfigEntryState.LOADED
    await _unload(hass, bambu_entry.entry_id)


async def test_reconfigure_loaded_entry_after_reflash(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    """A reflashed printer presents a new certificate; reconfiguring trusts it and reloads."""
    await bambu_sim.rotate_certificate()
    result = await loaded_entry.start_reconfigure_flow(hass)
    assert _defaults(result) == {CONF_HOST: "127.0.0.1"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert loaded_entry.data[CONF_CERTIFICATE] == bambu_sim.cert_pem
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert _logins(bambu_sim) == 3  # setup, the check, and one reload with the new certificate
    state = hass.states.get("binary_sensor.p1s_01p00a000000001_online")
    assert state is not None
    assert state.state == "on"


# -- options -------------------------------------------------------------------------------------


async def test_options(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert _defaults(result) == {CONF_REFRESH_MINUTES: 5}
    assert _logins(bambu_sim) == 1

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_REFRESH_MINUTES: 10}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options == {CONF_REFRESH_MINUTES: 10}
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert _logins(bambu_sim) == 2  # reloaded to apply the option

    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert _defaults(result) == {CONF_REFRESH_MINUTES: 10}
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_REFRESH_MINUTES: 61}
        )
    assert loaded_entry.options == {CONF_REFRESH_MINUTES: 10}
