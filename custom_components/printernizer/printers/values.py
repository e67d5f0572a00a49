"""Bounded readers for what a printer sends: every value converts or becomes None, never raises.

A printer is untrusted input. One absurd value (a timestamp of 1e20, `Infinity`, a lone UTF-16
surrogate, an object nested 20,000 deep) must cost that one value, not the printer's updates, so
both brands read through these before anything reaches the shared model.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
import json
import re
from typing import Any, Final

# Deeper than any real PrusaLink body or Bambu report (both stay under 10 levels).
MAX_DEPTH: Final = 32
# Home Assistant refuses states longer than 255 characters.
MAX_TEXT: Final = 255
# A user's notes on a job: several lines, still small enough for any record or response.
MAX_NOTE: Final = 5000
# Larger magnitudes are never a real reading; beyond them int() and datetime start to raise.
MAX_MAGNITUDE: Final = 2**53
# Printer clocks: nothing before 2000 or after 2200 is a real start time.
_EARLIEST: Final = 946_684_800
_LATEST: Final = 7_258_118_400
# Ten years: longer durations are placeholders or garbage.
MAX_SECONDS: Final = 10 * 365 * 24 * 3600

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NOTE_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # keeps tab and newline
_SURROGATES: Final = re.compile("[\ud800-\udfff]")
_STRINGS: Final = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS: Final = bytes(set(range(256)) - set(b"[]{}"))


def loads(
    data: bytes | str, *, max_depth: int = MAX_DEPTH, constants: list[str] | None = None
) -> Any:
    """Parse JSON with a depth limit checked before parsing; raises ValueError for anything bad.

    `NaN` and `Infinity` (Python's json accepts them) become None, like a field the printer left
    out; `constants`, if given, collects their names so the caller can count the reply as bad.
    Bodies with few brackets skip the depth scan, so a small delta costs one count.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"{") + raw.count(b"[") > max_depth and _depth(raw) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    try:
        if constants is not None:
            return json.loads(raw, parse_constant=constants.append)
        # The hot path: an object in UTF-8 (every report) goes to the C scanner directly; any
        # other body (another encoding, whitespace or junk around it) to the whole decoder.
        # (json.loads with any option builds a new decoder per call.)
        if raw[:1] == b"{" and raw[1:2] != b"\x00":
            text = raw.decode("utf-8", "surrogatepass")
            try:
                value, end = _SCAN(text, 0)
            except StopIteration:
                raise ValueError("not JSON") from None
            if end == len(text):
                return value
        return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (RecursionError, UnicodeDecodeError) as err:
        raise ValueError(str(err)) from None


def _no_constant(_name: str) -> None:
    return None


_DECODER: Final = json.JSONDecoder(parse_constant=_no_constant)
# The decoder's C scanner: (value, end) of the JSON at an index. (Typeshed omits the attribute.)
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _depth(raw: bytes) -> int:
    """Deepest bracket nesting outside strings; unbalanced input counts as its opening run."""
    brackets = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def number(value: Any) -> float | None:
    """A finite float from a number or numeric string within ±2**53; None for anything else.

    One chained comparison bounds the result: NaN and infinities fail it (hot path).
    """
    if isinstance(value, float):
        result = value
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int):
        return float(value) if -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE else None
    elif isinstance(value, str) and len(value) <= 64:
        try:
            result = float(value)  # surrounding whitespace is allowed by float() itself
        except ValueError:
            return None
    else:
        return None
    return result if -MAX_MAGNITUDE <= result <= MAX_MAGNITUDE else None


def integer(value: Any) -> int | None:
    """An int truncated from `number`, or from a `0x` hex string; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE else None
    if isinstance(value, str) and value.strip()[:2].lower() == "0x" and len(value) <= 66:
        try:
            parsed = int(value.strip(), 16)
        except ValueError:
            return None
        return parsed if parsed <= MAX_MAGNITUDE else None
    result = number(value)
    return int(result) if result is not None else None


def text(value: Any, *, limit: int = MAX_TEXT) -> str | None:
    """A stripped, printable string of at most `limit` characters; None when nothing is left.

    Lone surrogates (valid in JSON, refused by every encoder downstream) become U+FFFD; control,
    format and unassigned characters go, so the text can be stored, logged and shown.
    """
    if not isinstance(value, str):
        return None
    if not value.isascii():
        value = _SURROGATES.sub("\ufffd", value)
    if not value.isprintable():
        value = _CONTROL.sub("", value)
        if not value.isprintable():  # format, private-use, unassigned, odd spaces: rare, slow path
            value = "".join(_printable(char) for char in value)
    value = value.strip()[:limit].strip()
    return value or None


def _printable(char: str) -> str:
    if char.isprintable():
        return char
    return " " if char.isspace() else ""


def note(value: Any, *, limit: int = MAX_NOTE) -> str | None:
    """As `text`, for several lines: tabs and line breaks (CR LF and CR become LF) stay."""
    if not isinstance(value, str):
        return None
    if not value.isascii():
        value = _SURROGATES.sub("\ufffd", value)
    if not value.isprintable():
        value = _NOTE_CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    value = value.strip()[:limit].strip()
    return value or None


def timestamp(value: Any) -> datetime | None:
    """A UTC time from Unix seconds (or milliseconds) between 2000 and 2200; None otherwise."""
    seconds = number(value)
    if seconds is None or seconds <= 0:
        return None
    if seconds > _LATEST:
        seconds /= 1000
    if not _EARLIEST <= seconds <= _LATEST:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def seconds(value: Any) -> int | None:
    """A duration in whole seconds between 0 and ten years; None otherwise."""
    result = number(value)
    if result is None or not 0 <= result <= MAX_SECONDS:
        return None
    return round(result)


def mapping(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one, so lookups never fail."""
    return value if isinstance(value, dict) else {}
