"""What every action module shares: target and text validators, translated refusals, printers.

Schemas made of these never raise anything but `vol.Invalid` (see `safe`); refusals are
`ServiceValidationError`s with our translation keys, repeating what the user typed cleaned and
cut short.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
import re
from typing import Any, Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import voluptuous as vol

from ..const import DOMAIN
from ..coordinator import PrinternizerConfigEntry
from ..printers.values import note, number, text
from ..settings import is_fleet_entry

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_DEVICE_ID = "device_id"
ATTR_STATUS = "status"
ATTR_CATEGORY = "category"
ATTR_START = "start"
ATTR_END = "end"
ATTR_OFFSET = "offset"
ATTR_CUSTOMER = "customer"

MAX_PLACEHOLDER: Final = 80  # what of the user's input an error message repeats
MAX_ID = 255  # config entry, device and job ids are far shorter
MAX_TEXT = 500  # customer, project
# What no text a user enters may hold: lone surrogates (no encoder stores them) and control
# characters; notes may hold tabs and line breaks.
_NOT_TEXT = re.compile("[\ud800-\udfff\x00-\x1f\x7f-\x9f]")
_NOT_NOTE = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def number_in(minimum: float, maximum: float) -> Callable[[Any], float]:
    """A finite number from minimum to maximum; NaN, infinity, a bool or a giant int is invalid."""

    def validate(value: Any) -> float:
        result = number(value)
        if result is None:
            raise vol.Invalid("expected a finite number")
        if not minimum <= result <= maximum:
            raise vol.Invalid(f"must be from {minimum:g} to {maximum:g}")
        return result

    return validate


def whole(minimum: int, maximum: int) -> Callable[[Any], int]:
    """A whole number from minimum to maximum (a float is cut to its whole part)."""
    checked = number_in(minimum, maximum)

    def validate(value: Any) -> int:
        return int(checked(value))

    return validate


def string(limit: int) -> vol.All:
    """Text of at most `limit` characters."""
    return vol.All(cv.string, vol.Length(max=limit))


def date_time(value: Any) -> datetime:
    """A date-time object, or text of one; never hands a lone surrogate to the parser.

    Home Assistant parses with ciso8601, which crashes the process (a segmentation fault) on
    the second string with a lone surrogate it sees (2.3.2 and 2.3.3).
    """
    if isinstance(value, str) and (len(value) > 64 or _NOT_TEXT.search(value)):
        raise vol.Invalid("invalid date-time")
    if not isinstance(value, str | datetime):
        raise vol.Invalid("expected a date-time")
    return cv.datetime(value)


def safe(schema: vol.Schema) -> vol.All:
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


IDS = vol.All(cv.ensure_list, vol.Length(max=100), [string(MAX_ID)])
TARGET = {vol.Optional(ATTR_CONFIG_ENTRY_ID): IDS, vol.Optional(ATTR_DEVICE_ID): IDS}


def error(key: str, **placeholders: str) -> ServiceValidationError:
    """A translated refusal; what the user typed is shown cleaned and cut short."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={
            name: text(value, limit=MAX_PLACEHOLDER) or "?" for name, value in placeholders.items()
        },
    )


def user_text(field: str, value: str | None, *, multiline: bool = False) -> str | None:
    """A user's text as a record keeps it; refused if it holds what no record can keep."""
    if value is None:
        return None
    if (_NOT_NOTE if multiline else _NOT_TEXT).search(value):
        raise error("invalid_text", field=field)
    return note(value) if multiline else text(value, limit=MAX_TEXT)


def loaded_entries(hass: HomeAssistant) -> list[PrinternizerConfigEntry]:
    """The printers' entries that are loaded (never the fleet's)."""
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED and not is_fleet_entry(entry)
    ]


def targets(hass: HomeAssistant, data: dict[str, Any]) -> list[PrinternizerConfigEntry] | None:
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
            raise error("printer_not_found", target=device_id)
        entry_ids += mine
    if not entry_ids:
        return None
    entries = []
    for entry_id in dict.fromkeys(entry_ids):
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN or is_fleet_entry(entry):
            raise error("printer_not_found", target=entry_id)
        if entry.state is not ConfigEntryState.LOADED:
            raise error("printer_not_loaded", name=entry.title)
        entries.append(entry)
    return entries
