"""Job actions: list, read, annotate and cancel jobs, and price jobs or quotes.

Registered once in `async_setup`, so they exist while no printer is loaded: the history stays
readable after a printer is removed. A printer is targeted by its device or config entry.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .const import DOMAIN
from .coordinator import PrinternizerConfigEntry
from .costs import Category, quote
from .entity import run_command
from .history import DATA_HISTORY
from .jobs import JobRecord, JobStatus
from .jobs.costing import corrected_materials, record_costs

SERVICE_LIST_JOBS = "list_jobs"
SERVICE_GET_JOB = "get_job"
SERVICE_UPDATE_JOB = "update_job"
SERVICE_CANCEL_JOB = "cancel_job"
SERVICE_CALCULATE_COSTS = "calculate_costs"

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_DEVICE_ID = "device_id"
ATTR_JOB_ID = "job_id"
ATTR_STATUS = "status"
ATTR_CATEGORY = "category"
ATTR_START = "start"
ATTR_END = "end"
ATTR_TEXT = "text"
ATTR_LIMIT = "limit"
ATTR_OFFSET = "offset"
ATTR_CUSTOMER = "customer"
ATTR_PROJECT = "project"
ATTR_NOTES = "notes"
ATTR_MATERIALS = "materials"
ATTR_MATERIAL = "material"
ATTR_GRAMS = "grams"
ATTR_HOURS = "hours"

MAX_LIMIT = 1000
_IDS = vol.All(cv.ensure_list, [cv.string])
_TARGET = {vol.Optional(ATTR_CONFIG_ENTRY_ID): _IDS, vol.Optional(ATTR_DEVICE_ID): _IDS}
_GRAMS = vol.All(vol.Coerce(float), vol.Range(min=0, max=1_000_000))
_TEXT = vol.Any(None, vol.All(cv.string, vol.Length(max=500)))

LIST_SCHEMA = vol.Schema(
    {
        **_TARGET,
        vol.Optional(ATTR_STATUS): vol.All(cv.ensure_list, [vol.In([s.value for s in JobStatus])]),
        vol.Optional(ATTR_CATEGORY): vol.All(cv.ensure_list, [vol.In([c.value for c in Category])]),
        vol.Optional(ATTR_START): cv.datetime,
        vol.Optional(ATTR_END): cv.datetime,
        vol.Optional(ATTR_TEXT): vol.All(cv.string, vol.Length(max=200)),
        vol.Optional(ATTR_LIMIT, default=50): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=MAX_LIMIT)
        ),
        vol.Optional(ATTR_OFFSET, default=0): vol.All(vol.Coerce(int), vol.Range(min=0)),
    }
)
JOB_SCHEMA = vol.Schema({vol.Required(ATTR_JOB_ID): cv.string})
UPDATE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_JOB_ID): cv.string,
        vol.Optional(ATTR_CATEGORY): vol.In([c.value for c in Category]),
        vol.Optional(ATTR_CUSTOMER): _TEXT,
        vol.Optional(ATTR_PROJECT): _TEXT,
        vol.Optional(ATTR_NOTES): vol.Any(None, vol.All(cv.string, vol.Length(max=5000))),
        vol.Optional(ATTR_MATERIALS): vol.All(
            cv.ensure_list,
            vol.Length(min=1, max=32),
            [
                vol.Schema(
                    {
                        vol.Required(ATTR_MATERIAL): vol.All(cv.string, vol.Length(max=50)),
                        vol.Required(ATTR_GRAMS): _GRAMS,
                    }
                )
            ],
        ),
    }
)
CANCEL_SCHEMA = vol.Schema({**_TARGET, vol.Optional(ATTR_JOB_ID): cv.string})
COSTS_SCHEMA = vol.Schema(
    {
        **_TARGET,
        vol.Optional(ATTR_JOB_ID): cv.string,
        vol.Optional(ATTR_GRAMS): _GRAMS,
        vol.Optional(ATTR_MATERIAL): vol.All(cv.string, vol.Length(max=50)),
        vol.Optional(ATTR_HOURS): vol.All(vol.Coerce(float), vol.Range(min=0, max=10_000)),
    }
)


def _error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


def _loaded_entries(hass: HomeAssistant) -> list[PrinternizerConfigEntry]:
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]


def _targets(hass: HomeAssistant, data: dict[str, Any]) -> list[PrinternizerConfigEntry] | None:
    """The loaded printers a call names; None when it names none."""
    entry_ids = list(data.get(ATTR_CONFIG_ENTRY_ID, ()))
    devices = dr.async_get(hass)
    for device_id in data.get(ATTR_DEVICE_ID, ()):
        device = devices.async_get(device_id)
        mine = [
            entry_id
            for entry_id in (device.config_entries if device else ())
            if (entry := hass.config_entries.async_get_entry(entry_id)) and entry.domain == DOMAIN
        ]
        if not mine:
            raise _error("printer_not_found", target=device_id)
        entry_ids += mine
    if not entry_ids:
        return None
    entries = []
    for entry_id in dict.fromkeys(entry_ids):
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            raise _error("printer_not_found", target=entry_id)
        if entry.state is not ConfigEntryState.LOADED:
            raise _error("printer_not_loaded", name=entry.title)
        entries.append(entry)
    return entries


def _one_target(hass: HomeAssistant, data: dict[str, Any]) -> PrinternizerConfigEntry | None:
    entries = _targets(hass, data)
    if entries is not None and len(entries) > 1:
        raise _error("one_printer_only")
    return entries[0] if entries else None


def _entry_of(hass: HomeAssistant, serial: str) -> PrinternizerConfigEntry | None:
    for entry in _loaded_entries(hass):
        if entry.runtime_data.jobs.serial == serial:
            return entry
    return None


def _job(hass: HomeAssistant, job_id: str) -> JobRecord:
    if (record := hass.data[DATA_HISTORY].get(job_id)) is None:
        raise _error("job_not_found", job_id=job_id)
    return record


def _utc(value: datetime) -> datetime:
    """A naive date-time from the UI is local time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt_util.get_default_time_zone())
    return dt_util.as_utc(value)


