"""The job record as the history stores it: frozen, JSON-friendly, migration-tolerant.

No Home Assistant imports and no I/O. `to_dict()` gives plain JSON values (ISO 8601 datetimes in
UTC); `from_dict()` reads them back and fills every optional key that is missing with its
default, so records written by an older version still load, and refuses a value of the wrong
type (ValueError or TypeError) rather than keeping it.

Free text (job names and files from a printer, a user's customer, project and notes) is cleaned
when a record is made: a lone surrogate or a control character would make the record one no
JSON encoder can store, and the job would run without ever being saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal, cast

from ..printers.values import MAX_TEXT, note, text

type GramsSource = Literal["slicer", "estimate", "user"]
type EnergySource = Literal["measured", "estimated"]


class JobStatus(StrEnum):
    """Status of a job record; every status but ACTIVE is final."""

    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNKNOWN = "unknown"  # ended unseen (printer idle or on another job); no outcome evidence


# Longest free text a record keeps, per field; printers' paths can be longer than a name.
MAX_FILE: Final = 1024
MAX_LABEL: Final = 500  # customer, project


def clean_name(value: str | None) -> str | None:
    """A job name or printer job id as a record keeps it (see the module docstring)."""
    return text(value)


def clean_file(value: str | None) -> str | None:
    """A job's file as a record keeps it."""
    return text(value, limit=MAX_FILE)


def _label(value: str | None) -> str | None:
    return text(value, limit=MAX_LABEL)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if type(value) is not str:
        raise TypeError(f"a time must be an ISO 8601 string, not {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range") from None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float):
        raise TypeError(f"expected a number, not {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError("number out of range") from None


def _text(value: Any) -> str | None:
    if value is not None and type(value) is not str:
        raise TypeError(f"expected text, not {type(value).__name__}")
    return value


def _list(value: Any) -> list[Any] | tuple[Any, ...]:
    if value is None:
        return ()
    if type(value) not in (list, tuple):
        raise TypeError(f"expected a list, not {type(value).__name__}")
    return cast("list[Any]", value)


def _set_clean(item: object, name: str, value: str | None, cleaned: str | None) -> None:
    """Replace a frozen dataclass field by its cleaned text, where cleaning changed it."""
    if cleaned != value:
        object.__setattr__(item, name, cleaned)


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

    def __post_init__(self) -> None:
        """Keep only text every encoder can store (see the module docstring)."""
        _set_clean(self, "material", self.material, text(self.material, limit=MAX_TEXT))
        _set_clean(self, "color", self.color, text(self.color, limit=MAX_TEXT))

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
        if not isinstance(data, Mapping):
            raise TypeError("a material must be an object")
        source = data.get("source") or "slicer"
        if source not in ("slicer", "estimate", "user"):
            raise ValueError("unknown grams source")
        return cls(
            material=_text(data.get("material")),
            color=_text(data.get("color")),
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

    def __post_init__(self) -> None:
        """Keep only text every encoder can store (see the module docstring)."""
        _set_clean(self, "job_name", self.job_name, clean_name(self.job_name))
        _set_clean(self, "file", self.file, clean_file(self.file))
        _set_clean(self, "printer_job_id", self.printer_job_id, clean_name(self.printer_job_id))
        _set_clean(self, "customer", self.customer, _label(self.customer))
        _set_clean(self, "project", self.project, _label(self.project))
        _set_clean(self, "notes", self.notes, note(self.notes))

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

        Derived keys (`print_seconds`) and unknown keys are ignored; a value of the wrong type
        raises TypeError or ValueError.
        """
        if not isinstance(data, Mapping):
            raise TypeError("a record must be an object")
        job_id, serial = data["id"], data["serial"]
        if type(job_id) is not str or type(serial) is not str:
            raise TypeError("id and serial must be text")
        started = _time(data["started_at"])
        if started is None:
            raise ValueError("started_at is required")
        energy_source = data.get("energy_source")
        if energy_source not in (None, "measured", "estimated"):
            raise ValueError("unknown energy source")
        status = data.get("status") or JobStatus.ACTIVE
        if not isinstance(status, str):
            raise TypeError("status must be text")
        cost = data.get("cost")
        if cost is not None and not isinstance(cost, Mapping):
            raise TypeError("cost must be an object")
        pause_count = data.get("pause_count") or 0
        closed = data.get("closed_after_restart", False)
        if type(pause_count) is not int or type(closed) is not bool:
            raise TypeError("pause_count must be a whole number, closed_after_restart a bool")
        readings = tuple(_float(value) for value in _list(data.get("meter_readings")))
        if None in readings:
            raise TypeError("meter readings must be numbers")
        return cls(
            id=job_id,
            serial=serial,
            printer_name=_text(data.get("printer_name")) or serial,
            started_at=started,
            updated_at=_time(data.get("updated_at")) or started,
            status=JobStatus(status),
            job_name=_text(data.get("job_name")),
            file=_text(data.get("file")),
            printer_job_id=_text(data.get("printer_job_id")),
            printer_started_at=_time(data.get("printer_started_at")),
            ended_at=_time(data.get("ended_at")),
            duration_seconds=_float(data.get("duration_seconds")),
            paused_seconds=_float(data.get("paused_seconds")) or 0.0,
            pause_count=pause_count,
            paused_since=_time(data.get("paused_since")),
            progress=_float(data.get("progress")),
            materials=tuple(MaterialUse.from_dict(item) for item in _list(data.get("materials"))),
            energy_kwh=_float(data.get("energy_kwh")),
            energy_source=cast("EnergySource | None", energy_source),
            cost=dict(cost) if cost is not None else None,
            category=_text(data.get("category")),
            customer=_text(data.get("customer")),
            project=_text(data.get("project")),
            notes=_text(data.get("notes")),
            closed_after_restart=closed,
            meter_readings=cast("tuple[float, ...]", readings),
        )
