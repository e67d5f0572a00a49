"""The keyed fan-out is exact: a push wakes the entities reading what it changed, and only them.

Random delta sequences go through the real path (the adapter's MQTT message callback, the
`ReportState` merge, the coordinator) of a loaded entry. After every message, a full update of
every entity (what the coordinator did for each push before) must write nothing: had a keyed
update been missed, some entity would now show something else. And an entity none of whose parts
changed must not have been woken, let alone written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
import copy
from dataclasses import fields, replace
from datetime import UTC, datetime
from decimal import Decimal
import json
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer import coordinator as coordinator_module, sensor, tracking
from custom_components.printernizer.coordinator import PrinterCoordinator, Reads
from custom_components.printernizer.entity import PrinternizerEntity
from custom_components.printernizer.job_sensor import RunningJobSensor
from custom_components.printernizer.jobs import MaterialUse
from custom_components.printernizer.printers.bambu.adapter import BambuAdapter
from custom_components.printernizer.printers.models import JobInfo, PrinterState
from custom_components.printernizer.printers.prusa.adapter import PrusaAdapter
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from ..printers.waiting import wait_until
from .conftest import wait_for_state

PREFIX = "p1s_01p00a000000001"
NOW = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
FIELDS = tuple(part.name for part in fields(PrinterState))
# A heater's halves and the job's attributes: who reads only the target is not woken by the
# current reading, who reads the progress not by the remaining time, and back.
HALVES = {
    f"{heater}.{half}": (heater, half)
    for heater in ("nozzle", "bed", "chamber")
    for half in ("current", "target")
} | {f"job.{attribute.name}": ("job", attribute.name) for attribute in fields(JobInfo)}
PARTS = (*FIELDS, *HALVES)


class Counted:
    """Entity updates and state writes per entity, from before the entities are added."""

    def __init__(self) -> None:
        self.woken: Counter[PrinternizerEntity] = Counter()
        self.written: Counter[PrinternizerEntity] = Counter()
        self.entities: list[PrinternizerEntity] = []
        self.steps = self.total_woken = self.total_written = 0

    @contextmanager
    def patches(self) -> Iterator[None]:
        update = PrinternizerEntity._handle_coordinator_update
        write = PrinternizerEntity.async_write_ha_state
        added = PrinternizerEntity.async_added_to_hass
        counts = self

        def counted_update(entity: PrinternizerEntity) -> None:
            counts.woken[entity] += 1
            update(entity)

        def counted_write(entity: PrinternizerEntity) -> None:
            counts.written[entity] += 1
            write(entity)

        async def counted_added(entity: PrinternizerEntity) -> None:
            counts.entities.append(entity)
            await added(entity)

        with (
            patch.object(PrinternizerEntity, "_handle_coordinator_update", counted_update),
            patch.object(PrinternizerEntity, "async_write_ha_state", counted_write),
            patch.object(PrinternizerEntity, "async_added_to_hass", counted_added),
        ):
            yield

    def reset(self) -> None:
        self.woken.clear()
        self.written.clear()


def parts_of(entity: PrinternizerEntity) -> frozenset[str]:
    context = entity.coordinator_context
    assert isinstance(context, Reads), f"{entity.entity_id} is woken by every push"
    assert context.parts <= set(PARTS), f"{entity.entity_id} reads no such part"
    return context.parts


def differing(old: PrinterState, new: PrinterState) -> set[str]:
    """The parts that differ, compared here field by field (not with the adapter's bookkeeping)."""
    changed = {part for part in FIELDS if getattr(old, part) != getattr(new, part)}
    for part, (heater, half) in HALVES.items():
        if getattr(getattr(old, heater), half, None) != getattr(getattr(new, heater), half, None):
            changed.add(part)
    return changed


def check_step(
    coordinator: PrinterCoordinator, counted: Counted, before: PrinterState, step: str
) -> None:
    """After one push: the untouched were not woken, and a full update has nothing to write."""
    changed = differing(before, coordinator.data)
    counted.steps += 1
    counted.total_woken += counted.woken.total()
    counted.total_written += counted.written.total()
    for entity in counted.entities:
        touched = "online" in changed or not parts_of(entity).isdisjoint(changed)
        if not touched:
            assert counted.woken[entity] == 0, f"{step}: {entity.entity_id} woken, {changed=}"
            assert counted.written[entity] == 0, f"{step}: {entity.entity_id} written"
        elif changed & parts_of(entity):
            assert counted.woken[entity] == 1, f"{step}: {entity.entity_id} not woken once"
    counted.reset()
    coordinator.async_update_listeners()  # every entity recomputes what it shows
    missed = [entity.entity_id for entity, count in counted.written.items() if count]
    assert missed == [], f"{step}: these showed a stale state, {changed=}"
    for entity in counted.entities:
        if isinstance(entity, RunningJobSensor):
            assert entity._figures() == entity._current, f"{step}: {entity.entity_id} stale"
    counted.reset()


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The estimated finish and the running cost read the clock; a recompute must not differ
    because a microsecond passed."""
    clock = SimpleNamespace(utcnow=lambda: NOW, get_default_time_zone=dt_util.get_default_time_zone)
    monkeypatch.setattr(sensor, "dt_util", clock)
    monkeypatch.setattr(tracking, "dt_util", clock)


def _temperature() -> st.SearchStrategy[float]:
    return st.floats(15.0, 280.0).map(lambda value: round(value, 1))


def _ams(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    def build(humidity: int, temp: float, remain: int, tray_now: str) -> dict[str, Any]:
        ams = copy.deepcopy(base)
        unit = ams["ams"][0]
        unit["humidity"], unit["temp"] = str(humidity), str(temp)
        unit["tray"][1]["remain"] = remain
        ams["tray_now"] = tray_now
        return ams

    return st.builds(
        build,
        st.integers(1, 5),
        st.sampled_from([24.6, 25.0, 31.2]),
        st.integers(0, 100),
        st.sampled_from(["255", "0", "1"]),
    )


def _delta_values(ams: dict[str, Any]) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "nozzle_temper": _temperature(),
        "bed_temper": _temperature(),
        "chamber_temper": _temperature(),  # a P1S placeholder: it must wake nothing
        "nozzle_target_temper": st.sampled_from([0.0, 220.0]),
        "bed_target_temper": st.sampled_from([0.0, 55.0]),
        "mc_percent": st.integers(0, 100),
        "mc_remaining_time": st.integers(0, 90),
        "layer_num": st.integers(0, 40),
        "total_layer_num": st.sampled_from([0, 40]),
        "gcode_state": st.sampled_from(["IDLE", "PREPARE", "RUNNING", "PAUSE", "FINISH", "FAILED"]),
        "subtask_name": st.sampled_from(["", "Cube", "Benchy"]),
        "task_id": st.sampled_from(["0", "11", "12"]),
        "stg_cur": st.sampled_from([255, 0, 2, 16]),
        "cooling_fan_speed": st.sampled_from(["0", "7", "15"]),
        "big_fan1_speed": st.sampled_from(["0", "10"]),
        "spd_lvl": st.integers(1, 4),
        "wifi_signal": st.sampled_from(["-50dBm", "-61dBm"]),
        "lights_report": st.sampled_from(["on", "off"]).map(
            lambda mode: [{"node": "chamber_light", "mode": mode}]
        ),
        "print_error": st.sampled_from([0, 0x0300400C, 0x07008011]),
        "hms": st.sampled_from([[], [{"attr": 0x07002000, "code": 0x00020001}]]),
        "nozzle_diameter": st.sampled_from(["0.4", "0.6"]),
        "ams": _ams(ams),
    }


def _steps(ams: dict[str, Any]) -> st.SearchStrategy[list[dict[str, Any] | None]]:
    """Deltas of one to four keys (a P1 sends two or three), now and then the printer dropping."""
    values = _delta_values(ams)
    delta = st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=4, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({key: values[key] for key in keys})
    )
    return st.lists(st.one_of(*[delta] * 11, st.none()), min_size=10, max_size=40)


async def test_random_deltas_wake_exactly_the_readers_of_what_changed(
    hass: HomeAssistant,
    bambu_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    frozen_clock: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The wake lists kept per combination of changed parts are dropped every few pushes, so
    # both a kept list and a fresh one serve these deltas.
    monkeypatch.setattr(coordinator_module, "MAX_WOKEN", 8)
    counted = Counted()
    with counted.patches():
        assert await hass.config_entries.async_setup(bambu_entry.entry_id)
        await hass.async_block_till_done()
        bambu_sim.go_silent()  # only the deltas below reach the entry
        await hass.async_block_till_done()
        coordinator = bambu_entry.runtime_data.coordinator
        adapter = coordinator.adapter
        assert isinstance(adapter, BambuAdapter)
        # No job file to fetch: this is about the fan-out, not FTPS.
        adapter._fetch_metadata = lambda: None  # type: ignore[method-assign]
        jobs = bambu_entry.runtime_data.jobs
        jobs._metadata = _no_metadata
        assert len(counted.entities) > 30
        read = set().union(*map(parts_of, counted.entities))
        assert {"nozzle.current", "nozzle.target", "bed.current", "bed.target"} <= read
        sequence = iter(range(1_000_000))
        counted.reset()

        @settings(
            max_examples=250,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(steps=_steps(bambu_sim.report["ams"]))
        def deltas_are_exact(steps: list[dict[str, Any] | None]) -> None:
            for index, step in enumerate(steps):
                before = coordinator.data
                if step is None:
                    adapter._publish_state(adapter._report.set_offline())
                else:
                    body = step | {"command": "push_status", "sequence_id": str(next(sequence))}
                    adapter._on_message(json.dumps({"print": body}).encode())
                check_step(coordinator, counted, before, f"step {index} {step and sorted(step)}")

        deltas_are_exact()
        assert counted.steps > 3000  # the sequences ran, through offline spells and prints
        assert counted.total_written > 0
        assert jobs.history.query(serials=[adapter.device_info.serial])[1] > 0
        assert adapter.malformed == 0
        assert coordinator.listener_errors.failures == 0
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def _no_metadata() -> None:
    return None


async def test_random_prusa_polls_wake_exactly_the_readers_of_what_changed(
    hass: HomeAssistant,
    prusa_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
    frozen_clock: None,
) -> None:
    """The same for PrusaLink status bodies folded in as a poll folds them."""
    counted = Counted()
    with counted.patches():
        assert await hass.config_entries.async_setup(prusa_entry.entry_id)
        await hass.async_block_till_done()
        coordinator = prusa_entry.runtime_data.coordinator
        adapter = coordinator.adapter
        assert isinstance(adapter, PrusaAdapter)
        prusa_entry.runtime_data.jobs._metadata = _no_metadata
        counted.reset()
        printer = st.fixed_dictionaries(
            {
                "state": st.sampled_from(["IDLE", "PRINTING", "PAUSED", "FINISHED", "ATTENTION"]),
                "temp_nozzle": _temperature(),
                "target_nozzle": st.sampled_from([0.0, 215.0]),
                "temp_bed": _temperature(),
                "target_bed": st.sampled_from([0.0, 60.0]),
                "axis_z": st.sampled_from([0.2, 0.4, 10.0]),
                "speed": st.sampled_from([100, 150]),
                "flow": st.sampled_from([95, 100]),
                "fan_hotend": st.sampled_from([0, 3000]),
                "fan_print": st.sampled_from([0, 5000]),
            }
        )
        job = st.none() | st.fixed_dictionaries(
            {
                "id": st.sampled_from([7, 8]),
                "progress": st.integers(0, 100),
                "time_remaining": st.integers(0, 3600),
                "time_printing": st.integers(0, 3600),
            }
        )
        bodies = st.lists(
            st.fixed_dictionaries({"printer": printer}, optional={"job": job}) | st.none(),
            max_size=12,
        )

        @settings(
            max_examples=150,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(steps=bodies)
        def polls_are_exact(steps: list[dict[str, Any] | None]) -> None:
            for index, step in enumerate(steps):
                before = coordinator.data
                if step is None:
                    adapter._status.set_offline()
                else:
                    body = {key: value for key, value in step.items() if value is not None}
                    adapter._status.apply_status(body, NOW)
                adapter._publish()
                check_step(coordinator, counted, before, f"poll {index} {step}")

        polls_are_exact()
        assert counted.steps > 500
        assert counted.total_written > 0
        assert coordinator.listener_errors.failures == 0
    assert await hass.config_entries.async_unload(prusa_entry.entry_id)
    await hass.async_block_till_done()


async def test_temperature_pushes_leave_job_tracking_alone(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    jobs = loaded_entry.runtime_data.jobs
    seen: list[PrinterState] = []
    track = jobs.tracker.update

    def counted(state: PrinterState, at: datetime | None = None) -> Any:
        seen.append(state)
        return track(state, at)

    jobs.tracker.update = counted  # type: ignore[method-assign]
    base = float(hass.states.get(f"sensor.{PREFIX}_nozzle_temperature").state)
    adapter = loaded_entry.runtime_data.coordinator.adapter
    before = adapter.messages
    for step in range(1, 6):
        await bambu_sim.publish_report({"nozzle_temper": base + 5 * step, "bed_temper": 30 + step})
    # All five taken (a reading the simulator's own next tick supersedes in the same read is
    # never shown, so the sensor's value is no signal).
    await wait_until(lambda: adapter.messages >= before + 5)
    await bambu_sim.publish_report({"mc_remaining_time": 17})  # a job part, not one it reads
    await bambu_sim.publish_report({"gcode_state": "PREPARE", "subtask_name": "Cube"})
    await wait_for_state(hass, f"sensor.{PREFIX}_status", "preparing")
    assert [state.status.value for state in seen] == ["preparing"]


COSTS = {
    "costs": {
        "price_per_kg_pla": 20,
        "energy_price_per_kwh": 0.30,
        "average_power_w": 150,
        "vat_percent": 19,
    },
}


@pytest.fixture
async def running_job(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> AsyncIterator[Callable[..., None]]:
    """A priced Bambu entry printing a job of 100 g PLA at 10 %; yields a push of report fields."""
    hass.config_entries.async_update_entry(bambu_entry, options=COSTS)
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    bambu_sim.go_silent()
    adapter = bambu_entry.runtime_data.coordinator.adapter
    assert isinstance(adapter, BambuAdapter)
    adapter._fetch_metadata = lambda: None  # type: ignore[method-assign]
    jobs = bambu_entry.runtime_data.jobs
    jobs._metadata = _no_metadata
    sequence = iter(range(100, 1000))

    def push(**fields: Any) -> None:
        body = fields | {"command": "push_status", "sequence_id": str(next(sequence))}
        adapter._on_message(json.dumps({"print": body}).encode())

    push(gcode_state="RUNNING", subtask_name="Cube", task_id="42", mc_percent=10)
    assert jobs.active is not None
    # 100 g planned, as a slicer file would say.
    jobs.tracker.amend(
        replace(
            jobs.active,
            materials=(MaterialUse(material="PLA", planned_grams=100.0, grams=100.0),),
        )
    )
    yield push
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def test_running_cost_moves_with_every_whole_percent(
    hass: HomeAssistant, running_job: Callable[..., None], frozen_clock: None
) -> None:
    """Before, the running material and cost moved in 10 % steps of progress."""
    push = running_job
    material = f"sensor.{PREFIX}_current_job_material"
    shown = []
    for percent in (11, 12, 13, 19):
        push(mc_percent=percent)
        shown.append(hass.states.get(material).state)
    assert shown == ["11.0", "12.0", "13.0", "19.0"]
    cost = f"sensor.{PREFIX}_current_job_cost"
    costs = []
    for percent in (20, 21, 22):
        push(mc_percent=percent)
        costs.append(Decimal(hass.states.get(cost).state))
    assert costs == sorted(set(costs)), costs  # a new figure at every percent


async def test_a_push_prices_the_running_job_once_for_both_of_its_sensors(
    hass: HomeAssistant, running_job: Callable[..., None], frozen_clock: None
) -> None:
    """The material and the cost sensor read one breakdown; a push they ignore prices nothing."""
    push = running_job
    priced = 0
    price = tracking.running_costs

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal priced
        priced += 1
        return price(*args, **kwargs)

    material = f"sensor.{PREFIX}_current_job_material"
    cost = f"sensor.{PREFIX}_current_job_cost"
    with patch.object(tracking, "running_costs", counted):
        push(mc_percent=40)
        assert (priced, hass.states.get(material).state) == (1, "40.0")
        first = Decimal(hass.states.get(cost).state)
        push(nozzle_temper=201.5, mc_remaining_time=50, layer_num=12)  # no input of the price
        assert priced == 1
        push(mc_percent=41)
        assert (priced, hass.states.get(material).state) == (2, "41.0")
        assert Decimal(hass.states.get(cost).state) > first
