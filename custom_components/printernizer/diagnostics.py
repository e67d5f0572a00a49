"""Diagnostics: what the printer reported and how we read it, with secrets removed."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant

from .const import CONF_ACCESS_CODE, CONF_CERTIFICATE
from .coordinator import PrinternizerConfigEntry
from .printers.bambu.adapter import BambuAdapter
from .printers.bambu.tls import fingerprint
from .printers.prusa.adapter import PrusaAdapter
from .settings import is_fleet_entry

TO_REDACT = {CONF_ACCESS_CODE, CONF_CERTIFICATE, CONF_PASSWORD, "api_key", "sn"}
# Who a print was for is the user's business, not a bug report's.
JOB_REDACT = {"customer", "project", "notes"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PrinternizerConfigEntry
) -> dict[str, Any]:
    """Entry, device, normalized state and the raw report, for bug reports."""
    if is_fleet_entry(entry):  # prices and hours, no device to report on
        return {"entry": {"options": dict(entry.options)}}
    coordinator = entry.runtime_data.coordinator
    adapter = coordinator.adapter
    data: dict[str, Any] = {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "device": asdict(adapter.device_info),
        "state": asdict(coordinator.data),
        # The codes a bug report is usually about, readable without digging through the state.
        "active_errors": [asdict(error) for error in coordinator.data.errors],
        "jobs": {
            "active": None
            if (active := entry.runtime_data.jobs.active) is None
            else async_redact_data(active.to_dict(), JOB_REDACT),
            "totals": {
                key: str(value) if isinstance(value, Decimal) else value
                for key, value in asdict(
                    entry.runtime_data.jobs.history.totals(adapter.device_info.serial)
                ).items()
            },
        },
    }
    # What was dropped instead of stopping the printer's updates; each kind is logged once.
    data["dropped"] = {
        "listener_errors": coordinator.listener_errors.failures,
        "job_file_failures": entry.runtime_data.jobs.metadata_failures,
    }
    if isinstance(adapter, BambuAdapter):
        data["entry"]["certificate_fingerprint"] = fingerprint(entry.data[CONF_CERTIFICATE])
        data["raw_report"] = async_redact_data(adapter.raw_report, TO_REDACT)
        data["malformed_messages"] = adapter.malformed
        data["dropped"]["mqtt_callback_errors"] = adapter.callback_errors
    elif isinstance(adapter, PrusaAdapter):
        data["family"] = adapter.family
        data["requests"] = adapter.request_count
        data["malformed_responses"] = adapter.malformed
    return data
