"""Pure job lifecycle: one printer's `PrinterState` snapshots in, job records and events out.

No Home Assistant imports and no I/O; the caller passes the clock, persists records and fires
events. Rules, each one so a print is recorded exactly once:

* A job starts when the printer shows preparing/printing/paused with a job identity that is not
  the active job's and not the last ended job's (a printer keeps showing a finished job).
* Identity: the printer's job id; without one on either side, job name and file. With
  `match_start_time` the printer's start time is part of it too (Bambu: a reprint keeps the task
  id but gets a new gcode start time); leave it off where the start is derived (Prusa computes it
  from printing time, so it can shift after a restart). A field either side does not know never
  tells two jobs apart; the record adopts fields it learns later (PrusaLink names the file late).
  A start time only tells prints apart when it is later than the one known, and only across a gap
  the tracker did not watch (offline, a restart): watched without a break, a new print passes
  through a status change first, so a start time that changes mid-print, or on the end screen of
  a print seen ending, is the printer's glitch (or the real one replacing a stray value).
* A job ends on finished -> completed, cancelled -> cancelled, failed/error -> failed, all with
  the same identity. Idle or another job's identity ends it as unknown: the end was not seen.
* A print the tracker never saw running (it ran while HA was down, or between two polls) but
  whose end screen shows an identity other than the last ended job's is recorded at once with
  its outcome and `closed_after_restart`: it starts when the printer says and ends now (or
  after its printing time). Only a tracker that knows the printer's last job does this, so the
  job a printer shows when it is first added is not taken for a new print.
* Offline snapshots never start or end a job. Offline time counts as printing, never as paused:
  a pause open when the printer drops is closed there and reopened (not recounted) if the printer
  is still paused when it returns.
* Progress events fire once per whole 10 % crossed while tracked (7 -> 34 gives 10, 20, 30);
  the progress a job is first seen with is the baseline. Preparing snapshots carry no progress.
* After `restore()`, the first online snapshot decides: the same job still active resumes the
  record; anything else closes it with `closed_after_restart`, as the outcome the printer shows
  for the same identity, else unknown. Its end is `updated_at`, the last time the record was
  known running, so its duration is a lower bound.

Persist `tracker.active` whenever it is a new object after `update()`/`attach_metadata()`, and
every record carried by a `finished` event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import math
import uuid

from ..costs import CostBreakdown
from ..printers.models import (
    ACTIVE_STATUSES,
    FilamentUsage,
    JobInfo,
    JobMetadata,
    PrinterState,
    PrinterStatus,
)
from .records import JobRecord, JobStatus, MaterialUse, clean_file, clean_name

_OUTCOMES = {
    PrinterStatus.FINISHED: JobStatus.COMPLETED,
    PrinterStatus.CANCELLED: JobStatus.CANCELLED,
    PrinterStatus.FAILED: JobStatus.FAILED,
    PrinterStatus.ERROR: JobStatus.FAILED,
}
_ENDED_EARLY = frozenset({JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.UNKNOWN})
# The end screens a print leaves behind; an error state may have nothing to do with a job.
_UNSEEN_OUTCOMES = frozenset(
    {PrinterStatus.FINISHED, PrinterStatus.CANCELLED, PrinterStatus.FAILED}
)
_YEAR = 366 * 86400


class EventKind(StrEnum):
    """What happened to a job."""

    STARTED = "started"
    PROGRESS = "progress"
    PAUSED = "paused"
    RESUMED = "resumed"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEvent:
    """A lifecycle event with the record as it is after the update; percent for progress."""

    kind: EventKind
    record: JobRecord
    percent: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobIdentity:
    """What tells one print of a printer from another (see the module docstring)."""

    job_id: str | None = None
    name: str | None = None
    file: str | None = None
    started_at: datetime | None = None

    @classmethod
    def of_job(cls, job: JobInfo) -> JobIdentity:
        """The identity a snapshot shows, its text cleaned as a record keeps it.

        Compared with a record's identity, a name the record had to clean must still match.
        """
        return cls(
            job_id=clean_name(job.job_id),
            name=clean_name(job.name),
            file=clean_file(job.file),
            started_at=job.started_at,
        )

    @classmethod
    def of_record(cls, record: JobRecord) -> JobIdentity:
        """The identity a record was started (and since completed) with."""
        return cls(
            job_id=record.printer_job_id,
            name=record.job_name,
            file=record.file,
            started_at=record.printer_started_at,
        )

    def matches(self, other: JobIdentity, *, match_start_time: bool) -> bool:
        """Whether both may be the same print: no field known on both sides differs."""

        def clash(mine: object, theirs: object) -> bool:
            return mine is not None and theirs is not None and mine != theirs

        if clash(self.job_id, other.job_id):
            return False
        # A later start is another print; an earlier one cannot be (a stray value the printer
        # sent, or one still in its merged report after a reconnect).
        if (
            match_start_time
            and self.started_at
            and other.started_at
            and other.started_at > self.started_at
        ):
            return False
        if self.job_id is not None and other.job_id is not None:
            return True
        return not (clash(self.name, other.name) or clash(self.file, other.file))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return value.astimezone(UTC)


def _percent(value: float | None) -> float | None:
    """Progress clamped to 0..100; None or NaN is unknown."""
    if value is None or math.isnan(value):
        return None
    return min(max(value, 0.0), 100.0)


def _grams(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and value >= 0 else None


def planned_materials(
    metadata: JobMetadata, *, fallback_material: str | None = None
) -> tuple[MaterialUse, ...]:
    """Per-filament slicer grams; a file with only total grams gives one line.

    A filament without a type takes `fallback_material` (the printer's loaded material). No grams
    at all give one line of unknown grams, never a silent 0 (as `costs.material_lines`).
    """
    usages = metadata.filaments or (
        FilamentUsage(material=fallback_material, grams=metadata.total_grams),
    )
    return tuple(
        MaterialUse(
            material=usage.material or fallback_material,
            color=usage.color,
            planned_grams=_grams(usage.grams),
            grams=_grams(usage.grams),
        )
        for usage in usages
    )


def used_materials(
    materials: Iterable[MaterialUse], status: JobStatus, progress: float | None
) -> tuple[MaterialUse, ...]:
    """Grams used by a job with this status and final progress (see `MaterialUse`).

    Grams the user entered are what was used, whatever the outcome.
    """
    early = status in _ENDED_EARLY
    share = _percent(progress)
    fraction = (None if share is None else share / 100) if early else 1.0
    return tuple(
        material
        if material.source == "user"
        else replace(
            material,
            grams=None
            if material.planned_grams is None or fraction is None
            else material.planned_grams * fraction,
            source="estimate" if early else "slicer",
        )
        for material in materials
    )


def with_metadata(
    record: JobRecord, metadata: JobMetadata, *, fallback_material: str | None = None
) -> JobRecord:
    """The record with materials from slicer metadata, scaled if it already ended early."""
    planned = planned_materials(metadata, fallback_material=fallback_material)
    return replace(record, materials=used_materials(planned, record.status, record.progress))


def with_costs(record: JobRecord, breakdown: CostBreakdown) -> JobRecord:
    """The record with the energy and cost of a `costs` breakdown (amounts as strings)."""
    kwh = breakdown.energy_use.kwh
    return replace(
        record,
        energy_kwh=None if kwh is None else float(kwh),
        energy_source=breakdown.energy_use.source,
        cost=breakdown.as_dict(),
    )


def finish_record(
    record: JobRecord,
    status: JobStatus,
    *,
    ended_at: datetime,
    progress: float | None = None,
    closed_after_restart: bool = False,
) -> JobRecord:
    """The record ended: durations fixed (never negative, paused <= duration), pause closed."""
    ended = max(_utc(ended_at), record.started_at)
    duration = (ended - record.started_at).total_seconds()
    paused = record.paused_seconds
    if record.paused_since is not None:
        paused += max(0.0, (ended - record.paused_since).total_seconds())
    final = _percent(progress)
    if final is None or (record.progress is not None and record.progress > final):
        final = record.progress
    return replace(
        record,
        status=status,
        ended_at=ended,
        updated_at=ended,
        duration_seconds=duration,
        paused_seconds=min(paused, duration),
        paused_since=None,
        progress=final,
        materials=used_materials(record.materials, status, final),
        closed_after_restart=closed_after_restart,
    )


def _new_id() -> str:
    return uuid.uuid4().hex


class JobTracker:
    """The job lifecycle of one printer, keyed by its serial."""

    def __init__(
        self,
        serial: str,
        printer_name: str,
        *,
        now: Callable[[], datetime],
        match_start_time: bool,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        """Track jobs of one printer; `match_start_time`: True for Bambu, False for Prusa."""
        self.serial = serial
        self.printer_name = printer_name
        self._now = now
        self._match_start = match_start_time
        self._new_id = new_id
        self._active: JobRecord | None = None
        self._ended: JobIdentity | None = None
        self._progress: float | None = None  # highest progress seen for the active job
        self._restored = False  # the active record awaits its first online snapshot
        self._paused_offline = False  # a pause was cut by going offline
        self._watched = False  # the active job was seen running with no gap since
        self._printing = False  # ... and past preparing
        self._end_watched = False  # the last ended job's end screen was seen with no gap since
        self._material: str | None = None
        self._clock: datetime | None = None

    @property
    def active(self) -> JobRecord | None:
        """The running job's record, if any."""
        return self._active

    def restore(self, records: Iterable[JobRecord]) -> list[JobEvent]:
        """Resume from persisted records of this printer; call before the first update.

        The newest active record resumes, the latest ended one keeps its print from starting
        again. Any older active record (never two, unless the store was edited) is closed as
        unknown right away; their finished events are returned.
        """
        if self._clock is not None or self._active is not None:
            raise RuntimeError("restore() must come before the first update()")
        mine = [record for record in records if record.serial == self.serial]
        ended = [record for record in mine if record.status is not JobStatus.ACTIVE]
        if ended:
            last = max(ended, key=lambda record: record.ended_at or record.started_at)
            self._ended = JobIdentity.of_record(last)
        active = sorted(
            (record for record in mine if record.status is JobStatus.ACTIVE),
            key=lambda record: record.started_at,
        )
        events = [
            JobEvent(kind=EventKind.FINISHED, record=self._close_restored(record))
            for record in active[:-1]
        ]
        if active:
            self._active = active[-1]
            self._progress = self._active.progress
            self._restored = True
        return events

    def update(self, state: PrinterState, at: datetime | None = None) -> list[JobEvent]:
        """Fold in one snapshot taken `at` (default: the clock); the resulting events."""
        now = self._tick(at)
        if not state.online or state.status is PrinterStatus.OFFLINE:
            self._offline(now)
            return []
        self._material = state.material or self._material
        seen = JobIdentity.of_job(state.job)
        events: list[JobEvent] = []
        record = self._active
        if record is not None:
            if state.status is PrinterStatus.PREPARING and self._printing:
                # Printing, then preparing again: a new print may be starting; until it prints,
                # its start time counts.
                self._watched = False
            same = JobIdentity.of_record(record).matches(
                seen, match_start_time=self._match_start and not self._watched
            )
            if same and state.status in ACTIVE_STATUSES:
                self._restored = False
                # The start time a print shows while preparing may still be the last one's.
                settling = not self._printing
                self._printing = state.status is not PrinterStatus.PREPARING
                self._watched = self._watched or self._printing
                return self._continue(record, state, now, settling=settling)
            percents: list[int] = []
            if same:
                record, percents = self._advance(record, state.job.progress)
            events += [
                JobEvent(kind=EventKind.PROGRESS, record=record, percent=p) for p in percents
            ]
            status = _OUTCOMES.get(state.status, JobStatus.UNKNOWN) if same else JobStatus.UNKNOWN
            if self._restored:
                final = self._close_restored(record, status)
            else:
                final = finish_record(record, status, ended_at=now, progress=self._progress)
            events.append(JobEvent(kind=EventKind.FINISHED, record=final))
            self._ended = JobIdentity.of_record(final)
            self._active = None
            self._restored = self._paused_offline = self._watched = False
            self._end_watched = True
        ended = self._ended
        if state.status in ACTIVE_STATUSES and not (
            ended is not None and ended.matches(seen, match_start_time=self._match_start)
        ):
            events += self._start(state, now)
        elif (
            state.status in _UNSEEN_OUTCOMES
            and ended is not None
            and (seen.job_id or seen.name or seen.file)
            and not ended.matches(
                seen, match_start_time=self._match_start and not self._end_watched
            )
        ):
            events.append(JobEvent(kind=EventKind.FINISHED, record=self._unseen(state, now)))
            self._end_watched = True
        return events

    def attach_metadata(
        self, metadata: JobMetadata, *, record_id: str | None = None
    ) -> JobRecord | None:
        """Fill the active job's materials from slicer metadata; the new record.

        With `record_id`, only if that job is still the active one (a slow file read may return
        after the next print started); an ended record takes `with_metadata` instead.
        """
        record = self._active
        if record is None or (record_id is not None and record.id != record_id):
            return None
        updated = with_metadata(record, metadata, fallback_material=self._material)
        self._active = replace(updated, updated_at=self._tick(None))
        return self._active

    def amend(self, record: JobRecord) -> bool:
        """Replace the active record by an edited copy (same id); False if it is not active.

        Fields the tracker owns (status, progress, pauses, times) should be left as they are.
        """
        if self._active is None or self._active.id != record.id:
            return False
        self._active = record
        return True

    def _tick(self, at: datetime | None) -> datetime:
        """The snapshot time, never before an earlier one (durations stay non-negative)."""
        now = _utc(at if at is not None else self._now())
        if self._clock is not None and now < self._clock:
            now = self._clock
        self._clock = now
        return now

    def _close_restored(
        self, record: JobRecord, status: JobStatus = JobStatus.UNKNOWN
    ) -> JobRecord:
        return finish_record(
            record,
            status,
            ended_at=record.updated_at,
            progress=record.progress,
            closed_after_restart=True,
        )

    def _offline(self, now: datetime) -> None:
        self._watched = self._end_watched = False
        record = self._active
        if record is None or self._restored or record.paused_since is None:
            return
        paused = (now - record.paused_since).total_seconds()
        self._active = replace(
            record,
            paused_seconds=record.paused_seconds + max(0.0, paused),
            paused_since=None,
            updated_at=now,
        )
        self._paused_offline = True

    def _advance(self, record: JobRecord, value: float | None) -> tuple[JobRecord, list[int]]:
        """Record new progress; the whole 10 % steps crossed since the last recorded one."""
        progress = _percent(value)
        if progress is None:
            return record, []
        if self._progress is None or progress > self._progress:
            self._progress = progress
        before = record.progress
        if before is not None and progress <= before:
            return record, []
        first = 1 if before is None else int(before // 10) + 1
        percents = [step * 10 for step in range(first, int(progress // 10) + 1)]
        if not percents:
            return record, []
        return replace(record, progress=progress), percents

    def _continue(
        self, record: JobRecord, state: PrinterState, now: datetime, *, settling: bool
    ) -> list[JobEvent]:
        job = state.job
        start = job.started_at and _utc(job.started_at)
        updated = replace(
            record,
            printer_job_id=record.printer_job_id or job.job_id,
            job_name=record.job_name or job.name,
            file=record.file or job.file,
            printer_started_at=(start or record.printer_started_at)
            if settling
            else (record.printer_started_at or start),
        )
        kinds: list[EventKind] = []
        if state.status is PrinterStatus.PAUSED:
            if updated.paused_since is None:
                updated = replace(updated, paused_since=now)
                if not self._paused_offline:
                    updated = replace(updated, pause_count=updated.pause_count + 1)
                    kinds.append(EventKind.PAUSED)
        elif updated.paused_since is not None or self._paused_offline:
            if updated.paused_since is not None:
                paused = max(0.0, (now - updated.paused_since).total_seconds())
                updated = replace(
                    updated, paused_seconds=updated.paused_seconds + paused, paused_since=None
                )
            kinds.append(EventKind.RESUMED)
        self._paused_offline = False
        percents: list[int] = []
        if state.status is not PrinterStatus.PREPARING:
            updated, percents = self._advance(updated, job.progress)
        if updated != record:
            self._active = updated = replace(updated, updated_at=now)
        events = [JobEvent(kind=kind, record=updated) for kind in kinds]
        return events + [
            JobEvent(kind=EventKind.PROGRESS, record=updated, percent=p) for p in percents
        ]

    def _unseen(self, state: PrinterState, now: datetime) -> JobRecord:
        """A print that started and ended while the tracker did not look; it becomes the last.

        It starts when the printer says (or now) and ends now, or earlier by its printing time.
        """
        job = state.job
        printer_start = None if job.started_at is None else _utc(job.started_at)
        started = printer_start if printer_start is not None and printer_start < now else now
        ended = now
        if job.printing_seconds is not None and job.printing_seconds >= 0:
            ended = min(now, started + timedelta(seconds=min(job.printing_seconds, _YEAR)))
        record = JobRecord(
            id=self._new_id(),
            serial=self.serial,
            printer_name=self.printer_name,
            started_at=started,
            updated_at=now,
            job_name=job.name,
            file=job.file,
            printer_job_id=job.job_id,
            printer_started_at=printer_start,
        )
        final = finish_record(
            record,
            _OUTCOMES[state.status],
            ended_at=ended,
            progress=job.progress,
            closed_after_restart=True,
        )
        self._ended = JobIdentity.of_record(final)
        return final

    def _start(self, state: PrinterState, now: datetime) -> list[JobEvent]:
        job = state.job
        printer_start = None if job.started_at is None else _utc(job.started_at)
        paused = state.status is PrinterStatus.PAUSED
        # Seen while preparing, the start is now by our clock; a printer's clock may be off
        # (or, simulated, run fast). Joined later, the printer's start is all there is.
        witnessed = state.status is PrinterStatus.PREPARING
        progress = None if witnessed else _percent(job.progress)
        record = JobRecord(
            id=self._new_id(),
            serial=self.serial,
            printer_name=self.printer_name,
            started_at=now
            if witnessed or printer_start is None or printer_start > now
            else printer_start,
            updated_at=now,
            job_name=job.name,
            file=job.file,
            printer_job_id=job.job_id,
            printer_started_at=printer_start,
            pause_count=int(paused),
            paused_since=now if paused else None,
            progress=progress,
        )
        self._active = record
        self._watched = True
        self._printing = state.status is not PrinterStatus.PREPARING
        self._progress = progress
        events = [JobEvent(kind=EventKind.STARTED, record=record)]
        if paused:
            events.append(JobEvent(kind=EventKind.PAUSED, record=record))
        return events
