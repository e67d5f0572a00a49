"""Lenient conversions for Bambu payload values, which arrive as strings, numbers or junk."""

from __future__ import annotations

import math
from typing import Any


def as_int(value: Any) -> int | None:
    """An int from an int, float or numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value.strip(), 0) if value.strip().startswith("0x") else int(float(value))
        except (ValueError, OverflowError):
            return None
    return None


def as_float(value: Any) -> float | None:
    """A finite float from a number or numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def as_str(value: Any) -> str | None:
    """A non-empty string, or None."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def as_hex(value: Any) -> int | None:
    """An int from the hex strings newer firmware uses for bit fields (`fun`, `stat`)."""
    if isinstance(value, str):
        try:
            return int(value, 16)
        except ValueError:
            return None
    return as_int(value)


def fan_percent(value: Any) -> int | None:
    """Fan PWM steps 0-15 to percent, rounded up to tens so raw jitter does not flap."""
    steps = as_int(value)
    if steps is None or not 0 <= steps <= 15:
        return None
    return math.ceil(steps / 15 * 10) * 10


def wifi_dbm(value: Any) -> int | None:
    """`-52dBm` to -52."""
    if isinstance(value, str):
        value = value.removesuffix("dBm").strip()
    return as_int(value)


def code_groups(value: int, groups: int) -> str:
    """An error number as 4-hex-digit groups joined by `_`, like the printer's screen."""
    digits = f"{value & ((1 << (16 * groups)) - 1):0{4 * groups}X}"
    return "_".join(digits[i : i + 4] for i in range(0, len(digits), 4))
