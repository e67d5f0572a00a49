"""The shared readers turn anything a printer sends into a value or None, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
import math

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.printernizer.printers import values

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(codec=None, exclude_categories=()))
    | st.sampled_from(["1e20", "1e400", "-0x10", "0x", "NaN", " 12 ", "10**12", "٣"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": Infinity, "b": -Infinity, "c": NaN}', {"a": None, "b": None, "c": None}),
        (b'{"a": [1, {"b": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}]}', {"a": [1, {"b": "[" * 36}]}),
        ('{"name": "Cube\\ud800"}', {"name": "Cube\ud800"}),
        (b'{"a": 1} \r\n\t', {"a": 1}),  # whitespace after the object is JSON too
        (b' {"a": 1}', {"a": 1}),
        ('{"a": "é"}'.encode("utf-16-le"), {"a": "é"}),
        (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),
    ],
)
def test_loads_accepts_what_printers_send(raw: bytes | str, expected: object) -> None:
    assert values.loads(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 20_000 + b"]" * 20_000,
        b'{"a":' * 33 + b"1" + b"}" * 33,
        b"[" * 33,  # unbalanced: the opening run counts
        b"\xff\xfe{}",
        b"{",
        b"",
        b'{"a": 1} {"b": 2}',  # an object and junk after it
        b'{"a": 1}x',
        b"{}]",
        b'{"a": }',  # no value where one must be
        b'{"a": 1,}',
        b"{\xff}",
    ],
)
def test_loads_refuses_with_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the one documented error, whatever the text
        values.loads(raw)


def test_loads_depth_limit_is_exact() -> None:
    assert values.loads(b"[" * 32 + b"]" * 32) is not None
    with pytest.raises(ValueError, match="deeper than 32"):
        values.loads(b"[" * 33 + b"]" * 33)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12, 12.0),
        ("  7.5 ", 7.5),
        (2**53, float(2**53)),
        (2**53 + 1, None),
        (10**400, None),
        (1e20, None),
        ("1e400", None),
        (math.nan, None),
        (-math.inf, None),
        (True, None),
        ("1" * 65, None),
        ([], None),
        ("twelve", None),
    ],
)
def test_number(raw: object, expected: float | None) -> None:
    assert values.number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (42, 42),
        ("0x1F", 31),
        ("0X1f", 31),
        ("0xZZ", None),
        ("0x" + "f" * 64, None),
        ("12.9", 12),
        (-3.7, -3),
        (False, None),
        (10**20, None),
        ("1e20", None),
        (None, None),
    ],
)
def test_integer(raw: object, expected: int | None) -> None:
    assert values.integer(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Cube\ud800", "Cube\ufffd"),
        ("  Benchy\x00\x1b[31m \n", "Benchy[31m"),
        ("Würfel ✓", "Würfel ✓"),
        ("\x00\t ", None),
        ("", None),
        (5, None),
        ("x" * 1000, "x" * 255),
    ],
)
def test_text(raw: object, expected: str | None) -> None:
    assert values.text(raw) == expected


def test_text_limit_is_per_call() -> None:
    assert values.text("abcdef", limit=3) == "abc"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1_700_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1_700_000_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),  # milliseconds
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1e20", None),
        (10**12 * 10**6, None),
        (0, None),
        (-5, None),
        (123, None),  # 1970: an unset clock, not a start time
        ("soon", None),
    ],
)
def test_timestamp(raw: object, expected: datetime | None) -> None:
    assert values.timestamp(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(90.4, 90), ("3600", 3600), (-1, None), (1e20, None), (values.MAX_SECONDS + 1, None)],
)
def test_seconds(raw: object, expected: int | None) -> None:
    assert values.seconds(raw) == expected


def test_mapping() -> None:
    assert values.mapping({"a": 1}) == {"a": 1}
    assert values.mapping([("a", 1)]) == {}


@settings(max_examples=600, derandomize=True, deadline=None)
@given(JSON_VALUES)
def test_readers_never_raise_and_stay_usable(value: object) -> None:
    number = values.number(value)
    assert number is None or (math.isfinite(number) and abs(number) <= 2**53)
    integer = values.integer(value)
    assert integer is None or abs(integer) <= 2**53
    text = values.text(value)
    if text is not None:
        assert not any(ord(char) < 32 or 127 <= ord(char) < 160 for char in text)
        text.encode("utf-8")  # storable: no lone surrogates left
        assert 0 < len(text) <= values.MAX_TEXT
        assert text == text.strip()
    start = values.timestamp(value)
    if start is not None:
        start + timedelta(days=365 * 100)  # arithmetic on it must not overflow
    duration = values.seconds(value)
    if duration is not None:
        timedelta(seconds=duration)


def _finite(value: object) -> object:
    """What `loads` makes of a value: non-finite floats become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


@settings(max_examples=300, derandomize=True, deadline=None)
@given(JSON_VALUES)
def test_loads_reads_back_what_json_writes(value: object) -> None:
    parsed = values.loads(json.dumps(value))
    assert parsed == _finite(value)
    json.dumps(parsed, allow_nan=False)
