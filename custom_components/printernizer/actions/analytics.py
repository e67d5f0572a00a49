"""Analytics and export actions: the fleet's figures for a period, and job exports to download.

Figures sum the history's column tables of `JobFacts` (`jobs/columns.py`): the rows of the
period are copied (a memory copy per column) and summed in the executor, no record parsed. A
query filtered by status, category or customer, which those tables are not grouped by, sums the
facts the history keeps per record instead, one by one. Exports read a
snapshot of the history's stored entries (immutable strings, taken in the event loop) and parse
them one at a time in the executor: a year of 100k jobs neither blocks the loop nor sits in
memory as records. Periods are calendar periods in Home Assistant's time zone. Money is a number
with two decimals beside its currency.

An export is written to `<config>/printernizer/exports/` under a safe dated name, first as a
hidden partial file that becomes the export only once complete (a full disk leaves the earlier
export of that name as it was). An authenticated view serves the folder's exports and nothing
else. The response holds the view's path (opened with a bearer token, as the REST API is) and
the same path signed for a day (`authSig`, as media and camera URLs are signed), which a browser
or a notification link opens without a token header. Views and signed paths are unchanged from
HA 2025.4 to 2026.x; a signed path needs a view to point at, and a view alone is of no use to a
link. Exports older than `KEEP_DAYS` (or the `keep_days` an export call set, saved) are removed
at setup and then daily.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
import errno
from functools import partial
import os
from pathlib import Path
import re
import secrets
import stat
import time
from typing import Any, Final, TextIO

from aiohttp import hdrs, web
from homeassistant.components.http.auth import async_sign_path
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import voluptuous as vol

from ..const import DOMAIN, FLEET_UNIQUE_ID, LOGGER
from ..costs import Category
from ..history import DATA_HISTORY, read_entry
from ..jobs import JobRecord, JobStatus
from ..jobs.analytics import (
    FACT_CUSTOMER,
    JobFacts,
    Period,
    PeriodKind,
    calendar_period,
    custom_period,
    facts_material_usage,
    facts_overview,
    facts_printer_stats,
)
from ..jobs.columns import (
    snapshot_material_usage,
    snapshot_overview,
    snapshot_printer_stats,
)
from ..jobs.export import (
    FORMATS,
    INTERNATIONAL,
    CsvFormat,
    ExportRow,
    ExportSummary,
    export_filename,
    export_rows,
    write_csv,
    write_json_array,
)
from ..printers.values import text
from ..settings import fleet_currency, fleet_options
from .common import (
    ATTR_CATEGORY,
    ATTR_CUSTOMER,
    ATTR_DEVICE_ID,
    ATTR_END,
    ATTR_OFFSET,
    ATTR_START,
    ATTR_STATUS,
    IDS,
    MAX_PLACEHOLDER,
    MAX_TEXT,
    date_time,
    error,
    loaded_entries,
    safe,
    string,
    user_text,
    whole,
)

SERVICE_GET_OVERVIEW = "get_overview"
SERVICE_GET_PRINTER_STATS = "get_printer_stats"
SERVICE_GET_MATERIAL_USAGE = "get_material_usage"
SERVICE_EXPORT_JOBS = "export_jobs"

ATTR_PERIOD = "period"
ATTR_FORMAT = "format"
ATTR_DIALECT = "dialect"
ATTR_TAG = "tag"
ATTR_KEEP_DAYS = "keep_days"

FORMAT_CSV = "csv"
FORMAT_JSON = "json"
EXPORT_FORMATS = (FORMAT_CSV, FORMAT_JSON)
KEEP_DAYS: Final = 30  # exports older than this are removed, unless a call said otherwise
MAX_KEEP_DAYS: Final = 3650
EXPORTS_STORAGE_KEY = "printernizer.exports"
SIGNED_FOR = timedelta(days=1)  # how long a signed download link works
CLEANUP_INTERVAL = timedelta(days=1)
EXPORTS_URL = "/api/printernizer/exports"
MAX_OFFSET = 1200  # periods back or ahead: 100 years of months
MAX_TAG = 40
MAX_FILTER = 100
_PARTIAL = ".part"
# What export_filename makes (a slug, then the extension); the view serves nothing else.
_EXPORT_NAME = re.compile(r"printernizer-jobs-[A-Za-z0-9_-]{1,120}\.(?:csv|json)")
_PARTIAL_NAME = re.compile(
    r"\.printernizer-jobs-[A-Za-z0-9_-]{1,120}\.(?:csv|json)\.[0-9a-f]{8}\.part"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTENT_TYPES = {FORMAT_CSV: "text/csv; charset=utf-8", FORMAT_JSON: "application/json"}
# Amounts in the pure core's dicts (strings with two places) that responses give as numbers.
_MONEY = frozenset({"material_cost", "energy_cost", "wear", "net", "vat", "gross", "cost"})


def _when(value: Any) -> date | datetime:
    """A date (whole local days) or a date-time, as an object or ISO text."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        result: date = cv.date(value)
        return result
    return date_time(value)


