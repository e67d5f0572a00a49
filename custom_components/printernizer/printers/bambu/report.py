"""Turns Bambu `push_status` reports into `PrinterState` snapshots.

Delta printers (P1/A1) send only changed keys, so the raw report is merged into a cache and only
the parts of the state whose keys arrived are rebuilt; an unchanged result is the same object.

Every value is read through the bounded readers, so no value can raise. A top-level value that
is present but unreadable or absurd (a start time of 1e20, a percentage of 400, `"ams": 5`) is
counted in `rejected` and removed from the cache: it costs that one field, is not counted again
on every later rebuild, and is not replayed from the cache after a reconnect. Junk inside a
list (one broken tray or HMS entry) only skips that entry.
"""

from __future__ import annotations

from collections.abc import Callable
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
    evolve,
)
from ..values import MAX_SECONDS, integer, number, text, timestamp
from .values import as_hex, as_id, code_groups, count, fan_percent, hex_color, wifi_dbm, within

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
# What firmware sends for "no value"; reading these as None is not a rejection.
_EMPTY: Final = ("", "0", 0)
# Plausible bounds: beyond them a reading is garbage, and some would overflow later arithmetic.
_MAX_MINUTES: Final = MAX_SECONDS // 60
_MAX_LAYERS: Final = 1_000_000
# A full X1C report has about 100 keys at its widest level.
MAX_KEYS: Final = 1024
_MAX_UNITS: Final = 16
_MAX_TRAYS: Final = 16
_MAX_HMS: Final = 64
_MAX_LIGHTS: Final = 16
_MAX_EXTRUDERS: Final = 8

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


def merge(cache: dict[str, Any], delta: dict[str, Any]) -> bool:
    """Merge a delta into the cached report: nested objects merge, everything else replaces.

    Deltas come from `values.loads`, so their depth (and with it this recursion) is bounded. A
    delta that would grow an object past `MAX_KEYS` (a printer inventing new keys in every
    message) leaves its keys out of the cache, so memory stays bounded too; False then.
    """
    for key, value in delta.items():
        current = cache.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge(current, value)
        else:
            cache[key] = value
    if len(cache) > MAX_KEYS:
        for key in delta:
            cache.pop(key, None)
        return False
    return True


# The readers of fields in nearly every delta call the shared readers directly (hot path).


def _temperature(value: Any) -> float | None:
    result = number(value)
    return result if result is not None and -273.0 <= result <= 2000.0 else None


def _percent(value: Any) -> float | None:
    result = number(value)
    return result if result is not None and 0.0 <= result <= 100.0 else None


def _minutes(value: Any) -> int | None:
    result = integer(value)
    return result if result is not None and 0 <= result <= _MAX_MINUTES else None


def _layers(value: Any) -> int | None:
    result = integer(value)
    return result if result is not None and 0 <= result <= _MAX_LAYERS else None


def _error_code(value: Any) -> int | None:
    return count(value, 0xFFFFFFFF)


def _speed_level(value: Any) -> int | None:
    return count(value, 100)


def _diameter(value: Any) -> float | None:
    return within(value, 0.0, 10.0)


