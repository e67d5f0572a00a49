"""Repair issues a printer raises when its owner must act, and the certificate fix flow.

Each issue belongs to one printer entry (its id ends with the entry id), is raised only when
the owner can do something about it and is deleted as soon as it is resolved:

- certificate changed: the printer presents another TLS certificate than the one pinned when it
  was added (a reflash, a repair, or someone else answering at its address). The fix flow shows
  both fingerprints; accepting pins the new certificate and reloads the entry.
- controls locked: Bambu firmware that wants signed commands refuses control until the printer
  runs in LAN-only mode with Developer Mode; raised while the printer says so, or after it
  refused a command for it, until it says otherwise or a command goes through.
- firmware too old: the PrusaLink API this integration speaks (v1, Buddy firmware 4.7.0 or
  newer, 5.1.0 on the MINI) is missing, or the printer reports an older firmware.

Credentials the printer refuses raise no issue of ours: HA's reauth flow is that repair.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResult
from homeassistant.helpers import issue_registry as ir
import voluptuous as vol

from .const import (
    CONF_CERTIFICATE,
    CONF_MODEL,
    CONF_MQTT_PORT,
    CONF_PRINTER_TYPE,
    DEFAULT_MQTT_PORT,
    DOMAIN,
    PRINTER_PRUSA,
)
from .printers.bambu.tls import fetch_certificate, fingerprint
from .printers.errors import AdapterError, ControlsLockedError, PrinterOfflineError
from .printers.prusa.adapter import PrusaAdapter
from .printers.prusa.client import HttpStatusError

if TYPE_CHECKING:
    from .coordinator import PrinternizerConfigEntry
    from .printers.base import PrinterAdapter
    from .printers.models import PrinterState

ISSUE_CERTIFICATE: Final = "certificate_changed"
ISSUE_CONTROLS_LOCKED: Final = "controls_locked"
ISSUE_FIRMWARE: Final = "firmware_too_old"
ISSUE_KINDS: Final = (ISSUE_CERTIFICATE, ISSUE_CONTROLS_LOCKED, ISSUE_FIRMWARE)

LOCKDOWN_URL: Final = "https://wiki.bambulab.com/en/software/third-party-integration"
PRUSA_FIRMWARE_URL: Final = "https://help.prusa3d.com/article/how-to-update-firmware-mk4-xl_453086"
MINI_FIRMWARE_URL: Final = "https://help.prusa3d.com/article/firmware-updating-mini-mini_124784"
# PrusaLink v1 with digest login, the API this integration speaks (HA core's gate as well).
MIN_BUDDY_FIRMWARE: Final = (4, 7, 0)
MIN_MINI_FIRMWARE: Final = (5, 1, 0)  # 4.7.x and 5.0.x were never released for the MINI
_RELOADABLE: Final = frozenset(
    {ConfigEntryState.LOADED, ConfigEntryState.SETUP_ERROR, ConfigEntryState.SETUP_RETRY}
)
_VERSION: Final = re.compile(r"\s*v?(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?", re.ASCII)


def issue_id(kind: str, entry_id: str) -> str:
    """The id of one kind of issue of one printer entry."""
    return f"{kind}_{entry_id}"


@callback
def async_delete_entry_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Forget every issue of a removed printer entry."""
    for kind in ISSUE_KINDS:
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id))


def parse_version(version: str | None) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a firmware version such as "6.5.3" or "5.1.0-RC1"; else None."""
    match = _VERSION.match(version or "")
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def _is_mini(model: str | None) -> bool:
    return (model or "").upper().startswith("MINI")


def minimum_firmware(model: str | None) -> tuple[int, int, int]:
    """The oldest Buddy firmware with the PrusaLink API this integration speaks."""
    return MIN_MINI_FIRMWARE if _is_mini(model) else MIN_BUDDY_FIRMWARE


def firmware_url(model: str | None) -> str:
    """Prusa's firmware update guide for this model."""
    return MINI_FIRMWARE_URL if _is_mini(model) else PRUSA_FIRMWARE_URL


def firmware_too_old(family: str, model: str | None, firmware: str | None) -> bool:
    """Whether a PrusaLink printer reports firmware older than the minimum.

    Only Buddy firmware counts: on a Raspberry Pi `firmware` is the MK3's own (3.x), and
    Prusa-Link is judged by the API it answers. An unreadable or missing version is no proof.
    """
    version = parse_version(firmware)
    return family == "buddy" and version is not None and version < minimum_firmware(model)


def api_missing(error: AdapterError) -> bool:
    """A PrusaLink route every supported firmware has answered 404: the firmware predates it."""
    return isinstance(error, HttpStatusError) and error.status == 404


