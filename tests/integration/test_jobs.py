"""Every physical print is exactly one job record: driven by the simulators, inside HA."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any
from unittest.mock import patch

from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, State, callback
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.printernizer.binary_sensor import PrinterBinarySensor
from custom_components.printernizer.const import CONF_COSTS, CONF_ENERGY_SENSOR, DOMAIN
from custom_components.printernizer.events import (
    EVENT_JOB_FINISHED,
    EVENT_JOB_PAUSED,
    EVENT_JOB_PROGRESS,
    EVENT_JOB_RESUMED,
    EVENT_JOB_STARTED,
    EVENT_STATUS_CHANGED,
)
from custom_components.printernizer.history import DATA_HISTORY, JobHistory
from custom_components.printernizer.jobs import JobRecord, JobStatus
from custom_components.printernizer.printers.models import JobInfo, PrinterState, PrinterStatus
from custom_components.printernizer.tracking import meter_kwh
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from ..printers.waiting import wait_until
from .conftest import wait_for_state

PREFIX = "p1s_01p00a000000001"
PLUG = "sensor.plug_energy"
COSTS = {
    CONF_COSTS: {
        "price_per_kg_pla": 20,
        "price_per_kg_petg": 25,
        "energy_price_per_kwh": 0.30,
        "vat_percent": 19,
        CONF_ENERGY_SENSOR: PLUG,
    },
    "categories": {"category_mode": "business"},
}
EVENTS = (
    EVENT_JOB_STARTED,
    EVENT_JOB_PROGRESS,
    EVENT_JOB_PAUSED,
    EVENT_JOB_RESUMED,
    EVENT_JOB_FINISHED,
    EVENT_STATUS_CHANGED,
)


class Recorder:
    """Our bus events in order; `wait` resolves when one matching arrives."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self.unsubscribe = [hass.bus.async_listen(name, self._record) for name in EVENTS]

    @callback
    def _record(self, event: Event) -> None:
        self.events.append((event.event_type, dict(event.data)))
        self._changed.set()

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [data for name, data in self.events if name == event_type]

    async def wait(
        self, event_type: str, check: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> dict[str, Any]:
        async with asyncio.timeout(20):
            while True:
                found = [data for data in self.of(event_type) if check(data)]
                if found:
                    return found[-1]
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def recorder(hass: HomeAssistant) -> Recorder:
    return Recorder(hass)


@pytest.fixture
async def costed_entry(
    hass: HomeAssistant, bambu_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """The P1S with prices and a smart plug reading 100 kWh."""
    hass.states.async_set(PLUG, "100.0", {"unit_of_measurement": "kWh"})
    hass.config_entries.async_update_entry(bambu_entry, options=COSTS)
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    yield bambu_entry
    await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


def history(hass: HomeAssistant) -> JobHistory:
    return hass.data[DATA_HISTORY]


def records(hass: HomeAssistant, serial: str) -> list[JobRecord]:
    jobs, total = history(hass).query(serials=[serial], limit=1000)
    assert total == len(jobs)
    return jobs


async def restart_home_assistant(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """What a restart keeps: the stored history, nothing in memory."""
    await hass.config_entries.async_unload(entry.entry_id)
    await history(hass).async_save_now()
    fresh = JobHistory(hass)
    await fresh.async_load()
    hass.data[DATA_HISTORY] = fresh


async def test_print_is_one_completed_record_with_measured_cost(
    hass: HomeAssistant,
    costed_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
) -> None:
    bambu_sim.start_print("Cube", total_layers=20, minutes=20)
    started = await recorder.wait(EVENT_JOB_STARTED)
    hass.states.async_set(PLUG, "100.25", {"unit_of_measurement": "kWh"})
    finished = await recorder.wait(EVENT_JOB_FINISHED)

    assert finished["job_id"] == started["job_id"]
    assert finished["status"] == "completed"
    assert (finished["cost"], finished["currency"]) == (0.49, "EUR")  # a number, as in responses
    assert [data["percent"] for data in recorder.of(EVENT_JOB_PROGRESS)] == list(range(10, 101, 10))
    (record,) = records(hass, bambu_sim.serial)
    assert record.status is JobStatus.COMPLETED
    assert record.job_name == "Cube"
    assert record.category == "business"
    assert [(m.material, m.grams, m.source) for m in record.materials] == [
        ("PLA", 11.92, "slicer"),
        ("PETG", 3.48, "slicer"),
    ]
    assert record.energy_kwh == 0.25
    assert record.energy_source == "measured"
    # PLA 11.92 g x 20 €/kg = 0.24, PETG 3.48 g x 25 €/kg = 0.09, 0.25 kWh x 0.30 € = 0.08.
    assert record.cost is not None
    assert (record.cost["material"], record.cost["energy"], record.cost["net"]) == (
        "0.33",
        "0.08",
        "0.41",
    )
    assert (record.cost["vat"], record.cost["gross"]) == ("0.08", "0.49")

    await hass.async_block_till_done()
    assert hass.states.get(f"sensor.{PREFIX}_jobs_completed").state == "1"
    assert hass.states.get(f"sensor.{PREFIX}_material_used").state == "15.4"
    assert hass.states.get(f"sensor.{PREFIX}_energy_used").state == "0.25"
    total = hass.states.get(f"sensor.{PREFIX}_total_cost")
    assert (total.state, total.attributes["jobs_without_cost"]) == ("0.49", 0)
    assert hass.states.get(f"sensor.{PREFIX}_last_job_cost").state == "0.49"
    statuses = [data["status"] for data in recorder.of(EVENT_STATUS_CHANGED)]
    assert statuses == ["preparing", "printing", "finished"]


async def test_pause_then_cancel_is_one_cancelled_record_with_estimated_material(
    hass: HomeAssistant,
    costed_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
) -> None:
    bambu_sim.start_print("Long", total_layers=200, minutes=600)
    await recorder.wait(EVENT_JOB_PROGRESS)
    await bambu_sim.pause()
    await recorder.wait(EVENT_JOB_PAUSED)
    await bambu_sim.resume()
    await recorder.wait(EVENT_JOB_RESUMED)
    await bambu_sim.cancel()
    finished = await recorder.wait(EVENT_JOB_FINISHED)

    assert finished["status"] == "cancelled"
    (record,) = records(hass, bambu_sim.serial)
    assert record.status is JobStatus.CANCELLED
    assert record.pause_count == 1
    assert record.paused_seconds > 0
    assert record.progress is not None
    assert 0 < record.progress < 100
    share = record.progress / 100
    assert [(m.material, m.source) for m in record.materials] == [
        ("PLA", "estimate"),
        ("PETG", "estimate"),
    ]
    assert record.materials[0].grams == pytest.approx(11.92 * share)
    assert record.cost is not None
    assert record.cost["estimated"] is True


async def test_failure_is_a_failed_record(
    hass: HomeAssistant,
    costed_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
) -> None:
    bambu_sim.start_print("Long", total_layers=200, minutes=600)
    await recorder.wait(EVENT_JOB_PROGRESS)
    await bambu_sim.update({"gcode_state": "FAILED", "print_error": 0x0500_8051})
    finished = await recorder.wait(EVENT_JOB_FINISHED)
    assert finished["status"] == "failed"
    (record,) = records(hass, bambu_sim.serial)
    assert record.status is JobStatus.FAILED


async def test_restart_mid_print_resumes_the_same_record(
    hass: HomeAssistant,
    costed_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
) -> None:
    bambu_sim.start_print("Long", total_layers=200, minutes=120)
    started = await recorder.wait(EVENT_JOB_STARTED)
    await restart_home_assistant(hass, costed_entry)
    assert await hass.config_entries.async_setup(costed_entry.entry_id)
    finished = await recorder.wait(EVENT_JOB_FINISHED)

    assert finished["job_id"] == started["job_id"]
    assert finished["status"] == "completed"
    assert len(recorder.of(EVENT_JOB_STARTED)) == 1
    (record,) = records(hass, bambu_sim.serial)
    assert record.id == started["job_id"]
    assert not record.closed_after_restart
    assert record.materials  # read before the restart or after it


async def test_print_that_ended_while_down_is_closed_once(
    hass: HomeAssistant,
    costed_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
) -> None:
    bambu_sim.start_print("Short", total_layers=20, minutes=60)
    started = await recorder.wait(EVENT_JOB_STARTED)
    await restart_home_assistant(hass, costed_entry)
    await wait_until(lambda: bambu_sim.report["gcode_state"] == "FINISH", timeout=20)
    assert await hass.config_entries.async_setup(costed_entry.entry_id)
    await hass.async_block_till_done()

    finished = await recorder.wait(EVENT_JOB_FINISHED)
    assert finished["job_id"] == started["job_id"]
    assert finished["closed_after_restart"] is True
    (record,) = records(hass, bambu_sim.serial)
    assert record.status is JobStatus.COMPLETED
    assert record.closed_after_restart
    assert record.ended_at is not None
    # Restarting again changes nothing: the printer still shows the finished job.
    await restart_home_assistant(hass, costed_entry)
    assert await hass.config_entries.async_setup(costed_entry.entry_id)
    await hass.async_block_till_done()
    assert records(hass, bambu_sim.serial) == [record]


async def test_disconnect_storm_keeps_one_record(
    hass: HomeAssistant,
    costed_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
) -> None:
    bambu_sim.start_print("Storm", total_layers=100, minutes=90)
    await recorder.wait(EVENT_JOB_STARTED)
    for _ in range(3):
        await bambu_sim.drop_connections()
        await recorder.wait(
            EVENT_STATUS_CHANGED,
            lambda data: data["status"] == "offline",
        )
        await recorder.wait(
            EVENT_STATUS_CHANGED,
            lambda data: data["previous_status"] == "offline",
        )
        recorder.events.clear()
    finished = await recorder.wait(EVENT_JOB_FINISHED)
    assert finished["status"] == "completed"
    (record,) = records(hass, bambu_sim.serial)
    assert record.status is JobStatus.COMPLETED
    assert record.pause_count == 0


async def test_meter_reset_mid_print_is_counted(
    hass: HomeAssistant,
    costed_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
) -> None:
    bambu_sim.start_print("Cube", total_layers=20, minutes=40)
    await recorder.wait(EVENT_JOB_STARTED)
    hass.states.async_set(PLUG, "100.2", {"unit_of_measurement": "kWh"})
    hass.states.async_set(PLUG, "50", {"unit_of_measurement": "Wh"})  # plug restarted
    await recorder.wait(EVENT_JOB_FINISHED)
    (record,) = records(hass, bambu_sim.serial)
    assert record.energy_kwh == pytest.approx(0.25)


async def test_prusa_print_cancel_and_error(
    hass: HomeAssistant,
    loaded_prusa_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
    recorder: Recorder,
) -> None:
    prusa_sim.start_print(minutes=10)
    first = await recorder.wait(EVENT_JOB_FINISHED)
    assert first["status"] == "completed"
    prusa_sim.start_print(minutes=600)
    await recorder.wait(EVENT_JOB_STARTED, lambda data: data["job_id"] != first["job_id"])
    await prusa_sim.stop_print()
    second = await recorder.wait(EVENT_JOB_FINISHED, lambda data: data["status"] == "cancelled")
    prusa_sim.start_print(minutes=600)
    await recorder.wait(
        EVENT_JOB_STARTED, lambda data: data["job_id"] not in (first["job_id"], second["job_id"])
    )
    await prusa_sim.error()
    await recorder.wait(EVENT_JOB_FINISHED, lambda data: data["status"] == "failed")

    # The simulator's clock runs 600x, so the start times PrusaLink implies are far apart.
    jobs = sorted(records(hass, prusa_sim.serial), key=lambda job: job.ended_at or job.started_at)
    assert [job.status for job in jobs] == [
        JobStatus.COMPLETED,
        JobStatus.CANCELLED,
        JobStatus.FAILED,
    ]
    completed = jobs[0]
    assert completed.materials
    assert all(m.grams is not None and m.grams > 0 for m in completed.materials)
    assert completed.printer_job_id is not None
    assert len({job.printer_job_id for job in jobs}) == 3
    assert hass.data[DATA_HISTORY].totals(prusa_sim.serial).completed == 1
    assert DOMAIN in hass.config.components


@pytest.mark.parametrize(
    ("state", "attributes", "kwh"),
    [
        ("12.5", {"unit_of_measurement": "kWh"}, "12.5"),
        ("12500", {"unit_of_measurement": "Wh"}, "12.5000"),
        ("0.0125", {"unit_of_measurement": "MWh"}, "12.5000"),
        ("7", {}, "7"),  # a meter without a unit is taken as kWh
        ("7", {"unit_of_measurement": "J"}, None),
        ("unknown", {"unit_of_measurement": "kWh"}, None),
        ("unavailable", {}, None),
        ("on", {}, None),
        ("-1", {}, None),
        ("nan", {}, None),
        ("1e400", {}, None),
        ("7", {"unit_of_measurement": ["kWh"]}, None),  # another integration's odd attribute
        ("7", {"unit_of_measurement": {"kWh": 1}}, None),
    ],
)
def test_meter_readings(state: str, attributes: dict[str, str], kwh: str | None) -> None:
    reading = meter_kwh(State("sensor.plug", state, attributes))
    assert reading == (None if kwh is None else Decimal(kwh))


async def test_job_preview_shows_the_plate_thumbnail(
    hass: HomeAssistant,
    costed_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
    hass_client: ClientSessionGenerator,
) -> None:
    preview = f"image.{PREFIX}_job_preview"
    assert hass.states.get(preview).state == STATE_UNKNOWN  # no job read yet
    bambu_sim.start_print("Cube", total_layers=20, minutes=20)
    await recorder.wait(EVENT_JOB_FINISHED)
    await hass.async_block_till_done()
    assert hass.states.get(preview).state != STATE_UNKNOWN
    client = await hass_client()
    response = await client.get(f"/api/image_proxy/{preview}")
    assert response.status == 200
    assert response.content_type == "image/png"
    assert (await response.read()).startswith(b"\x89PNG\r\n\x1a\n")


STATUS = f"sensor.{PREFIX}_status"


async def test_a_job_named_with_a_lone_surrogate_is_recorded_and_saved(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    recorder: Recorder,
) -> None:
    """Valid JSON ("Cube\\ud800") reaching the tracker: the job is stored, not only tracked.

    Handed to the coordinator as an adapter would, so the tracker's own boundary is what holds,
    whatever the adapter cleans.
    """
    coordinator = loaded_entry.runtime_data.coordinator
    name = "Cube\ud800"
    job = JobInfo(name=name, file=f"/cache/{name}.gcode.3mf", job_id="77", progress=5.0)
    coordinator._on_state(replace(coordinator.data, status=PrinterStatus.PRINTING, job=job))
    started = await recorder.wait(EVENT_JOB_STARTED)
    assert started["job_name"] == "Cube\ufffd"
    assert hass.states.get(STATUS).state == "printing"

    await history(hass).async_save_now()
    (stored,) = hass_storage["printernizer.active_jobs"]["data"]["records"]
    assert '"job_name":"Cube\ufffd"' in stored
    assert loaded_entry.runtime_data.jobs.active == history(hass).get(started["job_id"])


async def test_a_lone_surrogate_over_mqtt_is_recorded(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
) -> None:
    """The same through the real MQTT path: the printer's JSON carries the escape."""
    await bambu_sim.publish_report(
        {"gcode_state": "RUNNING", "subtask_name": "Cube\ud800", "task_id": "77", "mc_percent": 5}
    )
    started = await recorder.wait(EVENT_JOB_STARTED)
    assert started["job_name"] == "Cube\ufffd"
    assert history(hass).get(started["job_id"]) is not None
    await history(hass).async_save_now()


def progress(hass: HomeAssistant) -> float:
    try:
        return float(hass.states.get(f"sensor.{PREFIX}_progress").state)
    except ValueError:  # unknown
        return 0.0


async def test_one_listener_that_raises_does_not_stop_the_others(
    hass: HomeAssistant,
    bambu_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A tracker and every binary sensor raising on each push: the sensors still follow the
    printer, each failure is logged once, and the tracker picks up once it works again."""

    def entity_bug(self: PrinterBinarySensor) -> None:
        raise RuntimeError("entity bug")

    def tracker_bug(state: PrinterState) -> None:
        raise RuntimeError("tracker bug")

    with patch.object(PrinterBinarySensor, "_handle_coordinator_update", entity_bug):
        assert await hass.config_entries.async_setup(bambu_entry.entry_id)
        await hass.async_block_till_done()
        jobs = bambu_entry.runtime_data.jobs
        working = jobs.async_update
        jobs.async_update = tracker_bug  # type: ignore[method-assign]
        bambu_sim.start_print("Cube", total_layers=20, minutes=20)
        await wait_for_state(hass, STATUS, "printing")
        await wait_until(lambda: progress(hass) >= 20)
        assert recorder.of(EVENT_JOB_STARTED) == []

        jobs.async_update = working  # type: ignore[method-assign]
        started = await recorder.wait(EVENT_JOB_STARTED)
        assert started["job_name"] == "Cube"
        for bug in ("tracker bug", "entity bug"):
            assert len([r for r in caplog.records if bug in (r.exc_text or "")]) == 1
        assert bambu_entry.runtime_data.coordinator.listener_errors.failures > 2
        await recorder.wait(EVENT_JOB_FINISHED)
    await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def test_a_job_file_read_that_raises_is_a_miss_logged_once(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = loaded_entry.runtime_data.jobs

    async def file_bug() -> None:
        raise RuntimeError("file bug")

    jobs._metadata = file_bug
    bambu_sim.start_print("Cube", total_layers=20, minutes=60)
    started = await recorder.wait(EVENT_JOB_STARTED)
    await wait_until(lambda: jobs.metadata_failures == 1)
    jobs._next_read = {}  # as if a minute had passed: the next snapshot tries again
    await wait_until(lambda: jobs.metadata_failures == 2)
    finished = await recorder.wait(EVENT_JOB_FINISHED)
    assert (finished["job_id"], finished["status"]) == (started["job_id"], "completed")
    assert len([r for r in caplog.records if "file bug" in (r.exc_text or "")]) == 1
