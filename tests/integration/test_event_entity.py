"""The printer's event entity, driven by the bus events the job tracker fires."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from homeassistant.components.event import ATTR_EVENT_TYPE, ATTR_EVENT_TYPES
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_FRIENDLY_NAME,
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import DOMAIN
from custom_components.printernizer.events import (
    EVENT_JOB_FINISHED,
    EVENT_JOB_PAUSED,
    EVENT_JOB_PROGRESS,
    EVENT_JOB_RESUMED,
    EVENT_JOB_STARTED,
    EVENT_STATUS_CHANGED,
    TRIGGER_TYPES,
)
from simulator.bambu.printer import BambuSimulator

from .conftest import wait_for_state

PREFIX = "p1s_01p00a000000001"
EVENT_ENTITY = f"event.{PREFIX}_print"
STATUS = f"sensor.{PREFIX}_status"
JOB = {"job_id": "job-1", "job_name": "Cube", "file": "cube.3mf"}


def printer_device_id(hass: HomeAssistant, serial: str) -> str:
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, serial)})
    assert device is not None
    return device.id


def fire(hass: HomeAssistant, event_type: str, device_id: str, **data: Any) -> None:
    """Fire a bus event as the job tracker does."""
    hass.bus.async_fire(
        event_type,
        {"device_id": device_id, "serial": "01P00A000000001", "printer_name": "P1S", **data},
    )


def track_writes(hass: HomeAssistant) -> list[Event]:
    """The event entity's state writes from now on, changed or not."""
    writes: list[Event] = []

    @callback
    def is_ours(data: Mapping[str, Any]) -> bool:
        return bool(data["entity_id"] == EVENT_ENTITY)

    @callback
    def written(event: Event) -> None:
        writes.append(event)

    hass.bus.async_listen(EVENT_STATE_CHANGED, written, event_filter=is_ours)
    hass.bus.async_listen(EVENT_STATE_REPORTED, written, event_filter=is_ours)
    return writes


def finished(status: str, cost: str | None = "1.23") -> dict[str, Any]:
    return {**JOB, "status": status, "duration_seconds": 1200, "cost": cost, "currency": "EUR"}


