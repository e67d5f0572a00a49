"""The shipped automation blueprints, instantiated in HA against a simulated printer."""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.printernizer.const import DOMAIN
from custom_components.printernizer.events import (
    EVENT_JOB_FINISHED,
    EVENT_JOB_PAUSED,
    EVENT_STATUS_CHANGED,
)
from simulator.bambu.printer import BambuSimulator

from ..printers.waiting import wait_until

BLUEPRINTS = Path(__file__).parents[2] / "blueprints" / "automation" / "printernizer"
PREFIX = "p1s_01p00a000000001"


@pytest.fixture
def device_id(hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator) -> str:
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, bambu_sim.serial)})
    assert device is not None
    return device.id


async def use(
    hass: HomeAssistant, tmp_path: Path, *automations: tuple[str, dict[str, Any]]
) -> None:
    """Install the blueprints into a config folder and set up automations from them."""
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / "printernizer")
    hass.config.config_dir = str(tmp_path)
    config = [
        {"use_blueprint": {"path": f"printernizer/{name}.yaml", "input": inputs}}
        for name, inputs in automations
    ]
    assert await async_setup_component(hass, "automation", {"automation": config})
    await hass.async_block_till_done()
    assert len(hass.states.async_entity_ids("automation")) == len(automations)


def job(device_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "printer_name": "P1S 01P00A000000001",
        "job_name": "Cube",
        **fields,
    }


async def test_finish_notification_says_duration_and_cost(
    hass: HomeAssistant, device_id: str, tmp_path: Path
) -> None:
    calls = async_mock_service(hass, "notify", "phone")
    await use(
        hass,
        tmp_path,
        ("print_finished_notify", {"printer": device_id, "notify_action": "notify.phone"}),
    )
    finished = job(device_id, status="completed", duration_seconds=5400, cost="1.23")
    hass.bus.async_fire(EVENT_JOB_FINISHED, finished | {"currency": "EUR"})
    hass.bus.async_fire(EVENT_JOB_FINISHED, job(device_id, status="cancelled"))
    hass.bus.async_fire(EVENT_JOB_FINISHED, job(device_id, status="failed", duration_seconds=600))
    await hass.async_block_till_done()
    assert [(call.data["title"], call.data["message"]) for call in calls] == [
        ("P1S 01P00A000000001: print finished", "Cube finished after 1 h 30 min. Cost: 1.23 EUR."),
        ("P1S 01P00A000000001: print failed", "Cube failed after 10 min. Cost: unknown."),
    ]


async def test_plug_goes_off_once_the_printer_is_cool_and_idle(
    hass: HomeAssistant, device_id: str, tmp_path: Path
) -> None:
    calls = async_mock_service(hass, "switch", "turn_off")
    await use(
        hass,
        tmp_path,
        (
            "plug_off_after_print",
            {
                "printer": device_id,
                "status_sensor": f"sensor.{PREFIX}_status",
                "nozzle_sensor": f"sensor.{PREFIX}_nozzle_temperature",
                "plug": "switch.printer_plug",
            },
        ),
    )
    nozzle = f"sensor.{PREFIX}_nozzle_temperature"
    assert float(hass.states.get(nozzle).state) < 50
    hass.bus.async_fire(EVENT_JOB_FINISHED, job(device_id, status="completed"))
    await hass.async_block_till_done()
    assert [call.data["entity_id"] for call in calls] == [["switch.printer_plug"]]
    # Still hot: it waits for the nozzle; a new print meanwhile keeps the plug on.
    hass.states.async_set(nozzle, "210")
    hass.bus.async_fire(EVENT_JOB_FINISHED, job(device_id, status="failed"))
    await wait_until(lambda: running(hass) == 1)
    assert len(calls) == 1
    hass.states.async_set(nozzle, "45")
    await wait_until(lambda: running(hass) == 0)
    assert len(calls) == 2
    hass.states.async_set(nozzle, "210")
    hass.bus.async_fire(EVENT_JOB_FINISHED, job(device_id, status="cancelled"))
    await wait_until(lambda: running(hass) == 1)
    hass.states.async_set(f"sensor.{PREFIX}_status", "printing")
    hass.states.async_set(nozzle, "45")
    await wait_until(lambda: running(hass) == 0)
    assert len(calls) == 2


def running(hass: HomeAssistant) -> int:
    """Runs of the only automation still in progress (waiting for the nozzle)."""
    (automation,) = hass.states.async_all("automation")
    return int(automation.attributes["current"])


async def test_attention_notification(hass: HomeAssistant, device_id: str, tmp_path: Path) -> None:
    calls = async_mock_service(hass, "notify", "notify")
    await use(hass, tmp_path, ("attention_notify", {"printer": device_id}))
    hass.bus.async_fire(EVENT_STATUS_CHANGED, job(device_id, status="error"))
    hass.bus.async_fire(EVENT_STATUS_CHANGED, job(device_id, status="printing"))
    hass.bus.async_fire(EVENT_JOB_PAUSED, job(device_id))
    await hass.async_block_till_done()
    assert [call.data["message"] for call in calls] == [
        "P1S 01P00A000000001 reports an error.",
        "P1S 01P00A000000001 paused the print: Cube.",
    ]