def _texts(limit: int) -> vol.All:
    return vol.All(cv.ensure_list, vol.Length(max=MAX_FILTER), [string(limit)])


_QUERY = {
    vol.Optional(ATTR_PERIOD): string(20),
    vol.Optional(ATTR_OFFSET, default=0): whole(-MAX_OFFSET, MAX_OFFSET),
    vol.Optional(ATTR_START): _when,
    vol.Optional(ATTR_END): _when,
    vol.Optional(ATTR_DEVICE_ID): IDS,
    vol.Optional(ATTR_CATEGORY): _texts(20),
    vol.Optional(ATTR_STATUS): _texts(20),
    vol.Optional(ATTR_CUSTOMER): _texts(MAX_TEXT),
}
QUERY_SCHEMA = safe(vol.Schema(_QUERY))
EXPORT_SCHEMA = safe(
    vol.Schema(
        {
            **_QUERY,
            vol.Optional(ATTR_FORMAT, default=FORMAT_CSV): string(20),
            vol.Optional(ATTR_DIALECT, default=INTERNATIONAL.name): string(20),
            vol.Optional(ATTR_TAG): string(MAX_TAG),
            vol.Optional(ATTR_KEEP_DAYS): whole(1, MAX_KEEP_DAYS),
        }
    )
)


def _choice(field: str, value: str, allowed: Iterable[str]) -> str:
    """One of the allowed values; anything else is refused, naming the choices."""
    choices = [str(item) for item in allowed]
    if value not in choices:
        raise error("invalid_choice", field=field, value=value, allowed=", ".join(choices))
    return value


def _choices(data: Mapping[str, Any], field: str, allowed: Iterable[str]) -> frozenset[str] | None:
    values = data.get(field)
    if not values:
        return None
    choices = list(allowed)
    return frozenset(_choice(field, value, choices) for value in values)


@dataclass(frozen=True, slots=True)
class _Query:
    """A call's period and filters, checked."""

    period: Period
    serials: frozenset[str] | None
    statuses: frozenset[str] | None
    categories: frozenset[str] | None
    customers: frozenset[str] | None
    printers: dict[str, str]  # serial -> name of the loaded printers in the filter
    currency: str  # the fleet's: money in others is counted apart


def _period(data: Mapping[str, Any]) -> Period:
    """The calendar period asked for in Home Assistant's time zone; month by default.

    A date is a whole local day (an end date included), a date-time an instant (end excluded).
    """
    tz = dt_util.get_default_time_zone()
    start, end = data.get(ATTR_START), data.get(ATTR_END)
    ranged = start is not None or end is not None
    default = PeriodKind.CUSTOM if ranged else PeriodKind.MONTH
    kind = PeriodKind(_choice(ATTR_PERIOD, data.get(ATTR_PERIOD, default), PeriodKind))
    if (kind is PeriodKind.CUSTOM) is not (start is not None and end is not None):
        raise error("custom_period_range")
    try:
        if start is None or end is None:
            return calendar_period(kind, dt_util.utcnow(), tz, offset=data[ATTR_OFFSET])
        return custom_period(start, end, tz)
    except OverflowError:
        raise error("invalid_period") from None
    except ValueError:
        if kind is PeriodKind.CUSTOM:  # the only check custom_period makes itself
            raise error("invalid_range") from None
        raise error("invalid_period") from None  # a year before 1 or after 9999


def _serials(hass: HomeAssistant, device_ids: list[str]) -> frozenset[str] | None:
    """The serials of the printers' devices; a device of no printer (the fleet) is refused.

    A filament unit's device (AMS) stands for its printer, as in the job actions.
    """
    if not device_ids:
        return None
    devices = dr.async_get(hass)
    serials: set[str] = set()
    for device_id in device_ids:
        device = devices.async_get(device_id)
        if device is not None and device.via_device_id is not None:
            device = devices.async_get(device.via_device_id)
        found = [
            ident
            for domain, ident in (device.identifiers if device else ())
            if domain == DOMAIN and ident != FLEET_UNIQUE_ID
        ]
        if not found:
            raise error("printer_not_found", target=device_id)
        serials.update(found)
    return frozenset(serials)


