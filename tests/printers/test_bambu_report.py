"""Bambu report parsing: merges, mapping to the shared model, and hostile values."""

from datetime import UTC, datetime

import pytest

from custom_components.printernizer.printers.bambu.report import ReportState, merge
from custom_components.printernizer.printers.bambu.values import (
    as_hex,
    as_id,
    code_groups,
    fan_percent,
    hex_color,
    wifi_dbm,
)
from custom_components.printernizer.printers.bambu.version import device_info
from custom_components.printernizer.printers.models import (
    ErrorSeverity,
    PrinterStatus,
    Temperature,
)

P1S_FULL = {
    "command": "push_status",
    "msg": 0,
    "gcode_state": "RUNNING",
    "mc_percent": 37,
    "mc_remaining_time": 84,
    "layer_num": 52,
    "total_layer_num": 140,
    "stg_cur": 0,
    "subtask_name": "Benchy",
    "gcode_file": "Benchy.gcode.3mf",
    "gcode_start_time": "1764150000",
    "task_id": "0",
    "subtask_id": "0",
    "nozzle_temper": 219.9,
    "nozzle_target_temper": 220,
    "bed_temper": 55.1,
    "bed_target_temper": 55,
    "chamber_temper": 5,
    "cooling_fan_speed": "15",
    "big_fan1_speed": "10",
    "big_fan2_speed": "5",
    "spd_lvl": 2,
    "wifi_signal": "-52dBm",
    "nozzle_type": "hardened_steel",
    "nozzle_diameter": "0.4",
    "lights_report": [{"node": "chamber_light", "mode": "on"}],
    "hms": [],
    "print_error": 0,
    "fun": "3EC18FFF9CFF",
    "ams": {
        "ams": [
            {
                "id": "0",
                "humidity": "4",
                "temp": "24.1",
                "tray": [
                    {"id": "0", "tray_type": "PLA", "tray_color": "FF0000FF", "remain": 80},
                    {"id": "1", "tray_type": "PETG", "tray_color": "00FF00FF", "remain": -1},
                    {"id": "2"},
                ],
            }
        ],
        "tray_now": "1",
    },
    "vt_tray": {"id": "254", "tray_type": "TPU", "tray_color": "000000FF"},
}


def test_full_report_maps_every_section() -> None:
    report = ReportState(model="P1S")
    state = report.apply(P1S_FULL)
    assert state.online
    assert state.status is PrinterStatus.PRINTING
    assert state.nozzle == Temperature(current=219.9, target=220.0)
    assert state.bed == Temperature(current=55.1, target=55.0)
    assert state.chamber is None  # P1S has no chamber sensor; its constant 5 is not a reading
    assert state.job.name == "Benchy"
    assert state.job.progress == 37
    assert state.job.remaining_minutes == 84
    assert (state.job.current_layer, state.job.total_layers) == (52, 140)
    assert state.job.stage == "printing"
    assert state.job.started_at == datetime.fromtimestamp(1764150000, UTC)
    assert state.job.job_id is None  # "0" means a LAN print without a cloud task
    assert (state.part_fan_percent, state.aux_fan_percent, state.chamber_fan_percent) == (
        100,
        70,
        40,
    )
    assert state.wifi_dbm == -52
    assert state.nozzle_diameter == 0.4
    assert state.chamber_light is True
    assert state.active_slot == "1"
    assert [s.slot_id for s in state.filament_slots] == ["0", "1", "2"]
    first, second, empty = state.filament_slots
    assert (first.material, first.color, first.remaining_percent) == ("PLA", "#FF0000", 80)
    assert second.remaining_percent is None
    assert empty.empty
    (external,) = state.external_spools
    assert (external.slot_id, external.material, external.color) == ("254", "TPU", "#000000")
    assert state.filament_units[0].humidity_index == 4
    assert state.filament_units[0].temperature == 24.1
    assert not state.controls_locked


