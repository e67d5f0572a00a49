"""The job record as the history stores it: frozen, JSON-friendly, migration-tolerant.

No Home Assistant imports and no I/O. `to_dict()` gives plain JSON values (ISO 8601 datetimes in
UTC); `from_dict()` reads them back and fills every optional key that is missing with its
default, so records written by an older version still load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, cast

type GramsSource = Literal["slicer", "estimate", "user"]
type EnergySource = Literal["measured", "estimated"]


class JobStatus(StrEnum):
    """Status of a job record; every status but ACTIVE is final."""

    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNKNOWN = "unknown"  # ended unseen (printer idle or on another job); no outcome evidence


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class MaterialUse:
    """One filament of a job: planned grams from the slicer, used grams and their source.

    While a job runs and after it completed, `grams` equals `planned_grams` (source "slicer").
    A cancelled, failed or unknown-outcome job used `planned_grams x final progress / 100`
    (progress above 100 counts as 100, unknown progress gives unknown grams), source "estimate":
    the same rule as `costs.material_lines`.
    """

    material: str | None
    color: str | None = None
    planned_grams: float | None = None
    grams: float | None = None
    source: GramsSource = "slicer"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly values."""
        return {
            "material": self.material,
            "color": self.color,
            "planned_grams": self.planned_grams,
            "grams": self.grams,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MaterialUse:
        """Read `to_dict()` output; missing keys take their defaults."""
        source = data.get("source") or "slicer"
        if source not in ("slicer", "estimate", "user"):
            raise ValueError(f"unknown grams source {source!r}")
        return cls(
            material=data.get("material"),
            color=data.get("color"),
            planned_grams=_float(data.get("planned_grams")),
            grams=_float(data.get("grams")),
            source=cast("GramsSource", source),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    """One print job of one printer, keyed by the printer's serial.

    `started_at`/`ended_at` are UTC. `duration_seconds` (end - start, set when the job ends) and
    `paused_seconds` include offline time as printing, never as paused. `paused_since` is the
    start of a pause still open. `updated_at` is when the tracker last changed the record.
    `printer_job_id` and `printer_started_at` are the printer's own identity of the job.
    """

    id: str
    serial: str
    printer_name: str
    started_at: datetime
    updated_at: datetime
    status: JobStatus = JobStatus.ACTIVE
    job_name: str | None = None
    file: str | None = None
    printer_job_id: str | None = None
    printer_started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    paused_seconds: float = 0.0
    pause_count: int = 0
    paused_since: datetime | None = None
    progress: float | None = None
    materials: tuple[MaterialUse, ...] = ()
    energy_kwh: float | None = None
    energy_source: EnergySource | None = None
    cost: dict[str, Any] | None = None
    category: str | None = None
    customer: str | None = None
    project: str | None = None  # project or order reference
    notes: str | None = None
    closed_after_restart: bool = False
    # A smart plug's kWh readings over the job: [start, last before each reset, ..., latest].
    meter_readings: tuple[float, ...] = ()

    @property
    def print_seconds(self) -> float | None:
        """Time spent not paused (offline time included); None while the job runs."""
        if self.duration_seconds is None:
            return None
        return max(0.0, self.duration_seconds - self.paused_seconds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly values for the Store and action responses."""
        return {
            "id": self.id,
            "serial": self.serial,
            "printer_name": self.printer_name,
            "started_at": _iso(self.started_at),
            "updated_at": _iso(self.updated_at),
            "status": self.status.value,
            "job_name": self.job_name,
            "file": self.file,
            "printer_job_id": self.printer_job_id,
            "printer_started_at": _iso(self.printer_started_at),
            "ended_at": _iso(self.ended_at),
            "duration_seconds": self.duration_seconds,
            "print_seconds": self.print_seconds,
            "paused_seconds": self.paused_seconds,
            "pause_count": self.pause_count,
            "paused_since": _iso(self.paused_since),
            "progress": self.progress,
            "materials": [material.to_dict() for material in self.materials],
            "energy_kwh": self.energy_kwh,
            "energy_source": self.energy_source,
            "cost": self.cost,
            "category": self.category,
            "customer": self.customer,
            "project": self.project,
            "notes": self.notes,
            "closed_after_restart": self.closed_after_restart,
            "meter_readings": list(self.meter_readings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobRecord:
        """Read `to_dict()` output; only id, serial and started_at are required.

        Derived keys (`print_seconds`) and unknown keys are ignored.
        """
        started = _time(data["started_at"])
        if started is None:
            raise ValueError("started_at is required")
        energy_source = data.get("energy_source")
        if energy_source not in (None, "measured", "estimated"):
            raise ValueError(f"unknown energy source {energy_source!r}")
        cost = data.get("cost")
        return cls(
            id=str(data["id"]),
            serial=str(data["serial"]),
            printer_name=str(data.get("printer_name") or data["serial"]),
            started_at=started,
            updated_at=_time(data.get("updated_at")) or started,
            status=JobStatus(data.get("status") or JobStatus.ACTIVE),
            job_name=data.get("job_name"),
            file=data.get("file"),
            printer_job_id=data.get("printer_job_id"),
            printer_started_at=_time(data.get("printer_started_at")),
            ended_at=_time(data.get("ended_at")),
            duration_seconds=_float(data.get("duration_seconds")),
            paused_seconds=_float(data.get("paused_seconds")) or 0.0,
            pause_count=int(data.get("pause_count") or 0),
            paused_since=_time(data.get("paused_since")),
            progress=_float(data.get("progress")),
            materials=tuple(MaterialUse.from_dict(item) for item in data.get("materials") or ()),
            energy_kwh=_float(data.get("energy_kwh")),
            energy_source=cast("EnergySource | None", energy_source),
            cost=dict(cost) if cost is not None else None,
            category=data.get("category"),
            customer=data.get("customer"),
            project=data.get("project"),
            notes=data.get("notes"),
            closed_after_restart=bool(data.get("closed_after_restart", False)),
            meter_readings=tuple(float(value) for value in data.get("meter_readings") or ()),
        )
