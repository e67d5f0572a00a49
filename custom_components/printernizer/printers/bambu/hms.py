"""HMS entries and print errors as users look them up: code, severity, module, wiki page.

HMS (health management system) entries come as `{attr, code}` pairs of uint32; the printer's
screen and Bambu's wiki show them as four 4-hex-digit groups. `print_error` is one uint32 shown
as two groups. Severity is the high half of `code`, the module the top byte of `attr`.
"""

from __future__ import annotations

from typing import Any, Final

from ..models import ErrorSeverity, PrinterError
from .values import code_groups, count

CANCELLED_ERROR: Final = 0x0300400C
# A printer lists a handful at most; more is a broken report, not more information.
MAX_HMS: Final = 64

MODULES: Final = {
    0x03: "motion_controller",
    0x05: "mainboard",
    0x07: "ams",
    0x08: "toolhead",
    0x0C: "camera",
    0x10: "print",
    0x12: "ams_lite",
}
SEVERITIES: Final = {
    1: ErrorSeverity.FATAL,
    2: ErrorSeverity.SERIOUS,
    3: ErrorSeverity.COMMON,
    4: ErrorSeverity.INFO,
}
_WIKI: Final = "https://wiki.bambulab.com/en/{family}/troubleshooting/hmscode/{code}"


def _wiki_family(model: str | None) -> str:
    """The wiki's section for a model; its X1 section lists the codes every model shares."""
    if model and model.startswith("H2"):
        return "h2"
    if model == "P2S":
        return "p2s"
    return "x1"


def _uint32(value: Any) -> int | None:
    return count(value, 0xFFFFFFFF)


def print_error(value: int, model: str | None = None) -> PrinterError | None:
    """The error of a non-zero `print_error`; None for 0 and for a cancel's transient code."""
    if not value or value == CANCELLED_ERROR:
        return None
    return PrinterError(code=code_groups(value, 2), module=MODULES.get((value >> 24) & 0xFF))


def hms_entry(entry: Any, model: str | None = None) -> PrinterError | None:
    """One HMS entry; None when it is not a pair of uint32 (junk the caller counts)."""
    if not isinstance(entry, dict):
        return None
    attr, code = _uint32(entry.get("attr")), _uint32(entry.get("code"))
    if attr is None or code is None:
        return None
    text = code_groups((attr << 32) | code, 4)
    return PrinterError(
        code=text,
        severity=SEVERITIES.get(code >> 16, ErrorSeverity.COMMON),
        module=MODULES.get((attr >> 24) & 0xFF),
        url=_WIKI.format(family=_wiki_family(model), code=text),
    )


def hms_errors(
    entries: list[Any], model: str | None = None
) -> tuple[list[PrinterError], list[Any]]:
    """The active HMS errors, each code once, and the entries that were usable.

    An all-zero entry is an empty slot the firmware leaves, not junk; entries beyond `MAX_HMS`
    are junk like any unreadable one, so the caller counts `len(entries) - len(usable)`.
    """
    errors: dict[str, PrinterError] = {}
    usable: list[Any] = []
    for entry in entries[:MAX_HMS]:
        error = hms_entry(entry, model)
        if error is None:
            continue
        usable.append(entry)
        if error.code != "0000_0000_0000_0000":
            errors.setdefault(error.code, error)
    return list(errors.values()), usable
