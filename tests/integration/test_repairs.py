"""Repair issues against the simulators: raised when the owner can act, cleared when resolved."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from homeassistant.components.select import (
    ATTR_OPTION,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.printernizer.const import CONF_CERTIFICATE, DOMAIN
from custom_components.printernizer.printers.bambu.tls import fingerprint
from custom_components.printernizer.repairs import (
    LOCKDOWN_URL,
    MINI_FIRMWARE_URL,
    PRUSA_FIRMWARE_URL,
    firmware_too_old,
    parse_version,
)
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator
from simulator.prusa.auth import BuddyAuth

from .conftest import wait_for_state

PREFIX = "p1s_01p00a000000001"
STATUS = f"sensor.{PREFIX}_status"
SPEED = f"select.{PREFIX}_print_speed"


def _issue(hass: HomeAssistant, kind: str, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry.entry_id}")


def _our_issues(hass: HomeAssistant) -> list[str]:
    return sorted(key[1] for key in ir.async_get(hass).issues if key[0] == DOMAIN)


async def _until(check: Callable[[], object], timeout: float = 10) -> None:
    """Wait for a condition the event loop brings about, within a bound."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def _fix(hass: HomeAssistant, client: ClientSessionGenerator, issue_id: str) -> Any:
    """Start the fix flow as the repairs dashboard does."""
    assert await async_setup_component(hass, "repairs", {})
    http = await client()
    response = await http.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert response.status == 200
    return await response.json()


async def _confirm(client: ClientSessionGenerator, flow_id: str) -> Any:
    http = await client()
    response = await http.post(f"/api/repairs/issues/fix/{flow_id}", json={})
    assert response.status == 200
    return await response.json()


# -- the printer's certificate changed ------------------------------------------------------------


async def test_changed_certificate_at_setup_is_fixed_by_pinning_the_new_one(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    bambu_sim: BambuSimulator,
    bambu_entry: MockConfigEntry,
) -> None:
    old = bambu_sim.cert_pem
    await bambu_sim.rotate_certificate()
    assert not await hass.config_entries.async_setup(bambu_entry.entry_id)
    assert bambu_entry.state is ConfigEntryState.SETUP_ERROR
    issue = _issue(hass, "certificate_changed", bambu_entry)
    assert issue is not None
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {"name": bambu_entry.title}

    flow = await _fix(hass, hass_client, issue.issue_id)
    assert flow["type"] == "form"
    assert flow["step_id"] == "confirm"
    shown = flow["description_placeholders"]
    assert shown["old"] == fingerprint(old)
    assert shown["new"] == fingerprint(bambu_sim.cert_pem) != shown["old"]
    assert shown["new"].replace(":", "").lower() == bambu_sim.cert_fingerprint
    assert bambu_entry.data[CONF_CERTIFICATE] == old  # nothing trusted before the owner says so

    result = await _confirm(hass_client, flow["flow_id"])
    assert result["type"] == "create_entry"
    assert bambu_entry.data[CONF_CERTIFICATE] == bambu_sim.cert_pem
    await _until(lambda: bambu_entry.state is ConfigEntryState.LOADED)
    await wait_for_state(hass, STATUS, "idle")
    assert _our_issues(hass) == []
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)


async def test_changed_certificate_while_running_raises_the_issue_and_the_fix_reconnects(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    bambu_sim: BambuSimulator,
    loaded_entry: MockConfigEntry,
) -> None:
    assert _our_issues(hass) == []
    await bambu_sim.rotate_certificate()
    await _until(lambda: _issue(hass, "certificate_changed", loaded_entry))
    await wait_for_state(hass, STATUS, "offline")
    issue = _issue(hass, "certificate_changed", loaded_entry)
    assert issue is not None

    flow = await _fix(hass, hass_client, issue.issue_id)
    result = await _confirm(hass_client, flow["flow_id"])
    assert result["type"] == "create_entry"
    assert loaded_entry.data[CONF_CERTIFICATE] == bambu_sim.cert_pem
    await wait_for_state(hass, STATUS, "idle")  # reloaded, connected with the new certificate
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert _our_issues(hass) == []


