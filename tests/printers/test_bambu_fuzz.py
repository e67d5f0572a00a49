"""Fuzzing the Bambu report parser, merge and version parser: nothing raises, all stays valid.

Arbitrary JSON-ish values (huge and non-finite numbers, numeric strings, lone surrogates, control
and unassigned characters, nested lists and objects) at every key the parser reads. Deterministic
(`derandomize`) so CI sees the same examples every run.
"""

from __future__ import annotations

import copy
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime, timedelta
import math
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.printernizer.printers.bambu.ftps import _parse_list_line
from custom_components.printernizer.printers.bambu.report import (
    _EXTERNAL_KEYS,
    _FILAMENT_KEYS,
    _JOB_KEYS,
    _MISC_KEYS,
    _STATUS_KEYS,
    _TEMP_KEYS,
    ReportState,
)
from custom_components.printernizer.printers.bambu.version import device_info
from custom_components.printernizer.printers.models import PrinterState

from .test_bambu_report import P1S_FULL

# -- what a valid state looks like --------------------------------------------------------------


def assert_valid(value: Any, path: str = "state") -> None:
    """Every text printable and storable, every number finite and bounded, every time plausible."""
    if is_dataclass(value) and not isinstance(value, type):
        for field in fields(value):
            assert_valid(getattr(value, field.name), f"{path}.{field.name}")
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            assert_valid(item, f"{path}[{index}]")
    elif isinstance(value, str):
        assert value.isprintable(), path
        assert len(value) <= 255, path
        value.encode()  # no lone surrogates
    elif value is None or isinstance(value, bool | bytes):
        pass
    elif isinstance(value, int):
        assert abs(value) <= 2**53, path
    elif isinstance(value, float):
        assert math.isfinite(value), path
        assert abs(value) <= 2**53, path
    elif isinstance(value, datetime):
        assert 2000 <= value.year <= 2200, path
    else:
        raise AssertionError(f"{path}: unexpected {type(value).__name__}")


def assert_usable(state: PrinterState) -> None:
    """Valid, and the arithmetic the sensors do with it cannot overflow."""
    assert_valid(state)
    if state.job.remaining_minutes is not None:
        assert datetime.now(UTC) + timedelta(minutes=state.job.remaining_minutes)


# -- the parser, fuzzed ---------------------------------------------------------------------------

_NESTED_KEYS = (
    "ams",
    "tray",
    "id",
    "tray_type",
    "tray_color",
    "tray_sub_brands",
    "remain",
    "humidity",
    "humidity_raw",
    "temp",
    "tray_now",
    "attr",
    "code",
    "node",
    "mode",
    "extruder",
    "info",
    "state",
    "bed",
    "ctc",
    "module",
    "name",
    "sw_ver",
    "hw_ver",
    "product_name",
    "project_name",
    "command",
)
KNOWN_KEYS = sorted(
    _STATUS_KEYS
    | _TEMP_KEYS
    | _JOB_KEYS
    | _FILAMENT_KEYS
    | _EXTERNAL_KEYS
    | _MISC_KEYS
    | set(_NESTED_KEYS)
)
keys = st.sampled_from([*KNOWN_KEYS, "", "x", "\ud800"])
characters = st.sampled_from("aZ0 .\x00\x1b\x7f\ud800\udfff\u202e\u200d\U00018cd6\u3000\ue000é")
numeric_text = st.one_of(
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(
        ["1e20", "1e400", "-1e400", "NaN", "inf", "0x" + "f" * 40, "", " ", "-52dBm", "F" * 40]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(characters, max_size=10),
    numeric_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=3),
    max_leaves=10,
)
deltas = st.dictionaries(keys, json_values, max_size=6)
FUZZ = settings(
    max_examples=1000,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(model=st.sampled_from([None, "P1S", "X1C", "H2D"]), stream=st.lists(deltas, max_size=3))
def test_fuzzed_reports_never_raise_and_leave_a_clean_cache(
    model: str | None, stream: list[dict[str, Any]]
) -> None:
    report = ReportState(model=model)
    report.apply(copy.deepcopy(P1S_FULL))
    for delta in stream:
        assert_usable(report.apply(delta))
    assert_usable(report.set_model("X1C" if model != "X1C" else "P1S"))
    # Whatever stayed in the cache reads cleanly: rebuilding everything rejects nothing more.
    rejected = report.rejected
    assert_usable(report.apply(dict(report.report)))
    assert report.rejected == rejected


@settings(FUZZ, max_examples=500)
@given(
    body=st.dictionaries(keys, json_values, max_size=4)
    | st.builds(
        lambda modules: {"command": "get_version", "module": modules},
        json_values | st.lists(st.dictionaries(keys, json_values, max_size=4), max_size=4),
    )
)
def test_fuzzed_version_replies_never_raise(body: dict[str, Any]) -> None:
    info = device_info("SERIAL", body)
    if info is not None:
        assert_valid(info)


@settings(FUZZ, max_examples=400)
@given(
    size=st.integers(min_value=0).map(str) | st.just("9" * 5000),
    month=st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
    day=st.integers(0, 99),
    when=st.builds("{:02d}:{:02d}".format, st.integers(0, 99), st.integers(0, 99))
    | st.builds(" {:04d}".format, st.integers(0, 9999)),
    name=st.text(characters, min_size=1, max_size=10),
    now=st.datetimes(),
)
def test_fuzzed_list_lines_never_raise(
    size: str, month: str, day: int, when: str, name: str, now: datetime
) -> None:
    line = f"-rw-r--r-- 1 0 0 {size} {month} {day:2d} {when} {name}"
    entry = _parse_list_line("/cache", line, now)
    if entry is not None:
        assert 0 <= entry.size <= 2**53
        assert entry.modified is None or entry.modified.year >= 1
