"""What the simulated printers say: initial reports, version modules and firmware constants.

Shapes follow real captures (see shared/protocols/bambu.md): numbers as strings where firmware
sends strings, fans as 0-15 strings, hex-string bit fields, AMS with four trays.
"""

from __future__ import annotations

import copy
import socket
from typing import Any

MODELS = ("P1S", "A1", "X1C", "H2D")
FULL_REPORT_MODELS = frozenset({"X1C", "H2D"})
"""Models that push the complete object every time; the others push deltas after pushall."""

IDLE_STAGE = {"P1S": 255, "A1": 255, "X1C": -1, "H2D": -1}
SPEED_MAGNITUDE = {"1": 50, "2": 100, "3": 124, "4": 166}

ERR_CANCELLED = 0x0300400C  # 50348044, shown briefly after a stop
ERR_FILAMENT_RUNOUT = 0x03008015  # 50364437
ERR_VERIFY_FAILED = 0x05024007  # 84033543, unsigned command under the 2025 lockdown
HMS_VERIFY_FAILED = {"attr": 0x05000500, "code": 0x00010007}  # HMS_0500_0500_0001_0007
HMS_RUNOUT = {"attr": 0x07000200, "code": 0x00020001}  # HMS_0700_0200_0002_0001
FUN_SIGNATURE_REQUIRED = 0x20000000
_FUN = 0x3EC18FFF9CFF

FIRMWARE = {"P1S": "01.08.02.00", "A1": "01.05.00.00", "X1C": "01.08.05.00", "H2D": "01.02.00.00"}
_PROJECT = {"P1S": "C12", "A1": "N2S", "X1C": "", "H2D": "O1D"}

_FILAMENTS = (  # type, sub brand, preset, RRGGBBAA, nozzle min/max, bed
    ("PLA", "PLA Basic", "GFA00", "000000FF", "190", "230", "35"),
    ("PLA", "PLA Basic", "GFA00", "FFFFFFFF", "190", "230", "35"),
    ("PETG", "PETG HF", "GFG02", "0A2989FF", "230", "260", "70"),
    ("PLA", "PLA Matte", "GFA01", "C12E1FFF", "190", "230", "35"),
)


def fun_hex(lockdown: bool) -> str:
    """The `fun` capability string; bit 0x20000000 means commands must be signed."""
    value = _FUN | FUN_SIGNATURE_REQUIRED if lockdown else _FUN
    return f"{value:X}"


def _ip_le(host: str) -> int:
    """The printer reports its IPv4 address as a little-endian uint32."""
    try:
        return int.from_bytes(socket.inet_aton(host), "little")
    except OSError:
        return 0


def _tray(slot: int, remain: int) -> dict[str, Any]:
    kind, brand, preset, color, temp_min, temp_max, bed = _FILAMENTS[slot]
    return {
        "id": str(slot), "remain": remain, "k": 0.02, "n": 1.0, "cali_idx": -1,
        "tag_uid": f"{0x5A1C3E00 + slot:016X}", "tray_id_name": f"A00-{'KWBR'[slot]}{slot}",
        "tray_info_idx": preset, "tray_type": kind, "tray_sub_brands": brand,
        "tray_color": color, "cols": [color], "ctype": 0, "tray_weight": "1000",
        "tray_diameter": "1.75", "tray_temp": "55", "tray_time": "8", "bed_temp_type": "1",
        "bed_temp": bed, "nozzle_temp_min": temp_min, "nozzle_temp_max": temp_max,
        "xcam_info": "D007D007E803E8039A99193F", "tray_uuid": f"{0x7F3A9C10 + slot:032X}",
        "state": 11,
    }  # fmt: skip


AMS_MODELS = ("AMS", "AMS 2 Pro", "AMS HT", "AMS Lite")
# `get_version` module name prefix and hardware of each AMS model.
_AMS_MODULES = {
    "AMS": ("ams", "AMS08"), "AMS 2 Pro": ("n3f", "N3F05"), "AMS HT": ("n3s", "N3S05"),
    "AMS Lite": ("ams_f1", "AMS_F102"),
}  # fmt: skip


def ams_unit(unit_id: int, model: str) -> dict[str, Any]:
    """One unit of the `ams` list: four trays (an AMS HT: one), humidity, temperature, drying."""
    lite, ht = model == "AMS Lite", model == "AMS HT"
    remains = (100,) if ht else (100, 100, 100, 100) if lite else (85, 42, 100, 7)
    unit: dict[str, Any] = {
        "id": str(unit_id), "humidity": "5" if lite else "4",
        "humidity_raw": "22" if lite else "31", "temp": "0.0" if lite else "24.6",
        "dry_time": 0, "tray": [_tray(slot, remain) for slot, remain in enumerate(remains)],
    }  # fmt: skip
    if model in ("AMS 2 Pro", "AMS HT"):
        unit["dry_setting"] = {"dry_filament": "", "dry_temperature": -1, "dry_duration": -1}
    return unit


