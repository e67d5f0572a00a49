"""What a push changed: the parts an adapter names are exactly the fields that differ."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from hypothesis import given, settings, strategies as st

from custom_components.printernizer.printers.bambu.report import ReportState
from custom_components.printernizer.printers.models import (
    PARTS,
    PrinterState,
    PrinterStatus,
    Temperature,
    changed_parts,
    evolve,
)

FIELDS = [part.name for part in fields(PrinterState)]

_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "status": st.sampled_from(list(PrinterStatus)),
    "online": st.booleans(),
    "nozzle": st.builds(Temperature, current=st.floats(0, 300) | st.none()),
    "speed_level": st.integers(1, 4) | st.none(),
    "material": st.sampled_from(["PLA", "PETG"]) | st.none(),
    "controls_locked": st.booleans(),
}

_DELTAS = st.dictionaries(
    st.sampled_from(
        [
            "nozzle_temper",
            "bed_temper",
            "chamber_temper",
            "mc_percent",
            "mc_remaining_time",
            "layer_num",
            "gcode_state",
            "subtask_name",
            "cooling_fan_speed",
            "spd_lvl",
            "wifi_signal",
            "print_error",
            "fun",
            "nozzle_type",
            "unknown_key",
        ]
    ),
    st.one_of(
        st.integers(-5, 400),
        st.floats(allow_nan=True),
        st.sampled_from(["RUNNING", "IDLE", "PAUSE", "FINISH", "-55dBm", "0", "20000000", ""]),
        st.none(),
    ),
    max_size=4,
)


def test_parts_are_the_state_fields() -> None:
    assert set(FIELDS) == PARTS


@settings(derandomize=True, max_examples=300)
@given(st.fixed_dictionaries({}, optional=_VALUES), st.fixed_dictionaries({}, optional=_VALUES))
def test_evolve_is_replace(start: dict[str, Any], changes: dict[str, Any]) -> None:
    state = PrinterState(**start)
    evolved = evolve(state, changes)
    assert evolved == replace(state, **changes)
    assert hash(evolved) == hash(replace(state, **changes))
    assert changed_parts(state, evolved) == {
        name for name in FIELDS if getattr(state, name) != getattr(evolved, name)
    }


@settings(derandomize=True, max_examples=300)
@given(st.lists(_DELTAS, max_size=12), st.lists(st.booleans(), min_size=12, max_size=12))
def test_report_names_exactly_the_changed_parts(
    deltas: list[dict[str, Any]], offline: list[bool]
) -> None:
    """Every snapshot the report derives comes with the parts that differ from the last one."""
    report = ReportState(model="P1S")
    published = report.state
    for delta, drop in zip(deltas, offline, strict=False):
        state = report.set_offline() if drop else report.apply(delta)
        changed = report.take_changed()
        assert changed == changed_parts(published, state)
        assert (state is published) == (not changed)
        published = state