def _query(hass: HomeAssistant, data: Mapping[str, Any]) -> _Query:
    period = _period(data)
    serials = _serials(hass, data.get(ATTR_DEVICE_ID, []))
    customers = data.get(ATTR_CUSTOMER)
    printers = {entry.runtime_data.jobs.serial: entry.title for entry in loaded_entries(hass)}
    return _Query(
        period=period,
        serials=serials,
        statuses=_choices(data, ATTR_STATUS, JobStatus),
        categories=_choices(data, ATTR_CATEGORY, Category),
        customers=None
        if not customers
        else frozenset(user_text(ATTR_CUSTOMER, name) or "" for name in customers),
        printers={
            serial: name
            for serial, name in printers.items()
            if serials is None or serial in serials
        },
        currency=fleet_currency(hass, fleet_options(hass)),
    )


class _Reader:
    """Records of a snapshot, parsed one at a time; unreadable ones counted and left out."""

    def __init__(self, entries: list[str], customers: frozenset[str] | None) -> None:
        self._entries = entries
        self._customers = customers
        self.unreadable = 0

    def __iter__(self) -> Iterator[JobRecord]:
        customers = self._customers
        for entry in self._entries:
            record = read_entry(entry)
            if record is None:
                self.unreadable += 1
            elif customers is None or record.customer in customers:
                yield record

    def report(self) -> None:
        """Log the unreadable records once per call (the history sets them aside itself)."""
        if self.unreadable:
            LOGGER.warning("%s job records could not be read and were left out", self.unreadable)


def _reader(hass: HomeAssistant, query: _Query) -> _Reader:
    """The records of the query's period (and filters) as a snapshot taken now."""
    entries = hass.data[DATA_HISTORY].entries(
        query.period.start,
        query.period.end,
        serials=query.serials,
        statuses=query.statuses,
        categories=query.categories,
    )
    return _Reader(entries, query.customers)


def _summed[T](
    hass: HomeAssistant,
    query: _Query,
    *,
    running_at_start: bool,
    by_tables: Callable[..., T],
    one_by_one: Callable[..., T],
    **kwargs: Any,
) -> Callable[[], T]:
    """The figures of the query's jobs as they are now, to be summed in the executor.

    Taken from the column tables unless a filter they are not grouped by is given.
    """
    if query.statuses is None and query.categories is None and query.customers is None:
        take = hass.data[DATA_HISTORY].analytics_snapshot(
            query.period.start,
            query.period.end,
            query.currency,
            serials=query.serials,
            running_at_start=running_at_start,
        )
        return lambda: by_tables(take(), query.period, **kwargs)
    pick = _facts(hass, query, running_at_start=running_at_start)
    return lambda: one_by_one(pick(), query.period, currency=query.currency, **kwargs)


def _facts(
    hass: HomeAssistant, query: _Query, *, running_at_start: bool
) -> Callable[[], list[JobFacts]]:
    """The jobs' facts of the query's period (and filters), taken now, picked in the executor."""
    pick = hass.data[DATA_HISTORY].analytics_facts(
        query.period.start,
        query.period.end,
        serials=query.serials,
        statuses=query.statuses,
        categories=query.categories,
        running_at_start=running_at_start,
    )
    customers = query.customers
    if customers is None:
        return pick
    return lambda: [job for job in pick() if job[FACT_CUSTOMER] in customers]


def _numbers(value: Any) -> Any:
    """The core's JSON values with amounts ("12.30") as numbers with two decimals (12.3)."""
    if type(value) is dict:
        return {
            key: round(float(item), 2) if key in _MONEY and type(item) is str else _numbers(item)
            for key, item in value.items()
        }
    if type(value) is list:
        return [_numbers(item) for item in value]
    return value


async def _over_jobs[T](
    call: ServiceCall, by_tables: Callable[..., T], one_by_one: Callable[..., T]
) -> tuple[_Query, T]:
    """The call's period and filters, and its figures over the jobs running in it (executor)."""
    hass = call.hass
    query = _query(hass, call.data)
    await hass.data[DATA_HISTORY].async_analytics_ready()
    result = await hass.async_add_executor_job(
        _summed(
            hass,
            query,
            running_at_start=True,
            by_tables=by_tables,
            one_by_one=one_by_one,
            now=dt_util.utcnow(),
            printers=query.printers,
        )
    )
    return query, result


