"""Job actions: list, read, annotate and cancel jobs, and price jobs or quotes.

Registered once in `async_setup`, so they exist while no printer is loaded: the history stays
readable after a printer is removed. A printer is targeted by its device or config entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
import re
from typing import Any, Final

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
from .costs import Category, cost_response, quote
from .entity import run_command
from .history import DATA_HISTORY
from .jobs import JobRecord, JobStatus
from .jobs.costing import corrected_materials, record_costs
from .printers.values import MAX_MAGNITUDE, MAX_NOTE, note, number, text
from .settings import is_fleet_entry

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
MAX_PLACEHOLDER: Final = 80  # what of the user's input an error message repeats
MAX_ID = 255  # config entry, device and job ids are far shorter
MAX_TEXT = 500  # customer, project
MAX_SEARCH = 200
MAX_MATERIAL = 50
# What no text a user enters may hold: lone surrogates (no encoder stores them) and control
# characters; notes may hold tabs and line breaks.
_NOT_TEXT = re.compile("[\ud800-\udfff\x00-\x1f\x7f-\x9f]")
_NOT_NOTE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _number(minimum: float, maximum: float) -> Callable[[Any], float]:
    """A finite number from minimum to maximum; NaN, infinity, a bool or a giant int is invalid."""

    def validate(value: Any) -> float:
        result = number(value)
        if result is None:
            raise vol.Invalid("expected a finite number")
        if not minimum <= result <= maximum:
            raise vol.Invalid(f"must be from {minimum:g} to {maximum:g}")
        return result

    return validate


def _whole(minimum: int, maximum: int) -> Callable[[Any], int]:
    """A whole number from minimum to maximum (a float is cut to its whole part)."""
    checked = _number(minimum, maximum)

    def validate(value: Any) -> int:
        return int(checked(value))

    return validate


def _string(limit: int) -> vol.All:
    return vol.All(cv.string, vol.Length(max=limit))


def _datetime(value: Any) -> datetime:
    """A date-time object, or text of one; never hands a lone surrogate to the parser.

    Home Assistant parses with ciso8601, which crashes the process (a segmentation fault) on
    the second string with a lone surrogate it sees (2.3.2 and 2.3.3).
    """
    if isinstance(value, str) and (len(value) > 64 or _NOT_TEXT.search(value)):
        raise vol.Invalid("invalid date-time")
    if not isinstance(value, str | datetime):
        raise vol.Invalid("expected a date-time")
    return cv.datetime(value)


def _safe(schema: vol.Schema) -> vol.All:
    """The schema; whatever else a validator raises (OverflowError, RecursionError) is invalid.

    Voluptuous turns only ValueError into Invalid; a call's data must never raise anything raw.
    """

    def validate(data: Any) -> Any:
        try:
            return schema(data)
        except vol.Invalid:
            raise
        except Exception as err:  # any failure of a validator is invalid data
            raise vol.Invalid(f"invalid value ({type(err).__name__})") from None

    return vol.All(validate)


_IDS = vol.All(cv.ensure_list, vol.Length(max=100), [_string(MAX_ID)])
_TARGET = {vol.Optional(ATTR_CONFIG_ENTRY_ID): _IDS, vol.Optional(ATTR_DEVICE_ID): _IDS}
_GRAMS = _number(0, 1_000_000)
_TEXT = vol.Any(None, _string(MAX_TEXT))
_JOB_ID = _string(MAX_ID)

LIST_SCHEMA = _safe(
    vol.Schema(
        {
            **_TARGET,
            vol.Optional(ATTR_STATUS): vol.All(
                cv.ensure_list, [vol.In([s.value for s in JobStatus])]
            ),
            vol.Optional(ATTR_CATEGORY): vol.All(
                cv.ensure_list, [vol.In([c.value for c in Category])]
            ),
            vol.Optional(ATTR_START): _datetime,
            vol.Optional(ATTR_END): _datetime,
            vol.Optional(ATTR_TEXT): _string(MAX_SEARCH),
            vol.Optional(ATTR_LIMIT, default=50): _whole(1, MAX_LIMIT),
            vol.Optional(ATTR_OFFSET, default=0): _whole(0, int(MAX_MAGNITUDE)),
        }
    )
)
JOB_SCHEMA = _safe(vol.Schema({vol.Required(ATTR_JOB_ID): _JOB_ID}))
UPDATE_SCHEMA = _safe(
    vol.Schema(
        {
            vol.Required(ATTR_JOB_ID): _JOB_ID,
            vol.Optional(ATTR_CATEGORY): vol.In([c.value for c in Category]),
            vol.Optional(ATTR_CUSTOMER): _TEXT,
            vol.Optional(ATTR_PROJECT): _TEXT,
            vol.Optional(ATTR_NOTES): vol.Any(None, _string(MAX_NOTE)),
            vol.Optional(ATTR_MATERIALS): vol.All(
                cv.ensure_list,
                vol.Length(min=1, max=32),
                [
                    vol.Schema(
                        {
                            vol.Required(ATTR_MATERIAL): _string(MAX_MATERIAL),
                            vol.Required(ATTR_GRAMS): _GRAMS,
                        }
                    )
                ],
            ),
        }
    )
)
CANCEL_SCHEMA = _safe(vol.Schema({**_TARGET, vol.Optional(ATTR_JOB_ID): _JOB_ID}))
COSTS_SCHEMA = _safe(
    vol.Schema(
        {
            **_TARGET,
            vol.Optional(ATTR_JOB_ID): _JOB_ID,
            vol.Optional(ATTR_GRAMS): _GRAMS,
            vol.Optional(ATTR_MATERIAL): _string(MAX_MATERIAL),
            vol.Optional(ATTR_HOURS): _number(0, 10_000),
        }
    )
)


def _error(key: str, **placeholders: str) -> ServiceValidationError:
    """A translated refusal; what the user typed is shown cleaned and cut short."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={
            name: text(value, limit=MAX_PLACEHOLDER) or "?" for name, value in placeholders.items()
        },
    )