def ams_report(units: dict[int, str]) -> dict[str, Any]:
    """The `ams` object for these units (id -> model), none of them feeding."""
    bits = sum(1 << unit_id for unit_id in units if unit_id < 32)
    return {
        "ams": [ams_unit(unit_id, model) for unit_id, model in sorted(units.items())],
        "ams_exist_bits": f"{bits:x}", "tray_exist_bits": "f", "tray_is_bbl_bits": "f",
        "tray_read_done_bits": "f", "tray_reading_bits": "0", "tray_now": "255",
        "tray_pre": "255", "tray_tar": "255", "version": 12, "insert_flag": True,
        "power_on_flag": False,
    }  # fmt: skip


def default_ams(model: str) -> dict[int, str]:
    """The one unit each simulated model ships with: an AMS Lite on the A1, else an AMS."""
    return {0: "AMS Lite" if model == "A1" else "AMS"}


def _ams(model: str) -> dict[str, Any]:
    return ams_report(default_ams(model))


_VT_TRAY = {
    "id": "254", "tray_id_name": "", "tray_info_idx": "", "tray_type": "", "tray_sub_brands": "",
    "tray_color": "00000000", "cols": [], "tray_weight": "0", "tray_diameter": "0.00",
    "tray_temp": "0", "tray_time": "0", "bed_temp_type": "0", "bed_temp": "0",
    "nozzle_temp_max": "0", "nozzle_temp_min": "0", "remain": 0, "k": 0.02, "n": 1.0,
    "cali_idx": -1, "tag_uid": "0000000000000000", "tray_uuid": "0" * 32, "ctype": 0,
    "xcam_info": "000000000000000000000000",
}  # fmt: skip


def external_spool(spool_id: int, kind: str, color: str, remain: int) -> dict[str, Any]:
    """One `vir_slot` entry (H2 family): an external spool holder with its own id."""
    return copy.deepcopy(_VT_TRAY) | {
        "id": str(spool_id), "tray_type": kind, "tray_sub_brands": f"{kind} Basic",
        "tray_color": color, "cols": [color], "remain": remain,
    }  # fmt: skip


def _packed(current: Any, target: Any) -> int:
    """H2 firmware packs a heater as current (low 16 bits) and target (high 16 bits)."""
    return (max(0, round(float(target))) << 16) | max(0, round(float(current)))


def pack_device(report: dict[str, Any]) -> None:
    """Refresh an H2D's packed `device` temperatures from the heaters' plain fields."""
    device = report.get("device")
    if not isinstance(device, dict):
        return
    nozzle = _packed(report["nozzle_temper"], report["nozzle_target_temper"])
    for extruder in device["extruder"]["info"]:
        extruder["temp"] = nozzle if extruder["id"] == 0 else _packed(report["nozzle_temper"], 0)
    device["bed"]["info"]["temp"] = _packed(report["bed_temper"], report["bed_target_temper"])
    ctc = device["ctc"]["info"]
    ctc["temp"] = (ctc["temp"] & 0xFFFF0000) | max(0, round(float(report["chamber_temper"])))


def _h2d(report: dict[str, Any]) -> None:
    """What an H2D adds: packed heaters with a chamber heater, two external spools."""
    report["device"] = {
        "extruder": {"state": 0x00, "info": [{"id": 0, "snow": 254}, {"id": 1, "snow": 255}]},
        "bed": {"info": {}},
        "ctc": {"info": {"temp": 0}},  # chamber target 0: the heater is off
    }
    pack_device(report)
    report["vir_slot"] = [
        external_spool(254, "PLA", "F2C12EFF", 0),
        external_spool(255, "PETG", "0A2989FF", 60),
    ]
    # Some firmware repeats the right nozzle's spool as vt_tray, with that spool's own id.
    report["vt_tray"] = copy.deepcopy(report["vir_slot"][1])
    report["lights_report"].append({"node": "chamber_light2", "mode": "on"})
    report["ipcam"]["rtsp_url"] = "disable"  # LAN liveview is off by default on H2