@dataclass(slots=True)
class PrinterIssues:
    """The repair issues of one printer entry; the coordinator reports what it sees."""

    hass: HomeAssistant
    entry: PrinternizerConfigEntry
    _reported_locked: bool = False
    _refused_locked: bool = False
    _locked_issue: bool | None = None  # unknown until the first state: a reload resyncs

    def _id(self, kind: str) -> str:
        return issue_id(kind, self.entry.entry_id)

    def _raise(self, kind: str, *, fixable: bool = False, url: str | None = None) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._id(kind),
            data={"entry_id": self.entry.entry_id},
            is_fixable=fixable,
            is_persistent=False,
            learn_more_url=url,
            severity=ir.IssueSeverity.ERROR,
            translation_key=kind,
            translation_placeholders={"name": self.entry.title},
        )

    def _delete(self, kind: str) -> None:
        ir.async_delete_issue(self.hass, DOMAIN, self._id(kind))

    @callback
    def certificate_changed(self) -> None:
        """The printer presented another certificate than the pinned one."""
        self._raise(ISSUE_CERTIFICATE, fixable=True)

    @callback
    def setup_failed(self, error: AdapterError) -> bool:
        """Raise the issue a failed start calls for; True when it is the firmware's age."""
        if self.entry.data[CONF_PRINTER_TYPE] == PRINTER_PRUSA and api_missing(error):
            self._raise(ISSUE_FIRMWARE, url=firmware_url(self.entry.data.get(CONF_MODEL)))
            return True
        return False

    @callback
    def started(self, adapter: PrinterAdapter) -> None:
        """Connected: the certificate is trusted again; judge the firmware it reports."""
        self._delete(ISSUE_CERTIFICATE)
        info = adapter.device_info
        if isinstance(adapter, PrusaAdapter) and firmware_too_old(
            adapter.family, info.model, info.firmware
        ):
            self._raise(ISSUE_FIRMWARE, url=firmware_url(info.model))
        else:
            self._delete(ISSUE_FIRMWARE)
        self.state_changed(adapter.state)

    @callback
    def state_changed(self, state: PrinterState) -> None:
        """Follow the lockdown the printer reports; cheap enough for every push."""
        locked = state.controls_locked
        if locked != self._reported_locked:
            self._reported_locked = locked
            if not locked:
                self._refused_locked = False  # the owner switched to Developer Mode
        self._sync_lockdown()

    @callback
    def command_done(self, error: AdapterError | None) -> None:
        """A command went through (None) or failed; a refusal for the lockdown raises it."""
        if isinstance(error, ControlsLockedError):
            self._refused_locked = True
        elif error is None:
            self._refused_locked = False
        self._sync_lockdown()

    def _sync_lockdown(self) -> None:
        wanted = self._reported_locked or self._refused_locked
        if wanted != self._locked_issue:
            self._locked_issue = wanted
            if wanted:
                self._raise(ISSUE_CONTROLS_LOCKED, url=LOCKDOWN_URL)
            else:
                self._delete(ISSUE_CONTROLS_LOCKED)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Only the changed certificate can be fixed from the repairs dashboard."""
    if not issue_id.startswith(ISSUE_CERTIFICATE) or not data:
        raise ValueError(f"Issue {issue_id} has no fix flow")
    return CertificateFlow(str(data["entry_id"]))


class CertificateFlow(RepairsFlow):
    """Show the pinned and the presented certificate; accepting pins the presented one."""

    def __init__(self, entry_id: str) -> None:
        """Fix the certificate of this printer entry."""
        self._entry_id = entry_id
        self._presented: str | None = None

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Fetch what the printer presents now and ask."""
        return await self.async_step_confirm()

    async def async_step_confirm(self, user_input: dict[str, Any] | None = None) -> FlowResult:
        """Pin exactly the certificate whose fingerprint the owner was shown."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
            return self.async_abort(reason="entry_removed")
        if user_input is not None and self._presented is not None:
            self._pin(entry, self._presented)
            return self.async_create_entry(data={})
        try:
            presented = await self.hass.async_add_executor_job(
                fetch_certificate,
                entry.data[CONF_HOST],
                entry.data.get(CONF_MQTT_PORT, DEFAULT_MQTT_PORT),
            )
        except PrinterOfflineError:
            return self.async_abort(reason="cannot_connect")
        pinned = entry.data.get(CONF_CERTIFICATE, "")
        old, new = _fingerprint(pinned), _fingerprint(presented)
        if new == old:
            # Presented again (or a replaced printer swapped back): nothing to trust anew.
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
            self._reload(entry)
            return self.async_abort(reason="certificate_unchanged")
        self._presented = presented
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            description_placeholders={"name": entry.title, "old": old, "new": new},
        )

    def _pin(self, entry: PrinternizerConfigEntry, certificate: str) -> None:
        loaded = entry.state is ConfigEntryState.LOADED  # its update listener reloads it
        self.hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_CERTIFICATE: certificate}
        )
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
        if not loaded:
            self._reload(entry)

    def _reload(self, entry: PrinternizerConfigEntry) -> None:
        """Connect again; a loaded entry's connection gave up on the certificate for good."""
        if entry.state in _RELOADABLE:
            self.hass.config_entries.async_schedule_reload(entry.entry_id)


def _fingerprint(certificate: str) -> str:
    """The fingerprint shown to the owner; "-" for a stored certificate that cannot be read."""
    try:
        return fingerprint(certificate)
    except ValueError:
        return "-"
