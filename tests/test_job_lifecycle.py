"""The pure job lifecycle: worked examples, then properties over random snapshot sequences."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import itertools
import json
from typing import Any

from hypothesis import given, settings, strategies as st
import orjson
import pytest

from custom_components.printernizer.costs import CostSettings, Material, job_costs
from custom_components.printernizer.jobs import (
    EventKind,
    JobEvent,
    JobIdentity,
    JobRecord,
    JobStatus,
    JobTracker,
    MaterialUse,
    finish_record,
    planned_materials,
    used_materials,
    with_costs,
    with_metadata,
)
from custom_components.printernizer.printers.models import (
    FilamentUsage,
    JobInfo,
    JobMetadata,
    PrinterState,
    PrinterStatus as S,
)

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
START = datetime(2025, 5, 1, 7, 59, 30, tzinfo=UTC)
_UNSET: Any = object()


class Clock:
    """A settable clock; `tick(s)` moves it on."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def counter() -> Any:
    numbers = itertools.count(1)
    return lambda: f"job{next(numbers)}"


def snap(
    status: S,
    progress: float | None = None,
    *,
    job_id: str | None = "42",
    name: str | None = "benchy",
    file: str | None = "benchy.gcode",
    started: datetime | None = _UNSET,
    material: str | None = None,
) -> PrinterState:
    return PrinterState(
        status=status,
        online=status is not S.OFFLINE,
        material=material,
        job=JobInfo(
            job_id=job_id,
            name=name,
            file=file,
            started_at=START if started is _UNSET else started,
            progress=progress,
        ),
    )


def tracker(clock: Clock, *, match_start_time: bool = True) -> JobTracker:
    return JobTracker(
        "SERIAL1", "Bambu X1C", now=clock, new_id=counter(), match_start_time=match_start_time
    )


def kinds(events: list[JobEvent]) -> list[str]:
    return [f"{e.kind}:{e.percent}" if e.percent is not None else str(e.kind) for e in events]


def run(track: JobTracker, clock: Clock, steps: list[tuple[float, PrinterState]]) -> list[JobEvent]:
    events: list[JobEvent] = []
    for seconds, state in steps:
        clock.tick(seconds)
        events += track.update(state)
    return events


def test_full_print_gives_one_completed_record_with_its_pause() -> None:
    clock = Clock()
    track = tracker(clock)
    events = run(
        track,
        clock,
        [
            (0, snap(S.IDLE, job_id=None, name=None, file=None, started=None)),
            (10, snap(S.PREPARING, 100)),  # stale progress while preparing is ignored
            (60, snap(S.PRINTING, 0)),
            (600, snap(S.PRINTING, 25)),
            (60, snap(S.PAUSED, 25)),
            (300, snap(S.PAUSED, 25)),
            (0, snap(S.PAUSED, 25)),  # duplicate
            (30, snap(S.PRINTING, 25)),
            (600, snap(S.PRINTING, 99.5)),
            (60, snap(S.FINISHED, 100)),
            (60, snap(S.FINISHED, 100)),
            (60, snap(S.IDLE)),
        ],
    )
    assert kinds(events) == [
        "started",
        "progress:10",
        "progress:20",
        "paused",
        "resumed",
        *(f"progress:{p}" for p in range(30, 100, 10)),
        "progress:100",
        "finished",
    ]
    record = events[-1].record
    assert record.id == "job1"
    assert record.status is JobStatus.COMPLETED
    assert record.pause_count == 1
    assert record.paused_seconds == 330
    assert record.started_at == T0 + timedelta(seconds=10)  # seen preparing: our clock
    assert record.ended_at == T0 + timedelta(seconds=1720)
    assert record.duration_seconds == 1710
    assert record.print_seconds == 1380
    assert record.progress == 100
    assert record.closed_after_restart is False
    assert (record.serial, record.printer_name, record.job_name, record.file) == (
        "SERIAL1",
        "Bambu X1C",
        "benchy",
        "benchy.gcode",
    )
    assert record.printer_job_id == "42"
    assert track.active is None