def initial_report(model: str, *, host: str, lockdown: bool) -> dict[str, Any]:
    """The full `print` object of an idle, freshly booted printer."""
    full, a1 = model in FULL_REPORT_MODELS, model == "A1"
    report: dict[str, Any] = {
        "gcode_state": "IDLE", "print_type": "idle", "mc_print_stage": "1",
        "mc_print_sub_stage": 0, "mc_percent": 0, "mc_remaining_time": 0,
        "mc_print_error_code": "0", "mc_print_line_number": "0", "print_error": 0,
        "stg": [], "stg_cur": 0 if a1 else IDLE_STAGE[model], "layer_num": 0, "total_layer_num": 0,
        "subtask_name": "", "gcode_file": "", "gcode_file_prepare_percent": "0",
        "gcode_start_time": "0", "project_id": "0", "profile_id": "0", "task_id": "0",
        "subtask_id": "0", "job_id": "", "queue_number": 0, "queue_total": 0, "queue_est": 0,
        "queue_sts": 0, "s_obj": [], "filam_bak": [], "fail_reason": "0",
        "nozzle_temper": 27.8 if a1 else 24.8, "nozzle_target_temper": 0.0,
        "bed_temper": 29.75 if a1 else 24.3, "bed_target_temper": 0.0,
        "chamber_temper": 26.0 if full else 5.0,
        "cooling_fan_speed": "0", "big_fan1_speed": "0", "big_fan2_speed": "0",
        "heatbreak_fan_speed": "0", "fan_gear": 0, "spd_lvl": 2, "spd_mag": 100,
        "nozzle_diameter": "0.4", "nozzle_type": "stainless_steel" if a1 else "hardened_steel",
        "k": "0.0200", "home_flag": 847201687 if a1 else 6292871, "hw_switch_state": 1,
        "sdcard": True, "lifecycle": "product", "force_upgrade": False,
        "mess_production_state": "active", "wifi_signal": "-52dBm",
        "online": {"ahb": False, "rfid": False, "ext": False, "version": 7},
        "stat": "46A58008", "fun": fun_hex(lockdown), "cali_version": 0, "flag3": 71,
        "net": {"conf": 16, "info": [{"ip": _ip_le(host), "mask": 16777215}, {"ip": 0, "mask": 0}]},
        "lights_report": [{"node": "chamber_light", "mode": "off" if a1 else "on"}],
        "ipcam": {
            "ipcam_dev": "1", "ipcam_record": "enable", "timelapse": "disable",
            "resolution": "1080p" if full else "", "tutk_server": "disable", "mode_bits": 3,
        },
        "xcam": {"buildplate_marker_detector": True},
        "upload": {"status": "idle", "progress": 0, "message": ""},
        "upgrade_state": {
            "sequence_id": 0, "progress": "", "status": "IDLE", "consistency_request": False,
            "dis_state": 0, "err_code": 0, "force_upgrade": False, "message": "0%, 0B/s",
            "module": "", "new_version_state": 2, "cur_state_code": 0, "idx2": 0,
            "new_ver_list": [],
        },
        "hms": [], "ams_status": 0, "ams_rfid_status": 0, "ams": _ams(model),
        "vt_tray": copy.deepcopy(_VT_TRAY),
    }  # fmt: skip
    if full:
        report["lights_report"].append({"node": "work_light", "mode": "flashing"})
        report["ipcam"]["rtsp_url"] = f"rtsps://{host}/streaming/live/1"
        report["xcam"] = {
            "first_layer_inspector": True, "spaghetti_detector": True, "print_halting": True,
            "halt_print_sensitivity": "medium", "buildplate_marker_detector": True,
            "allow_skip_parts": False,
        }  # fmt: skip
        report["upgrade_state"]["ota_new_version_number"] = ""
        report["t_utc"] = 0
    if model == "H2D":
        _h2d(report)
    return report


def version_modules(
    model: str, serial: str, firmware: str | None = None, ams: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """`info.get_version` modules, one `ams/N`, `n3f/N`, `n3s/N` or `ams_f1/N` per AMS unit.

    Each model exercises one detection path: P1S names itself (product_name), A1 and H2D only
    have their project name, X1C is recognised by its AP05 boards (`rv1126` and `ap`, as real
    X1C firmware lists them) without a project name.
    """

    def module(name: str, sw_ver: str, hw_ver: str, sn: str, **extra: str) -> dict[str, Any]:
        blank = {"project_name": "", "product_name": "", "loader_ver": "", "flag": 0}
        ids = {"name": name, "sw_ver": sw_ver, "hw_ver": hw_ver, "sn": sn, "visible": True}
        return ids | blank | extra

    project = _PROJECT[model]
    ota = module("ota", firmware or FIRMWARE[model], "OTA", serial, project_name=project)
    if model == "P1S":
        ota["product_name"] = "Bambu Lab P1S"
    if model == "X1C":
        boards = [
            module("rv1126", "00.00.25.37", "AP05", serial),
            module("ap", "00.00.25.37", "AP05", serial),
        ]
    elif model == "H2D":
        boards = [module("ap", "00.00.32.14", "", serial)]  # H2 firmware lists an `ap` too
    else:
        boards = [module("esp32", "01.11.33.88", "AP05", serial, project_name=project)]
    units = default_ams(model) if ams is None else ams
    ams_modules = [
        module(f"{prefix}/{unit_id}", "00.00.06.49", hardware, f"00600A2B18{unit_id:05d}")
        for unit_id, (prefix, hardware) in (
            (unit_id, _AMS_MODULES[unit_model]) for unit_id, unit_model in sorted(units.items())
        )
    ]
    return [
        ota,
        *boards,
        module("mc", "00.00.32.47", "MC07" if model == "A1" else "MC01", f"{serial[:6]}MC01"),
        module("th", "00.00.08.72", "TH09", f"{serial[:6]}TH01"),
        *ams_modules,
    ]
