"""The fleet: its entry, prices every printer reads, and its device's sensors and calendar.

Driven through HA's flows and the simulated P1S printing over MQTT on 127.0.0.1.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_SYSTEM,
    SOURCE_USER,
    ConfigEntryState,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.printernizer import device_trigger, diagnostics
from custom_components.printernizer.const import (
    CONF_CATEGORIES,
    CONF_COSTS,
    DOMAIN,
    FLEET_UNIQUE_ID,
)
from custom_components.printernizer.costs import Material
from custom_components.printernizer.fleet import summary as fleet_summary
from custom_components.printernizer.history import DATA_HISTORY
from custom_components.printernizer.jobs import JobRecord, JobStatus
from custom_components.printernizer.settings import fleet_entry
from simulator.bambu.printer import BambuSimulator

from ..printers.waiting import wait_until
from .conftest import wait_for_state

FLEET_PRICES = {
    CONF_COSTS: {
        "price_per_kg_pla": 20,
        "price_per_kg_petg": 25,
        "energy_price_per_kwh": 0.30,
        "vat_percent": 19,
    },
    CONF_CATEGORIES: {"category_mode": "business"},
}
SENSOR = "sensor.printernizer_fleet_{}"


@pytest.fixture(autouse=True)
def _short_cooldown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests wait for figures, not for a farm's five-second cooldown."""
    monkeypatch.setattr(fleet_summary, "COOLDOWN", 0.05)


async def _set_fleet_options(hass: HomeAssistant, options: dict[str, Any]) -> None:
    """As a user does: the fleet entry's options form."""
    fleet = fleet_entry(hass)
    assert fleet is not None
    result = await hass.config_entries.options.async_init(fleet.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "fleet"
    result = await hass.config_entries.options.async_configure(result["flow_id"], options)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


def _ended(hass: HomeAssistant, serial: str) -> list[JobRecord]:
    jobs, _ = hass.data[DATA_HISTORY].query(serials=[serial], limit=100)
    return [job for job in jobs if job.status is not JobStatus.ACTIVE and job.cost is not None]


async def test_a_printer_without_prices_prices_from_the_fleet_and_its_changes(
    hass: HomeAssistant, bambu_sim: BambuSimulator, bambu_entry: MockConfigEntry
) -> None:
    # Only the machine: its average power. No price, no VAT, no hours of its own.
    hass.config_entries.async_update_entry(
        bambu_entry, options={CONF_COSTS: {"average_power_w": 120}}, minor_version=2
    )
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()

    fleet = fleet_entry(hass)  # created with the first printer, without a form
    assert fleet is not None
    assert fleet.unique_id == FLEET_UNIQUE_ID
    assert fleet.state is ConfigEntryState.LOADED
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, FLEET_UNIQUE_ID)})
    assert device is not None
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    runtime = bambu_entry.runtime_data
    assert hass.states.get(SENSOR.format("prints_running")).state == "0"
    assert hass.states.get(SENSOR.format("jobs_today")).state == "0"

    await _set_fleet_options(hass, FLEET_PRICES)
    assert bambu_entry.runtime_data is runtime  # the printer read them without a reload
    settings = runtime.jobs.settings()
    assert settings.material_prices[Material.PLA] == 20
    assert settings.vat_percent == 19
    assert settings.average_power_w == 120

    puts: list[JobRecord] = []
    hass.data[DATA_HISTORY].add_listener(None, puts.append)
    fleet = fleet_entry(hass)
    assert fleet is not None
    computations = fleet.runtime_data.summary.computations
    bambu_sim.start_print("Cube", total_layers=20, minutes=20)
    await wait_for_state(hass, SENSOR.format("prints_running"), "1")
    await wait_until(lambda: len(_ended(hass, bambu_sim.serial)) == 1, timeout=20)
    await wait_for_state(hass, SENSOR.format("prints_running"), "0")

    (job,) = _ended(hass, bambu_sim.serial)
    assert job.category == "business"  # the fleet's rule
    assert job.cost is not None
    # PLA 11.92 g x 20 = 0.24, PETG 3.48 g x 25 = 0.09; seconds of 120 W cost 0.00; 19 % VAT.
    assert (job.cost["material"], job.cost["net"], job.cost["gross"]) == ("0.33", "0.33", "0.39")
    assert job.cost["unknown"] == []
    await wait_for_state(hass, SENSOR.format("business_cost_this_month"), "0.39")
    cost = hass.states.get(SENSOR.format("business_cost_this_month"))
    assert cost.attributes["unit_of_measurement"] == "EUR"
    assert cost.attributes["state_class"] == "total"
    assert cost.attributes["jobs_without_cost"] == 0
    assert hass.states.get(SENSOR.format("private_cost_this_month")).state == "0.00"
    assert hass.states.get(SENSOR.format("material_this_month")).state == "15.4"
    assert hass.states.get(SENSOR.format("jobs_today")).state == "1"
    assert hass.states.get(SENSOR.format("success_rate_30_days")).state == "100.0"
    # Ten progress steps and more were put; the figures were not computed per put.
    summary = fleet.runtime_data.summary
    assert len(puts) >= 12
    assert summary.computations - computations <= 5

    # The fleet's job calendar shows the printer's job.
    calendar = er.async_get(hass).async_get_entity_id("calendar", DOMAIN, "fleet_jobs")
    assert calendar is not None
    now = dt_util.utcnow()
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {
            "entity_id": calendar,
            "start_date_time": now - timedelta(hours=1),
            "end_date_time": now + timedelta(hours=1),
        },
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert [event["summary"] for event in response[calendar]["events"]] == ["Cube"]

    # A new PLA price: the next job costs it, the month's cost adds both.
    await _set_fleet_options(
        hass,
        {
            **FLEET_PRICES,
            CONF_COSTS: {**FLEET_PRICES[CONF_COSTS], "price_per_kg_pla": 40},
        },
    )
    assert bambu_entry.runtime_data is runtime
    bambu_sim.start_print("Cube", total_layers=20, minutes=20)
    await wait_until(lambda: len(_ended(hass, bambu_sim.serial)) == 2, timeout=20)
    second = max(_ended(hass, bambu_sim.serial), key=lambda record: record.started_at)
    assert second.cost is not None
    # PLA 11.92 g x 40 = 0.48, PETG 0.09; 19 % VAT of 0.57 = 0.11.
    assert (second.cost["material"], second.cost["gross"]) == ("0.57", "0.68")
    await wait_for_state(hass, SENSOR.format("business_cost_this_month"), "1.07")
    assert hass.states.get(SENSOR.format("jobs_today")).state == "2"

    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    assert await hass.config_entries.async_unload(fleet.entry_id)
    await hass.async_block_till_done()