def _user_text(field: str, value: str | None, *, multiline: bool = False) -> str | None:
    """A user's text as a record keeps it; refused if it holds what no record can keep."""
    if value is None:
        return None
    if (_NOT_NOTE if multiline else _NOT_TEXT).search(value):
        raise _error("invalid_text", field=field)
    return note(value) if multiline else text(value, limit=MAX_TEXT)


def _material(value: str) -> str:
    """A material's name; an empty one would price the job as nothing known."""
    name = _user_text(ATTR_MATERIAL, value)
    if name is None:
        raise _error("material_required")
    return name


def _loaded_entries(hass: HomeAssistant) -> list[PrinternizerConfigEntry]:
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED and not is_fleet_entry(entry)
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
        if entry is None or entry.domain != DOMAIN or is_fleet_entry(entry):
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


def _utc(field: str, value: datetime) -> datetime:
    """A naive date-time from the UI is local time; one UTC cannot hold is refused."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt_util.get_default_time_zone())
    try:
        return dt_util.as_utc(value)
    except OverflowError:
        raise _error("invalid_date", field=field) from None


def _job_response(record: JobRecord) -> dict[str, Any]:
    """A job as an action returns it: its cost figures as numbers next to the currency."""
    data = record.to_dict()
    data["cost"] = cost_response(record.cost)
    return data


@callback
def _list_jobs(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    entries = _targets(hass, data)
    start = _utc(ATTR_START, data[ATTR_START]) if ATTR_START in data else None
    end = _utc(ATTR_END, data[ATTR_END]) if ATTR_END in data else None
    search = _user_text(ATTR_TEXT, data.get(ATTR_TEXT))
    if start is not None and end is not None and start >= end:
        raise _error("invalid_range")
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
    return {"jobs": [_job_response(job) for job in jobs], "total": total}


@callback
def _get_job(call: ServiceCall) -> ServiceResponse:
    return {"job": _job_response(_job(call.hass, call.data[ATTR_JOB_ID]))}


@callback
def _update_job(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    changes: dict[str, Any] = {
        key: _user_text(key, data[key], multiline=key == ATTR_NOTES)
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
        raise _error("printer_not_loaded", name=record.printer_name)
    else:
        hass.data[DATA_HISTORY].put(record)
    return {"job": _job_response(record)}


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
            raise _error("printer_not_loaded", name=record.printer_name)
        jobs = entry.runtime_data.jobs
        if record.status is JobStatus.ACTIVE:
            breakdown = jobs.running_costs()
            costs = cost_response(breakdown.as_dict()) if breakdown else None
            return {"job_id": record.id, "costs": costs}
        priced = record_costs(record, jobs.settings())
        return {"job_id": record.id, "costs": cost_response(priced.cost)}
    missing = [key for key in (ATTR_GRAMS, ATTR_MATERIAL, ATTR_HOURS) if key not in data]
    if missing:
        raise _error("quote_incomplete", fields=", ".join(missing))
    if entry is None:
        loaded = _loaded_entries(hass)
        if len(loaded) != 1:
            raise _error("no_target")
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
