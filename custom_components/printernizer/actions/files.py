"""File actions: list a printer's files, download them, follow downloads, clean up, delete.

Every action answers with response data. A printer is named by its device or config entry,
as in the job actions. Names and folders are the printer's own (as `list_files` returns
them); the file manager only ever acts on a file its listing holds, so a hostile name finds
nothing and a download can never be written outside the files folder. Cleanup is a dry run
unless the call says otherwise, and it deletes printer files only when asked twice over
(`include_printer` to see them, `on_printer` to delete them); the file being printed is never
deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
import re
from typing import Any, Final

from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

from ..const import DOMAIN
from ..coordinator import PrinternizerConfigEntry
from ..files.errors import FileManagerError, PrinterBusyError
from ..files.model import CleanupCandidate, FileEntry, FileKind, FileStatus
from ..printer_files import PrinterFiles, download_response, printer_files
from ..printers.errors import AdapterError, AuthenticationError
from ..printers.values import text
from .common import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_DEVICE_ID,
    IDS,
    MAX_PLACEHOLDER,
    error,
    loaded_entries,
    safe,
    string,
    targets,
    whole,
)

SERVICE_LIST_FILES: Final = "list_files"
SERVICE_DOWNLOAD_FILE: Final = "download_file"
SERVICE_GET_DOWNLOAD_STATUS: Final = "get_download_status"
SERVICE_CANCEL_DOWNLOAD: Final = "cancel_download"
SERVICE_GET_CLEANUP_CANDIDATES: Final = "get_cleanup_candidates"
SERVICE_CLEANUP_FILES: Final = "cleanup_files"
SERVICE_DELETE_PRINTER_FILE: Final = "delete_printer_file"

ATTR_REFRESH: Final = "refresh"
ATTR_KIND: Final = "kind"
ATTR_STATUS: Final = "status"
ATTR_FOLDER: Final = "folder"
ATTR_NAME: Final = "name"
ATTR_DOWNLOAD_ID: Final = "download_id"
ATTR_OLDER_THAN_DAYS: Final = "older_than_days"
ATTR_MIN_SIZE_MB: Final = "min_size_mb"
ATTR_DUPLICATES: Final = "duplicates"
ATTR_FAILED: Final = "failed"
ATTR_INCLUDE_PRINTER: Final = "include_printer"
ATTR_DRY_RUN: Final = "dry_run"
ATTR_ON_PRINTER: Final = "on_printer"

MAX_NAME: Final = 1024  # printers keep names far shorter; anything longer names nothing
MAX_FOLDER: Final = 255
MAX_DAYS: Final = 36500
MAX_SIZE_MB: Final = 10 * 1024 * 1024
_MB: Final = 1024 * 1024
# Download ids are the manager's uuid4 hex; anything else names no download.
_DOWNLOAD_ID: Final = re.compile(r"[0-9a-f]{32}")
# What no printer file name holds: control characters and lone surrogates.
_NOT_NAME: Final = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")

_TARGET: dict[vol.Marker, Any] = {
    vol.Optional(ATTR_CONFIG_ENTRY_ID): IDS,
    vol.Optional(ATTR_DEVICE_ID): IDS,
}
_FILE: dict[vol.Marker, Any] = {
    **_TARGET,
    vol.Required(ATTR_FOLDER): string(MAX_FOLDER),
    vol.Required(ATTR_NAME): vol.All(string(MAX_NAME), vol.Length(min=1)),
}
_CLEANUP: dict[vol.Marker, Any] = {
    **_TARGET,
    vol.Optional(ATTR_OLDER_THAN_DAYS): whole(0, MAX_DAYS),
    vol.Optional(ATTR_MIN_SIZE_MB, default=0): whole(0, MAX_SIZE_MB),
    vol.Optional(ATTR_DUPLICATES, default=True): cv.boolean,
    vol.Optional(ATTR_FAILED, default=True): cv.boolean,
    vol.Optional(ATTR_INCLUDE_PRINTER, default=False): cv.boolean,
}

LIST_SCHEMA = safe(
    vol.Schema(
        {
            **_TARGET,
            vol.Optional(ATTR_REFRESH, default=False): cv.boolean,
            vol.Optional(ATTR_KIND): vol.All(
                cv.ensure_list, vol.Length(max=10), [vol.In([k.value for k in FileKind])]
            ),
            vol.Optional(ATTR_STATUS): vol.All(
                cv.ensure_list, vol.Length(max=10), [vol.In([s.value for s in FileStatus])]
            ),
        }
    )
)
FILE_SCHEMA = safe(vol.Schema(_FILE))
DOWNLOAD_ID_SCHEMA = safe(vol.Schema({vol.Required(ATTR_DOWNLOAD_ID): string(64)}))
CANDIDATES_SCHEMA = safe(vol.Schema(_CLEANUP))
CLEANUP_SCHEMA = safe(
    vol.Schema(
        {
            **_CLEANUP,
            vol.Optional(ATTR_DRY_RUN, default=True): cv.boolean,
            vol.Optional(ATTR_ON_PRINTER, default=False): cv.boolean,
        }
    )
)


def _printer(hass: HomeAssistant, data: Mapping[str, Any]) -> PrinternizerConfigEntry:
    """The one loaded printer the call names; naming none or several is refused."""
    entries = targets(hass, dict(data))
    if not entries:
        raise error("no_target")
    if len(entries) > 1:
        raise error("one_printer_only")
    return entries[0]


def _printers(hass: HomeAssistant, data: Mapping[str, Any]) -> list[PrinternizerConfigEntry]:
    """The printers a call names; every loaded one when it names none."""
    entries = targets(hass, dict(data))
    return loaded_entries(hass) if entries is None else entries


def _serial(entry: PrinternizerConfigEntry) -> str:
    serial: str = entry.runtime_data.coordinator.adapter.device_info.serial
    return serial


def _name(data: Mapping[str, Any]) -> tuple[str, str]:
    """The folder and name of a call; text no printer file has is refused, not searched."""
    folder, name = data[ATTR_FOLDER], data[ATTR_NAME]
    for field, value in ((ATTR_FOLDER, folder), (ATTR_NAME, name)):
        if _NOT_NAME.search(value):
            raise error("invalid_file_name", field=field)
    return folder, name


def _download_id(data: Mapping[str, Any]) -> str:
    value = str(data[ATTR_DOWNLOAD_ID]).strip().lower()
    if not _DOWNLOAD_ID.fullmatch(value):
        raise error("unknown_download", download_id=value)
    return value


def _refused(
    err: FileManagerError,
    *,
    printer: str = "-",
    folder: str = "-",
    name: str = "-",
    download_id: str = "-",
) -> ServiceValidationError:
    """The manager's refusal as a translated error (its code is the translation key).

    Every refusal gets the same placeholders, so each message may name any of them.
    """
    return error(err.code, printer=printer, folder=folder, name=name, download_id=download_id)


def _printer_failed(entry: PrinternizerConfigEntry, err: AdapterError) -> HomeAssistantError:
    """A printer that could not be asked, as a translated error (never the raw message)."""
    if isinstance(err, AuthenticationError):
        key = "invalid_auth"
    elif isinstance(err, PrinterBusyError):
        key = "printer_busy"
    else:
        key = "printer_files_unavailable"
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"name": text(entry.title, limit=MAX_PLACEHOLDER) or "?"},
    )


def _entry_response(files: PrinterFiles, serial: str, entry: FileEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "folder": entry.folder,
        "size": entry.size,
        "modified": None if entry.modified is None else entry.modified.isoformat(),
        "kind": entry.kind.value,
        "has_thumbnail": entry.has_thumbnail,
        "status": entry.status.value,
        "progress": None if entry.progress is None else round(entry.progress, 1),
        "download_id": entry.download_id,
        "local_path": None if entry.local_path is None else str(entry.local_path),
        "media_content_id": files.media_content_id(entry.local_path),
        "sha256": entry.sha256,
        "reason": entry.reason,
        "job_id": files.job_of(serial, entry.folder, entry.name),
    }


async def _list_files(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    entry = _printer(hass, data)
    serial = _serial(entry)
    files = printer_files(hass)
    try:
        entries = await files.manager.list_files(serial, refresh=data[ATTR_REFRESH])
    except FileManagerError as err:
        raise _refused(err, printer=entry.title) from None
    except AdapterError as err:
        raise _printer_failed(entry, err) from None
    kinds, statuses = data.get(ATTR_KIND), data.get(ATTR_STATUS)
    result = [
        _entry_response(files, serial, item)
        for item in entries
        if (not kinds or item.kind.value in kinds)
        and (not statuses or item.status.value in statuses)
    ]
    response: dict[str, Any] = {
        "printer": entry.title,
        "serial": serial,
        "files": result,
        "total": len(result),
    }
    return response


async def _download_file(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    entry = _printer(hass, call.data)
    folder, name = _name(call.data)
    files = printer_files(hass)
    try:
        download_id = await files.manager.download(_serial(entry), folder, name)
    except FileManagerError as err:
        raise _refused(err, name=name, folder=folder, printer=entry.title) from None
    except AdapterError as err:
        raise _printer_failed(entry, err) from None
    status = files.manager.download_status(download_id)
    return {"printer": entry.title, **download_response(files, status)}


def _status_response(hass: HomeAssistant, download_id: str) -> dict[str, Any]:
    files = printer_files(hass)
    try:
        status = files.manager.download_status(download_id)
    except FileManagerError as err:
        raise _refused(err, download_id=download_id) from None
    info = files.printers.get(status.serial)
    return {
        "printer": None if info is None else info.name,
        "serial": status.serial,
        **download_response(files, status),
        "job_id": files.download_jobs.get(download_id),
    }


async def _get_download_status(call: ServiceCall) -> ServiceResponse:
    return _status_response(call.hass, _download_id(call.data))


async def _cancel_download(call: ServiceCall) -> ServiceResponse:
    download_id = _download_id(call.data)
    files = printer_files(call.hass)
    try:
        await files.manager.cancel(download_id)
    except FileManagerError as err:
        raise _refused(err, download_id=download_id) from None
    return _status_response(call.hass, download_id)


def _candidate_response(candidate: CleanupCandidate, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "printer": names.get(candidate.serial),
        "serial": candidate.serial,
        "folder": candidate.folder,
        "name": candidate.name,
        "size": candidate.size,
        "why": candidate.why,
        "on_printer": candidate.on_printer,
        "local_path": None if candidate.local_path is None else str(candidate.local_path),
        "sha256": candidate.sha256,
    }


async def _candidates(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> tuple[list[CleanupCandidate], dict[str, str]]:
    """The cleanup candidates of the named (else every loaded) printer."""
    entries = _printers(hass, data)
    if data[ATTR_INCLUDE_PRINTER] and ATTR_OLDER_THAN_DAYS not in data:
        raise error("printer_cleanup_needs_age")
    files = printer_files(hass)
    found: list[CleanupCandidate] = []
    for entry in entries:
        try:
            found += await files.manager.cleanup_candidates(
                data.get(ATTR_OLDER_THAN_DAYS),
                serial=_serial(entry),
                min_bytes=data[ATTR_MIN_SIZE_MB] * _MB,
                duplicates=data[ATTR_DUPLICATES],
                failed=data[ATTR_FAILED],
                include_printer=data[ATTR_INCLUDE_PRINTER],
            )
        except FileManagerError as err:
            raise _refused(err, printer=entry.title) from None
    return found, {_serial(entry): entry.title for entry in entries}


async def _get_cleanup_candidates(call: ServiceCall) -> ServiceResponse:
    candidates, names = await _candidates(call.hass, call.data)
    return {
        "candidates": [_candidate_response(item, names) for item in candidates],
        "count": len(candidates),
        "bytes": sum(item.size for item in candidates),
    }


async def _cleanup_files(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    data = call.data
    candidates, names = await _candidates(hass, data)
    files = printer_files(hass)
    result = await files.manager.cleanup(
        candidates, dry_run=data[ATTR_DRY_RUN], on_printer=data[ATTR_ON_PRINTER]
    )
    if not result.dry_run:
        for serial in {item.serial for item in result.deleted if not item.on_printer}:
            await files.async_update_usage(serial)
    return {
        "dry_run": result.dry_run,
        "deleted": [_candidate_response(item, names) for item in result.deleted],
        "skipped": [
            {**_candidate_response(item, names), "reason": reason}
            for item, reason in result.skipped
        ],
        "freed_bytes": result.freed_bytes,
    }


async def _delete_printer_file(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    entry = _printer(hass, call.data)
    folder, name = _name(call.data)
    files = printer_files(hass)
    try:
        await files.manager.delete_remote(_serial(entry), folder, name)
    except FileManagerError as err:
        raise _refused(err, name=name, folder=folder, printer=entry.title) from None
    except AdapterError as err:
        raise _printer_failed(entry, err) from None
    return {"printer": entry.title, "deleted": {"folder": folder, "name": name}}


_QUERIES: Final = (SERVICE_LIST_FILES, SERVICE_GET_DOWNLOAD_STATUS, SERVICE_GET_CLEANUP_CANDIDATES)


def async_setup_file_actions(hass: HomeAssistant) -> None:
    """Register the file actions (the manager itself is set up by `printer_files`)."""
    for name, handler, schema in (
        (SERVICE_LIST_FILES, _list_files, LIST_SCHEMA),
        (SERVICE_DOWNLOAD_FILE, _download_file, FILE_SCHEMA),
        (SERVICE_GET_DOWNLOAD_STATUS, _get_download_status, DOWNLOAD_ID_SCHEMA),
        (SERVICE_CANCEL_DOWNLOAD, _cancel_download, DOWNLOAD_ID_SCHEMA),
        (SERVICE_GET_CLEANUP_CANDIDATES, _get_cleanup_candidates, CANDIDATES_SCHEMA),
        (SERVICE_CLEANUP_FILES, _cleanup_files, CLEANUP_SCHEMA),
        (SERVICE_DELETE_PRINTER_FILE, _delete_printer_file, FILE_SCHEMA),
    ):
        response = SupportsResponse.ONLY if name in _QUERIES else SupportsResponse.OPTIONAL
        hass.services.async_register(DOMAIN, name, handler, schema, supports_response=response)
