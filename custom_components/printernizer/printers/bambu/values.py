"""Bambu-specific value shapes, built on the shared bounded readers in `printers.values`."""

from __future__ import annotations

import math
from typing import Any, Final

from ..values import integer, number, text

# `fun`/`stat` are 12-16 hex digits today; anything much longer is not a bit field.
_MAX_HEX_DIGITS: Final = 32
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
# Ids (task, tray) are short strings or numbers; a long one is garbage, not an id.
_MAX_ID: Final = 64


def within(value: Any, low: float, high: float) -> float | None:
    """A finite number between low and high; None for anything else (an absurd reading)."""
    result = number(value)
    return result if result is not None and low <= result <= high else None


def count(value: Any, high: int) -> int | None:
    """A whole number between 0 and high (layers, minutes, percent); None for anything else."""
    result = integer(value)
    return result if result is not None and 0 <= result <= high else None


def as_id(value: Any) -> str | None:
    """An identifier the firmware sends as a string or a number, as clean text."""
    if isinstance(value, str):
        return text(value, limit=_MAX_ID)
    result = integer(value)
    return None if result is None else str(result)


def as_hex(value: Any) -> int | None:
    """An int from the hex strings newer firmware uses for bit fields (`fun`, `stat`)."""
    if isinstance(value, str):
        if 0 < len(value) <= _MAX_HEX_DIGITS and _HEX_DIGITS.issuperset(value):
            return int(value, 16)
        return None
    return integer(value)


def hex_color(value: Any) -> str | None:
    """`RRGGBBAA` to `#RRGGBB`; None unless the first six characters are hex digits."""
    if isinstance(value, str) and len(value) >= 6 and _HEX_DIGITS.issuperset(value[:6]):
        return f"#{value[:6]}"
    return None


def fan_percent(value: Any) -> int | None:
    """Fan PWM steps 0-15 to percent, rounded up to tens so raw jitter does not flap."""
    steps = count(value, 15)
    return None if steps is None else math.ceil(steps / 15 * 10) * 10


def wifi_dbm(value: Any) -> int | None:
    """`-52dBm` to -52; None outside what a radio can report."""
    if isinstance(value, str):
        value = value.removesuffix("dBm")
    result = integer(value)
    return result if result is not None and -150 <= result <= 0 else None


def code_groups(value: int, groups: int) -> str:
    """An error number as 4-hex-digit groups joined by `_`, like the printer's screen."""
    digits = f"{value & ((1 << (16 * groups)) - 1):0{4 * groups}X}"
    return "_".join(digits[i : i + 4] for i in range(0, len(digits), 4))
