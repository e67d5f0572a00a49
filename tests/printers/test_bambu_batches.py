"""The messages of one MQTT read are published together, without losing an event.

The reader hands the adapter all messages of one read at once; their state is built at the end
of the read, or before an event would change one that is not published yet. Whatever the split
into reads, a listener must see every status and job value in the order the printer sent them,
never a state that no message led to, and after each read the state that applying each message
gives.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from bench.bambu_parse import load_capture
from custom_components.printernizer.printers.bambu.adapter import BambuAdapter, BambuConfig
from custom_components.printernizer.printers.bambu.report import EVENT_KEYS, ReportState
from custom_components.printernizer.printers.models import PrinterState

_FIELDS = tuple(PrinterState.__dataclass_fields__)


def _adapter() -> tuple[BambuAdapter, list[tuple[PrinterState, frozenset[str]]]]:
    adapter = BambuAdapter(
        BambuConfig(host="127.0.0.1", serial="01P00A000000001", access_code="x", certificate="")
    )
    seen: list[tuple[PrinterState, frozenset[str]]] = []
    adapter.add_change_listener(lambda state, changed: seen.append((state, changed)))
    return adapter, seen


def _events(states: list[PrinterState]) -> list[tuple[Any, ...]]:
    """The status and job of each state, repeats folded: what job tracking must see."""
    events: list[tuple[Any, ...]] = []
    for state in states:
        event = (state.status, state.job, state.errors)
        if not events or events[-1] != event:
            events.append(event)
    return events


def _split(payloads: list[bytes], cuts: list[int]) -> list[list[bytes]]:
    reads, start = [], 0
    for cut in sorted({min(cut, len(payloads)) for cut in cuts} | {len(payloads)}):
        if cut > start:
            reads.append(payloads[start:cut])
            start = cut
    return reads


def _payload(delta: dict[str, Any]) -> bytes:
    return json.dumps({"print": {"command": "push_status", **delta}}).encode()


async def _compare(payloads: list[bytes], cuts: list[int]) -> int:
    """Feed one by one and in reads; assert the module's rules; the states published in reads."""
    single, one_by_one = _adapter()
    batched, in_reads = _adapter()
    for read in _split(payloads, cuts):
        for payload in read:
            single._on_message(payload)
        batched._on_messages(read)
        assert batched.state == single.state
    assert _events([s for s, _ in in_reads]) == _events([s for s, _ in one_by_one])
    # Every state published in reads is one that some message led to.
    assert all(state in [other for other, _ in one_by_one] for state, _ in in_reads)
    # The parts named are exactly those that differ from the previous published state.
    previous = PrinterState()
    for state, changed in in_reads:
        assert changed == {
            name for name in _FIELDS if getattr(previous, name) != getattr(state, name)
        }
        previous = state
    assert batched.malformed <= single.malformed
    return len(in_reads)


async def test_the_p1s_capture_in_reads_of_five_loses_no_event() -> None:
    payloads = load_capture()[:600]
    reads = _split(payloads, list(range(0, len(payloads), 5)))
    published = await _compare(payloads, list(range(0, len(payloads), 5)))
    # A read is one state, or one per event in it (the readings go with one of them); the
    # first read comes from a printer that was offline, message by message.
    per_read = [
        max(1, sum(not EVENT_KEYS.isdisjoint(json.loads(p)["print"]) for p in read))
        for read in reads
    ]
    assert published <= sum(per_read) + len(reads[0])
    assert published < len(payloads) // 4


async def test_a_read_is_one_state_per_event_in_it() -> None:
    adapter, seen = _adapter()
    adapter._on_messages([_payload({"gcode_state": "RUNNING", "mc_percent": 10})])
    seen.clear()
    adapter._on_messages(
        [
            _payload({"nozzle_temper": 200}),
            _payload({"mc_percent": 11}),
            _payload({"bed_temper": 60}),
        ]
    )
    assert [(s.job.progress, s.nozzle.current, s.bed.current) for s, _ in seen] == [(11, 200, 60)]
    seen.clear()
    adapter._on_messages(
        [
            _payload({"mc_percent": 12}),
            _payload({"nozzle_temper": 201}),
            _payload({"mc_percent": 13}),
        ]
    )
    # 12 is published before 13 replaces it, with the reading that came between them.
    assert [(s.job.progress, s.nozzle.current) for s, _ in seen] == [(12, 201), (13, 201)]


_reading = st.dictionaries(
    st.sampled_from(
        ["nozzle_temper", "nozzle_target_temper", "bed_temper", "wifi_signal", "cooling_fan_speed"]
    ),
    st.one_of(st.floats(-300, 3000, allow_nan=False), st.sampled_from(["hot", None, "-52dBm", 7])),
    min_size=1,
)
_event = st.dictionaries(
    st.sampled_from(["gcode_state", "mc_percent", "layer_num", "print_error", "subtask_name"]),
    st.sampled_from(["RUNNING", "PAUSE", "FAILED", "FINISH", 50, 400, 50348044, "x", None]),
    min_size=1,
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    st.lists(st.one_of(_reading, _event, st.tuples(_reading, _event).map(lambda p: p[0] | p[1]))),
    st.lists(st.integers(0, 30), max_size=8),
)
async def test_any_split_into_reads_publishes_every_event_in_order(
    deltas: list[dict[str, Any]], cuts: list[int]
) -> None:
    await _compare([_payload(delta) for delta in deltas], cuts)


def test_staged_readings_built_once_equal_each_applied() -> None:
    staged, applied = ReportState("P1S"), ReportState("P1S")
    for report in (staged, applied):
        report.apply({"gcode_state": "RUNNING", "nozzle_temper": 20, "bed_temper": 20})
        report.take_changed()
    deltas = [{"nozzle_temper": 200}, {"bed_temper": "hot"}, {"nozzle_temper": 210.5}]
    for delta in deltas:
        staged.stage(delta)
        applied.apply(delta)
    assert staged.pending
    assert staged.build() == applied.state
    assert not staged.pending
    assert staged.take_changed() == applied.take_changed() == {"nozzle", "bed"}
    assert staged.build() is staged.state  # nothing staged: nothing rebuilt


@pytest.mark.parametrize("junk", ["hot", [1], 1e300])
async def test_a_bad_reading_in_a_read_costs_only_itself(junk: object) -> None:
    adapter, seen = _adapter()
    adapter._on_messages(
        [
            _payload({"gcode_state": "RUNNING", "nozzle_temper": 20, "bed_temper": 21}),
            _payload({"nozzle_temper": junk, "bed_temper": 60}),
            _payload({"wifi_signal": "-50dBm"}),
        ]
    )
    assert adapter.malformed == 1
    assert adapter.state.nozzle.current is None
    assert adapter.state.bed.current == 60
    assert adapter.state.wifi_dbm == -50
    assert "nozzle_temper" not in adapter.raw_report
    assert len(seen) == 2  # the first report of a printer that was offline, then the rest
