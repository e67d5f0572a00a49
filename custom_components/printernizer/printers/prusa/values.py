"""Lenient readers for PrusaLink JSON values; firmware omits, nulls or retypes fields freely."""

from __future__ import annotations

import math
from typing import Any


def number(value: Any) -> float | None:
    """A finite float from a JSON number or numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def integer(value: Any) -> int | None:
    """An int (rounded) from a JSON number or numeric string; None for anything else."""
    result = number(value)
    return round(result) if result is not None else None


def text(value: Any) -> str | None:
    """A stripped, non-empty string, or None."""
    if isinstance(value, str) and (stripped := value.strip()):
        return stripped
    return None


def mapping(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one, so lookups never fail."""
    return value if isinstance(value, dict) else {}
