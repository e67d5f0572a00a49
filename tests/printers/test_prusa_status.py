"""Mapping PrusaLink bodies to the shared model, without a printer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.printernizer.printers.models import PrinterStatus, Temperature
from custom_components.printernizer.printers.prusa.client import base_url, error_message
from custom_components.printernizer.printers.prusa.device import device_info, family
from custom_components.printernizer.printers.prusa.files import (
    download_route,
    is_bgcode,
    parse_listing,
    thumbnail_route,
)
from custom_components.printernizer.printers.prusa.status import (
    StatusState,
    legacy_material,
    map_state,
    remaining_minutes,
    storage_free,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
IDLE, PRINTING, PAUSED = PrinterStatus.IDLE, PrinterStatus.PRINTING, PrinterStatus.PAUSED


@pytest.mark.parametrize(
    ("raw", "has_job", "previous", "expected"),
    [
        ("IDLE", False, IDLE, (IDLE, False)),
        ("READY", False, IDLE, (IDLE, False)),
        ("BUSY", False, IDLE, (IDLE, False)),  # load/unload/preheat
        ("BUSY", True, IDLE, (PRINTING, False)),
        ("BUSY", False, PRINTING, (PRINTING, False)),  # crash recovery mid-print, no job sent
        ("BUSY", False, PAUSED, (PAUSED, False)),
        ("PRINTING", True, IDLE, (PRINTING, False)),
        ("PAUSED", True, PRINTING, (PAUSED, False)),
        ("ATTENTION", True, PRINTING, (PAUSED, True)),
        ("ATTENTION", False, IDLE, (IDLE, True)),  # tool mapping before a print
        ("ATTENTION", False, PRINTING, (PAUSED, True)),
        ("FINISHED", False, PRINTING, (PrinterStatus.FINISHED, False)),
        ("STOPPED", False, PRINTING, (PrinterStatus.CANCELLED, False)),
        ("ERROR", False, IDLE, (PrinterStatus.ERROR, False)),
        ("printing", True, IDLE, (PRINTING, False)),
        ("UNKNOWN", False, PRINTING, None),
        (None, False, PRINTING, None),
    ],
)
def test_map_state(
    raw: str | None,
    has_job: bool,
    previous: PrinterStatus,
    expected: tuple[PrinterStatus, bool] | None,
) -> None:
    assert map_state(raw, has_job=has_job, previous=previous) == expected


def buddy_status(state: str = "PRINTING", **job: object) -> dict[str, object]:
    body: dict[str, object] = {
        "printer": {
            "state": state,
            "temp_nozzle": 214.8,
            "target_nozzle": 215.0,
            "temp_bed": 59.9,
            "target_bed": 60.0,
            "axis_z": 1.4,
            "flow": 100,
            "speed": 120,
            "fan_hotend": 5200,
            "fan_print": 3100,
        },
        "storage": {"path": "/usb/", "name": "usb", "read_only": False},
    }
    if job:
        body["job"] = job
    return body


def test_status_fields_and_job() -> None:
    status = StatusState()
    state = status.apply_status(
        buddy_status(id=7, progress=42.0, time_remaining=601, time_printing=300), NOW
    )
    assert state.online
    assert state.status is PRINTING
    assert state.nozzle == Temperature(current=214.8, target=215.0)
    assert state.bed == Temperature(current=59.9, target=60.0)
    assert (state.z_height, state.flow_percent, state.speed_percent) == (1.4, 100, 120)
    assert (state.hotend_fan_rpm, state.print_fan_rpm) == (5200, 3100)
    assert state.storage_free_bytes is None
    assert state.job.job_id == "7"
    assert state.job.progress == 42.0
    assert state.job.remaining_minutes == 11
    assert state.job.printing_seconds == 300
    assert state.job.started_at == NOW - timedelta(minutes=5)

    # The same body again is the same snapshot: nobody needs telling.
    again = status.apply_status(
        buddy_status(id=7, progress=42.0, time_remaining=601, time_printing=300),
        NOW + timedelta(seconds=5),
    )
    assert again is state

    state = status.apply_job(
        {
            "id": 7,
            "file": {"name": "SHAPE~1.BGC", "display_name": "Shape.bgcode", "path": "/usb"},
        }
    )
    assert (state.job.name, state.job.file) == ("Shape.bgcode", "/usb/SHAPE~1.BGC")
    assert status.apply_job({"id": 8, "file": {"name": "x"}}) is state  # not this job
    assert status.apply_job(None) is state

    # Buddy drops the job from status when it finishes: the last job stays, completed.
    finished = status.apply_status(buddy_status("FINISHED"), NOW + timedelta(hours=1))
    assert finished.status is PrinterStatus.FINISHED
    assert finished.job.name == "Shape.bgcode"
    assert (finished.job.progress, finished.job.remaining_minutes) == (100.0, 0)
    assert status.job_id is None

    # The same id printing from scratch again (a reboot) restarts the clock, keeps the file.
    status.apply_status(buddy_status(id=7, progress=50.0, time_printing=900), NOW)
    again = status.apply_status(buddy_status(id=7, progress=1.0, time_printing=60), NOW)
    assert again.job.started_at == NOW - timedelta(minutes=1)
    assert again.job.name == "Shape.bgcode"

    # A new job id starts a fresh JobInfo.
    state = status.apply_status(buddy_status(id=8, progress=0, time_printing=0), NOW)
    assert state.job.job_id == "8"
    assert state.job.name is None
    assert state.job.started_at == NOW


def test_unknown_state_keeps_last_and_offline() -> None:
    status = StatusState()
    status.apply_status(buddy_status("PAUSED", id=1), NOW)
    state = status.apply_status(buddy_status("UNKNOWN", id=1), NOW)
    assert state.status is PAUSED
    offline = status.set_offline()
    assert (offline.status, offline.online) == (PrinterStatus.OFFLINE, False)
    assert offline.nozzle.current == 214.8
    assert status.set_offline() is offline
    # Back from offline, UNKNOWN cannot keep OFFLINE.
    assert status.apply_status(buddy_status("UNKNOWN"), NOW).status is IDLE


def test_pi_status_storage_transfer_and_garbage() -> None:
    status = StatusState()
    state = status.apply_status(
        {
            "printer": {"state": "IDLE", "temp_nozzle": "x", "speed": True},
            "storage": [
                {"path": "/sdcard", "read_only": True, "free_space": 1},
                {"path": "/local", "read_only": False, "free_space": 123456},
            ],
            "transfer": {"id": 1, "progress": 12.5},
            "job": "junk",
        },
        NOW,
    )
    assert state.storage_free_bytes == 123456
    assert state.transfer_progress == 12.5
    assert state.nozzle == Temperature()
    assert state.speed_percent is None
    assert state.job.job_id is None
    assert status.apply_status({}, NOW).status is IDLE


def test_small_parsers() -> None:
    assert remaining_minutes(0) == 0
    assert remaining_minutes(61) == 2
    assert remaining_minutes(-1) is None
    assert remaining_minutes(None) is None
    assert storage_free({"storage_list": [{"path": "/usb/", "available": True}]}) is None
    assert storage_free({"storage_list": [{"free_space": 10}]}) == 10
    assert storage_free("junk") is None
    assert legacy_material({"telemetry": {"material": "PETG"}}) == "PETG"
    assert legacy_material({"telemetry": {"material": " - "}}) is None
    assert legacy_material({"telemetry": {"material": "---"}}) is None
    assert legacy_material([]) is None


def test_device_identity() -> None:
    buddy_version = {
        "api": "2.0.0",
        "server": "2.1.2",
        "text": "PrusaLink",
        "hostname": "prusa-mk4",
    }
    info = {"serial": "10589-3742441631991", "hostname": "prusa-mk4", "mmu": False}
    device = device_info(buddy_version, info, "1.2.3.4")
    assert (device.serial, device.model, device.firmware) == ("10589-3742441631991", "MK4", None)
    assert family(buddy_version) == "buddy"
    newer = {**buddy_version, "printer": "MK4S", "firmware": "6.5.1+1234"}
    assert device_info(newer, info, "h").model == "MK4S"
    assert device_info(newer, info, "h").firmware == "6.5.1+1234"
    pi_version = {"original": "PrusaLink I3MK3S", "sdk": "0.8.1", "firmware": "3.14.1"}
    assert family(pi_version) == "pi"
    pi = device_info(pi_version, {"serial": "CZPX1234", "name": "Workshop"}, "h")
    assert (pi.model, pi.name, pi.firmware) == ("MK3S", "Workshop", "3.14.1")
    assert device_info({"hostname": "PrusaCoreOne"}, {}, "host").model == "Core One"
    assert device_info({"hostname": "pixelbox"}, {}, "host").model is None
    assert device_info({}, {}, "host").serial == "host"


def test_base_url_and_error_bodies() -> None:
    assert base_url("192.168.1.5") == "http://192.168.1.5"
    assert base_url("192.168.1.5:8080", 80) == "http://192.168.1.5:8080"
    assert base_url("http://printer.local/", 81) == "http://printer.local:81"
    assert base_url("fe80::1") == "http://[fe80::1]"
    assert base_url("[fe80::1]:8080") == "http://[fe80::1]:8080"
    with pytest.raises(ValueError, match="Invalid"):
        base_url("")
    assert error_message(b'{"title": "409: Conflict", "message": "Not printing"}') == (
        "Not printing"
    )
    assert error_message(b"409: Conflict\n\nPrinter is not printing\n") == (
        "Printer is not printing"
    )
    assert error_message(b"") is None
    assert error_message(b'{"title": "Not Current Job"}') == "Not Current Job"


def test_files_routes_and_listing() -> None:
    buddy = {"name": "SHAPE~1.BGC", "display_name": "Shape.bgcode", "path": "/usb"}
    assert download_route(buddy, "buddy") == "/usb/SHAPE~1.BGC"
    assert thumbnail_route(buddy, "buddy") == "/thumb/l/usb/SHAPE~1.BGC"
    assert is_bgcode(buddy)
    pi = {"name": "part.gcode", "path": "/local"}
    assert download_route(pi, "pi") == "/api/files/local/part.gcode/raw"
    assert thumbnail_route(pi, "pi") is None
    assert not is_bgcode(pi)
    refs = {**pi, "refs": {"download": "/d/x", "thumbnail": "/t/x"}}
    assert (download_route(refs, "pi"), thumbnail_route(refs, "pi")) == ("/d/x", "/t/x")
    assert download_route({}, "buddy") is None
    sdcard = {"name": "OLD.GCO", "path": "/sdcard", "refs": {"icon": None, "download": None}}
    assert download_route(sdcard, "pi") is None  # the printer says: no download
    listing = parse_listing(
        {
            "children": [
                {
                    "name": "A~1.GCO",
                    "display_name": "a.gcode",
                    "ro": True,
                    "m_timestamp": 1740830400,
                },
                {"name": "dir", "type": "FOLDER", "m_timestamp": 10},  # a clock-less USB stick
                {"junk": 1},
                "junk",
            ]
        },
        "/usb",
    )
    assert [(f.path, f.display_name, f.read_only, f.kind) for f in listing] == [
        ("/usb/A~1.GCO", "a.gcode", True, "FILE"),
        ("/usb/dir", "dir", False, "FOLDER"),
    ]
    assert listing[0].modified == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert listing[1].modified is None