def test_job_joined_late_starts_at_the_printers_start() -> None:
    clock = Clock()
    track = tracker(clock)
    (started,) = track.update(snap(S.PRINTING, 40))
    assert started.record.started_at == START
    future = START + timedelta(days=1)  # a printer clock ahead of ours is not believed
    (ahead,) = tracker(clock).update(snap(S.PRINTING, 40, started=future))
    assert ahead.record.started_at == T0


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(S.CANCELLED, JobStatus.CANCELLED), (S.FAILED, JobStatus.FAILED), (S.ERROR, JobStatus.FAILED)],
)
def test_end_status_maps_to_outcome(status: S, outcome: JobStatus) -> None:
    clock = Clock()
    track = tracker(clock)
    events = run(
        track, clock, [(0, snap(S.PRINTING, 5)), (60, snap(S.PRINTING, 42)), (5, snap(status, 0))]
    )
    assert kinds(events) == [
        "started",
        "progress:10",
        "progress:20",
        "progress:30",
        "progress:40",
        "finished",
    ]
    record = events[-1].record
    assert record.status is outcome
    assert record.progress == 42  # a reset on cancel does not lower the final progress
    assert record.duration_seconds == 65 + 30  # from the printer's start


def test_duplicates_and_offline_flaps_create_nothing_new() -> None:
    clock = Clock()
    track = tracker(clock)
    events = run(
        track,
        clock,
        [
            (0, snap(S.PRINTING, 1)),
            (5, snap(S.PRINTING, 1)),
            (5, snap(S.OFFLINE, 1)),
            (600, snap(S.OFFLINE, 1)),
            (5, snap(S.PRINTING, 3)),
            (5, snap(S.PRINTING, 3)),
            (5, snap(S.OFFLINE)),
            (5, snap(S.PREPARING)),
            (5, snap(S.PRINTING, 3)),
        ],
    )
    assert kinds(events) == ["started"]
    active = track.active
    assert active is not None
    assert active.id == "job1"
    assert active is events[0].record  # nothing changed that needs saving


def test_offline_during_pause_is_not_paused_time() -> None:
    clock = Clock()
    track = tracker(clock)
    events = run(
        track,
        clock,
        [
            (0, snap(S.PRINTING, 10)),
            (10, snap(S.PAUSED, 10)),
            (100, snap(S.OFFLINE, 10)),
            (1000, snap(S.PAUSED, 10)),  # still the same pause, not a second one
            (50, snap(S.OFFLINE, 10)),
            (1000, snap(S.PRINTING, 10)),  # resumed while we could not see it
            (10, snap(S.FINISHED, 100)),
        ],
    )
    assert kinds(events)[:3] == ["started", "paused", "resumed"]
    record = events[-1].record
    assert record.pause_count == 1
    assert record.paused_seconds == 150
    assert record.duration_seconds == 30 + 2170


def test_offline_while_not_paused_changes_nothing() -> None:
    clock = Clock()
    track = tracker(clock)
    run(track, clock, [(0, snap(S.PRINTING, 10))])
    before = track.active
    track.update(snap(S.OFFLINE))
    assert track.active is before
    assert tracker(clock).update(snap(S.OFFLINE)) == []


def test_first_seen_paused_counts_a_pause() -> None:
    clock = Clock()
    track = tracker(clock)
    events = run(
        track, clock, [(0, snap(S.PAUSED, 50)), (100, snap(S.PRINTING, 50)), (1, snap(S.FINISHED))]
    )
    assert kinds(events) == ["started", "paused", "resumed", "finished"]
    assert events[-1].record.paused_seconds == 100
    assert events[-1].record.progress == 50


def test_new_identity_right_after_finished_starts_a_second_record() -> None:
    clock = Clock()
    track = tracker(clock)
    events = run(
        track,
        clock,
        [
            (0, snap(S.PRINTING, 50)),
            (60, snap(S.FINISHED, 100)),
            (5, snap(S.PREPARING, 100)),  # stale identity of the finished job: not a new print
            (5, snap(S.PRINTING, 0, job_id="43", name="cube", started=T0 + timedelta(seconds=68))),
            (
                60,
                snap(S.FINISHED, 100, job_id="43", name="cube", started=T0 + timedelta(seconds=68)),
            ),
        ],
    )
    assert kinds(events) == [
        "started",
        "progress:60",
        "progress:70",
        "progress:80",
        "progress:90",
        "progress:100",
        "finished",
        "started",
        *(f"progress:{p}" for p in range(10, 101, 10)),
        "finished",
    ]
    first, second = events[6].record, events[-1].record
    assert (first.id, second.id) == ("job1", "job2")
    assert second.job_name == "cube"
    assert second.started_at == T0 + timedelta(seconds=68)


def test_new_identity_while_printing_ends_the_old_job_as_unknown() -> None:
    clock = Clock()
    track = tracker(clock)
    events = run(track, clock, [(0, snap(S.PRINTING, 50)), (60, snap(S.PRINTING, 1, job_id="43"))])
    assert kinds(events) == ["started", "finished", "started"]
    assert events[1].record.status is JobStatus.UNKNOWN
    assert events[1].record.progress == 50
    assert events[2].record.printer_job_id == "43"