@callback
def _list_jobs(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    entries = _targets(hass, data)
    start = _utc(data[ATTR_START]) if ATTR_START in data else None
    end = _utc(data[ATTR_END]) if ATTR_END in data else None
    if start is not None and end is not None and start >= end:
        raise _error("invalid_range")
    jobs, total = hass.data[DATA_HISTORY].query(
        serials=None if entries is None else [e.runtime_data.jobs.serial for e in entries],
        statuses=data.get(ATTR_STATUS),
        categories=data.get(ATTR_CATEGORY),
        start=start,
        end=end,
        text=data.get(ATTR_TEXT),
        limit=data[ATTR_LIMIT],
        offset=data[ATTR_OFFSET],
    )
    return {"jobs": [job.to_dict() for job in jobs], "total": total}


@callback
def _get_job(call: ServiceCall) -> ServiceResponse:
    return {"job": _job(call.hass, call.data[ATTR_JOB_ID]).to_dict()}


@callback
def _update_job(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    record = _job(hass, data[ATTR_JOB_ID])
    if ATTR_MATERIALS in data:
        corrections = [(item[ATTR_MATERIAL], item[ATTR_GRAMS]) for item in data[ATTR_MATERIALS]]
        record = corrected_materials(record, corrections)
    record = replace(
        record,
        **{
            key: data[key]
            for key in (ATTR_CATEGORY, ATTR_CUSTOMER, ATTR_PROJECT, ATTR_NOTES)
            if key in data
        },
        updated_at=dt_util.utcnow(),
    )
    entry = _entry_of(hass, record.serial)
    reprice = ATTR_MATERIALS in data
    if entry is not None:
        record = entry.runtime_data.jobs.async_amend(record, reprice=reprice)
    elif record.status is JobStatus.ACTIVE or reprice:
        # Pricing needs the printer's cost options; a running job belongs to its tracker.
        raise _error("printer_not_loaded", name=record.printer_name)
    else:
        hass.data[DATA_HISTORY].put(record)
    return {"job": record.to_dict()}


async def _cancel_job(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    entry = _one_target(hass, call.data)
    if ATTR_JOB_ID in call.data:
        record = _job(hass, call.data[ATTR_JOB_ID])
        if record.status is not JobStatus.ACTIVE:
            raise _error("job_not_active", job_id=record.id)
        owner = _entry_of(hass, record.serial)
        if owner is None:
            raise _error("printer_not_loaded", name=record.printer_name)
        if entry is not None and entry is not owner:
            raise _error("job_not_on_printer", job_id=record.id, name=entry.title)
        entry = owner
    if entry is None:
        raise _error("no_target")
    active = entry.runtime_data.jobs.active
    if active is None:
        raise _error("no_active_job", name=entry.title)
    coordinator = entry.runtime_data.coordinator
    await run_command(coordinator, "stop", coordinator.adapter.stop_print())
    return {"job": active.to_dict()}


@callback
def _calculate_costs(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    entry = _one_target(hass, data)
    if ATTR_JOB_ID in data:
        record = _job(hass, data[ATTR_JOB_ID])
        entry = _entry_of(hass, record.serial)
        if entry is None:
            raise _error("printer_not_loaded", name=record.printer_name)
        jobs = entry.runtime_data.jobs
        if record.status is JobStatus.ACTIVE:
            breakdown = jobs.running_costs()
            return {"job_id": record.id, "costs": breakdown.as_dict() if breakdown else None}
        priced = record_costs(record, jobs.settings())
        return {"job_id": record.id, "costs": priced.cost}
    missing = [key for key in (ATTR_GRAMS, ATTR_MATERIAL, ATTR_HOURS) if key not in data]
    if missing:
        raise _error("quote_incomplete", fields=", ".join(missing))
    if entry is None:
        loaded = _loaded_entries(hass)
        if len(loaded) != 1:
            raise _error("no_target")
        entry = loaded[0]
    breakdown = quote(
        entry.runtime_data.jobs.settings(),
        grams=Decimal(str(data[ATTR_GRAMS])),
        material=data[ATTR_MATERIAL],
        hours=Decimal(str(data[ATTR_HOURS])),
    )
    return {"costs": breakdown.as_dict()}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the job actions."""
    for name, handler, schema, response in (
        (SERVICE_LIST_JOBS, _list_jobs, LIST_SCHEMA, SupportsResponse.ONLY),
        (SERVICE_GET_JOB, _get_job, JOB_SCHEMA, SupportsResponse.ONLY),
        (SERVICE_UPDATE_JOB, _update_job, UPDATE_SCHEMA, SupportsResponse.OPTIONAL),
        (SERVICE_CANCEL_JOB, _cancel_job, CANCEL_SCHEMA, SupportsResponse.OPTIONAL),
        (SERVICE_CALCULATE_COSTS, _calculate_costs, COSTS_SCHEMA, SupportsResponse.ONLY),
    ):
        hass.services.async_register(DOMAIN, name, handler, schema, supports_response=response)
