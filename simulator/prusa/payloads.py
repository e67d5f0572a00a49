"""JSON bodies in each family's shape ("B" Buddy firmware, "L" PrusaLink on a Pi).

Key sets follow the firmware, not the OpenAPI spec: Buddy lists files with `ro`, the Pi with
`read_only`; Buddy never sends `meta`; Buddy sends `job` in status only while a job is running.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .files import Entry, Storage, VirtualFile, VirtualFolder, is_print_file
from .gcode import parse_duration

if TYPE_CHECKING:
    from .printer import PrusaSimulator

JOB_STATES = ("PRINTING", "PAUSED", "ATTENTION")
_FIRMWARE_IN_VERSION = (6, 5, 1)  # Buddy puts firmware/printer in /api/version from here on


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def version(sim: PrusaSimulator, *, system: bool = False) -> dict[str, Any]:
    """GET /api/version."""
    if sim.family == "buddy":
        body: dict[str, Any] = {
            "api": "2.0.0", "server": "2.1.2", "nozzle_diameter": 0.4, "text": "PrusaLink",
            "hostname": sim.hostname, "capabilities": {"upload-by-put": True},
        }  # fmt: skip
        if _version_tuple(sim.firmware) >= _FIRMWARE_IN_VERSION:
            body |= {"firmware": sim.firmware, "printer": sim.model}
        return body
    body = {
        "api": "2.0.0", "server": "0.8.1", "original": f"PrusaLink I3{sim.model}",
        "text": "PrusaLink 0.8.1", "firmware": sim.firmware, "sdk": "0.8.0",
        "capabilities": {"upload-by-put": True}, "hostname": sim.hostname,
    }  # fmt: skip
    if system:
        body |= {"python": "3.11.2", "system": {"os": "Raspbian GNU/Linux 12 (bookworm)"}}
    return body


def info(sim: PrusaSimulator) -> dict[str, Any]:
    """GET /api/v1/info."""
    if sim.family == "buddy":
        return {
            "nozzle_diameter": 0.4, "mmu": False, "serial": sim.serial,
            "hostname": sim.hostname, "min_extrusion_temp": 170,
        }  # fmt: skip
    return {
        "name": f"Prusa {sim.model}", "location": "Workshop", "farm_mode": False,
        "network_error_chime": False, "nozzle_diameter": 0.4, "min_extrusion_temp": 170,
        "serial": sim.serial, "hostname": sim.hostname, "port": 80,
    }  # fmt: skip


def storage_list(sim: PrusaSimulator) -> dict[str, Any]:
    """GET /api/v1/storage."""
    entries = []
    for storage in sim.files.values():
        entry: dict[str, Any] = {
            "path": f"/{storage.name}" + ("/" if sim.family == "buddy" else ""),
            "name": storage.label, "type": storage.kind, "read_only": storage.read_only,
            "available": True,
        }  # fmt: skip
        if sim.family == "pi" and not storage.read_only:
            used = storage.used
            entry |= {"free_space": storage.free, "total_space": storage.capacity}
            entry |= {"print_files": used, "system_files": 0}
        entries.append(entry)
    return {"storage_list": entries}


def _printer(sim: PrusaSimulator) -> dict[str, Any]:
    hidden_xy = JOB_STATES if sim.family == "buddy" else ("PRINTING", "BUSY")
    body: dict[str, Any] = {
        "state": sim.state,
        "temp_nozzle": round(sim.temp_nozzle, 1), "target_nozzle": round(sim.target_nozzle, 1),
        "temp_bed": round(sim.temp_bed, 1), "target_bed": round(sim.target_bed, 1),
        "axis_z": round(sim.axis_z, 1),
    }  # fmt: skip
    if sim.state not in hidden_xy:
        body |= {"axis_x": round(sim.axis_x, 1), "axis_y": round(sim.axis_y, 1)}
    body |= {"flow": sim.flow, "speed": sim.print_speed}
    body |= {"fan_hotend": sim.fan_hotend, "fan_print": sim.fan_print}
    if sim.family == "pi":
        body["status_printer"] = {"ok": True, "message": "OK"}
        body["status_connect"] = {"ok": True, "message": "Connect isn't configured"}
    return body


def _job_brief(sim: PrusaSimulator) -> dict[str, Any]:
    job = sim.job
    assert job is not None
    body: dict[str, Any] = {"id": job.id, "progress": round(job.progress, 2)}
    if not job.heating:
        body["time_remaining"] = job.time_remaining
    body["time_printing"] = int(job.time_printing)
    if sim.family == "buddy" and (change := job.filament_change_in) is not None:
        body["filament_change_in"] = change
    return body


def status(sim: PrusaSimulator) -> dict[str, Any]:
    """GET /api/v1/status."""
    body: dict[str, Any] = {}
    if sim.has_job:
        body["job"] = _job_brief(sim)
    main = sim.main_storage
    if sim.family == "buddy":
        body["storage"] = {"path": "/usb/", "name": "usb", "read_only": False}
    else:
        body["storage"] = [
            {"path": f"/{s.name}", "name": s.label, "read_only": s.read_only}
            | ({"free_space": s.free} if s is main else {})
            for s in sim.files.values()
        ]
    if (transfer := sim.transfer) is not None:
        done_key = "transferred" if sim.family == "buddy" else "data_transferred"
        body["transfer"] = {
            "id": transfer.id, "time_transferring": int(sim.transfer_elapsed()),
            "progress": round(100.0 * transfer.transferred / max(transfer.size, 1), 2),
            done_key: transfer.transferred,
        }  # fmt: skip
    body["printer"] = _printer(sim)
    return body


def transfer(sim: PrusaSimulator) -> dict[str, Any]:
    """GET /api/v1/transfer while an upload runs."""
    current = sim.transfer
    assert current is not None
    elapsed = sim.transfer_elapsed()
    rate = current.transferred / elapsed if elapsed > 0 else 0.0
    left = math.ceil((current.size - current.transferred) / rate) if rate > 0 else None
    return {
        "id": current.id, "type": "FROM_CLIENT", "display_name": current.display_name,
        "path": current.path, "size": str(current.size),
        "progress": round(100.0 * current.transferred / max(current.size, 1), 2),
        "transferred": current.transferred, "time_remaining": left,
        "time_transferring": int(elapsed), "to_print": current.to_print,
    }  # fmt: skip


def meta(file: VirtualFile) -> dict[str, Any]:
    """The Pi's `meta`: slicer comments with numbers as numbers, plus estimated_print_time."""
    found: dict[str, Any] = {}
    for key, raw in file.metadata().items():
        value: Any = raw
        for convert in (int, float):
            try:
                value = convert(raw)
                break
            except ValueError:
                continue
        found[key] = value
    estimate = parse_duration(str(found.get("estimated printing time (normal mode)", "")))
    if estimate is not None:
        found["estimated_print_time"] = estimate
    return found