def test_idle_during_a_job_ends_it_as_unknown() -> None:
    clock = Clock()
    track = tracker(clock)
    events = run(
        track, clock, [(0, snap(S.PRINTING, 30)), (5, snap(S.OFFLINE)), (60, snap(S.IDLE))]
    )
    assert kinds(events) == ["started", "finished"]
    assert events[-1].record.status is JobStatus.UNKNOWN
    assert events[-1].record.closed_after_restart is False


def test_bambu_reprint_with_same_task_id_is_a_new_job() -> None:
    clock = Clock()
    track = tracker(clock, match_start_time=True)
    later = T0 + timedelta(hours=1)
    events = run(
        track,
        clock,
        [
            (0, snap(S.PRINTING, 10)),
            (60, snap(S.CANCELLED, 10)),
            (60, snap(S.PREPARING, started=None)),  # start time not known yet: wait
            (60, snap(S.PRINTING, 0, started=later)),
        ],
    )
    assert kinds(events) == ["started", "finished", "started"]
    assert events[-1].record.printer_started_at == later


def test_prusa_start_time_may_shift_without_a_new_job() -> None:
    clock = Clock()
    track = tracker(clock, match_start_time=False)
    events = run(
        track,
        clock,
        [
            (0, snap(S.PRINTING, 10, name=None, file=None)),
            (5, snap(S.PRINTING, 11, started=START + timedelta(seconds=2))),  # name arrives late
        ],
    )
    assert kinds(events) == ["started"]
    active = track.active
    assert active is not None
    assert (active.job_name, active.file, active.printer_started_at) == (
        "benchy",
        "benchy.gcode",
        START,
    )


def test_identity_without_job_id_uses_name_and_file() -> None:
    same = JobIdentity(name="a", file="a.3mf")
    assert same.matches(JobIdentity(job_id="1", name="a"), match_start_time=True)
    assert not same.matches(JobIdentity(name="b"), match_start_time=True)
    assert not same.matches(JobIdentity(file="b.3mf"), match_start_time=False)
    assert JobIdentity(job_id="1", name="a").matches(
        JobIdentity(job_id="1", name="b"), match_start_time=True
    )
    assert not JobIdentity(job_id="1").matches(JobIdentity(job_id="2"), match_start_time=False)
    assert JobIdentity().matches(JobIdentity(job_id="9", started_at=T0), match_start_time=True)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([0, 10, 20, 30], [10, 20, 30]),
        ([7, 34], [10, 20, 30]),
        ([9.99, 10, 10.5, 19.9, 20], [10, 20]),
        ([50, 40, 55, 61], [60]),  # first seen at 50: the baseline; going back emits nothing
        ([None, float("nan"), 12, -5, 150], [10, *range(20, 101, 10)]),
    ],
)
def test_progress_events_once_per_whole_ten_percent(
    steps: list[float | None], expected: list[int]
) -> None:
    clock = Clock()
    track = tracker(clock)
    events = run(track, clock, [(1, snap(S.PRINTING, p)) for p in steps])
    assert [e.percent for e in events if e.kind is EventKind.PROGRESS] == expected
    assert [e.record.progress for e in events if e.kind is EventKind.PROGRESS][-1:] == [
        e.record.progress for e in events[-1:]
    ]


def test_restore_mid_print_resumes_the_same_record() -> None:
    clock = Clock()
    first = tracker(clock)
    run(
        first,
        clock,
        [(0, snap(S.PRINTING, 5)), (60, snap(S.PRINTING, 23)), (60, snap(S.PAUSED, 23))],
    )
    stored = first.active
    assert stored is not None
    stored = JobRecord.from_dict(json.loads(json.dumps(stored.to_dict())))

    clock.tick(600)  # HA restarts
    second = tracker(clock)
    assert second.restore([stored]) == []
    assert second.active == stored
    events = run(
        second,
        clock,
        [(0, snap(S.OFFLINE)), (30, snap(S.PRINTING, 31)), (60, snap(S.FINISHED, 100))],
    )
    assert kinds(events) == [
        "resumed",
        "progress:30",
        *(f"progress:{p}" for p in range(40, 101, 10)),
        "finished",
    ]
    record = events[-1].record
    assert record.id == "job1"
    assert record.status is JobStatus.COMPLETED
    assert record.closed_after_restart is False
    assert record.pause_count == 1
    assert record.paused_seconds == 630  # the pause spanned the restart
    with pytest.raises(RuntimeError):
        second.restore([])