async def test_fix_flow_of_an_unreachable_printer_changes_nothing(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    bambu_sim: BambuSimulator,
    bambu_entry: MockConfigEntry,
) -> None:
    old = bambu_sim.cert_pem
    await bambu_sim.rotate_certificate()
    assert not await hass.config_entries.async_setup(bambu_entry.entry_id)
    issue = _issue(hass, "certificate_changed", bambu_entry)
    assert issue is not None
    await bambu_sim.stop()
    flow = await _fix(hass, hass_client, issue.issue_id)
    assert flow["type"] == "abort"
    assert flow["reason"] == "cannot_connect"
    assert bambu_entry.data[CONF_CERTIFICATE] == old
    assert _issue(hass, "certificate_changed", bambu_entry) is not None  # still to be fixed


async def test_fix_flow_when_the_trusted_certificate_is_presented_again(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    bambu_sim: BambuSimulator,
    bambu_entry: MockConfigEntry,
) -> None:
    """Reconfigured by hand while the issue was open: nothing new to trust, it reconnects."""
    await bambu_sim.rotate_certificate()
    assert not await hass.config_entries.async_setup(bambu_entry.entry_id)
    issue = _issue(hass, "certificate_changed", bambu_entry)
    assert issue is not None
    hass.config_entries.async_update_entry(
        bambu_entry, data={**bambu_entry.data, CONF_CERTIFICATE: bambu_sim.cert_pem}
    )
    flow = await _fix(hass, hass_client, issue.issue_id)
    assert flow["type"] == "abort"
    assert flow["reason"] == "certificate_unchanged"
    await _until(lambda: bambu_entry.state is ConfigEntryState.LOADED)
    assert _our_issues(hass) == []
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)


async def test_removing_the_printer_removes_its_issues(
    hass: HomeAssistant, bambu_sim: BambuSimulator, bambu_entry: MockConfigEntry
) -> None:
    await bambu_sim.rotate_certificate()
    assert not await hass.config_entries.async_setup(bambu_entry.entry_id)
    assert _our_issues(hass) == [f"certificate_changed_{bambu_entry.entry_id}"]
    await hass.config_entries.async_remove(bambu_entry.entry_id)
    assert _our_issues(hass) == []


# -- firmware lockdown ----------------------------------------------------------------------------


async def test_lockdown_reported_by_the_printer_raises_and_clears_the_issue(
    hass: HomeAssistant, bambu_sim: BambuSimulator, loaded_entry: MockConfigEntry
) -> None:
    assert _issue(hass, "controls_locked", loaded_entry) is None
    bambu_sim.set_lockdown(True)
    await _until(lambda: _issue(hass, "controls_locked", loaded_entry))
    issue = _issue(hass, "controls_locked", loaded_entry)
    assert issue is not None
    assert not issue.is_fixable  # the owner changes a setting on the printer
    assert issue.learn_more_url == LOCKDOWN_URL
    assert issue.translation_placeholders == {"name": loaded_entry.title}
    bambu_sim.set_lockdown(False)
    await _until(lambda: _issue(hass, "controls_locked", loaded_entry) is None)


async def test_lockdown_lifted_while_unloaded_clears_the_issue_at_setup(
    hass: HomeAssistant, bambu_sim: BambuSimulator, loaded_entry: MockConfigEntry
) -> None:
    bambu_sim.set_lockdown(True)
    await _until(lambda: _issue(hass, "controls_locked", loaded_entry))
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    bambu_sim.set_lockdown(False)
    assert await hass.config_entries.async_setup(loaded_entry.entry_id)
    assert _issue(hass, "controls_locked", loaded_entry) is None


async def test_lockdown_at_setup_raises_the_issue(
    hass: HomeAssistant, bambu_sim: BambuSimulator, bambu_entry: MockConfigEntry
) -> None:
    bambu_sim.set_lockdown(True)
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    assert _issue(hass, "controls_locked", bambu_entry) is not None
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)


async def test_command_refused_for_lockdown_raises_until_a_command_goes_through(
    hass: HomeAssistant, bambu_sim: BambuSimulator, loaded_entry: MockConfigEntry
) -> None:
    """Hybrid mode: the report claims control works, the printer refuses it anyway."""
    bambu_sim.lockdown = True  # refuses commands; `fun` still says unlocked
    with pytest.raises(HomeAssistantError):
        await _select_speed(hass, "sport")
    issue = _issue(hass, "controls_locked", loaded_entry)
    assert issue is not None
    assert issue.learn_more_url == LOCKDOWN_URL
    bambu_sim.lockdown = False  # the owner enabled Developer Mode
    await _select_speed(hass, "sport")
    assert _issue(hass, "controls_locked", loaded_entry) is None


