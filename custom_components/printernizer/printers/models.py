"""Normalized, immutable printer model shared by every brand.

Adapters fill these from their protocol; the integration only ever reads them. Every type is
frozen and hashable so a coordinator can compare snapshots cheaply and skip unchanged pushes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any, Final


class PrinterStatus(StrEnum):
    """One status for every brand; the order of members is the order of the UI enum."""

    OFFLINE = "offline"
    IDLE = "idle"
    PREPARING = "preparing"
    PRINTING = "printing"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"
    ERROR = "error"


ACTIVE_STATUSES = frozenset({PrinterStatus.PREPARING, PrinterStatus.PRINTING, PrinterStatus.PAUSED})


class ErrorSeverity(StrEnum):
    """Severity of a printer-reported error, most severe first."""

    FATAL = "fatal"
    SERIOUS = "serious"
    COMMON = "common"
    INFO = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class Temperature:
    """A heater or sensor reading; target is None where the printer has no setpoint."""

    current: float | None = None
    target: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PrinterError:
    """An error as the printer reports it, with a stable code users can look up."""

    code: str
    severity: ErrorSeverity = ErrorSeverity.COMMON
    module: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FilamentSlot:
    """One filament position: an AMS tray, the external spool or a Prusa tool."""

    slot_id: str
    unit_id: str | None = None
    # 1-based place in its unit, as the unit is labelled ("AMS 2 slot 3"); None: no unit.
    position: int | None = None
    material: str | None = None
    color: str | None = None
    name: str | None = None
    remaining_percent: int | None = None
    empty: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FilamentUnit:
    """A filament changer (AMS, MMU) with its environment readings."""

    unit_id: str
    humidity_index: int | None = None
    humidity_percent: float | None = None
    temperature: float | None = None
    # What the printer calls the unit ("AMS 2", "AMS HT 1", "AMS Lite") and its product name
    # ("AMS 2 Pro"); None where the brand has no such names.
    name: str | None = None
    model: str | None = None
    has_temperature: bool = True
    # Units that dry filament (AMS 2 Pro, AMS HT) report the minutes of drying left.
    can_dry: bool = False
    drying_minutes: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FilamentUsage:
    """Material a job needs or used, per filament, as the slicer predicted it."""

    material: str | None
    grams: float | None
    color: str | None = None
    slot_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobMetadata:
    """What the slicer wrote into the job file; read once per job."""

    filaments: tuple[FilamentUsage, ...] = ()
    predicted_seconds: int | None = None
    total_grams: float | None = None
    thumbnail_png: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInfo:
    """The current or last job; identity fields let the job tracker tell prints apart."""

    name: str | None = None
    file: str | None = None
    job_id: str | None = None
    started_at: datetime | None = None
    progress: float | None = None
    remaining_minutes: int | None = None
    printing_seconds: int | None = None
    current_layer: int | None = None
    total_layers: int | None = None
    stage: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    """Identity the printer reports about itself."""

    serial: str
    model: str | None = None
    firmware: str | None = None
    hardware: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmwareUpdate:
    """What the printer says about newer firmware for itself."""

    available: bool
    # The newer version, where the printer names it.
    version: str | None = None


# Not slotted: `evolve` copies its `__dict__` in one C call (a push builds one per event).
@dataclass(frozen=True, kw_only=True)
class PrinterState:
    """One consistent snapshot of a printer; a new object whenever anything changes."""

    status: PrinterStatus = PrinterStatus.OFFLINE
    online: bool = False
    nozzle: Temperature = Temperature()
    bed: Temperature = Temperature()
    chamber: Temperature | None = None
    job: JobInfo = JobInfo()
    errors: tuple[PrinterError, ...] = ()
    filament_units: tuple[FilamentUnit, ...] = ()
    filament_slots: tuple[FilamentSlot, ...] = ()
    # Spools outside any changer (Bambu's external spool holders, one per nozzle on an H2D),
    # keyed by the printer's own id; apart from the AMS trays so each has its own entities.
    external_spools: tuple[FilamentSlot, ...] = ()
    active_slot: str | None = None
    part_fan_percent: int | None = None
    aux_fan_percent: int | None = None
    chamber_fan_percent: int | None = None
    speed_level: int | None = None
    wifi_dbm: int | None = None
    nozzle_type: str | None = None
    nozzle_diameter: float | None = None
    chamber_light: bool | None = None
    controls_locked: bool = False
    # The printer waits for the user (Prusa ATTENTION: runout, tool mapping, crash); status
    # then says paused or idle, this says why nothing moves.
    needs_attention: bool = False
    material: str | None = None
    z_height: float | None = None
    speed_percent: int | None = None
    flow_percent: int | None = None
    hotend_fan_rpm: int | None = None
    print_fan_rpm: int | None = None
    storage_free_bytes: int | None = None
    transfer_progress: float | None = None
    mmu: bool | None = None
    # The firmware version as last reported; a part of the state so an update while running
    # reaches the device registry like any other change.
    firmware: str | None = None
    # Newer firmware as the printer reports it; None where it does not say (PrusaLink).
    firmware_update: FirmwareUpdate | None = None


# The parts of a `PrinterState` a push can change: its field names. Adapters tell their listeners
# which of them changed, so the integration wakes only what reads those.
_FIELDS: tuple[str, ...] = tuple(part.name for part in fields(PrinterState))
PARTS: frozenset[str] = frozenset(_FIELDS)
_new = object.__new__
_set = object.__setattr__


def evolve(state: PrinterState, changes: dict[str, Any]) -> PrinterState:
    """`dataclasses.replace` for the hot path: a copy with `changes`, its fields copied at once.

    `replace` validates and calls `__init__` with every field by keyword; a delta of a printer
    reporting several times a second changes two or three of some forty. Keys must be fields.
    """
    new = _new(PrinterState)
    _set(new, "__dict__", state.__dict__ | changes)
    return new


# Finer parts: a listener reading only one attribute of a heater (its current reading or its
# target) or of the job (its progress, its layer ...) names `field.attribute` instead of the
# field, so another attribute changing does not wake it. Adapters name only fields; the
# coordinator adds the finer parts of the fields a push changed.
FINER_PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    name: tuple((attribute, f"{name}.{attribute}") for attribute in attributes)
    for name, attributes in (
        *((heater, ("current", "target")) for heater in ("nozzle", "bed", "chamber")),
        ("job", tuple(f.name for f in fields(JobInfo))),
    )
}


def with_finer_parts(
    old: PrinterState, new: PrinterState, changed: frozenset[str]
) -> frozenset[str]:
    """`changed` plus the finer parts of its fields whose attribute differs between the two.

    A heater that is not there (`chamber` None) reads as None in every attribute, as entities
    show it.
    """
    finer: list[str] = []
    for name, read, parts, absent in _FINER:
        if name in changed:
            before, after = getattr(old, name), getattr(new, name)
            values = zip(
                parts,
                absent if before is None else read(before),
                absent if after is None else read(after),
                strict=True,
            )
            finer.extend(part for part, was, now in values if was != now)
    return changed.union(finer) if finer else changed


# Per field: its attributes' getter (two or more names: it gives tuples), their part names,
# and what an absent heater reads as.
_FINER: Final = tuple(
    (
        name,
        attrgetter(*(attribute for attribute, _ in attributes)),
        tuple(part for _, part in attributes),
        (None,) * len(attributes),
    )
    for name, attributes in FINER_PARTS.items()
)


def changed_parts(old: PrinterState, new: PrinterState) -> frozenset[str]:
    """The parts that differ between two snapshots (for adapters that do not track them)."""
    return frozenset(
        part
        for part in PARTS
        if (before := getattr(old, part)) is not (after := getattr(new, part)) and before != after
    )
