"""AMS parsing: names by type and order, models from get_version, hostile units dropped once."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.printernizer.printers.bambu.ams import unit_models
from custom_components.printernizer.printers.bambu.report import ReportState


def _unit(unit_id: Any, trays: int = 4, **extra: Any) -> dict[str, Any]:
    tray = [{"id": str(n), "tray_type": "PLA", "remain": 50} for n in range(trays)]
    return {"id": unit_id, "humidity": "4", "temp": "24.6", "tray": tray} | extra


def test_units_are_named_by_type_and_order_not_by_id() -> None:
    report = ReportState("P1S")
    state = report.apply(
        {"ams": {"ams": [_unit("1"), _unit("0"), _unit("129", 1), _unit("128", 1)]}}
    )
    assert [(u.unit_id, u.name, u.model) for u in state.filament_units] == [
        ("0", "AMS 1", "AMS"),
        ("1", "AMS 2", "AMS"),
        ("128", "AMS HT 1", "AMS HT"),
        ("129", "AMS HT 2", "AMS HT"),
    ]
    # Global tray ids as tray_now uses them; positions as the unit is labelled.
    assert [(s.slot_id, s.unit_id, s.position) for s in state.filament_slots][4:] == [
        ("4", "1", 1),
        ("5", "1", 2),
        ("6", "1", 3),
        ("7", "1", 4),
        ("128", "128", 1),
        ("129", "129", 1),
    ]


def test_an_a_series_unit_is_an_ams_lite_whatever_its_id() -> None:
    report = ReportState("A1")
    state = report.apply({"ams": {"ams": [_unit("16", humidity="5", temp="0.0")]}})
    (unit,) = state.filament_units
    assert (unit.name, unit.model, unit.has_temperature, unit.temperature) == (
        "AMS Lite",
        "AMS Lite",
        False,
        None,
    )
    assert [s.slot_id for s in state.filament_slots] == ["64", "65", "66", "67"]


def test_version_modules_name_the_ams_2_pro_and_learning_them_renames() -> None:
    report = ReportState("P1S")
    report.apply({"ams": {"ams": [_unit("0", dry_time=45), _unit("1")]}})
    models = unit_models(
        {"module": [{"name": "n3f/0"}, {"name": "ams/1"}, {"name": "n3s/128"}, {"name": 7}]}
    )
    assert models == {0: "AMS 2 Pro", 1: "AMS", 128: "AMS HT"}
    state = report.set_ams_models(models)
    first, second = state.filament_units
    assert (first.model, first.can_dry, first.drying_minutes) == ("AMS 2 Pro", True, 45)
    assert (second.model, second.can_dry, second.drying_minutes) == ("AMS", False, None)
    assert "filament_units" in report.take_changed()


def test_hostile_units_are_dropped_from_the_cache_and_counted_once() -> None:
    report = ReportState("P1S")
    hostile = [
        "unit",
        {"id": "300"},
        {"id": "64"},
        {"id": "0", "humidity": "77", "humidity_raw": "-3", "temp": "nan", "dry_time": "x"},
        {"id": "0"},
        {"id": "1", "tray": [{"id": "4"}, {"id": "0"}, {"id": "0"}, None]},
    ]
    state = report.apply({"ams": {"ams": hostile, "tray_now": "1"}})
    assert [u.unit_id for u in state.filament_units] == ["0", "1"]
    assert state.filament_units[0].humidity_index is None
    assert [s.slot_id for s in state.filament_slots] == ["4"]
    assert report.rejected == 1
    # The cache holds only what was usable: a later delta does not count the junk again.
    report.apply({"ams": {"tray_now": "4"}})
    assert report.rejected == 1
    # (A classic AMS does not dry: its `dry_time` is never read, so never judged.)
    assert report.report["ams"]["ams"] == [
        {"id": "0", "dry_time": "x"},
        {"id": "1", "tray": [{"id": "0"}]},
    ]


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["0", "1", "3", "128", "135", "254", "255", "16", "1e9", "4"]),
)
_tray = st.fixed_dictionaries(
    {"id": _junk}, optional={"tray_type": _junk, "remain": _junk, "tray_color": _junk}
)
_units = st.lists(
    st.one_of(
        _junk,
        st.fixed_dictionaries(
            {"id": _junk},
            optional={
                "humidity": _junk,
                "humidity_raw": _junk,
                "temp": _junk,
                "dry_time": _junk,
                "tray": st.one_of(_junk, st.lists(st.one_of(_junk, _tray), max_size=6)),
            },
        ),
    ),
    max_size=8,
)


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(units=_units, model=st.sampled_from(["P1S", "A1", None]))
def test_any_ams_report_gives_unique_names_and_slots(units: list[Any], model: str | None) -> None:
    report = ReportState(model)
    state = report.apply({"ams": {"ams": units}})
    names = [unit.name for unit in state.filament_units]
    assert len(set(names)) == len(names)
    slot_ids = [slot.slot_id for slot in state.filament_slots]
    assert len(set(slot_ids)) == len(slot_ids)
    assert not {"254", "255"} & set(slot_ids)
    for unit in state.filament_units:
        assert unit.humidity_index is None or 1 <= unit.humidity_index <= 5
        assert unit.humidity_percent is None or 0 <= unit.humidity_percent <= 100
    rejected = report.rejected
    assert report.apply({"ams": {"tray_now": "255"}}).filament_units == state.filament_units
    assert report.rejected == rejected  # junk was counted once and left the cache