def test_delta_merges_and_unchanged_delta_keeps_the_same_object() -> None:
    report = ReportState(model="P1S")
    first = report.apply(P1S_FULL)
    second = report.apply({"command": "push_status", "msg": 1, "mc_percent": 38})
    assert second is not first
    assert second.job.progress == 38
    assert second.job.name == "Benchy"
    assert second.nozzle == first.nozzle
    assert report.apply({"command": "push_status", "msg": 1, "mc_percent": 38}) is second


def test_nested_objects_merge_and_lists_replace() -> None:
    cache = {"ams": {"tray_now": "1", "ams": [1]}, "hms": [1]}
    merge(cache, {"ams": {"tray_now": "2"}, "hms": []})
    assert cache == {"ams": {"tray_now": "2", "ams": [1]}, "hms": []}


def test_cancel_stays_cancelled_after_the_error_code_clears() -> None:
    report = ReportState()
    report.apply(P1S_FULL)
    assert report.apply({"gcode_state": "FAILED", "print_error": 50348044}).status is (
        PrinterStatus.CANCELLED
    )
    state = report.apply({"print_error": 0})
    assert state.status is PrinterStatus.CANCELLED
    assert state.errors == ()  # a cancel is not an error to show
    assert report.apply({"gcode_state": "IDLE"}).status is PrinterStatus.IDLE
    assert report.apply({"gcode_state": "FAILED", "print_error": 0}).status is (
        PrinterStatus.FAILED
    )


def test_runout_pauses_with_readable_errors() -> None:
    report = ReportState()
    report.apply(P1S_FULL)
    state = report.apply(
        {
            "gcode_state": "PAUSE",
            "print_error": 50364437,
            "stg_cur": 6,
            "hms": [{"attr": 0x07000200, "code": 0x00020001}],
        }
    )
    assert state.status is PrinterStatus.PAUSED
    assert state.job.stage == "paused_filament_runout"
    assert [(e.code, e.severity, e.module) for e in state.errors] == [
        ("0300_8015", ErrorSeverity.COMMON, "motion_controller"),
        ("0700_0200_0002_0001", ErrorSeverity.SERIOUS, "ams"),
    ]


def test_serious_hms_while_idle_is_an_error_state() -> None:
    report = ReportState()
    state = report.apply({"gcode_state": "IDLE", "hms": [{"attr": 0x0C000300, "code": 0x00010007}]})
    assert state.status is PrinterStatus.ERROR
    assert state.errors[0].severity is ErrorSeverity.FATAL


def test_lockdown_bit_is_detected() -> None:
    state = ReportState().apply({"gcode_state": "IDLE", "fun": "20000000"})
    assert state.controls_locked


@pytest.mark.parametrize(
    "junk",
    [
        {"gcode_state": 5, "mc_percent": "abc", "nozzle_temper": None, "layer_num": [1]},
        {"ams": "broken", "vt_tray": 7, "hms": {"attr": 1}, "lights_report": "on"},
        {"ams": {"ams": [None, {"id": "x"}, {"id": "0", "tray": [None, {"id": None}]}]}},
        {"nozzle_temper": float("nan"), "bed_temper": "inf", "wifi_signal": True},
        {"device": {"extruder": {"info": "x"}, "bed": [], "ctc": {"info": None}}},
    ],
)
def test_wrongly_typed_values_never_raise(junk: dict[str, object]) -> None:
    report = ReportState()
    before = report.apply(P1S_FULL)
    state = report.apply(junk)
    assert state.online
    assert state.status in (before.status, PrinterStatus.IDLE)


def test_unknown_gcode_state_keeps_the_last_known_status() -> None:
    report = ReportState()
    report.apply(P1S_FULL)
    assert report.apply({"gcode_state": "CALIBRATING_SOMETHING_NEW"}).status is (
        PrinterStatus.PRINTING
    )


