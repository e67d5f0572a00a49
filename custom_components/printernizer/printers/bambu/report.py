"""Turns Bambu `push_status` reports into `PrinterState` snapshots.

Delta printers (P1/A1) send only changed keys, so the raw report is merged into a cache and only
the parts of the state whose keys arrived are rebuilt; an unchanged result is the same object.

Every value is read through the bounded readers, so no value can raise. A top-level value that
is present but unreadable or absurd (a start time of 1e20, a percentage of 400, `"ams": 5`) is
counted in `rejected` and removed from the cache: it costs that one field, is not counted again
on every later rebuild, and is not replayed from the cache after a reconnect. Junk inside a
list (one broken tray or HMS entry) is counted once and removed from the cached list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ..models import (
    DeviceInfo,
    ErrorSeverity,
    FilamentSlot,
    JobInfo,
    PrinterError,
    PrinterState,
    PrinterStatus,
    Temperature,
    evolve,
)
from ..values import MAX_SECONDS, integer, number, text, timestamp
from .ams import parse_units
from .firmware import firmware_update
from .hms import CANCELLED_ERROR, hms_errors, print_error
from .values import as_hex, as_id, count, fan_percent, hex_color, wifi_dbm, within

LOCKDOWN_FUN_BIT: Final = 0x20000000
# External spool ids: 254 the left (main) nozzle's, 255 the right (deputy) one's on an H2D.
EXTERNAL_SPOOL_IDS: Final = frozenset({254, 255})


def has_chamber_sensor(model: str | None, device: Any) -> bool:
    """X1 family, or a report with `device.ctc` (H2/P2/X2).

    The others (P1, A1, A2 ...) send a fixed `chamber_temper` of 5: a placeholder, so the
    decision never looks at the value.
    """
    return bool(model and model.startswith("X1")) or (
        isinstance(device, dict) and isinstance(device.get("ctc"), dict)
    )


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
_MAX_EXTERNAL: Final = 8
_MAX_LIGHTS: Final = 16
_MAX_EXTRUDERS: Final = 8

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
# Without a `device` object (all but the H2 family) each heater is read from its own keys alone.
_NOZZLE_KEYS: Final = frozenset({"nozzle_temper", "nozzle_target_temper"})
_BED_KEYS: Final = frozenset({"bed_temper", "bed_target_temper"})
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
_FILAMENT_KEYS: Final = frozenset({"ams"})
_EXTERNAL_KEYS: Final = frozenset({"vt_tray", "vir_slot"})
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

# Keys whose every value a listener must see (status, errors, job, filament, firmware update,
# and the job file's download that starts the metadata fetch): a delta with one is published
# before another such delta is merged. A delta without any moves only readings (temperatures,
# fans, signal), whose intermediate values may be skipped.
EVENT_KEYS: Final = (
    _STATUS_KEYS
    | _JOB_KEYS
    | _FILAMENT_KEYS
    | _EXTERNAL_KEYS
    | {"upgrade_state", "gcode_file_prepare_percent", "ams_mapping"}
)


def merge(cache: dict[str, Any], delta: dict[str, Any]) -> bool:
    """Merge a delta into the cached report: nested objects merge, everything else replaces.

    Deltas come from `values.loads`, so their depth (and with it this recursion) is bounded. A
    delta that would grow an object past `MAX_KEYS` (a printer inventing new keys in every
    message) leaves its keys out of the cache, so memory stays bounded too; False then.
    """
    for key, value in delta.items():
        # (JSON objects are plain dicts; most values are not, and cost no look-up.)
        if type(value) is dict and type(current := cache.get(key)) is dict:
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


# The `_MISC_KEYS` that feed one state field each, and how that field is read.
_FIELDS_OF_KEYS: Final[dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "cooling_fan_speed": ("part_fan_percent", fan_percent),
    "big_fan1_speed": ("aux_fan_percent", fan_percent),
    "big_fan2_speed": ("chamber_fan_percent", fan_percent),
    "spd_lvl": ("speed_level", _speed_level),
    "wifi_signal": ("wifi_dbm", wifi_dbm),
    "nozzle_type": ("nozzle_type", text),
    "nozzle_diameter": ("nozzle_diameter", _diameter),
}


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
        # AMS unit id -> model, from the version reply's modules (`n3f/0`: an AMS 2 Pro).
        self.ams_models: dict[int, str] = {}
        self._asked_units: set[int] = set()  # units a version reply was asked for
        # The parts (`PrinterState` field names) changed since `take_changed` was last called.
        self._changed: set[str] = set()
        # Top-level keys merged by `stage` whose parts `build` has not rebuilt yet.
        self._staged: set[str] = set()
        self.pending = False  # a delta was staged since the last `build`

    def apply(self, delta: dict[str, Any]) -> PrinterState:
        """Merge a `print` payload and return the new state (the same object if unchanged)."""
        self.stage(delta)
        return self.build()

    def stage(self, delta: dict[str, Any]) -> None:
        """Merge a `print` payload into the cache only; `build` derives the state later.

        Several deltas staged and built once give the state that applying each would end with.
        """
        if not merge(self.report, delta):
            self.rejected += 1
            self.last_rejected = "too many keys"
        self._staged.update(delta)
        self.pending = True

    def forget_staged(self) -> None:
        """Drop the staged keys from the cache (deltas that could not be applied)."""
        self.forget(self._staged)
        self._staged.clear()
        self.pending = False

    def build(self) -> PrinterState:
        """Rebuild the parts fed by the staged keys; the new state (the same object if unchanged).

        If this raises, the keys stay staged for `forget_staged`.
        """
        if not self.pending:
            return self.state
        keys = self._staged
        changes: dict[str, Any] = {}
        if not self.state.online:
            changes["online"] = True
        if not _STATUS_KEYS.isdisjoint(keys) or "online" in changes:
            changes.update(self._status())
        if not _TEMP_KEYS.isdisjoint(keys):
            if "device" in self.report:
                changes.update(self._temperatures())
            else:  # the hot path of P1/A1 deltas: only the heaters whose keys came
                self._heaters(keys, changes)
        if not _JOB_KEYS.isdisjoint(keys):
            changes["job"] = self._job()
        if not _FILAMENT_KEYS.isdisjoint(keys):
            changes.update(self._filament())
        if not _EXTERNAL_KEYS.isdisjoint(keys):
            changes["external_spools"] = self._external_spools()
        if "upgrade_state" in keys:
            changes["firmware_update"] = firmware_update(self.report.get("upgrade_state"))
        if not _MISC_KEYS.isdisjoint(keys):
            self._misc(keys, changes)
        self._replace(changes)
        keys.clear()
        self.pending = False
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

    def _junk(self, key: str, junk: int, kept: list[Any]) -> None:
        """Count junk entries of a list once: the cached list keeps only the usable ones."""
        if junk:
            self.report[key] = kept
            self.rejected += 1
            self.last_rejected = key

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
                changes = self._temperatures()
                if "ams" in self.report:  # an A-series printer's units are AMS Lites
                    changes |= self._filament()
                if self.state.online:  # the wiki links of errors follow the model
                    changes |= self._status()
                self._replace(changes)
        return self.state

    def set_device(self, device: DeviceInfo) -> PrinterState:
        """Learn model and firmware from the version reply (again after an update)."""
        self._replace({"firmware": device.firmware})
        return self.set_model(device.model)

    def set_ams_models(self, models: dict[int, str]) -> PrinterState:
        """Learn which AMS model each unit id is: it decides names and drying entities."""
        if models != self.ams_models:
            self.ams_models = models
            if "ams" in self.report:
                self._replace(self._filament())
        return self.state

    def take_new_units(self) -> bool:
        """Whether a unit appeared that the last version reply did not list (asked once each).

        Only the version reply tells an AMS 2 Pro from an AMS; a unit plugged in at runtime
        needs the printer asked again.
        """
        new = (
            {int(unit.unit_id) for unit in self.state.filament_units}
            - self.ams_models.keys()
            - self._asked_units
        )
        self._asked_units |= new
        return bool(new)

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
        errors = self._errors(print_error)
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
        chamber_temp = read("chamber_temper", _temperature)
        device = read("device", _object)
        chamber: Temperature | None = None
        if has_chamber_sensor(self.model, device):
            chamber = Temperature(current=chamber_temp)
        if device is not None:
            nozzle, bed, chamber = _packed_temperatures(device, nozzle, bed, chamber)
        return {"nozzle": nozzle, "bed": bed, "chamber": chamber}

    def _heaters(self, keys: Any, changes: dict[str, Any]) -> None:
        """What `_temperatures` gives, for the heaters these keys feed (no `device` object)."""
        read = self._read
        if not _NOZZLE_KEYS.isdisjoint(keys):
            changes["nozzle"] = Temperature(
                current=read("nozzle_temper", _temperature),
                target=read("nozzle_target_temper", _temperature),
            )
        if not _BED_KEYS.isdisjoint(keys):
            changes["bed"] = Temperature(
                current=read("bed_temper", _temperature),
                target=read("bed_target_temper", _temperature),
            )
        sensor = has_chamber_sensor(self.model, None)
        # The chamber reading, also the first time a key of another heater comes: it exists then.
        if "chamber_temper" in keys or (self.state.chamber is None) is sensor:
            current = read("chamber_temper", _temperature)
            changes["chamber"] = Temperature(current=current) if sensor else None

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
        ams = self._read("ams", _object) or {}
        units, slots, junk = parse_units(ams, self.model, self.ams_models, _slot)
        if junk:
            self.rejected += 1
            self.last_rejected = "ams"
        tray_now = as_id(ams.get("tray_now"))
        return {
            "filament_units": tuple(units),
            "filament_slots": tuple(slots),
            "active_slot": None if tray_now in (None, "255") else tray_now,
        }

    def _errors(self, code: int) -> tuple[PrinterError, ...]:
        errors = [error] if (error := print_error(code, self.model)) else []
        hms = self._read("hms", _array)
        if hms is not None:
            entries, usable = hms_errors(hms, self.model)
            self._junk("hms", len(hms) - len(usable), usable)
            errors.extend(entries)
        return tuple(errors)

    def _external_spools(self) -> tuple[FilamentSlot, ...]:
        """`vir_slot` (H2 family, one per nozzle) and `vt_tray`, keyed by their own ids.

        `vt_tray` without an id is the single external spool of older firmware: 254.
        """
        spools: dict[str, FilamentSlot] = {}
        listed = self._read("vir_slot", _array)
        if listed is not None:
            kept = []
            for entry in listed[:_MAX_EXTERNAL]:
                spool = _external(entry, None)
                if spool is not None:
                    kept.append(entry)
                    spools.setdefault(spool.slot_id, spool)
            self._junk("vir_slot", len(listed) - len(kept), kept)
        single = self._read("vt_tray", _object)
        if single is not None:
            spool = _external(single, "254")
            if spool is None:
                del self.report["vt_tray"]
                self.rejected += 1
                self.last_rejected = "vt_tray"
            else:
                spools.setdefault(spool.slot_id, spool)
        return tuple(sorted(spools.values(), key=lambda spool: spool.slot_id))

    def _misc(self, keys: Any, changes: dict[str, Any]) -> None:
        """The fields of the keys that came: each is read from its own key alone."""
        read = self._read
        for key in keys:
            if (field := _FIELDS_OF_KEYS.get(key)) is not None:
                changes[field[0]] = read(key, field[1])
        if "lights_report" in keys:
            lights = read("lights_report", _array)
            chamber_light = None
            for light in lights[:_MAX_LIGHTS] if lights is not None else ():
                if isinstance(light, dict) and light.get("node") == "chamber_light":
                    chamber_light = light.get("mode") == "on"
            changes["chamber_light"] = chamber_light


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
        remaining_percent=remain,
    )


def _external(entry: Any, default_id: str | None) -> FilamentSlot | None:
    """One external spool; None without a usable id (254/255, or `default_id` when absent).

    Without RFID, firmware reports `remain` 0 or -1 for "not known": only 1-100 is a reading.
    """
    if not isinstance(entry, dict):
        return None
    raw_id = entry.get("id")
    spool_id = count(raw_id, 255) if raw_id is not None else None
    if spool_id is None and raw_id is None and default_id is not None:
        spool_id = int(default_id)
    if spool_id not in EXTERNAL_SPOOL_IDS:
        return None
    material = text(entry.get("tray_type"))
    if material is None:
        return FilamentSlot(slot_id=str(spool_id), empty=True)
    remain = count(entry.get("remain"), 100)
    return FilamentSlot(
        slot_id=str(spool_id),
        material=material,
        color=hex_color(entry.get("tray_color")),
        name=text(entry.get("tray_sub_brands")),
        remaining_percent=remain or None,
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
        # The H2 family heats its chamber: a target of 0 is "off", a reading like any other.
        chamber = Temperature(current=current, target=target)
    return nozzle, bed, chamber