def refs(sim: PrusaSimulator, storage: Storage, chain: list[Entry]) -> dict[str, Any]:
    """Links to a file's previews and content."""
    entry = chain[-1]
    assert isinstance(entry, VirtualFile)
    if sim.family == "buddy":
        path = storage.short_path(chain)
        body: dict[str, Any] = {}
        if is_print_file(entry.name):  # even without a preview: those links 404
            body |= {"icon": f"/thumb/s{path}", "thumbnail": f"/thumb/l{path}"}
        if not entry.partial:
            body["download"] = path
        return body
    path = quote(storage.long_path(chain))
    thumbnail = f"/api/thumbnails{path}.orig.png" if entry.thumbnails() else None
    download = None if storage.read_only or entry.partial else f"/api/files{path}/raw"
    return {"icon": None, "thumbnail": thumbnail, "download": download}


def _kind(entry: Entry) -> str:
    if isinstance(entry, VirtualFolder):
        return "FOLDER"
    if is_print_file(entry.name):
        return "PRINT_FILE"
    return "FIRMWARE" if entry.name.lower().endswith(".bbf") else "FILE"


def entry_info(
    sim: PrusaSimulator, storage: Storage, chain: list[Entry], *, child: bool = False
) -> dict[str, Any]:
    """A file or folder as GET file shows it, or as a child in a listing."""
    entry = chain[-1]
    ro_key = "ro" if sim.family == "buddy" else "read_only"
    read_only = storage.read_only or entry.read_only or getattr(entry, "partial", False)
    body: dict[str, Any] = {
        "name": entry.short_name, ro_key: read_only, "type": _kind(entry),
        "m_timestamp": entry.m_timestamp,
    }  # fmt: skip
    if isinstance(entry, VirtualFile):
        if not (child and sim.family == "buddy"):
            body["size"] = entry.size
        body["refs"] = refs(sim, storage, chain)
    body["display_name"] = entry.name
    if isinstance(entry, VirtualFile) and sim.family == "pi" and not child:
        body["meta"] = meta(entry)
    return body