def test_h2d_packed_temperatures() -> None:
    state = ReportState(model="H2D").apply(
        {
            "gcode_state": "IDLE",
            "device": {
                "extruder": {
                    "state": 0x10,
                    "info": [
                        {"id": 0, "temp": (0 << 16) | 30},
                        {"id": 1, "temp": (220 << 16) | 218},
                    ],
                },
                "bed": {"info": {"temp": (60 << 16) | 58}},
                "ctc": {"info": {"temp": 35}},
            },
        }
    )
    assert state.nozzle == Temperature(current=218.0, target=220.0)
    assert state.bed == Temperature(current=58.0, target=60.0)
    # The target (high half) of 0 is "off", not unknown.
    assert state.chamber == Temperature(current=35.0, target=0.0)


def test_offline_keeps_values_but_changes_status() -> None:
    report = ReportState()
    online = report.apply(P1S_FULL)
    offline = report.set_offline()
    assert (offline.online, offline.status) == (False, PrinterStatus.OFFLINE)
    assert offline.nozzle == online.nozzle
    assert report.set_offline() is offline
    assert report.apply({"mc_percent": 40}).status is PrinterStatus.PRINTING


def test_chamber_sensor_follows_the_model_not_the_placeholder() -> None:
    report = ReportState()
    assert report.apply(P1S_FULL).chamber is None  # unknown model, no ctc: no sensor
    assert report.set_model("P1S").chamber is None
    assert report.set_model("X1C").chamber == Temperature(current=5.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("15", 100), (0, 0), ("1", 10), ("7", 50), ("16", None), ("x", None), (None, None)],
)
def test_fan_percent(value: object, expected: int | None) -> None:
    assert fan_percent(value) == expected


def test_value_helpers() -> None:
    assert wifi_dbm("-68dBm") == -68
    assert wifi_dbm("junk") is None
    assert wifi_dbm("-1e20dBm") is None
    assert as_id(7) == "7"
    assert as_id(True) is None
    assert as_id("1e400") == "1e400"
    assert as_id(1e400) is None
    assert as_hex("20000000") == 0x20000000
    assert as_hex("zz") is None
    assert as_hex("F" * 5000) is None
    assert hex_color("FF0000FF") == "#FF0000"
    assert hex_color("\ud800\ud800\ud800\ud800\ud800\ud800") is None
    assert code_groups(50364437, 2) == "0300_8015"


@pytest.mark.parametrize(
    ("modules", "model", "firmware", "hardware"),
    [
        (
            [
                {"name": "ota", "sw_ver": "01.08.02.00", "product_name": "Bambu Lab P1S"},
                {"name": "esp32", "hw_ver": "AP05", "project_name": "C12"},
            ],
            "P1S",
            "01.08.02.00",
            "AP05",
        ),
        (
            [
                {"name": "ota", "sw_ver": "01.05.00.00"},
                {"name": "esp32", "hw_ver": "AP05", "project_name": "N2S"},
            ],
            "A1",
            "01.05.00.00",
            "AP05",
        ),
        (
            [
                {"name": "ota", "sw_ver": "01.09.00.00"},
                {"name": "rv1126", "hw_ver": "AP05", "project_name": ""},
            ],
            "X1C",
            "01.09.00.00",
            "AP05",
        ),
        ([{"name": "ap", "hw_ver": "AP02"}, "junk"], "X1E", None, "AP02"),
        ([], None, None, None),
    ],
)
def test_model_detection(
    modules: list[object], model: str | None, firmware: str | None, hardware: str | None
) -> None:
    info = device_info("SERIAL", {"command": "get_version", "module": modules})
    assert info is not None
    assert (info.model, info.firmware, info.hardware) == (model, firmware, hardware)


def test_serious_hms_while_printing_keeps_printing() -> None:
    report = ReportState()
    report.apply(P1S_FULL)
    state = report.apply({"hms": [{"attr": 0x0C000300, "code": 0x00020007}]})
    assert state.status is PrinterStatus.PRINTING  # the print goes on; the error is listed
    assert state.errors[0].severity is ErrorSeverity.SERIOUS
