"""Rebuilding only the parts a delta touches gives the state a full rebuild would.

`ReportState.apply` reads only the keys of the parts a delta names (for a printer without a
`device` object, only the heaters whose keys came). For random delta sequences, junk values
included, the state after each delta must equal that of a fresh `ReportState` given the whole
merged report at once (a rejected value, which leaves the cache, counts as sent as null).
"""

from __future__ import annotations

import copy
from dataclasses import fields
from typing import Any

from hypothesis import given, settings, strategies as st

from custom_components.printernizer.printers.bambu.report import ReportState
from custom_components.printernizer.printers.models import (
    FINER_PARTS,
    PrinterState,
    with_finer_parts,
)

TEMPERATURE_KEYS = frozenset(
    {"nozzle_temper", "nozzle_target_temper", "bed_temper", "bed_target_temper", "chamber_temper"}
)
# The parts that are a function of the merged report alone (status depends on history too).
PARTS = tuple(f.name for f in fields(PrinterState) if f.name not in {"status", "errors"})

_temperature = st.one_of(
    st.floats(-300, 3000, allow_nan=False).map(lambda v: round(v, 1)),
    st.sampled_from(["25.5", "hot", None, 0, "", [1], 1e300]),
)
# Any key may get any of these: readings, and what the other keys carry (wrong for most).
_value = _temperature | st.sampled_from(
    [
        "-61dBm",
        "15",
        "hardened_steel",
        [{"node": "chamber_light", "mode": "on"}],
        [{"node": "chamber_light", "mode": "off"}, "junk"],
    ]
)
_device = st.fixed_dictionaries(
    {
        "extruder": st.fixed_dictionaries(
            {"state": st.sampled_from([0, 16]), "info": st.just([{"id": 0, "temp": 0x00D200DC}])}
        ),
        "bed": st.just({"info": {"temp": 0x0037003C}}),
    }
)
_delta = st.dictionaries(
    st.sampled_from(
        [
            "nozzle_temper",
            "nozzle_target_temper",
            "bed_temper",
            "bed_target_temper",
            "chamber_temper",
            "mc_percent",
            "layer_num",
            "mc_remaining_time",
            "subtask_name",
            "wifi_signal",
            "spd_lvl",
            "cooling_fan_speed",
            "big_fan1_speed",
            "big_fan2_speed",
            "nozzle_type",
            "nozzle_diameter",
            "lights_report",
        ]
    ),  # fmt: skip
    _value,
    min_size=1,
).flatmap(
    lambda delta: st.one_of(st.just(delta), _device.map(lambda device: delta | {"device": device}))
)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(["P1S", "X1C", "A1", "H2D", None]), st.lists(_delta, max_size=12))
def test_each_delta_gives_the_state_a_full_rebuild_gives(
    model: str | None, deltas: list[dict[str, Any]]
) -> None:
    report = ReportState(model=model)
    # A full report first: a part none of whose keys ever came keeps its default in both.
    report.apply({"gcode_state": "RUNNING", "stg_cur": 0, "mc_percent": 5, "spd_lvl": 2})
    seen: dict[str, None] = {}
    for delta in deltas:
        state = report.apply(copy.deepcopy(delta))
        # A rejected value is gone from the cache, but its part was rebuilt: as if it came as null.
        seen |= dict.fromkeys(delta)
        reference = seen | copy.deepcopy(report.report)
        if "device" not in reference and not TEMPERATURE_KEYS.isdisjoint(reference):
            reference["device"] = None  # the same reading, through the full temperature rebuild
        full = ReportState(model=model).apply(reference)
        for part in PARTS:
            assert getattr(state, part) == getattr(full, part), (part, delta)


def _halves(state: PrinterState) -> dict[str, Any]:
    """Each heater half and job attribute as an entity shows it (None: the heater is not there)."""
    return {
        part: getattr(getattr(state, field), attribute, None)
        for field, attributes in FINER_PARTS.items()
        for attribute, part in attributes
    }


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(["P1S", "X1C", "A1", "H2D", None]), st.lists(_delta, max_size=12))
def test_the_changed_finer_parts_are_exactly_those_that_differ(
    model: str | None, deltas: list[dict[str, Any]]
) -> None:
    """What the coordinator wakes the readers of one half by: the report's parts plus halves."""
    report = ReportState(model=model)
    published = report.state
    for delta in deltas:
        state = report.apply(copy.deepcopy(delta))
        changed = with_finer_parts(published, state, report.take_changed())
        before, after = _halves(published), _halves(state)
        differing = {
            part.name
            for part in fields(PrinterState)
            if getattr(published, part.name) != getattr(state, part.name)
        }
        differing |= {part for part in before if before[part] != after[part]}
        assert changed == differing, delta
        published = state