@pytest.mark.parametrize(
    ("state", "outcome", "next_kinds"),
    [
        (
            snap(S.FINISHED, 100),
            JobStatus.COMPLETED,
            ["progress:60", "progress:70", "progress:80", "progress:90", "progress:100"],
        ),
        (snap(S.CANCELLED, 50), JobStatus.CANCELLED, []),
        (snap(S.FINISHED, 100, job_id="77"), JobStatus.UNKNOWN, []),
        (snap(S.IDLE), JobStatus.UNKNOWN, []),
        (snap(S.IDLE, job_id=None, name=None, file=None, started=None), JobStatus.UNKNOWN, []),
        (snap(S.PRINTING, 3, job_id="77"), JobStatus.UNKNOWN, ["started"]),
    ],
)
def test_job_ended_while_down_is_closed_once_and_marked(
    state: PrinterState, outcome: JobStatus, next_kinds: list[str]
) -> None:
    clock = Clock()
    first = tracker(clock)
    run(first, clock, [(0, snap(S.PRINTING, 5)), (600, snap(S.PRINTING, 50))])
    stored = first.active
    assert stored is not None

    clock.tick(7200)
    second = JobTracker(
        "SERIAL1", "Bambu X1C", now=clock, new_id=lambda: "new", match_start_time=True
    )
    second.restore([stored])
    events = second.update(state)
    finished = [e for e in events if e.kind is EventKind.FINISHED]
    assert finished[0].record.id == stored.id
    record = finished[0].record
    assert record.status is outcome
    assert record.closed_after_restart is True
    assert record.ended_at == stored.updated_at  # last known running: a lower bound
    assert record.duration_seconds == 630
    # Another job's end screen: that print ran while HA was down, and is recorded too.
    unseen = [e.record for e in finished[1:]]
    if state.job.job_id == "77" and state.status is S.FINISHED:
        assert [(r.id, r.status, r.printer_job_id) for r in unseen] == [
            ("new", JobStatus.COMPLETED, "77")
        ]
    else:
        assert unseen == []
    rest = [k for k in kinds(events) if k != "finished"]
    assert rest == next_kinds
    for _ in range(3):
        assert [e for e in second.update(state) if e.kind is EventKind.FINISHED] == []


def test_restore_closes_stale_extra_active_records_and_ignores_other_printers() -> None:
    clock = Clock()
    old = JobRecord(
        id="old",
        serial="SERIAL1",
        printer_name="p",
        started_at=T0,
        updated_at=T0 + timedelta(hours=1),
        paused_since=T0 + timedelta(minutes=50),
        pause_count=1,
    )
    new = replace(
        old,
        id="new",
        started_at=T0 + timedelta(hours=2),
        updated_at=T0 + timedelta(hours=2),
        paused_since=None,
    )
    other = replace(old, id="other", serial="SERIAL2")
    done = replace(
        old,
        id="done",
        status=JobStatus.COMPLETED,
        ended_at=T0,
        printer_job_id="42",
        printer_started_at=START,
    )
    track = tracker(clock)
    events = track.restore([other, old, new, done])
    assert [(e.kind, e.record.id, e.record.status) for e in events] == [
        (EventKind.FINISHED, "old", JobStatus.UNKNOWN)
    ]
    assert events[0].record.paused_seconds == 600
    assert events[0].record.duration_seconds == 3600
    active = track.active
    assert active is not None
    assert active.id == "new"
    # The last ended job (still on the printer's screen) does not start again.
    restored = tracker(clock)
    restored.restore([done])
    assert restored.update(snap(S.PRINTING, 99)) == []
    assert restored.active is None


def test_materials_from_metadata_and_cancel_estimate() -> None:
    clock = Clock()
    track = tracker(clock)
    metadata = JobMetadata(
        filaments=(
            FilamentUsage(material="PLA Basic", grams=20.0, color="#FF0000"),
            FilamentUsage(material=None, grams=float("nan")),
        )
    )
    assert track.attach_metadata(metadata) is None  # no job
    run(track, clock, [(0, snap(S.PRINTING, 0, material="PETG"))])
    active = track.active
    assert active is not None
    assert track.attach_metadata(metadata, record_id="other") is None
    updated = track.attach_metadata(metadata, record_id=active.id)
    assert updated is track.active
    assert updated is not None
    assert updated.materials == (
        MaterialUse(material="PLA Basic", color="#FF0000", planned_grams=20.0, grams=20.0),
        MaterialUse(material="PETG", planned_grams=None, grams=None),
    )
    events = run(track, clock, [(60, snap(S.PRINTING, 40)), (60, snap(S.CANCELLED, 0))])
    final = events[-1].record
    assert final.materials[0] == MaterialUse(
        material="PLA Basic", color="#FF0000", planned_grams=20.0, grams=8.0, source="estimate"
    )
    assert final.materials[1].grams is None
    # Metadata read after the print ended: scaled the same way.
    late = with_metadata(replace(final, materials=()), metadata)
    assert late.materials[0].grams == 8.0
    assert late.materials[1].material is None