async def test_event_entity_is_the_printers(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    state = hass.states.get(EVENT_ENTITY)
    assert state is not None
    assert state.state == STATE_UNKNOWN
    assert state.attributes[ATTR_FRIENDLY_NAME] == f"{loaded_entry.title} Print"
    assert state.attributes[ATTR_EVENT_TYPES] == list(TRIGGER_TYPES)
    assert state.attributes[ATTR_EVENT_TYPE] is None
    assert ATTR_DEVICE_CLASS not in state.attributes
    entity = er.async_get(hass).async_get(EVENT_ENTITY)
    assert entity is not None
    assert entity.unique_id == f"{bambu_sim.serial}_print_events"
    assert entity.translation_key == "print"
    assert entity.device_id == printer_device_id(hass, bambu_sim.serial)


@pytest.mark.parametrize(
    ("event_type", "data", "expected_type", "expected_attributes"),
    [
        (
            EVENT_JOB_STARTED,
            JOB,
            "print_started",
            {"job_id": "job-1", "job_name": "Cube"},
        ),
        (
            EVENT_JOB_FINISHED,
            finished("completed"),
            "print_finished",
            {
                "job_id": "job-1",
                "job_name": "Cube",
                "status": "completed",
                "cost": "1.23",
                "currency": "EUR",
            },
        ),
        (
            EVENT_JOB_FINISHED,
            finished("failed", cost=None),
            "print_failed",
            {"job_id": "job-1", "job_name": "Cube", "status": "failed", "currency": "EUR"},
        ),
        (
            EVENT_JOB_FINISHED,
            finished("cancelled"),
            "print_cancelled",
            {
                "job_id": "job-1",
                "job_name": "Cube",
                "status": "cancelled",
                "cost": "1.23",
                "currency": "EUR",
            },
        ),
        (EVENT_JOB_PAUSED, JOB, "print_paused", {"job_id": "job-1", "job_name": "Cube"}),
        (EVENT_JOB_RESUMED, JOB, "print_resumed", {"job_id": "job-1", "job_name": "Cube"}),
        (
            EVENT_STATUS_CHANGED,
            {"status": "error", "previous_status": "printing"},
            "error",
            {"status": "error"},
        ),
    ],
)
async def test_each_event_type_is_shown(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    event_type: str,
    data: dict[str, Any],
    expected_type: str,
    expected_attributes: dict[str, Any],
) -> None:
    before = dt_util.utcnow().replace(microsecond=0)  # the state shows milliseconds
    fire(hass, event_type, printer_device_id(hass, bambu_sim.serial), **data)
    await hass.async_block_till_done()
    state = hass.states.get(EVENT_ENTITY)
    assert state is not None
    # The state is the time of the event; the type and the job's fields are attributes.
    assert before <= datetime.fromisoformat(state.state) <= dt_util.utcnow()
    assert state.attributes[ATTR_EVENT_TYPE] == expected_type
    shown = {
        key: value
        for key, value in state.attributes.items()
        if key not in {ATTR_EVENT_TYPE, ATTR_EVENT_TYPES, ATTR_FRIENDLY_NAME}
    }
    assert shown == expected_attributes


async def test_later_events_replace_earlier_ones(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    device_id = printer_device_id(hass, bambu_sim.serial)
    fire(hass, EVENT_JOB_FINISHED, device_id, **finished("completed"))
    await hass.async_block_till_done()
    first = hass.states.get(EVENT_ENTITY)
    fire(hass, EVENT_JOB_STARTED, device_id, **{**JOB, "job_id": "job-2", "job_name": "Boat"})
    await hass.async_block_till_done()
    state = hass.states.get(EVENT_ENTITY)
    assert state.attributes[ATTR_EVENT_TYPE] == "print_started"
    assert state.attributes["job_name"] == "Boat"
    assert "cost" not in state.attributes  # nothing of the finished print is left
    assert datetime.fromisoformat(state.state) >= datetime.fromisoformat(first.state)


async def test_ignores_other_printers_and_events_without_a_type(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    writes = track_writes(hass)
    device_id = printer_device_id(hass, bambu_sim.serial)
    fire(hass, EVENT_JOB_FINISHED, "another-printer", **finished("completed"))
    fire(hass, EVENT_STATUS_CHANGED, "another-printer", status="error", previous_status="idle")
    hass.bus.async_fire(EVENT_JOB_STARTED, JOB)  # no device at all
    fire(hass, EVENT_JOB_FINISHED, device_id, **finished("unknown"))
    fire(hass, EVENT_STATUS_CHANGED, device_id, status="printing", previous_status="idle")
    fire(hass, EVENT_JOB_PROGRESS, device_id, **JOB, progress=50)
    await hass.async_block_till_done()
    assert writes == []
    assert hass.states.get(EVENT_ENTITY).state == STATE_UNKNOWN


async def test_a_real_print_writes_only_its_events(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    writes = track_writes(hass)
    await bambu_sim.start_print("Cube", total_layers=20, minutes=20)
    await wait_for_state(hass, STATUS, "finished")
    await hass.async_block_till_done()
    # Temperatures, progress and layers changed hundreds of times; the entity wrote twice.
    assert [event.data["new_state"].attributes["event_type"] for event in writes] == [
        "print_started",
        "print_finished",
    ]
    shown = hass.states.get(EVENT_ENTITY)
    assert shown.attributes["job_name"] == "Cube"
    assert shown.attributes["status"] == "completed"
    writes.clear()
    await bambu_sim.restart_broker()
    await wait_for_state(hass, STATUS, "offline")  # the status stays available
    assert writes == []
    # The last event stays shown while the printer is offline.
    state = hass.states.get(EVENT_ENTITY)
    assert (state.state, state.attributes) == (shown.state, shown.attributes)


async def test_unloaded_entity_stops_listening(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    device_id = printer_device_id(hass, bambu_sim.serial)
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(EVENT_ENTITY).state == STATE_UNAVAILABLE
    fire(hass, EVENT_JOB_STARTED, device_id, **JOB)
    await hass.async_block_till_done()
    assert hass.states.get(EVENT_ENTITY).state == STATE_UNAVAILABLE
