"""HMS entries and print errors as a user looks them up; hostile entries are counted, not fatal."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.printernizer.printers.bambu.hms import (
    MAX_HMS,
    hms_entry,
    hms_errors,
    print_error,
)
from custom_components.printernizer.printers.bambu.report import ReportState
from custom_components.printernizer.printers.models import ErrorSeverity, PrinterError

from .test_bambu_fuzz import FUZZ, assert_usable, json_values
from .test_bambu_report import P1S_FULL

RUNOUT = {"attr": 0x07000200, "code": 0x00020001}


def test_an_hms_entry_reads_like_the_printer_and_the_wiki_show_it() -> None:
    assert hms_entry(RUNOUT, "P1S") == PrinterError(
        code="0700_0200_0002_0001",
        severity=ErrorSeverity.SERIOUS,
        module="ams",
        url="https://wiki.bambulab.com/en/x1/troubleshooting/hmscode/0700_0200_0002_0001",
    )
    h2 = hms_entry({"attr": 0x0C000300, "code": 0x00010007}, "H2D")
    assert h2 is not None
    assert (h2.severity, h2.module) == (ErrorSeverity.FATAL, "camera")
    assert h2.url == "https://wiki.bambulab.com/en/h2/troubleshooting/hmscode/0C00_0300_0001_0007"
    # Numbers as strings, as some firmware sends them; newer firmware adds timestamps.
    assert hms_entry({"attr": "117441024", "code": "131073", "ts_unix": 1}, None) == hms_entry(
        RUNOUT, None
    )


@pytest.mark.parametrize(
    ("code", "severity"),
    [(0x00010001, ErrorSeverity.FATAL), (0x00040001, ErrorSeverity.INFO), (0x00090001, None)],
)
def test_severity_is_the_high_half_of_the_code(code: int, severity: ErrorSeverity | None) -> None:
    error = hms_entry({"attr": 0x03000100, "code": code})
    assert error is not None
    assert error.severity is (severity or ErrorSeverity.COMMON)
    assert error.module == "motion_controller"


def test_print_error_codes() -> None:
    runout = print_error(0x03008015)
    assert runout == PrinterError(code="0300_8015", module="motion_controller")
    assert print_error(0) is None
    assert print_error(0x0300400C) is None  # a cancel is not an error to show


@pytest.mark.parametrize(
    "entry",
    [
        None,
        "0700_0200_0002_0001",
        7,
        [RUNOUT],
        {"attr": 0x07000200},
        {"attr": -1, "code": 1},
        {"attr": 2**32, "code": 1},
        {"attr": 2**80, "code": 1},
        {"attr": 1e300, "code": 1},
        {"attr": float("nan"), "code": 1},
        {"attr": "abc", "code": 1},
        {"attr": {"nested": [1, 2]}, "code": 1},
        {"attr": True, "code": 1},
    ],
)
def test_junk_entries_are_not_errors(entry: Any) -> None:
    assert hms_entry(entry) is None


def test_a_list_keeps_usable_entries_once_and_counts_the_rest() -> None:
    entries: list[Any] = [RUNOUT, "junk", RUNOUT, {"attr": 0, "code": 0}, {"attr": -5, "code": 1}]
    errors, usable = hms_errors(entries, "P1S")
    assert [error.code for error in errors] == ["0700_0200_0002_0001"]  # zero entry: empty slot
    assert usable == [RUNOUT, RUNOUT, {"attr": 0, "code": 0}]
    _, usable = hms_errors([RUNOUT] * (MAX_HMS + 10))
    assert len(usable) == MAX_HMS


def test_junk_in_the_report_is_counted_once_and_the_rest_is_shown() -> None:
    report = ReportState(model="P1S")
    report.apply(copy.deepcopy(P1S_FULL))
    state = report.apply(
        {"hms": [RUNOUT, None, {"attr": "x", "code": [1]}, {"attr": 2**40, "code": -3}]}
    )
    assert [error.code for error in state.errors] == ["0700_0200_0002_0001"]
    assert (report.rejected, report.last_rejected) == (1, "hms")
    assert report.report["hms"] == [RUNOUT]  # the cache keeps only what was usable
    report.apply({"gcode_state": "PAUSE", "print_error": 0x03008015})
    assert report.rejected == 1  # rebuilding the errors does not count the junk again
    assert [error.code for error in report.state.errors] == [
        "0300_8015",
        "0700_0200_0002_0001",
    ]


def test_the_wiki_link_follows_the_model_learned_later() -> None:
    report = ReportState()
    report.apply(copy.deepcopy(P1S_FULL) | {"hms": [RUNOUT]})
    assert "/x1/" in (report.state.errors[0].url or "")
    url = report.set_model("H2D").errors[0].url
    assert url == "https://wiki.bambulab.com/en/h2/troubleshooting/hmscode/0700_0200_0002_0001"


hms_like = st.fixed_dictionaries(
    {},
    optional={
        "attr": json_values | st.integers(-(2**70), 2**70),
        "code": json_values | st.integers(-(2**70), 2**70),
    },
)


@settings(FUZZ, max_examples=300)
@given(hms=st.lists(hms_like | json_values, max_size=80) | json_values)
def test_fuzzed_hms_lists_never_raise_and_count_junk_once(hms: Any) -> None:
    report = ReportState(model="X1C")
    report.apply(copy.deepcopy(P1S_FULL))
    state = report.apply({"hms": hms})
    assert_usable(state)
    assert len(state.errors) <= MAX_HMS
    rejected = report.rejected
    assert_usable(report.apply({"gcode_state": "IDLE", "print_error": 0}))
    assert report.rejected == rejected