def test_material_rules() -> None:
    only_total = planned_materials(JobMetadata(total_grams=12.5), fallback_material="PLA")
    assert only_total == (MaterialUse(material="PLA", planned_grams=12.5, grams=12.5),)
    assert planned_materials(JobMetadata()) == (MaterialUse(material=None),)
    uses = planned_materials(
        JobMetadata(
            filaments=(
                FilamentUsage(material="ABS", grams=-1.0),
                FilamentUsage(material="ABS", grams=10.0),
            )
        )
    )
    assert [u.grams for u in used_materials(uses, JobStatus.FAILED, 150)] == [None, 10.0]
    assert [u.grams for u in used_materials(uses, JobStatus.UNKNOWN, None)] == [None, None]
    assert [(u.grams, u.source) for u in used_materials(uses, JobStatus.COMPLETED, 10)] == [
        (None, "slicer"),
        (10.0, "slicer"),
    ]


def test_with_costs_stores_the_breakdown() -> None:
    record = JobRecord(id="a", serial="s", printer_name="p", started_at=T0, updated_at=T0)
    settings = CostSettings(
        material_prices={Material.PLA: Decimal(20)},
        energy_price_per_kwh=Decimal("0.30"),
        average_power_w=Decimal(150),
        vat_percent=Decimal(19),
    )
    breakdown = job_costs(
        settings,
        JobMetadata(total_grams=100),
        status=S.FINISHED,
        progress=100,
        hours=Decimal(2),
        fallback_material="PLA",
    )
    costed = with_costs(record, breakdown)
    assert costed.energy_kwh == 0.3
    assert costed.energy_source == "estimated"
    assert costed.cost == breakdown.as_dict()
    assert costed.cost is not None
    assert costed.cost["gross"] == "2.49"
    unknown = with_costs(
        record,
        job_costs(CostSettings(), JobMetadata(), status=S.FINISHED, progress=None, hours=None),
    )
    assert unknown.energy_kwh is None


def test_record_round_trip_and_tolerant_loading() -> None:
    record = JobRecord(
        id="abc",
        serial="SERIAL1",
        printer_name="Prusa MK4",
        started_at=T0,
        updated_at=T0,
        status=JobStatus.CANCELLED,
        job_name="benchy",
        printer_started_at=START,
        ended_at=T0 + timedelta(hours=1),
        duration_seconds=3600.0,
        paused_seconds=60.0,
        pause_count=1,
        progress=42.0,
        materials=(
            MaterialUse(
                material="PLA", color="#FFF", planned_grams=10.0, grams=4.2, source="estimate"
            ),
        ),
        energy_kwh=0.12,
        energy_source="measured",
        cost={"gross": "1.00"},
        category="business",
        customer="ACME",
        project="PO-7",
        notes="first layer",
        closed_after_restart=True,
        meter_readings=(10.5, 10.9, 0.2),
    )
    data = json.loads(json.dumps(record.to_dict()))
    assert data["started_at"] == "2025-05-01T08:00:00+00:00"
    assert data["print_seconds"] == 3540.0
    assert JobRecord.from_dict(data) == record
    minimal = JobRecord.from_dict(
        {"id": "x", "serial": "S", "started_at": "2025-05-01T08:00:00", "future_key": 1}
    )
    assert minimal == JobRecord(id="x", serial="S", printer_name="S", started_at=T0, updated_at=T0)
    assert minimal.print_seconds is None
    assert MaterialUse.from_dict({"material": "PLA"}) == MaterialUse(material="PLA")
    with pytest.raises(ValueError, match="grams source"):
        MaterialUse.from_dict({"source": "guess"})
    with pytest.raises(ValueError, match="energy source"):
        JobRecord.from_dict({**data, "energy_source": "guess"})
    with pytest.raises(ValueError, match="started_at"):
        JobRecord.from_dict({**data, "started_at": None})