def folder(sim: PrusaSimulator, storage: Storage, chain: list[Entry]) -> dict[str, Any]:
    """GET folder: the listing."""
    holder = chain[-1] if chain else storage.root
    assert isinstance(holder, VirtualFolder)
    ro_key = "ro" if sim.family == "buddy" else "read_only"
    children = [
        entry_info(sim, storage, [*chain, entry], child=True) for entry in holder.children.values()
    ]
    return {
        "type": "FOLDER", "name": holder.short_name if chain else storage.name,
        ro_key: storage.read_only, "m_timestamp": holder.m_timestamp, "children": children,
    }  # fmt: skip


def job(sim: PrusaSimulator) -> dict[str, Any]:
    """GET /api/v1/job while there is one (ATTENTION shows as PAUSED)."""
    current = sim.job
    assert current is not None
    state = "PAUSED" if sim.state == "ATTENTION" else sim.state
    body = _job_brief(sim) | {"state": state}
    if sim.family == "pi":
        body["inaccurate_estimates"] = False
    body["serial_print"] = False
    file = current.file
    info = {
        "name": file.short_name, "display_name": file.name,
        "path": current.storage.short_path(current.chain[:-1]), "size": file.size,
        "m_timestamp": file.m_timestamp, "refs": refs(sim, current.storage, current.chain),
    }  # fmt: skip
    if sim.family == "pi":
        info["display_path"] = "/" + "/".join(
            [current.storage.label, *(e.name for e in current.chain[:-1])]
        )
        info["meta"] = meta(file)
    body["file"] = info
    return body


def legacy_printer(sim: PrusaSimulator) -> dict[str, Any]:
    """GET /api/printer: the only place Buddy names the loaded material (the Pi says " - ")."""
    state = sim.state
    flags = {
        "operational": state in ("IDLE", "READY", "FINISHED", "STOPPED", "BUSY"),
        "paused": state in ("PAUSED", "ATTENTION"), "printing": state in JOB_STATES,
        "cancelling": False, "pausing": False, "error": state == "ERROR", "sdReady": True,
        "closedOnError": False, "ready": state in ("IDLE", "READY", "FINISHED", "STOPPED"),
        "busy": state == "BUSY", "finished": state == "FINISHED", "link_state": state,
    }  # fmt: skip
    texts = {"PRINTING": "Printing", "PAUSED": "Paused", "ERROR": "Error", "BUSY": "Busy"}
    texts |= {"ATTENTION": "Attention"}
    return {
        "telemetry": {
            "temp-bed": round(sim.temp_bed, 1), "temp-nozzle": round(sim.temp_nozzle, 1),
            "print-speed": sim.print_speed, "z-height": round(sim.axis_z, 1),
            "material": sim.material if sim.family == "buddy" else " - ",
        },
        "temperature": {
            "tool0": {
                "actual": round(sim.temp_nozzle, 1), "target": round(sim.target_nozzle, 1),
                "display": round(sim.target_nozzle, 1), "offset": 0,
            },
            "bed": {
                "actual": round(sim.temp_bed, 1), "target": round(sim.target_bed, 1),
                "offset": 0,
            },
        },
        "state": {"text": texts.get(state, "Operational"), "flags": flags},
    }  # fmt: skip
