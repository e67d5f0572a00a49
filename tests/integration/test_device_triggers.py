"""Device triggers of a printer, and automations built on them."""

from __future__ import annotations

from typing import Any

from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
)
import voluptuous as vol

from custom_components.printernizer import device_trigger
from custom_components.printernizer.const import DOMAIN
from custom_components.printernizer.events import (
    EVENT_JOB_FINISHED,
    EVENT_JOB_PAUSED,
    EVENT_JOB_RESUMED,
    EVENT_JOB_STARTED,
    EVENT_PRINTER_ERROR,
    EVENT_STATUS_CHANGED,
    TRIGGER_TYPES,
)
from simulator.bambu.printer import BambuSimulator

JOB = {"job_id": "job-1", "job_name": "Cube", "file": "cube.3mf"}
ERROR = {
    "code": "0300_0100_0001_0007",
    "severity": "serious",
    "module": "mc",
    "url": "https://wiki.bambulab.com/en/x1/troubleshooting/hmscode/0300_0100_0001_0007",
}


@pytest.fixture
def device_id(hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator) -> str:
    """The loaded printer's device."""
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, bambu_sim.serial)})
    assert device is not None
    return device.id


def fire(hass: HomeAssistant, event_type: str, device_id: str, **data: Any) -> None:
    """Fire a bus event as the job tracker does."""
    hass.bus.async_fire(
        event_type,
        {"device_id": device_id, "serial": "01P00A000000001", "printer_name": "P1S", **data},
    )


def finished(status: str) -> dict[str, Any]:
    return {**JOB, "status": status, "duration_seconds": 1200, "cost": 1.23, "currency": "EUR"}


async def set_up_automations(hass: HomeAssistant, device_id: str, *types: str) -> None:
    """One automation per trigger type, each calling test.automation with what it saw."""
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                {
                    "triggers": {
                        "platform": "device",
                        "domain": DOMAIN,
                        "device_id": device_id,
                        "type": trigger_type,
                    },
                    "actions": {
                        "action": "test.automation",
                        "data": {
                            "type": trigger_type,
                            "job": "{{ trigger.event.data.job_name }}",
                            "status": "{{ trigger.event.data.status }}",
                            "code": "{{ trigger.event.data.code }}",
                        },
                    },
                }
                for trigger_type in types
            ]
        },
    )


def automation_calls(service_calls: list[ServiceCall]) -> list[dict[str, Any]]:
    return [dict(call.data) for call in service_calls if call.domain == "test"]


async def test_printer_has_every_trigger(hass: HomeAssistant, device_id: str) -> None:
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device_id)
    ours = [
        {key: value for key, value in trigger.items() if key != "metadata"}
        for trigger in triggers
        if trigger["domain"] == DOMAIN
    ]
    assert ours == [
        {"platform": "device", "domain": DOMAIN, "device_id": device_id, "type": trigger_type}
        for trigger_type in TRIGGER_TYPES
    ]
    assert len(ours) == 8


async def test_no_triggers_for_other_devices(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    other_entry = MockConfigEntry(domain="other")
    other_entry.add_to_hass(hass)
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=other_entry.entry_id, identifiers={("other", "lamp")}
    )
    assert await device_trigger.async_get_triggers(hass, other.id) == []
    assert await device_trigger.async_get_triggers(hass, "no-such-device") == []


def test_schema_knows_the_types() -> None:
    config = {"platform": "device", "domain": DOMAIN, "device_id": "abc", "type": "print_failed"}
    assert device_trigger.TRIGGER_SCHEMA(config)["type"] == "print_failed"
    with pytest.raises(vol.Invalid):
        device_trigger.TRIGGER_SCHEMA({**config, "type": "print_exploded"})


async def test_print_finished_runs_only_for_a_completed_print_of_this_printer(
    hass: HomeAssistant, device_id: str, service_calls: list[ServiceCall]
) -> None:
    await set_up_automations(hass, device_id, "print_finished")
    fire(hass, EVENT_JOB_FINISHED, device_id, **finished("cancelled"))
    fire(hass, EVENT_JOB_FINISHED, device_id, **finished("failed"))
    fire(hass, EVENT_JOB_FINISHED, device_id, **finished("unknown"))
    fire(hass, EVENT_JOB_FINISHED, "another-printer", **finished("completed"))
    await hass.async_block_till_done()
    assert automation_calls(service_calls) == []
    fire(hass, EVENT_JOB_FINISHED, device_id, **finished("completed"))
    await hass.async_block_till_done()
    assert automation_calls(service_calls) == [
        {"type": "print_finished", "job": "Cube", "status": "completed", "code": ""}
    ]


async def test_each_trigger_runs_on_its_event_only(
    hass: HomeAssistant, device_id: str, service_calls: list[ServiceCall]
) -> None:
    await set_up_automations(hass, device_id, *TRIGGER_TYPES)
    fire(hass, EVENT_JOB_STARTED, device_id, **JOB)
    fire(hass, EVENT_JOB_PAUSED, device_id, **JOB)
    fire(hass, EVENT_JOB_RESUMED, device_id, **JOB)
    fire(hass, EVENT_STATUS_CHANGED, device_id, status="printing", previous_status="paused")
    fire(hass, EVENT_STATUS_CHANGED, device_id, status="error", previous_status="printing")
    fire(hass, EVENT_PRINTER_ERROR, device_id, **ERROR)
    fire(hass, EVENT_JOB_FINISHED, device_id, **finished("failed"))
    fire(hass, EVENT_JOB_FINISHED, device_id, **finished("cancelled"))
    fire(hass, EVENT_JOB_FINISHED, device_id, **finished("completed"))
    await hass.async_block_till_done()
    assert [(call["type"], call["status"]) for call in automation_calls(service_calls)] == [
        ("print_started", ""),
        ("print_paused", ""),
        ("print_resumed", ""),
        ("error", "error"),
        ("error_code", ""),
        ("print_failed", "failed"),
        ("print_cancelled", "cancelled"),
        ("print_finished", "completed"),
    ]


async def test_error_code_runs_for_a_new_code_of_this_printer_with_the_code(
    hass: HomeAssistant, device_id: str, service_calls: list[ServiceCall]
) -> None:
    """The printer-error event is a trigger of its own: status changes do not run it."""
    await set_up_automations(hass, device_id, "error_code")
    fire(hass, EVENT_STATUS_CHANGED, device_id, status="error", previous_status="printing")
    fire(hass, EVENT_PRINTER_ERROR, "another-printer", **ERROR)
    await hass.async_block_till_done()
    assert automation_calls(service_calls) == []
    fire(hass, EVENT_PRINTER_ERROR, device_id, **ERROR)
    await hass.async_block_till_done()
    assert automation_calls(service_calls) == [
        {"type": "error_code", "job": "", "status": "", "code": ERROR["code"]}
    ]