def test_amend_replaces_only_the_active_record() -> None:
    clock = Clock()
    track = tracker(clock)
    track.update(snap(S.PRINTING, 5))
    active = track.active
    assert active is not None
    assert track.amend(replace(active, customer="ACME"))
    assert track.active is not None
    assert track.active.customer == "ACME"
    assert not track.amend(replace(active, id="other", customer="Nobody"))
    track.update(snap(S.FINISHED, 100))
    assert not track.amend(replace(active, customer="Late"))
    assert track.active is None


def test_clock_rules() -> None:
    clock = Clock()
    track = tracker(clock)
    with pytest.raises(ValueError, match="timezone-aware"):
        track.update(snap(S.PRINTING), at=datetime(2025, 5, 1))
    track.update(snap(S.PRINTING, 0, started=T0 + timedelta(days=1)))  # printer clock ahead
    active = track.active
    assert active is not None
    assert active.started_at == T0
    events = track.update(snap(S.FINISHED), at=T0 - timedelta(hours=1))  # clock went back
    assert events[-1].record.duration_seconds == 0
    assert (
        finish_record(active, JobStatus.FAILED, ended_at=T0 - timedelta(days=1)).duration_seconds
        == 0
    )


# --- properties ---------------------------------------------------------------------------

IDENTITIES = [
    {"job_id": None, "name": None, "file": None, "started": None},
    {"job_id": "1", "name": "a", "file": "a.3mf", "started": START},
    {"job_id": "1", "name": "a", "file": "a.3mf", "started": T0},
    {"job_id": None, "name": "b", "file": None, "started": None},
    {"job_id": "2", "name": None, "file": None, "started": None},
]
STEP = st.tuples(
    st.sampled_from(list(S)),
    st.sampled_from(range(len(IDENTITIES))),
    st.one_of(st.none(), st.just(float("nan")), st.floats(min_value=-10, max_value=120)),
    st.integers(min_value=0, max_value=3600),
    st.booleans(),  # HA restarts before this snapshot (only used rarely)
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(STEP, max_size=40), match_start_time=st.booleans(), restarts=st.booleans())
def test_any_snapshot_sequence_records_each_job_exactly_once(
    steps: list[tuple[S, int, float | None, int, bool]], match_start_time: bool, restarts: bool
) -> None:
    clock = Clock()
    new_id = counter()

    def make() -> JobTracker:
        return JobTracker(
            "SERIAL1", "p", now=clock, new_id=new_id, match_start_time=match_start_time
        )

    track = make()
    started: Counter[str] = Counter()
    finished: Counter[str] = Counter()
    percents: dict[str, list[int]] = {}
    ended: list[JobRecord] = []
    seen: set[str] = set()
    for status, identity, progress, seconds, restart in steps:
        clock.tick(seconds)
        events: list[JobEvent] = []
        if restarts and restart:
            stored = [
                JobRecord.from_dict(r.to_dict())
                for r in (*ended, *([track.active] if track.active else []))
            ]
            track = make()
            events += track.restore(stored)
        fields = IDENTITIES[identity]
        events += track.update(
            snap(
                status,
                progress,
                job_id=fields["job_id"],
                name=fields["name"],
                file=fields["file"],
                started=fields["started"],
            )
        )
        for event in events:
            record = event.record
            seen.add(record.id)
            assert record.serial == "SERIAL1"
            if event.kind is EventKind.STARTED:
                started[record.id] += 1
                assert record.status is JobStatus.ACTIVE
            elif event.kind is EventKind.FINISHED:
                finished[record.id] += 1
                ended.append(record)
                assert record.status is not JobStatus.ACTIVE
                assert record.ended_at is not None
                assert record.ended_at >= record.started_at
                assert record.duration_seconds is not None
                assert record.duration_seconds >= 0
                assert 0 <= record.paused_seconds <= record.duration_seconds
                assert record.paused_since is None
            elif event.kind is EventKind.PROGRESS:
                assert event.percent is not None
                percents.setdefault(record.id, []).append(event.percent)
        open_jobs = {job for job in started if not finished[job]}
        assert len(open_jobs) <= 1
        active = track.active
        assert ({active.id} if active else set()) == open_jobs
        if active is not None:
            assert active.status is JobStatus.ACTIVE
            assert active.paused_seconds >= 0
            assert (active.paused_since is None) or active.paused_since >= active.started_at
        assert not [e for e in events if e.kind is EventKind.STARTED and e.record.id in finished]
    # A job never seen running is one the tracker only saw end: closed at once, marked so.
    unseen = seen - set(started)
    assert all(finished[job] == 1 for job in unseen)
    assert all(r.closed_after_restart for r in ended if r.id in unseen)
    assert all(count == 1 for count in started.values())
    assert all(count <= 1 for count in finished.values())
    for steps_seen in percents.values():
        assert steps_seen == sorted(set(steps_seen))
        assert all(p % 10 == 0 and 10 <= p <= 100 for p in steps_seen)