async def test_a_printer_override_beats_the_fleet(
    hass: HomeAssistant, bambu_sim: BambuSimulator, bambu_entry: MockConfigEntry
) -> None:
    # Added after the fleet (1.2): its own prices are overrides, not migrated to the fleet.
    hass.config_entries.async_update_entry(
        bambu_entry,
        options={CONF_COSTS: {"price_per_kg_pla": 50, "vat_percent": 0}},
        minor_version=2,
    )
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    await _set_fleet_options(hass, FLEET_PRICES)

    settings = bambu_entry.runtime_data.jobs.settings()
    assert settings.material_prices == {Material.PLA: 50, Material.PETG: 25}
    assert settings.vat_percent == 0
    assert settings.energy_price_per_kwh == Decimal("0.3")  # not overridden: the fleet's

    # The printer's form shows what it prices with; saving it unchanged keeps the overrides
    # and does not copy the fleet's prices into the printer.
    result = await hass.config_entries.options.async_init(bambu_entry.entry_id)
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "refresh_minutes": 5,
            CONF_COSTS: {
                "price_per_kg_pla": 50,
                "price_per_kg_petg": 25,
                "energy_price_per_kwh": 0.3,
                "vat_percent": 0,
            },
            CONF_CATEGORIES: {"category_mode": "business"},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert bambu_entry.options == {
        "refresh_minutes": 5,
        CONF_COSTS: {"price_per_kg_pla": 50, "vat_percent": 0},
        CONF_CATEGORIES: {},
    }
    await hass.async_block_till_done()

    # The fleet's currency, not HA's, is what jobs and the fleet's money sensors are in.
    await _set_fleet_options(
        hass, {**FLEET_PRICES, CONF_COSTS: {**FLEET_PRICES[CONF_COSTS], "currency": "CHF"}}
    )
    assert bambu_entry.runtime_data.jobs.settings().currency == "CHF"
    unit = hass.states.get(SENSOR.format("business_cost_this_month")).attributes
    assert unit["unit_of_measurement"] == "CHF"
    fleet = fleet_entry(hass)
    assert fleet is not None
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    assert await hass.config_entries.async_unload(fleet.entry_id)
    await hass.async_block_till_done()


