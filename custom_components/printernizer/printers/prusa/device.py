"""Identity of a PrusaLink printer from /api/version and /api/v1/info.

Buddy firmware names its model in /api/version only from 6.5 (`printer`), Prusa-Link on a Pi
in `original` ("PrusaLink I3MK3S"); otherwise the default hostname ("prusa-mk4") is the best
hint there is.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from ..models import DeviceInfo
from ..values import mapping, text
from .values import Fields

Family = Literal["buddy", "pi"]

_MODEL_HINT: Final = re.compile(
    r"(?:^|[^a-z0-9]|prusa|i3)"
    r"(core[\s_-]?one[\s_-]?l|core[\s_-]?one|mk4s|mk4|mk3\.9s|mk3\.9|mk3\.5s|mk3\.5|mk3s\+|mk3s"
    r"|mk3|mk2\.5s|mk2\.5|xl|mini\+|mini)"
    r"(?![a-z0-9])",
    re.IGNORECASE,
)


def family(version: dict[str, Any]) -> Family:
    """Prusa-Link on a Pi reports its Python SDK and the `original` printer; Buddy does not."""
    original = text(version.get("original")) or ""
    return "pi" if "sdk" in version or original.lower().startswith("prusalink") else "buddy"


def model_name(version: dict[str, Any], info: dict[str, Any]) -> str | None:
    """The printer model ("MK4S", "Core One", "MK3S"), or None when nothing names it."""
    printer = version.get("printer")
    if isinstance(printer, dict):
        printer = printer.get("type") or printer.get("model")
    if model := text(printer):
        return _canonical(model) or model
    for candidate in (
        version.get("original"),
        version.get("hostname"),
        info.get("hostname"),
    ):
        if (value := text(candidate)) and (model := _canonical(value)):
            return model
    return None


def _canonical(value: str) -> str | None:
    match = _MODEL_HINT.search(value)
    if match is None:
        return None
    token = re.sub(r"[\s_-]", "", match.group(1)).upper()
    if token.startswith("COREONE"):
        return "Core One" + (" L" if token.endswith("L") else "")
    return token


def device_info(
    version: dict[str, Any], info: dict[str, Any], fallback: str, *, fields: Fields | None = None
) -> DeviceInfo:
    """DeviceInfo from the two identity bodies; `fallback` stands in for a missing serial."""
    fields = fields or Fields()
    version, info = mapping(version), mapping(info)
    read = fields.read
    # Every field is read, not just the first that answers: junk in any of them is counted.
    info_host, version_host = read(info, "hostname", text), read(version, "hostname", text)
    hostname = info_host or version_host
    serial, name = read(info, "serial", text), read(info, "name", text)
    return DeviceInfo(
        serial=serial or hostname or fallback,
        model=model_name(version, info),
        firmware=read(version, "firmware", text),
        name=name or hostname,
    )
