"""Job actions: list, read, annotate and cancel jobs, and price jobs or quotes.

Registered once in `async_setup`, so they exist while no printer is loaded: the history stays
readable after a printer is removed. A printer is targeted by its device or config entry.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
import voluptuous as vol

from ..const import DOMAIN
from ..coordinator import PrinternizerConfigEntry
from ..costs import Category, cost_response, quote
from ..entity import run_command
from ..history import DATA_HISTORY
from ..jobs import JobRecord, JobStatus
from ..jobs.costing import corrected_materials, record_costs
from ..printer_files import DATA_FILES
from ..printers.values import MAX_MAGNITUDE, MAX_NOTE
from .common import (
    ATTR_CATEGORY,
    ATTR_CUSTOMER,
    ATTR_END,
    ATTR_OFFSET,
    ATTR_START,
    ATTR_STATUS,
    MAX_ID,
    MAX_TEXT,
    TARGET,
    date_time,
    error,
    loaded_entries,
    number_in,
    safe,
    string,
    targets,
    user_text,
    whole,
)

SERVICE_LIST_JOBS = "list_jobs"
SERVICE_GET_JOB = "get_job"
SERVICE_UPDATE_JOB = "update_job"
SERVICE_CANCEL_JOB = "cancel_job"
SERVICE_CALCULATE_COSTS = "calculate_costs"

ATTR_JOB_ID = "job_id"
ATTR_TEXT = "text"
ATTR_LIMIT = "limit"
ATTR_PROJECT = "project"
ATTR_NOTES = "notes"
ATTR_MATERIALS = "materials"
ATTR_MATERIAL = "material"
ATTR_GRAMS = "grams"
ATTR_HOURS = "hours"

MAX_LIMIT = 1000
MAX_SEARCH = 200
MAX_MATERIAL = 50


_GRAMS = number_in(0, 1_000_000)
_TEXT = vol.Any(None, string(MAX_TEXT))
_JOB_ID = string(MAX_ID)

LIST_SCHEMA = safe(
    vol.Schema(
        {
            **TARGET,
            vol.Optional(ATTR_STATUS): vol.All(
                cv.ensure_list, [vol.In([s.value for s in JobStatus])]
            ),
            vol.Optional(ATTR_CATEGORY): vol.All(
                cv.ensure_list, [vol.In([c.value for c in Category])]
            ),
            vol.Optional(ATTR_START): date_time,
            vol.Optional(ATTR_END): date_time,
            vol.Optional(ATTR_TEXT): string(MAX_SEARCH),
            vol.Optional(ATTR_LIMIT, default=50): whole(1, MAX_LIMIT),
            vol.Optional(ATTR_OFFSET, default=0): whole(0, int(MAX_MAGNITUDE)),
        }
    )
)
JOB_SCHEMA = safe(vol.Schema({vol.Required(ATTR_JOB_ID): _JOB_ID}))
UPDATE_SCHEMA = safe(
    vol.Schema(
        {
            vol.Required(ATTR_JOB_ID): _JOB_ID,
            vol.Optional(ATTR_CATEGORY): vol.In([c.value for c in Category]),
            vol.Optional(ATTR_CUSTOMER): _TEXT,
            vol.Optional(ATTR_PROJECT): _TEXT,
            vol.Optional(ATTR_NOTES): vol.Any(None, string(MAX_NOTE)),
            vol.Optional(ATTR_MATERIALS): vol.All(
                cv.ensure_list,
                vol.Length(min=1, max=32),
                [
                    vol.Schema(
                        {
                            vol.Required(ATTR_MATERIAL): string(MAX_MATERIAL),
                            vol.Required(ATTR_GRAMS): _GRAMS,
                        }
                    )
                ],
            ),
        }
    )
)
CANCEL_SCHEMA = safe(vol.Schema({**TARGET, vol.Optional(ATTR_JOB_ID): _JOB_ID}))
COSTS_SCHEMA = safe(
    vol.Schema(
        {
            **TARGET,
            vol.Optional(ATTR_JOB_ID): _JOB_ID,
            vol.Optional(ATTR_GRAMS): _GRAMS,
            vol.Optional(ATTR_MATERIAL): string(MAX_MATERIAL),
            vol.Optional(ATTR_HOURS): number_in(0, 10_000),
        }
    )
)


def _material(value: str) -> str:
    """A material's name; an empty one would price the job as nothing known."""
    name = user_text(ATTR_MATERIAL, value)
    if name is None:
        raise error("material_required")
    return name