async def _select_speed(hass: HomeAssistant, option: str) -> None:
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: SPEED, ATTR_OPTION: option},
        blocking=True,
    )


# -- PrusaLink firmware too old -------------------------------------------------------------------


async def test_prusalink_without_the_v1_api_raises_the_firmware_issue(
    hass: HomeAssistant, prusa_sim: PrusaSimulator, prusa_entry: MockConfigEntry
) -> None:
    """Buddy firmware before 4.7.0 has no /api/v1: setup stops retrying and says why."""
    prusa_sim.serve(
        "/api/v1/info", b"404: Not Found\n", status=404, content_type="text/plain", times=100
    )
    assert not await hass.config_entries.async_setup(prusa_entry.entry_id)
    assert prusa_entry.state is ConfigEntryState.SETUP_ERROR
    assert "too old" in (prusa_entry.reason or "")
    issue = _issue(hass, "firmware_too_old", prusa_entry)
    assert issue is not None
    assert issue.learn_more_url == PRUSA_FIRMWARE_URL
    assert not issue.is_fixable

    prusa_sim.serve("/api/v1/info", b"", times=0)  # the owner updated the firmware
    await hass.config_entries.async_reload(prusa_entry.entry_id)
    assert prusa_entry.state is ConfigEntryState.LOADED
    assert _our_issues(hass) == []
    assert await hass.config_entries.async_unload(prusa_entry.entry_id)


async def test_prusalink_reporting_old_firmware_raises_the_issue_and_keeps_working(
    hass: HomeAssistant, prusa_sim: PrusaSimulator, prusa_entry: MockConfigEntry
) -> None:
    version = {
        "api": "2.0.0",
        "server": "2.1.2",
        "text": "PrusaLink",
        "hostname": "prusa-mini",
        "firmware": "5.0.2",
        "printer": "MINI",
    }
    prusa_sim.serve("/api/version", version, times=1)
    assert await hass.config_entries.async_setup(prusa_entry.entry_id)
    issue = _issue(hass, "firmware_too_old", prusa_entry)
    assert issue is not None
    assert issue.learn_more_url == MINI_FIRMWARE_URL  # the guide for the model it reports
    await hass.config_entries.async_reload(prusa_entry.entry_id)  # now it reports 6.5.3
    assert prusa_entry.state is ConfigEntryState.LOADED
    assert _our_issues(hass) == []
    assert await hass.config_entries.async_unload(prusa_entry.entry_id)


@pytest.mark.parametrize(
    ("family", "model", "firmware", "too_old"),
    [
        ("buddy", "MK4", "4.6.9", True),
        ("buddy", "MK4", "4.7.0", False),
        ("buddy", "MK4S", "6.5.3-RC1+12345", False),
        ("buddy", "MINI", "5.0.9", True),
        ("buddy", "MINI+", "5.1.0", False),
        ("buddy", "mini", "4.7.1", True),
        ("buddy", None, "4.4", True),
        ("pi", "MK3S", "3.14.1", False),  # the MK3's own firmware, not PrusaLink's
        ("buddy", "MK4", None, False),  # older Buddy firmware does not say: no proof
        ("buddy", "MK4", "", False),
        ("buddy", "MK4", "garbage", False),
        ("buddy", "MK4", "99999999999999.1", False),
        ("buddy", "MK4", "4.\u00b2.0", False),
        ("buddy", "MK4", "\x00" * 10_000, False),
        ("buddy", "MK4", "\u0664.\u0666.\u0660", False),  # Arabic-Indic digits: not a version
    ],
)
def test_firmware_minimum(
    family: str, model: str | None, firmware: str | None, too_old: bool
) -> None:
    assert firmware_too_old(family, model, firmware) is too_old


def test_versions_read() -> None:
    assert parse_version("v6.5.3") == (6, 5, 3)
    assert parse_version("5.1") == (5, 1, 0)
    assert parse_version(None) is None


# -- credentials: HA's reauth flow is the repair --------------------------------------------------


async def test_refused_password_at_runtime_starts_reauth_and_no_issue(
    hass: HomeAssistant, prusa_sim: PrusaSimulator, loaded_prusa_entry: MockConfigEntry
) -> None:
    prusa_sim.auth = BuddyAuth("changed-on-the-printer")
    await _until(lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN))
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    assert flows[0]["context"]["entry_id"] == loaded_prusa_entry.entry_id
    assert _our_issues(hass) == []