async def _get_overview(call: ServiceCall) -> ServiceResponse:
    _, result = await _over_jobs(call, snapshot_overview, facts_overview)
    response: dict[str, Any] = _numbers(result.as_dict())
    return response


async def _get_printer_stats(call: ServiceCall) -> ServiceResponse:
    query, stats = await _over_jobs(call, snapshot_printer_stats, facts_printer_stats)
    return {
        "period": query.period.as_dict(),
        "currency": query.currency,
        "printers": _numbers([item.as_dict() for item in stats]),
    }


async def _get_material_usage(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    query = _query(hass, call.data)
    await hass.data[DATA_HISTORY].async_analytics_ready()
    usage = await hass.async_add_executor_job(
        _summed(
            hass,
            query,
            running_at_start=False,
            by_tables=snapshot_material_usage,
            one_by_one=facts_material_usage,
        )
    )
    return {
        "period": query.period.as_dict(),
        "currency": query.currency,
        **_numbers(usage.as_dict()),
    }


type _Writer = Callable[[TextIO, Iterable[ExportRow]], ExportSummary]


def write_export(
    folder: Path, name: str, write: _Writer, rows: Iterable[ExportRow]
) -> tuple[ExportSummary, int]:
    """Write the rows to `folder/name` through a partial file; what it wrote, size in bytes.

    Runs in the executor. On any failure the partial file goes and an earlier export of that
    name stays as it was. Each call has a partial file of its own: two exports of one name at
    once each write a whole file, and the later one stays.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    part = folder / f".{name}.{secrets.token_hex(4)}{_PARTIAL}"
    try:
        with open(part, "x", encoding="utf-8", newline="") as file:
            summary = write(file, rows)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return summary, path.stat().st_size


async def _export_jobs(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    kind = _choice(ATTR_FORMAT, data[ATTR_FORMAT], EXPORT_FORMATS)
    dialect = _choice(ATTR_DIALECT, data[ATTR_DIALECT], FORMATS)
    tag = user_text(ATTR_TAG, data.get(ATTR_TAG))
    query = _query(hass, call.data)
    csv_format = FORMATS[dialect]
    if kind == FORMAT_CSV:
        write: _Writer = partial(_write_csv, csv_format=csv_format)
        locale = None if csv_format is INTERNATIONAL else "de"
    else:
        write, locale = _write_json, None
    name = export_filename(query.period, kind, tag="-".join(filter(None, (tag, locale))))
    reader = _reader(hass, query)
    rows = export_rows(reader, dt_util.get_default_time_zone())
    exports = hass.data[DATA_EXPORTS]
    folder = exports.folder
    try:
        summary, size = await hass.async_add_executor_job(write_export, folder, name, write, rows)
    except OSError as err:
        key = "export_disk_full" if err.errno == errno.ENOSPC else "export_failed"
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders={
                "name": name,
                "error": text(err.strerror or type(err).__name__, limit=MAX_PLACEHOLDER) or "?",
            },
        ) from None
    reader.report()
    if ATTR_KEEP_DAYS in data:
        await exports.async_keep(data[ATTR_KEEP_DAYS])
    url = f"{EXPORTS_URL}/{name}"
    return {
        "path": str(folder / name),
        "file_name": name,
        "format": kind,
        "dialect": dialect if kind == FORMAT_CSV else None,
        "size": size,
        "url": url,
        "download_url": async_sign_path(hass, url, SIGNED_FOR),
        "download_url_expires": (dt_util.utcnow() + SIGNED_FOR).isoformat(),
        "keep_days": exports.keep_days,
        "period": query.period.as_dict(),
        **_numbers(summary.as_dict()),
    }


def _write_csv(file: TextIO, rows: Iterable[ExportRow], *, csv_format: CsvFormat) -> ExportSummary:
    return write_csv(file, rows, csv_format)


def _write_json(file: TextIO, rows: Iterable[ExportRow]) -> ExportSummary:
    return write_json_array(file, rows)


def servable(folder: Path, name: str) -> Path | None:
    """The export `name` if it is one: a regular file of ours right inside the folder.

    Any other name (a path, `..`, NUL, a partial file, someone else's file) or a symlink is not
    served. The folder is Home Assistant's to write; nothing else writes our names into it.
    """
    if not _EXPORT_NAME.fullmatch(name):
        return None
    path = folder / name
    try:
        info = os.lstat(path)
        real_folder = os.path.realpath(folder)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or os.path.realpath(path) != os.path.join(real_folder, name):
        return None
    return path


def remove_old_exports(folder: Path, keep: timedelta, now: float) -> int:
    """Remove our exports (and partial files) last written more than `keep` ago; how many.

    Other files in the folder are left alone. Runs in the executor.
    """
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    cutoff = now - keep.total_seconds()
    removed = 0
    for name in names:
        if not (_EXPORT_NAME.fullmatch(name) or _PARTIAL_NAME.fullmatch(name)):
            continue
        path = folder / name
        try:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError as err:  # gone meanwhile, or not ours to remove: the next run retries
            LOGGER.debug("Export %s not removed: %s", name, err)
    return removed


class ExportsView(HomeAssistantView):
    """Serves the exports to a signed-in user (or a signed path); anything else is 404."""

    url = EXPORTS_URL + "/{name}"
    name = "api:printernizer:exports"
    requires_auth = True

    def __init__(self, folder: Path) -> None:
        """Serve files from this folder."""
        self.folder = folder

    async def get(self, request: web.Request, name: str) -> web.StreamResponse:
        """The export as a file download."""
        hass = request.app[KEY_HASS]
        path = await hass.async_add_executor_job(servable, self.folder, name)
        if path is None:
            raise web.HTTPNotFound
        return web.FileResponse(
            path,
            headers={
                hdrs.CONTENT_TYPE: _CONTENT_TYPES[path.suffix[1:]],
                hdrs.CONTENT_DISPOSITION: f'attachment; filename="{name}"',
            },
        )


@dataclass(slots=True)
class Exports:
    """The exports folder, and how many days exports are kept (saved once a call sets it)."""

    hass: HomeAssistant
    folder: Path
    store: Store[dict[str, Any]]
    keep_days: int = KEEP_DAYS

    async def async_load(self) -> None:
        """The kept days saved earlier; anything but a plausible whole number is the default."""
        data = await self.store.async_load()
        days = data.get(ATTR_KEEP_DAYS) if isinstance(data, dict) else None
        if type(days) is int and 1 <= days <= MAX_KEEP_DAYS:
            self.keep_days = days

    async def async_keep(self, days: int) -> None:
        """Keep exports this many days from now on."""
        if days != self.keep_days:
            self.keep_days = days
            await self.store.async_save({ATTR_KEEP_DAYS: days})

    async def async_cleanup(self, _now: datetime | None = None) -> None:
        """Remove the exports older than the kept days."""
        removed = await self.hass.async_add_executor_job(
            remove_old_exports, self.folder, timedelta(days=self.keep_days), time.time()
        )
        if removed:
            LOGGER.info("Removed %s exports older than %s days", removed, self.keep_days)


DATA_EXPORTS: HassKey[Exports] = HassKey(f"{DOMAIN}_exports")


async def async_setup_analytics(hass: HomeAssistant) -> None:
    """Register the analytics and export actions, the download view and the daily cleanup.

    The cleanup timer stops with Home Assistant: the actions, like the job actions, live as
    long as the integration is set up, which is until Home Assistant stops.
    """
    exports = Exports(
        hass, Path(hass.config.path(DOMAIN, "exports")), Store(hass, 1, EXPORTS_STORAGE_KEY)
    )
    await exports.async_load()
    hass.data[DATA_EXPORTS] = exports
    for name, handler, schema in (
        (SERVICE_GET_OVERVIEW, _get_overview, QUERY_SCHEMA),
        (SERVICE_GET_PRINTER_STATS, _get_printer_stats, QUERY_SCHEMA),
        (SERVICE_GET_MATERIAL_USAGE, _get_material_usage, QUERY_SCHEMA),
        (SERVICE_EXPORT_JOBS, _export_jobs, EXPORT_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema, supports_response=SupportsResponse.ONLY
        )
    hass.http.register_view(ExportsView(exports.folder))
    hass.async_create_task(exports.async_cleanup(), "printernizer export cleanup")
    async_track_time_interval(
        hass,
        exports.async_cleanup,
        CLEANUP_INTERVAL,
        name="printernizer export cleanup",
        cancel_on_shutdown=True,
    )
