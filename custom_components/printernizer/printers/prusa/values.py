"""PrusaLink rules on top of the shared readers, and a tally of the values that were unusable.

Firmware omits and nulls fields freely, so an absent or null field is normal. A field that is
present but unusable (`Infinity`, 1e20, a list where a number belongs) is dropped like a missing
one, but noted, so the adapter can count the reply as malformed while using the rest of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..values import integer, number


class Fields:
    """Reads the fields of one reply through a reader, noting values present but unusable."""

    __slots__ = ("rejected",)

    def __init__(self) -> None:
        """Nothing rejected yet."""
        self.rejected: list[str] = []

    def read[T](
        self, body: dict[str, Any], key: str, reader: Callable[[Any], T | None]
    ) -> T | None:
        """`reader(body[key])`; a value it refuses is noted (blank strings count as absent)."""
        value = body.get(key)
        if value is None:
            return None
        result = reader(value)
        if result is None and not (isinstance(value, str) and not value.strip()):
            self.rejected.append(key)
        return result

    def mapping(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        """The JSON object at `key`, else an empty one (noted unless it was absent or null)."""
        value = body.get(key)
        if isinstance(value, dict):
            return value
        if value is not None:
            self.rejected.append(key)
        return {}


def percent(value: Any) -> float | None:
    """A percentage (progress) between 0 and 100."""
    result = number(value)
    return result if result is not None and 0 <= result <= 100 else None


def byte_count(value: Any) -> int | None:
    """A size or free space in bytes: a whole, non-negative number."""
    result = integer(value)
    return result if result is not None and result >= 0 else None


def flag(value: Any) -> bool | None:
    """A JSON boolean; firmware never sends anything else for its flags."""
    return value if isinstance(value, bool) else None