def test_default_ids_are_uuid4_hex() -> None:
    track = JobTracker("S", "p", now=Clock(), match_start_time=False)
    track.update(snap(S.PRINTING))
    active = track.active
    assert active is not None
    assert len(active.id) == 32
    assert int(active.id, 16) >= 0


# --- hostile text from a printer or a user ----------------------------------------------------

HOSTILE_TEXT = st.text(
    st.characters(categories=["Cs", "Cc", "Zs", "Zl", "L", "N", "P"]), max_size=600
) | st.sampled_from(["Cube\ud800", "\udfff", "\x00\x1b[31m", "  ", "x" * 2000, "\r\n\r\n"])


def storable(record: JobRecord) -> bytes:
    """The record as the history's Store writes it (orjson refuses lone surrogates)."""
    return orjson.dumps(record.to_dict())


def test_a_job_named_with_a_lone_surrogate_is_one_storable_record() -> None:
    """Valid JSON from a printer ("Cube\\ud800"): the record is storable, the job still one."""
    clock = Clock()
    track = tracker(clock)
    name, file = "Cube\ud800", "/cache/Cube\ud800\x07.gcode.3mf"
    events = run(
        track,
        clock,
        [
            (0, snap(S.PRINTING, 5, job_id="7\udc00", name=name, file=file)),
            (60, snap(S.PRINTING, 25, job_id="7\udc00", name=name, file=file)),
            (60, snap(S.FINISHED, 100, job_id="7\udc00", name=name, file=file)),
        ],
    )
    assert Counter(event.kind for event in events) == {
        EventKind.STARTED: 1,
        EventKind.PROGRESS: 10,
        EventKind.FINISHED: 1,
    }
    ended = events[-1].record
    assert (ended.job_name, ended.file, ended.printer_job_id, ended.status) == (
        "Cube\ufffd",
        "/cache/Cube\ufffd.gcode.3mf",
        "7\ufffd",
        JobStatus.COMPLETED,
    )
    assert all(storable(event.record) for event in events)
    # The printer keeps showing the finished job: no second record.
    assert run(track, clock, [(60, snap(S.FINISHED, 100, job_id="7\udc00", name=name))]) == []


def test_slicer_materials_with_broken_text_are_storable() -> None:
    metadata = JobMetadata(
        filaments=(FilamentUsage(material="PLA\ud800", grams=10.0, color="#FF\x00FFFF"),)
    )
    (material,) = planned_materials(metadata)
    assert (material.material, material.color) == ("PLA\ufffd", "#FFFFFF")


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    name=HOSTILE_TEXT, file=HOSTILE_TEXT, customer=HOSTILE_TEXT, notes=HOSTILE_TEXT,
    material=HOSTILE_TEXT,
)  # fmt: skip
def test_every_record_is_storable_and_reads_back(
    name: str, file: str, customer: str, notes: str, material: str
) -> None:
    record = JobRecord(
        id="x",
        serial="S",
        printer_name="P",
        started_at=T0,
        updated_at=T0,
        job_name=name,
        file=file,
        customer=customer,
        project=customer,
        notes=notes,
        materials=(MaterialUse(material=material, color=material),),
    )
    assert JobRecord.from_dict(orjson.loads(storable(record))) == record
    assert record.job_name is None or len(record.job_name) <= 255
    assert record.notes is None or len(record.notes) <= 5000
    if "\n" in notes.strip() and "\ud800" not in notes:
        assert "\n" in (record.notes or "")  # notes keep their lines


@pytest.mark.parametrize(
    "change",
    [
        {"started_at": 1746086400},
        {"materials": "PLA"},
        {"materials": ["PLA"]},
        {"cost": [["gross", "1.00"]]},
        {"id": 7},
        {"serial": ["S"]},
        {"job_name": {"a": 1}},
        {"notes": 5},
        {"status": ["completed"]},
        {"pause_count": "1"},
        {"closed_after_restart": "yes"},
        {"meter_readings": "1,2"},
        {"meter_readings": [1, None]},
        {"progress": "50"},
        {"duration_seconds": 10**400},
        {"ended_at": "9999-12-31T23:00:00-05:00"},
        {"updated_at": 5},
    ],
    ids=repr,
)
def test_from_dict_refuses_values_of_the_wrong_type(change: dict[str, Any]) -> None:
    """Raised as TypeError or ValueError, which the history counts as an unreadable record."""
    data = {"id": "x", "serial": "S", "started_at": "2025-05-01T08:00:00+00:00"} | change
    with pytest.raises((TypeError, ValueError)):
        JobRecord.from_dict(data)