def _one_target(hass: HomeAssistant, data: dict[str, Any]) -> PrinternizerConfigEntry | None:
    entries = targets(hass, data)
    if entries is not None and len(entries) > 1:
        raise error("one_printer_only")
    return entries[0] if entries else None


def _entry_of(hass: HomeAssistant, serial: str) -> PrinternizerConfigEntry | None:
    for entry in loaded_entries(hass):
        if entry.runtime_data.jobs.serial == serial:
            return entry
    return None


def _job(hass: HomeAssistant, job_id: str) -> JobRecord:
    if (record := hass.data[DATA_HISTORY].get(job_id)) is None:
        raise error("job_not_found", job_id=job_id)
    return record


def _utc(field: str, value: datetime) -> datetime:
    """A naive date-time from the UI is local time; one UTC cannot hold is refused."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt_util.get_default_time_zone())
    try:
        return dt_util.as_utc(value)
    except OverflowError:
        raise error("invalid_date", field=field) from None


def _job_response(record: JobRecord) -> dict[str, Any]:
    """A job as an action returns it: its cost figures as numbers next to the currency."""
    data = record.to_dict()
    data["cost"] = cost_response(record.cost)
    return data


async def _with_files(hass: HomeAssistant, records: list[JobRecord]) -> list[dict[str, Any]]:
    """Jobs as `get_job`/`list_jobs` return them: with `files`, their local copies.

    Joined from the file manager at read time (not kept in the record): a copy deleted since
    is not shown, and the history's records stay as they are.
    """
    files = hass.data.get(DATA_FILES)
    linked = {} if files is None else await files.async_job_files(records)
    return [{**_job_response(record), "files": linked.get(record.id, [])} for record in records]


async def _list_jobs(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    entries = targets(hass, data)
    start = _utc(ATTR_START, data[ATTR_START]) if ATTR_START in data else None
    end = _utc(ATTR_END, data[ATTR_END]) if ATTR_END in data else None
    search = user_text(ATTR_TEXT, data.get(ATTR_TEXT))
    if start is not None and end is not None and start >= end:
        raise error("invalid_range")
    jobs, total = hass.data[DATA_HISTORY].query(
        serials=None if entries is None else [e.runtime_data.jobs.serial for e in entries],
        statuses=data.get(ATTR_STATUS),
        categories=data.get(ATTR_CATEGORY),
        start=start,
        end=end,
        text=search,
        limit=data[ATTR_LIMIT],
        offset=data[ATTR_OFFSET],
    )
    return {"jobs": list(await _with_files(hass, jobs)), "total": total}


async def _get_job(call: ServiceCall) -> ServiceResponse:
    (job,) = await _with_files(call.hass, [_job(call.hass, call.data[ATTR_JOB_ID])])
    return {"job": job}


@callback
def _update_job(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    changes: dict[str, Any] = {
        key: user_text(key, data[key], multiline=key == ATTR_NOTES)
        for key in (ATTR_CUSTOMER, ATTR_PROJECT, ATTR_NOTES)
        if key in data
    }
    if ATTR_CATEGORY in data:
        changes[ATTR_CATEGORY] = data[ATTR_CATEGORY]
    corrections = [
        (_material(item[ATTR_MATERIAL]), item[ATTR_GRAMS]) for item in data.get(ATTR_MATERIALS, ())
    ]
    record = _job(hass, data[ATTR_JOB_ID])
    if corrections:
        record = corrected_materials(record, corrections)
    record = replace(record, **changes, updated_at=dt_util.utcnow())
    entry = _entry_of(hass, record.serial)
    reprice = ATTR_MATERIALS in data
    if entry is not None:
        record = entry.runtime_data.jobs.async_amend(record, reprice=reprice)
    elif record.status is JobStatus.ACTIVE or reprice:
        # Pricing needs the printer's cost options; a running job belongs to its tracker.
        raise error("printer_not_loaded", name=record.printer_name)
    else:
        hass.data[DATA_HISTORY].put(record)
    return {"job": _job_response(record)}


async def _cancel_job(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    entry = _one_target(hass, call.data)
    if ATTR_JOB_ID in call.data:
        record = _job(hass, call.data[ATTR_JOB_ID])
        if record.status is not JobStatus.ACTIVE:
            raise error("job_not_active", job_id=record.id)
        owner = _entry_of(hass, record.serial)
        if owner is None:
            raise error("printer_not_loaded", name=record.printer_name)
        if entry is not None and entry is not owner:
            raise error("job_not_on_printer", job_id=record.id, name=entry.title)
        entry = owner
    if entry is None:
        raise error("no_target")
    active = entry.runtime_data.jobs.active
    if active is None:
        raise error("no_active_job", name=entry.title)
    coordinator = entry.runtime_data.coordinator
    await run_command(coordinator, "stop", coordinator.adapter.stop_print())
    return {"job": _job_response(active)}


@callback
def _calculate_costs(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    entry = _one_target(hass, data)
    if ATTR_JOB_ID in data:
        record = _job(hass, data[ATTR_JOB_ID])
        entry = _entry_of(hass, record.serial)
        if entry is None:
            raise error("printer_not_loaded", name=record.printer_name)
        jobs = entry.runtime_data.jobs
        if record.status is JobStatus.ACTIVE:
            breakdown = jobs.running_costs()
            costs = cost_response(breakdown.as_dict()) if breakdown else None
            return {"job_id": record.id, "costs": costs}
        priced = record_costs(record, jobs.settings())
        return {"job_id": record.id, "costs": cost_response(priced.cost)}
    missing = [key for key in (ATTR_GRAMS, ATTR_MATERIAL, ATTR_HOURS) if key not in data]
    if missing:
        raise error("quote_incomplete", fields=", ".join(missing))
    if entry is None:
        loaded = loaded_entries(hass)
        if len(loaded) != 1:
            raise error("no_target")
        entry = loaded[0]
    material = _material(data[ATTR_MATERIAL])
    breakdown = quote(
        entry.runtime_data.jobs.settings(),
        grams=Decimal(str(data[ATTR_GRAMS])),
        material=material,
        hours=Decimal(str(data[ATTR_HOURS])),
    )
    return {"costs": cost_response(breakdown.as_dict())}


@callback
def async_setup_job_actions(hass: HomeAssistant) -> None:
    """Register the job actions."""
    for name, handler, schema, response in (
        (SERVICE_LIST_JOBS, _list_jobs, LIST_SCHEMA, SupportsResponse.ONLY),
        (SERVICE_GET_JOB, _get_job, JOB_SCHEMA, SupportsResponse.ONLY),
        (SERVICE_UPDATE_JOB, _update_job, UPDATE_SCHEMA, SupportsResponse.OPTIONAL),
        (SERVICE_CANCEL_JOB, _cancel_job, CANCEL_SCHEMA, SupportsResponse.OPTIONAL),
        (SERVICE_CALCULATE_COSTS, _calculate_costs, COSTS_SCHEMA, SupportsResponse.ONLY),
    ):
        hass.services.async_register(DOMAIN, name, handler, schema, supports_response=response)