async def test_the_fleet_from_the_add_menu_and_never_two(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert "fleet" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "fleet"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "fleet"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {"entry_type": "fleet"}
    await hass.async_block_till_done()

    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "fleet"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SYSTEM}, data={"options": {}}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    (fleet,) = hass.config_entries.async_entries(DOMAIN)
    assert fleet.state is ConfigEntryState.LOADED
    # The fleet has no connection to reconfigure.
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": fleet.entry_id}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "fleet_in_options"
    # Its options refuse what the cost model refuses, and keep what was typed.
    result = await hass.config_entries.options.async_init(fleet.entry_id)
    bad = {
        CONF_COSTS: {"price_per_kg_pla": 20},
        CONF_CATEGORIES: {"business_start": "09:00", "business_end": "09:00:00"},
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], bad)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_business_hours"}
    assert fleet.options == {}

    # The fleet is no printer: job actions refuse it, it has no printer triggers, and its
    # diagnostics are its options.
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, FLEET_UNIQUE_ID)})
    assert device is not None
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "list_jobs",
            {"device_id": [device.id]},
            blocking=True,
            return_response=True,
        )
    assert refused.value.translation_key == "printer_not_found"
    assert await device_trigger.async_get_triggers(hass, device.id) == []
    assert await diagnostics.async_get_config_entry_diagnostics(hass, fleet) == {
        "entry": {"options": {}}
    }
    assert await hass.config_entries.async_unload(fleet.entry_id)


async def test_today_and_the_month_start_again_at_midnight_on_the_1st(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    tz = dt_util.get_default_time_zone()
    afternoon = datetime(2026, 11, 30, 15, 0, tzinfo=tz)
    freezer.move_to(afternoon)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SYSTEM}, data={"options": {}}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    started = afternoon - timedelta(hours=1)
    hass.data[DATA_HISTORY].put(
        JobRecord(
            id="job-1",
            serial="01P00A000000001",
            printer_name="P1S",
            started_at=started,
            updated_at=started + timedelta(minutes=30),
            ended_at=started + timedelta(minutes=30),
            duration_seconds=1800.0,
            status=JobStatus.COMPLETED,
            category="business",
            cost={
                "currency": "EUR",
                "material": "0.84",
                "energy": "0.00",
                "wear": "0.00",
                "net": "0.84",
                "vat": "0.16",
                "gross": "1.00",
                "vat_percent": "19.00",
            },
        )
    )
    await hass.async_block_till_done()
    assert hass.states.get(SENSOR.format("business_cost_this_month")).state == "1.00"
    assert hass.states.get(SENSOR.format("jobs_today")).state == "1"

    midnight = datetime(2026, 12, 1, 0, 0, 1, tzinfo=tz)
    freezer.move_to(midnight)
    async_fire_time_changed(hass, midnight)
    await hass.async_block_till_done()
    assert hass.states.get(SENSOR.format("jobs_today")).state == "0"
    cost = hass.states.get(SENSOR.format("business_cost_this_month"))
    assert cost.state == "0.00"
    assert datetime.fromisoformat(cost.attributes["last_reset"]) == datetime(2026, 12, 1, tzinfo=tz)
    # The job still counts for the last 30 days.
    assert hass.states.get(SENSOR.format("success_rate_30_days")).state == "100.0"
    (fleet,) = hass.config_entries.async_entries(DOMAIN)
    assert await hass.config_entries.async_unload(fleet.entry_id)


async def test_the_fleet_unloads_after_home_assistant_stopped(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """HA stopping ends the fleet's figures; removing its sensors afterwards must not raise."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_SYSTEM}, data={"options": {}}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
