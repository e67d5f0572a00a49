"""Prints that start while Home Assistant is (re)starting are still recorded once each."""

from __future__ import annotations

import asyncio

from homeassistant.core import Event, HomeAssistant, callback
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.events import EVENT_JOB_FINISHED, EVENT_JOB_STARTED
from custom_components.printernizer.jobs import JobStatus
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

from ..printers.waiting import wait_until
from .test_jobs import Recorder, costed_entry, recorder, records, restart_home_assistant

__all__ = ["costed_entry", "recorder"]


async def test_prusa_print_started_as_the_restart_closes_the_last_one(
    hass: HomeAssistant,
    prusa_entry: MockConfigEntry,
    prusa_sim: PrusaSimulator,
    recorder: Recorder,
) -> None:
    """The soak's story: a print stopped while HA was down, the next one starts at once."""
    assert await hass.config_entries.async_setup(prusa_entry.entry_id)
    await hass.async_block_till_done()
    prusa_sim.start_print(minutes=600)
    first = await recorder.wait(EVENT_JOB_STARTED)
    await restart_home_assistant(hass, prusa_entry)
    await prusa_sim.stop_print()
    tasks: list[asyncio.Task[None]] = []

    async def next_print() -> None:
        await prusa_sim.clear()
        prusa_sim.start_print(minutes=30)

    @callback
    def closed(event: Event) -> None:
        if not tasks and event.data["job_id"] == first["job_id"]:
            tasks.append(hass.async_create_task(next_print()))

    unsubscribe = hass.bus.async_listen(EVENT_JOB_FINISHED, closed)
    try:
        assert await hass.config_entries.async_setup(prusa_entry.entry_id)
        await hass.async_block_till_done()
        second = await recorder.wait(
            EVENT_JOB_FINISHED, lambda data: data["job_id"] != first["job_id"]
        )
    finally:
        unsubscribe()
        await hass.config_entries.async_unload(prusa_entry.entry_id)
        await hass.async_block_till_done()
    assert second["status"] == "completed"
    jobs = sorted(records(hass, prusa_sim.serial), key=lambda job: job.ended_at or job.started_at)
    assert [job.status for job in jobs] == [JobStatus.CANCELLED, JobStatus.COMPLETED]


async def test_bambu_print_done_while_ha_was_down_is_recorded_once(
    hass: HomeAssistant,
    costed_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    recorder: Recorder,
) -> None:
    """HA down for a whole print: the end screen names it, so it goes into the history."""
    await asyncio.wait([bambu_sim.start_print("First", total_layers=5, minutes=5)])
    first = await recorder.wait(EVENT_JOB_FINISHED)
    await restart_home_assistant(hass, costed_entry)
    await asyncio.wait([bambu_sim.start_print("Second", total_layers=5, minutes=5)])
    assert bambu_sim.report["gcode_state"] == "FINISH"

    assert await hass.config_entries.async_setup(costed_entry.entry_id)
    await hass.async_block_till_done()
    second = await recorder.wait(EVENT_JOB_FINISHED, lambda data: data["job_id"] != first["job_id"])
    assert second["job_name"] == "Second"
    assert second["status"] == "completed"
    assert second["closed_after_restart"] is True
    assert recorder.of(EVENT_JOB_STARTED) == [recorder.of(EVENT_JOB_STARTED)[0]]  # only First's
    jobs = records(hass, bambu_sim.serial)
    (record,) = [job for job in jobs if job.job_name == "Second"]
    assert record.status is JobStatus.COMPLETED
    assert record.category == "business"
    assert record.cost is not None
    assert record.ended_at is not None
    assert record.started_at <= record.ended_at

    # Once recorded, the same end screen is not a new print, however often HA restarts.
    await restart_home_assistant(hass, costed_entry)
    assert await hass.config_entries.async_setup(costed_entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: costed_entry.runtime_data.coordinator.data.online)
    assert len(records(hass, bambu_sim.serial)) == len(jobs) == 2