def _word(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _array(value: Any) -> list[Any] | None:
    return value if isinstance(value, list) else None


class ReportState:
    """The merged report of one printer and the `PrinterState` derived from it."""

    def __init__(self, model: str | None = None) -> None:
        """Start from an empty, offline printer."""
        self.model = model
        self.report: dict[str, Any] = {}
        self.state = PrinterState()
        self.rejected = 0
        self.last_rejected: str | None = None
        self._cancelled = False
        # The parts (`PrinterState` field names) changed since `take_changed` was last called.
        self._changed: set[str] = set()

    def apply(self, delta: dict[str, Any]) -> PrinterState:
        """Merge a `print` payload and return the new state (the same object if unchanged)."""
        if not merge(self.report, delta):
            self.rejected += 1
            self.last_rejected = "too many keys"
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

    def forget(self, keys: Any) -> None:
        """Drop these top-level keys from the cache (a delta that could not be applied)."""
        for key in keys:
            self.report.pop(key, None)

    def _read[T](self, key: str, reader: Callable[[Any], T | None]) -> T | None:
        """One top-level value through its reader; an unreadable one is counted and dropped."""
        raw = self.report.get(key)
        if raw is None:
            return None
        value = reader(raw)
        if value is None and raw not in _EMPTY:
            del self.report[key]
            self.rejected += 1
            self.last_rejected = key
        return value

    def _replace(self, changes: dict[str, Any]) -> None:
        state = self.state
        changed = {k: v for k, v in changes.items() if getattr(state, k) != v}
        if changed:
            self.state = evolve(state, changed)
            self._changed.update(changed)

    def take_changed(self) -> frozenset[str]:
        """The parts changed since the last call: what a listener of the new state must redo."""
        changed = frozenset(self._changed)
        self._changed.clear()
        return changed

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
            self._replace({"online": False, "status": PrinterStatus.OFFLINE})
        return self.state

    def _status(self) -> dict[str, Any]:
        gcode_state = self._read("gcode_state", _word)
        print_error = self._read("print_error", _error_code) or 0
        status = _GCODE_STATES.get(gcode_state) if gcode_state is not None else None
        if status is None:
            status = self.state.status if self.state.online else PrinterStatus.IDLE
        if status is PrinterStatus.FAILED:
            # The cancel code clears a few seconds after a cancel; the outcome must not flip.
            self._cancelled = self._cancelled or print_error == CANCELLED_ERROR
            if self._cancelled:
                status = PrinterStatus.CANCELLED
        else:
            self._cancelled = False
        errors = _errors(print_error, self._read("hms", _array))
        # A running print with a serious HMS entry keeps printing; only an idle printer with one
        # is in an error state (a job tracker must not close a print that goes on).
        if status is PrinterStatus.IDLE and any(
            error.severity in (ErrorSeverity.FATAL, ErrorSeverity.SERIOUS) for error in errors
        ):
            status = PrinterStatus.ERROR
        fun = self._read("fun", as_hex) or 0
        return {
            "status": status,
            "errors": errors,
            "controls_locked": bool(fun & LOCKDOWN_FUN_BIT),
        }

    def _temperatures(self) -> dict[str, Any]:
        read = self._read
        nozzle = Temperature(
            current=read("nozzle_temper", _temperature),
            target=read("nozzle_target_temper", _temperature),
        )
        bed = Temperature(
            current=read("bed_temper", _temperature),
            target=read("bed_target_temper", _temperature),
        )
        chamber: Temperature | None = None
        if self.model not in NO_CHAMBER_SENSOR:
            chamber_temp = read("chamber_temper", _temperature)
            chamber = Temperature(current=chamber_temp) if chamber_temp is not None else None
        device = read("device", _object)
        if device is not None:
            nozzle, bed, chamber = _packed_temperatures(device, nozzle, bed, chamber)
        return {"nozzle": nozzle, "bed": bed, "chamber": chamber}

    def _job(self) -> JobInfo:
        read = self._read
        stage_code = read("stg_cur", integer)
        job_id = next(
            (
                value
                for value in (read("task_id", as_id), read("subtask_id", as_id))
                if value not in (None, "0")
            ),
            None,
        )
        return JobInfo(
            name=read("subtask_name", text),
            file=read("gcode_file", text),
            job_id=job_id,
            started_at=read("gcode_start_time", timestamp),
            progress=read("mc_percent", _percent),
            remaining_minutes=read("mc_remaining_time", _minutes),
            current_layer=read("layer_num", _layers),
            total_layers=read("total_layer_num", _layers),
            stage=None if stage_code in _IDLE_STAGES else STAGES.get(stage_code or 0),
        )

    def _filament(self) -> dict[str, Any]:
        units: list[FilamentUnit] = []
        slots: list[FilamentSlot] = []
        ams = self._read("ams", _object) or {}
        raw_units = ams.get("ams")
        for unit in raw_units[:_MAX_UNITS] if isinstance(raw_units, list) else ():
            if not isinstance(unit, dict) or (unit_id := count(unit.get("id"), 255)) is None:
                continue
            temperature = within(unit.get("temp"), -50.0, 150.0)
            units.append(
                FilamentUnit(
                    unit_id=str(unit_id),
                    humidity_index=count(unit.get("humidity"), 100),
                    humidity_percent=_percent(unit.get("humidity_raw")),
                    temperature=temperature or None,
                )
            )
            trays = unit.get("tray")
            for tray in trays[:_MAX_TRAYS] if isinstance(trays, list) else ():
                tray_id = count(tray.get("id"), 255) if isinstance(tray, dict) else None
                if isinstance(tray, dict) and tray_id is not None:
                    slot_id = unit_id * 4 + tray_id if unit_id < 128 else unit_id
                    slots.append(_slot(tray, str(slot_id), str(unit_id)))
        external = self._read("vt_tray", _object)
        if external is not None:
            slots.append(_slot(external, "254", None))
        tray_now = as_id(ams.get("tray_now"))
        return {
            "filament_units": tuple(units),
            "filament_slots": tuple(slots),
            "active_slot": None if tray_now in (None, "255") else tray_now,
        }

    def _misc(self) -> dict[str, Any]:
        read = self._read
        lights = read("lights_report", _array)
        chamber_light = None
        for light in lights[:_MAX_LIGHTS] if lights is not None else ():
            if isinstance(light, dict) and light.get("node") == "chamber_light":
                chamber_light = light.get("mode") == "on"
        return {
            "part_fan_percent": read("cooling_fan_speed", fan_percent),
            "aux_fan_percent": read("big_fan1_speed", fan_percent),
            "chamber_fan_percent": read("big_fan2_speed", fan_percent),
            "speed_level": read("spd_lvl", _speed_level),
            "wifi_dbm": read("wifi_signal", wifi_dbm),
            "nozzle_type": read("nozzle_type", text),
            "nozzle_diameter": read("nozzle_diameter", _diameter),
            "chamber_light": chamber_light,
        }


def _errors(print_error: int, hms: list[Any] | None) -> tuple[PrinterError, ...]:
    errors: list[PrinterError] = []
    if print_error and print_error != CANCELLED_ERROR:
        errors.append(
            PrinterError(
                code=code_groups(print_error, 2),
                module=_ERROR_MODULES.get((print_error >> 24) & 0xFF),
            )
        )
    for entry in hms[:_MAX_HMS] if hms is not None else ():
        if not isinstance(entry, dict):
            continue
        attr, code = _error_code(entry.get("attr")), _error_code(entry.get("code"))
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
    material = text(tray.get("tray_type"))
    if material is None:
        return FilamentSlot(slot_id=slot_id, unit_id=unit_id, empty=True)
    remain = count(tray.get("remain"), 100)
    return FilamentSlot(
        slot_id=slot_id,
        unit_id=unit_id,
        material=material,
        color=hex_color(tray.get("tray_color")),
        name=text(tray.get("tray_sub_brands")),
        # The external spool has no RFID; its "remain" is a placeholder, not a reading.
        remaining_percent=remain if unit_id is not None else None,
    )


def _unpack(value: Any) -> tuple[float | None, float | None]:
    """H2D packs current temperature in the low and target in the high 16 bits."""
    packed = count(value, 0xFFFFFFFF)
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
        active = ((count(extruder.get("state"), 0xFFFFFFFF) or 0) >> 4) & 0xF
        for info in extruder["info"][:_MAX_EXTRUDERS]:
            if isinstance(info, dict) and integer(info.get("id")) == active:
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
