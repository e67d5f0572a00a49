"""Turns Bambu `push_status` reports into `PrinterState` snapshots.

Delta printers (P1/A1) send only changed keys, so the raw report is merged into a cache and only
the parts of the state whose keys arrived are rebuilt; an unchanged result is the same object.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from ..models import (
    ErrorSeverity,
    FilamentSlot,
    FilamentUnit,
    JobInfo,
    PrinterError,
    PrinterState,
    PrinterStatus,
    Temperature,
)
from .values import as_float, as_hex, as_int, as_str, code_groups, fan_percent, wifi_dbm

CANCELLED_ERROR: Final = 0x0300400C
LOCKDOWN_FUN_BIT: Final = 0x20000000
# Models without a chamber sensor report a constant 5 degrees.
NO_CHAMBER_SENSOR: Final = frozenset({"P1P", "P1S", "A1", "A1 mini"})

_GCODE_STATES: Final = {
    "IDLE": PrinterStatus.IDLE,
    "INIT": PrinterStatus.IDLE,
    "SLICING": PrinterStatus.PREPARING,
    "PREPARE": PrinterStatus.PREPARING,
    "RUNNING": PrinterStatus.PRINTING,
    "PAUSE": PrinterStatus.PAUSED,
    "FINISH": PrinterStatus.FINISHED,
    "FAILED": PrinterStatus.FAILED,
}

STAGES: Final = {
    0: "printing",
    1: "auto_bed_leveling",
    2: "heatbed_preheating",
    3: "vibration_compensation",
    4: "changing_filament",
    5: "m400_pause",
    6: "paused_filament_runout",
    7: "heating_hotend",
    8: "calibrating_extrusion",
    9: "scanning_bed_surface",
    10: "inspecting_first_layer",
    11: "identifying_build_plate",
    12: "calibrating_micro_lidar",
    13: "homing_toolhead",
    14: "cleaning_nozzle_tip",
    15: "checking_extruder_temperature",
    16: "paused_user",
    17: "paused_front_cover_falling",
    18: "calibrating_micro_lidar",
    19: "calibrating_extrusion_flow",
    20: "paused_nozzle_temperature_malfunction",
    21: "paused_heat_bed_temperature_malfunction",
    22: "filament_unloading",
    23: "paused_skipped_step",
    24: "filament_loading",
    25: "calibrating_motor_noise",
    26: "paused_ams_lost",
    27: "paused_low_fan_speed_heat_break",
    28: "paused_chamber_temperature_control_error",
    29: "cooling_chamber",
    30: "paused_user_gcode",
    31: "motor_noise_showoff",
    32: "paused_nozzle_filament_covered_detected",
    33: "paused_cutter_error",
    34: "paused_first_layer_error",
    35: "paused_nozzle_clog",
}
_IDLE_STAGES: Final = frozenset({-1, 255})

_ERROR_MODULES: Final = {
    0x03: "motion_controller",
    0x05: "mainboard",
    0x07: "ams",
    0x08: "toolhead",
    0x0C: "camera",
    0x10: "print",
    0x12: "ams_lite",
}
_SEVERITIES: Final = {
    1: ErrorSeverity.FATAL,
    2: ErrorSeverity.SERIOUS,
    3: ErrorSeverity.COMMON,
    4: ErrorSeverity.INFO,
}

# Which top-level report keys feed which part of the state.
_STATUS_KEYS: Final = frozenset({"gcode_state", "print_error", "hms", "fun"})
_TEMP_KEYS: Final = frozenset(
    {
        "nozzle_temper",
        "nozzle_target_temper",
        "bed_temper",
        "bed_target_temper",
        "chamber_temper",
        "device",
    }
)
_JOB_KEYS: Final = frozenset(
    {
        "subtask_name",
        "gcode_file",
        "mc_percent",
        "mc_remaining_time",
        "layer_num",
        "total_layer_num",
        "stg_cur",
        "gcode_start_time",
        "task_id",
        "subtask_id",
    }
)
_FILAMENT_KEYS: Final = frozenset({"ams", "vt_tray"})
_MISC_KEYS: Final = frozenset(
    {
        "cooling_fan_speed",
        "big_fan1_speed",
        "big_fan2_speed",
        "spd_lvl",
        "wifi_signal",
        "nozzle_type",
        "nozzle_diameter",
        "lights_report",
    }
)


def merge(cache: dict[str, Any], delta: dict[str, Any]) -> None:
    """Merge a delta into the cached report: nested objects merge, everything else replaces."""
    for key, value in delta.items():
        current = cache.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge(current, value)
        else:
            cache[key] = value


class ReportState:
    """The merged report of one printer and the `PrinterState` derived from it."""

    def __init__(self, model: str | None = None) -> None:
        """Start from an empty, offline printer."""
        self.model = model
        self.report: dict[str, Any] = {}
        self.state = PrinterState()
        self._cancelled = False

    def apply(self, delta: dict[str, Any]) -> PrinterState:
        """Merge a `print` payload and return the new state (the same object if unchanged)."""
        merge(self.report, delta)
        keys = delta.keys()
        changes: dict[str, Any] = {}
        if not self.state.online:
            changes["online"] = True
        if not _STATUS_KEYS.isdisjoint(keys) or "online" in changes:
            changes.update(self._status())
        if not _TEMP_KEYS.isdisjoint(keys):
            changes.update(self._temperatures())
        if not _JOB_KEYS.isdisjoint(keys):
            changes["job"] = self._job()
        if not _FILAMENT_KEYS.isdisjoint(keys):
            changes.update(self._filament())
        if not _MISC_KEYS.isdisjoint(keys):
            changes.update(self._misc())
        self._replace(changes)
        return self.state

    def _replace(self, changes: dict[str, Any]) -> None:
        changed = {k: v for k, v in changes.items() if getattr(self.state, k) != v}
        if changed:
            self.state = replace(self.state, **changed)

    def set_model(self, model: str | None) -> PrinterState:
        """Learn the model; it decides whether the chamber reading is a real sensor."""
        if model != self.model:
            self.model = model
            if self.report:
                self._replace(self._temperatures())
        return self.state

    def set_offline(self) -> PrinterState:
        """Mark the printer unreachable, keeping the last known values for reference."""
        if self.state.online:
            self.state = replace(self.state, online=False, status=PrinterStatus.OFFLINE)
        return self.state

    def _status(self) -> dict[str, Any]:
        report = self.report
        gcode_state = report.get("gcode_state")
        print_error = as_int(report.get("print_error")) or 0
        status = _GCODE_STATES.get(gcode_state) if isinstance(gcode_state, str) else None
        if status is None:
            status = self.state.status if self.state.online else PrinterStatus.IDLE
        if status is PrinterStatus.FAILED:
            # The cancel code clears a few seconds after a cancel; the outcome must not flip.
            self._cancelled = self._cancelled or print_error == CANCELLED_ERROR
            if self._cancelled:
                status = PrinterStatus.CANCELLED
        else:
            self._cancelled = False
        errors = _errors(print_error, report.get("hms"))
        # A running print with a serious HMS entry keeps printing; only an idle printer with one
        # is in an error state (a job tracker must not close a print that goes on).
        if status is PrinterStatus.IDLE and any(
            error.severity in (ErrorSeverity.FATAL, ErrorSeverity.SERIOUS) for error in errors
        ):
            status = PrinterStatus.ERROR
        fun = as_hex(report.get("fun")) or 0
        return {
            "status": status,
            "errors": errors,
            "controls_locked": bool(fun & LOCKDOWN_FUN_BIT),
        }

    def _temperatures(self) -> dict[str, Any]:
        report = self.report
        nozzle = Temperature(
            current=as_float(report.get("nozzle_temper")),
            target=as_float(report.get("nozzle_target_temper")),
        )
        bed = Temperature(
            current=as_float(report.get("bed_temper")),
            target=as_float(report.get("bed_target_temper")),
        )
        chamber: Temperature | None = None
        if self.model not in NO_CHAMBER_SENSOR:
            chamber_temp = as_float(report.get("chamber_temper"))
            chamber = Temperature(current=chamber_temp) if chamber_temp is not None else None
        device = report.get("device")
        if isinstance(device, dict):
            nozzle, bed, chamber = _packed_temperatures(device, nozzle, bed, chamber)
        return {"nozzle": nozzle, "bed": bed, "chamber": chamber}

    def _job(self) -> JobInfo:
        report = self.report
        stage_code = as_int(report.get("stg_cur"))
        start = as_int(report.get("gcode_start_time"))
        job_id = next(
            (
                value
                for value in (as_str(report.get("task_id")), as_str(report.get("subtask_id")))
                if value not in (None, "0")
            ),
            None,
        )
        return JobInfo(
            name=as_str(report.get("subtask_name")),
            file=as_str(report.get("gcode_file")),
            job_id=job_id,
            started_at=datetime.fromtimestamp(start, UTC) if start else None,
            progress=as_float(report.get("mc_percent")),
            remaining_minutes=as_int(report.get("mc_remaining_time")),
            current_layer=as_int(report.get("layer_num")),
            total_layers=as_int(report.get("total_layer_num")),
            stage=None if stage_code in _IDLE_STAGES else STAGES.get(stage_code or 0),
        )

    def _filament(self) -> dict[str, Any]:
        report = self.report
        units: list[FilamentUnit] = []
        slots: list[FilamentSlot] = []
        ams = report.get("ams")
        ams = ams if isinstance(ams, dict) else {}
        raw_units = ams.get("ams")
        for unit in raw_units if isinstance(raw_units, list) else ():
            if not isinstance(unit, dict) or (unit_id := as_int(unit.get("id"))) is None:
                continue
            temperature = as_float(unit.get("temp"))
            units.append(
                FilamentUnit(
                    unit_id=str(unit_id),
                    humidity_index=as_int(unit.get("humidity")),
                    humidity_percent=as_float(unit.get("humidity_raw")),
                    temperature=temperature or None,
                )
            )
            trays = unit.get("tray")
            for tray in trays if isinstance(trays, list) else ():
                tray_id = as_int(tray.get("id")) if isinstance(tray, dict) else None
                if isinstance(tray, dict) and tray_id is not None:
                    slot_id = unit_id * 4 + tray_id if unit_id < 128 else unit_id
                    slots.append(_slot(tray, str(slot_id), str(unit_id)))
        external = report.get("vt_tray")
        if isinstance(external, dict):
            slots.append(_slot(external, "254", None))
        tray_now = as_str(ams.get("tray_now"))
        return {
            "filament_units": tuple(units),
            "filament_slots": tuple(slots),
            "active_slot": None if tray_now in (None, "255") else tray_now,
        }

    def _misc(self) -> dict[str, Any]:
        report = self.report
        lights = report.get("lights_report")
        chamber_light = None
        for light in lights if isinstance(lights, list) else ():
            if isinstance(light, dict) and light.get("node") == "chamber_light":
                chamber_light = light.get("mode") == "on"
        return {
            "part_fan_percent": fan_percent(report.get("cooling_fan_speed")),
            "aux_fan_percent": fan_percent(report.get("big_fan1_speed")),
            "chamber_fan_percent": fan_percent(report.get("big_fan2_speed")),
            "speed_level": as_int(report.get("spd_lvl")),
            "wifi_dbm": wifi_dbm(report.get("wifi_signal")),
            "nozzle_type": as_str(report.get("nozzle_type")),
            "nozzle_diameter": as_float(report.get("nozzle_diameter")),
            "chamber_light": chamber_light,
        }


def _errors(print_error: int, hms: Any) -> tuple[PrinterError, ...]:
    errors: list[PrinterError] = []
    if print_error and print_error != CANCELLED_ERROR:
        errors.append(
            PrinterError(
                code=code_groups(print_error, 2),
                module=_ERROR_MODULES.get((print_error >> 24) & 0xFF),
            )
        )
    for entry in hms if isinstance(hms, list) else ():
        if not isinstance(entry, dict):
            continue
        attr, code = as_int(entry.get("attr")), as_int(entry.get("code"))
        if attr is None or code is None:
            continue
        errors.append(
            PrinterError(
                code="HMS_" + code_groups((attr << 32) | code, 4),
                severity=_SEVERITIES.get(code >> 16, ErrorSeverity.COMMON),
                module=_ERROR_MODULES.get((attr >> 24) & 0xFF),
            )
        )
    return tuple(errors)


def _slot(tray: dict[str, Any], slot_id: str, unit_id: str | None) -> FilamentSlot:
    material = as_str(tray.get("tray_type"))
    if material is None:
        return FilamentSlot(slot_id=slot_id, unit_id=unit_id, empty=True)
    color = as_str(tray.get("tray_color"))
    remain = as_int(tray.get("remain"))
    # The external spool has no RFID; its "remain" is a placeholder, not a reading.
    known = remain is not None and remain >= 0 and unit_id is not None
    return FilamentSlot(
        slot_id=slot_id,
        unit_id=unit_id,
        material=material,
        color=f"#{color[:6]}" if color and len(color) >= 6 else None,
        name=as_str(tray.get("tray_sub_brands")),
        remaining_percent=remain if known else None,
    )


def _unpack(value: Any) -> tuple[float | None, float | None]:
    """H2D packs current temperature in the low and target in the high 16 bits."""
    packed = as_int(value)
    if packed is None:
        return None, None
    return float(packed & 0xFFFF), float((packed >> 16) & 0xFFFF)


def _packed_temperatures(
    device: dict[str, Any],
    nozzle: Temperature,
    bed: Temperature,
    chamber: Temperature | None,
) -> tuple[Temperature, Temperature, Temperature | None]:
    extruder = device.get("extruder")
    if isinstance(extruder, dict) and isinstance(extruder.get("info"), list):
        active = ((as_int(extruder.get("state")) or 0) >> 4) & 0xF
        for info in extruder["info"]:
            if isinstance(info, dict) and as_int(info.get("id")) == active:
                current, target = _unpack(info.get("temp"))
                nozzle = Temperature(current=current, target=target)
    bed_info = device.get("bed")
    if isinstance(bed_info, dict) and isinstance(bed_info.get("info"), dict):
        current, target = _unpack(bed_info["info"].get("temp"))
        bed = Temperature(current=current, target=target)
    ctc = device.get("ctc")
    if isinstance(ctc, dict) and isinstance(ctc.get("info"), dict):
        current, target = _unpack(ctc["info"].get("temp"))
        chamber = Temperature(current=current, target=target or None)
    return nozzle, bed, chamber
