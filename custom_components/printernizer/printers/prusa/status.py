"""Turns PrusaLink status, job, storage and legacy printer bodies into `PrinterState` snapshots.

Each poll rebuilds only what its body covers and keeps the rest; a body that changes nothing
returns the very same snapshot, so the adapter can skip notifying anyone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
import math
from typing import Any, Final

from ..models import JobInfo, PrinterState, PrinterStatus, Temperature
from ..values import integer, mapping, number, seconds, text
from .values import Fields, byte_count, percent

# What the Pi's legacy /api/printer says when it does not know the material.
_NO_MATERIAL: Final = frozenset({"-", "--", "---", "n/a", "none"})
_ACTIVE: Final = frozenset({PrinterStatus.PRINTING, PrinterStatus.PAUSED})
# A Pi lists two storages; nobody has sixteen, and a hostile list must not be walked for long.
_MAX_STORAGES: Final = 16
_STATES: Final = {
    "IDLE": PrinterStatus.IDLE,
    "READY": PrinterStatus.IDLE,
    "PRINTING": PrinterStatus.PRINTING,
    "PAUSED": PrinterStatus.PAUSED,
    "FINISHED": PrinterStatus.FINISHED,
    "STOPPED": PrinterStatus.CANCELLED,
    "ERROR": PrinterStatus.ERROR,
}
ACTIVE_PRINTER_STATES: Final = frozenset({"PRINTING", "PAUSED", "ATTENTION", "BUSY"})


def map_state(
    raw: str | None, *, has_job: bool, previous: PrinterStatus
) -> tuple[PrinterStatus, bool] | None:
    """(status, needs_attention) for a PrusaLink printer state; None for UNKNOWN (keep last).

    BUSY is load/unload/preheat outside a print but also crash and power-panic recovery inside
    one, where Buddy sends no job: a print that was running stays running rather than looking
    finished. ATTENTION (runout, crash, tool mapping) pauses a print, or waits while idle.
    """
    state = (raw or "").upper()
    in_print = has_job or previous in _ACTIVE
    if state == "BUSY":
        if has_job:
            return PrinterStatus.PRINTING, False
        return (previous if previous in _ACTIVE else PrinterStatus.IDLE), False
    if state == "ATTENTION":
        return (PrinterStatus.PAUSED if in_print else PrinterStatus.IDLE), True
    status = _STATES.get(state)
    return (status, False) if status is not None else None


def remaining_minutes(value: Any) -> int | None:
    """Seconds left as whole minutes, rounded up so 0 means done."""
    left = seconds(value)
    return None if left is None else math.ceil(left / 60)


def storage_free(storage: Any, *, fields: Fields | None = None) -> int | None:
    """Free bytes from a status `storage` (object on Buddy, list on a Pi) or a storage list.

    The first writable entry with a byte count wins (the Pi's /local, not its read-only SD).
    Buddy's `available` is a flag, not a count.
    """
    fields = fields or Fields()
    if isinstance(storage, dict) and "storage_list" in storage:
        storage = storage["storage_list"]
    entries = storage[:_MAX_STORAGES] if isinstance(storage, list) else [storage]
    for item in entries:
        entry = mapping(item)
        if entry.get("read_only") is True or entry.get("ro") is True:
            continue
        for key in ("free_space", "free", "available"):
            if isinstance(entry.get(key), bool):
                continue
            if (free := fields.read(entry, key, byte_count)) is not None:
                return free
    return None


def legacy_material(body: Any, *, fields: Fields | None = None) -> str | None:
    """The loaded material from legacy /api/printer `telemetry.material` (Buddy only knows it)."""
    fields = fields or Fields()
    telemetry = fields.mapping(mapping(body), "telemetry")
    material = fields.read(telemetry, "material", text)
    if material is None or material.lower() in _NO_MATERIAL:
        return None
    return material


def file_path(file: Any, *, fields: Fields | None = None) -> str | None:
    """The API path of a job file: its directory plus the (8.3 on Buddy) name."""
    fields = fields or Fields()
    file = mapping(file)
    name = fields.read(file, "name", text)
    if name is None:
        return None
    directory = fields.read(file, "path", text) or ""
    if name.startswith("/"):
        return name
    return f"{directory.rstrip('/')}/{name}"


class StatusState:
    """The latest PrusaLink bodies of one printer folded into a `PrinterState`."""

    def __init__(self) -> None:
        """Start from an empty, offline printer."""
        self.state = PrinterState()
        self.printer_state: str | None = None
        self.job_id: int | None = None

    def apply_status(
        self, body: dict[str, Any], now: datetime, *, fields: Fields | None = None
    ) -> PrinterState:
        """Fold in a /api/v1/status body; `now` dates a newly seen job's start."""
        fields = fields or Fields()
        printer = fields.mapping(body, "printer")
        job = fields.mapping(body, "job") or None
        job_id = fields.read(job, "id", integer) if job is not None else None
        raw_state = fields.read(printer, "state", text)
        self.printer_state = raw_state.upper() if raw_state else None
        self.job_id = job_id
        previous = self.state.status if self.state.online else PrinterStatus.IDLE
        changes: dict[str, Any] = {"online": True}
        mapped = map_state(raw_state, has_job=job_id is not None, previous=previous)
        if mapped is not None:
            changes["status"], changes["needs_attention"] = mapped
        elif not self.state.online:
            changes["status"] = PrinterStatus.IDLE
        read = fields.read
        changes["nozzle"] = Temperature(
            current=read(printer, "temp_nozzle", number),
            target=read(printer, "target_nozzle", number),
        )
        changes["bed"] = Temperature(
            current=read(printer, "temp_bed", number), target=read(printer, "target_bed", number)
        )
        changes["z_height"] = read(printer, "axis_z", number)
        changes["speed_percent"] = read(printer, "speed", integer)
        changes["flow_percent"] = read(printer, "flow", integer)
        changes["hotend_fan_rpm"] = read(printer, "fan_hotend", integer)
        changes["print_fan_rpm"] = read(printer, "fan_print", integer)
        transfer = fields.mapping(body, "transfer") or None
        changes["transfer_progress"] = (
            read(transfer, "progress", percent) if transfer is not None else None
        )
        if (free := storage_free(body.get("storage"), fields=fields)) is not None:
            changes["storage_free_bytes"] = free
        changes["job"] = self._job_from_status(job, job_id, changes.get("status"), now, fields)
        return self._replace(changes)

    def _job_from_status(
        self,
        job: dict[str, Any] | None,
        job_id: int | None,
        status: PrinterStatus | None,
        now: datetime,
        fields: Fields,
    ) -> JobInfo:
        current = self.state.job
        if job is None or job_id is None:
            # The job left the status (Buddy after FINISHED/STOPPED): keep it as the last job.
            if status is PrinterStatus.FINISHED and current.job_id is not None:
                return replace(current, progress=100.0, remaining_minutes=0)
            return current
        printing = fields.read(job, "time_printing", seconds)
        restarted = (
            printing is not None
            and current.printing_seconds is not None
            and printing < current.printing_seconds
        )
        if current.job_id != str(job_id):
            current = JobInfo(job_id=str(job_id))
        elif restarted:
            # The same id with less time printed: started again (after a reboot). The file is
            # read again when the printer comes back; until then keep its name.
            current = JobInfo(job_id=current.job_id, name=current.name, file=current.file)
        started_at = current.started_at
        if started_at is None and printing is not None:
            started_at = (now - timedelta(seconds=printing)).replace(microsecond=0)
        return replace(
            current,
            progress=fields.read(job, "progress", percent),
            remaining_minutes=fields.read(job, "time_remaining", remaining_minutes),
            printing_seconds=printing,
            started_at=started_at,
        )

    def apply_job(
        self, body: dict[str, Any] | None, *, fields: Fields | None = None
    ) -> PrinterState:
        """Fold in a /api/v1/job body (None for 204): the file behind the current job."""
        if body is None:
            return self.state
        fields = fields or Fields()
        job_id = fields.read(body, "id", integer)
        if job_id is None or str(job_id) != self.state.job.job_id:
            return self.state
        file = fields.mapping(body, "file")
        path = file_path(file, fields=fields)  # reads `name` and `path`
        name = fields.read(file, "display_name", text) or text(file.get("name"))
        return self._replace({"job": replace(self.state.job, name=name, file=path)})

    def apply_identity(self, *, mmu: bool | None, nozzle_diameter: float | None) -> PrinterState:
        """Facts from /api/v1/info that the state carries."""
        return self._replace({"mmu": mmu, "nozzle_diameter": nozzle_diameter})

    def set_material(self, material: str | None) -> PrinterState:
        """The loaded material from the legacy route."""
        return self._replace({"material": material})

    def set_storage_free(self, free: int | None) -> PrinterState:
        """Free bytes from /api/v1/storage (Buddy's status does not carry them)."""
        if free is None:
            return self.state
        return self._replace({"storage_free_bytes": free})

    def set_offline(self) -> PrinterState:
        """Unreachable: keep the last values for reference, but say so."""
        if self.state.online or self.state.status is not PrinterStatus.OFFLINE:
            self.state = replace(self.state, online=False, status=PrinterStatus.OFFLINE)
        return self.state

    def _replace(self, changes: dict[str, Any]) -> PrinterState:
        changed = {
            key: value for key, value in changes.items() if getattr(self.state, key) != value
        }
        if changed:
            self.state = replace(self.state, **changed)
        return self.state