GLITCH = datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)  # 10**12 read as milliseconds


@pytest.mark.parametrize("glitch", [GLITCH, START + timedelta(hours=3)])
def test_a_start_time_changing_mid_print_is_not_a_new_job(glitch: datetime) -> None:
    """Bambu: one stray `gcode_start_time` push, then the real one again (X1 full report)."""
    clock = Clock()
    track = tracker(clock, match_start_time=True)
    events = run(
        track,
        clock,
        [
            (0, snap(S.PREPARING, started=None)),
            (30, snap(S.PRINTING, 10)),
            (30, snap(S.PRINTING, 20, started=glitch)),
            (30, snap(S.PRINTING, 30)),
            (30, snap(S.PAUSED, 30, started=glitch)),
            (30, snap(S.FINISHED, 100)),
        ],
    )
    assert kinds(events).count("started") == 1
    assert events[-1].record.status is JobStatus.COMPLETED
    assert events[-1].record.printer_started_at == START


def test_a_new_start_time_after_a_gap_or_a_new_preparation_is_a_new_job() -> None:
    clock = Clock()
    track = tracker(clock, match_start_time=True)
    later, latest = START + timedelta(hours=1), START + timedelta(hours=2)
    events = run(
        track,
        clock,
        [
            (0, snap(S.PRINTING, 10)),
            (30, snap(S.OFFLINE)),  # the end and the next start happen unseen
            (600, snap(S.PRINTING, 5, started=later)),
            (30, snap(S.PREPARING, 5, started=later)),  # printed, then preparing again
            (30, snap(S.PRINTING, 1, started=latest)),
        ],
    )
    assert kinds(events) == ["started", "finished", "started", "finished", "started"]
    assert [e.record.printer_started_at for e in events if e.kind is EventKind.STARTED] == [
        START,
        later,
        latest,
    ]


def test_a_start_time_shown_while_preparing_is_replaced_by_the_printing_one() -> None:
    """While a print prepares, the printer may still show the previous print's start time."""
    clock = Clock()
    track = tracker(clock, match_start_time=True)
    stale, real = START - timedelta(hours=5), START
    events = run(
        track,
        clock,
        [
            (0, snap(S.PREPARING, name="cube", started=stale)),
            (30, snap(S.PRINTING, 1, name="cube", started=real)),
            (30, snap(S.PRINTING, 2, name="cube", started=GLITCH)),
            (30, snap(S.FINISHED, 100, name="cube", started=real)),
        ],
    )
    assert kinds(events).count("started") == 1
    assert events[-1].record.status is JobStatus.COMPLETED
    assert events[-1].record.printer_started_at == real


def test_an_earlier_start_time_after_a_gap_is_not_a_new_job() -> None:
    """A stray start time can outlive a reconnect in the merged report (found by the soak)."""
    clock = Clock()
    track = tracker(clock, match_start_time=True)
    events = run(
        track,
        clock,
        [
            (0, snap(S.PRINTING, 10)),
            (30, snap(S.OFFLINE)),
            (30, snap(S.PRINTING, 20, started=GLITCH)),
            (30, snap(S.FINISHED, 100, started=GLITCH)),
        ],
    )
    assert kinds(events).count("started") == 1
    assert events[-1].record.status is JobStatus.COMPLETED
    assert events[-1].record.printer_started_at == START


def test_a_stray_start_time_that_outlived_the_print_does_not_record_it_again() -> None:
    """The soak's story: a stray start time while preparing stays the record's; after a gap the
    printer shows the real one again, and its end screen, watched, is the same print's."""
    clock = Clock()
    track = tracker(clock, match_start_time=True)
    events = run(
        track,
        clock,
        [
            (0, snap(S.PREPARING, started=START)),
            (1, snap(S.PREPARING, started=GLITCH)),
            (1, snap(S.PRINTING, 10, started=GLITCH)),
            (8, snap(S.OFFLINE)),
            (1, snap(S.PRINTING, 90, started=GLITCH)),  # a delta on the merged report
            (1, snap(S.PRINTING, 95)),  # the full report after the reconnect
            (1, snap(S.FINISHED, 100)),
            (1, snap(S.FINISHED, 100)),
            (60, snap(S.IDLE)),
        ],
    )
    assert kinds(events).count("finished") == 1
    assert events[-1].record.status is JobStatus.COMPLETED
