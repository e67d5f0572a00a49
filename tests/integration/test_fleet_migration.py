"""Entries from before the fleet (1.1) move their prices to it and bill exactly as before.

The realistic old options are the shapes test_options_flow stores: a costs section with every
price, the meter, power and wear, and a categories section.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import (
    CONF_ACCESS_CODE,
    CONF_CATEGORIES,
    CONF_COSTS,
    CONF_ENERGY_PRICE_ENTITY,
    CONF_ENERGY_SENSOR,
    CONF_PRINTER_TYPE,
    CONF_REFRESH_MINUTES,
    CONF_SERIAL,
    DOMAIN,
    FLEET_UNIQUE_ID,
    PRINTER_BAMBU,
)
from custom_components.printernizer.costs import WEEKDAYS, Material
from custom_components.printernizer.settings import (
    cost_settings,
    energy_price_entity,
    energy_sensor,
    fleet_entry,
    fleet_seed,
    merged_options,
    migrated_options,
    printer_cost_options,
    printer_overrides,
)
from simulator.bambu.printer import BambuSimulator

from .conftest import bambu_entry_data

PRICE_ENTITY = "sensor.tariff_price"
FIRST = {
    CONF_REFRESH_MINUTES: 5,
    CONF_COSTS: {
        "price_per_kg_pla": 24.99,
        "price_per_kg_petg": 27.5,
        "energy_price_per_kwh": 0.3245,
        CONF_ENERGY_PRICE_ENTITY: PRICE_ENTITY,
        CONF_ENERGY_SENSOR: "sensor.printer_plug_energy",
        "average_power_w": 120.0,
        "wear_per_hour": 0.15,
        "vat_percent": 7.0,
    },
    CONF_CATEGORIES: {
        "category_mode": "business_hours",
        "business_weekdays": ["mon", "tue", "sat"],
        "business_start": "22:00:00",
        "business_end": "06:00:00",
    },
}
# Another price for PLA, a fixed energy price without the entity, its own machine.
SECOND = {
    CONF_REFRESH_MINUTES: 10,
    CONF_COSTS: {
        "price_per_kg_pla": 30,
        "price_per_kg_petg": 27.5,
        "energy_price_per_kwh": 0.3245,
        "average_power_w": 80,
        "wear_per_hour": 0.1,
        "vat_percent": 7,
    },
    CONF_CATEGORIES: {
        "category_mode": "business_hours",
        "business_weekdays": ["mon", "tue", "sat"],
        "business_start": "22:00",
        "business_end": "06:00",
    },
}
# Never opened the costs: no VAT (none) and the default business hours, prices unknown.
THIRD: dict[str, Any] = {CONF_REFRESH_MINUTES: 5}


def _old_entry(hass: HomeAssistant, serial: str, options: dict[str, Any]) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=1,
        minor_version=1,
        unique_id=serial,
        title=f"P1S {serial[-4:]}",
        data={
            CONF_PRINTER_TYPE: PRINTER_BAMBU,
            CONF_HOST: "192.0.2.10",
            CONF_SERIAL: serial,
            CONF_ACCESS_CODE: "12345678",
        },
        options=options,
    )
    entry.add_to_hass(hass)
    return entry


def _bills_the_same(hass: HomeAssistant, old: dict[str, Any], new: dict[str, Any]) -> None:
    """What the printer priced with before is what it prices with through the fleet now."""
    _same_bills(hass, old, printer_cost_options(hass, new))


def _same_bills(hass: HomeAssistant, old: dict[str, Any], after_options: dict[str, Any]) -> None:
    before = cost_settings(hass, old)
    after = cost_settings(hass, after_options)
    # A price unknown before is the fleet's now; every price the printer knew is kept.
    assert {m: p for m, p in after.material_prices.items() if m in before.material_prices} == (
        before.material_prices
    )
    assert after.energy_price_per_kwh == (
        before.energy_price_per_kwh
        if before.energy_price_per_kwh is not None
        else after.energy_price_per_kwh
    )
    assert (after.average_power_w, after.wear_per_hour, after.vat_percent) == (
        before.average_power_w,
        before.wear_per_hour,
        before.vat_percent,
    )
    assert after.category == before.category
    assert energy_sensor(after_options) == energy_sensor(old)
    if energy_price_entity(old) is not None or before.energy_price_per_kwh is not None:
        assert energy_price_entity(after_options) == energy_price_entity(old)


async def test_the_first_printer_seeds_the_fleet_and_the_others_keep_what_differs(
    hass: HomeAssistant,
) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    entries = [
        _old_entry(hass, "01P00A000000001", FIRST),
        _old_entry(hass, "01P00A000000002", SECOND),
        _old_entry(hass, "01P00A000000003", THIRD),
    ]
    for entry in entries:
        assert await entry.async_migrate(hass)
    await hass.async_block_till_done()

    fleet = fleet_entry(hass)
    assert fleet is not None
    assert fleet.unique_id == FLEET_UNIQUE_ID
    assert fleet.state is ConfigEntryState.LOADED
    assert [e for e in hass.config_entries.async_entries(DOMAIN) if e.unique_id == "fleet"] == [
        fleet
    ]
    assert fleet.options == {
        CONF_COSTS: {
            "price_per_kg_pla": 24.99,
            "price_per_kg_petg": 27.5,
            "energy_price_per_kwh": 0.3245,
            CONF_ENERGY_PRICE_ENTITY: PRICE_ENTITY,
            "vat_percent": 7.0,
        },
        CONF_CATEGORIES: FIRST[CONF_CATEGORIES],
    }
    first, second, third = entries
    assert all(entry.minor_version == 2 for entry in entries)
    # The first follows the fleet in everything but its machine.
    assert first.options == {
        CONF_REFRESH_MINUTES: 5,
        CONF_COSTS: {
            CONF_ENERGY_SENSOR: "sensor.printer_plug_energy",
            "average_power_w": 120.0,
            "wear_per_hour": 0.15,
        },
        CONF_CATEGORIES: {},
    }
    # The second keeps its PLA price and its fixed energy price (the fleet's has an entity).
    assert second.options == {
        CONF_REFRESH_MINUTES: 10,
        CONF_COSTS: {
            "price_per_kg_pla": 30,
            "energy_price_per_kwh": 0.3245,
            "average_power_w": 80,
            "wear_per_hour": 0.1,
        },
        CONF_CATEGORIES: {},
    }
    # The third billed no VAT and the default hours; it still does, as overrides.
    assert third.options == {
        CONF_REFRESH_MINUTES: 5,
        CONF_COSTS: {"vat_percent": 0},
        CONF_CATEGORIES: {
            "category_mode": "business_hours",
            "business_weekdays": ["mon", "tue", "wed", "thu", "fri"],
            "business_start": "08:00:00",
            "business_end": "18:00:00",
        },
    }
    for entry, old in zip(entries, (FIRST, SECOND, THIRD), strict=True):
        _bills_the_same(hass, old, dict(entry.options))
    # Prices the third never had now come from the fleet.
    settings = cost_settings(hass, printer_cost_options(hass, third.options))
    assert set(settings.material_prices) == {Material.PLA, Material.PETG}

    # A fleet price change reaches the printers that follow it, not the one that overrides.
    hass.config_entries.async_update_entry(
        fleet,
        options={
            **fleet.options,
            CONF_COSTS: {**fleet.options[CONF_COSTS], "price_per_kg_pla": 19},
        },
    )
    await hass.async_block_till_done()
    pla = [
        cost_settings(hass, printer_cost_options(hass, entry.options)).material_prices[Material.PLA]
        for entry in entries
    ]
    assert [str(price) for price in pla] == ["19", "30", "19"]
    assert await hass.config_entries.async_unload(fleet.entry_id)


async def test_an_existing_fleet_is_kept_and_compared_against(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    fleet_options = {CONF_COSTS: {"price_per_kg_pla": 30, "vat_percent": 19}}
    fleet = MockConfigEntry(
        domain=DOMAIN,
        unique_id=FLEET_UNIQUE_ID,
        data={"entry_type": "fleet"},
        options=fleet_options,
        minor_version=2,
    )
    fleet.add_to_hass(hass)
    entry = _old_entry(hass, "01P00A000000001", FIRST)
    assert await entry.async_migrate(hass)
    await hass.async_block_till_done()

    assert fleet.options == fleet_options  # the fleet is not overwritten by a printer
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2
    assert entry.options[CONF_COSTS] == {
        key: value for key, value in FIRST[CONF_COSTS].items() if key != "price_per_kg_pla"
    } | {"price_per_kg_pla": 24.99}
    _bills_the_same(hass, FIRST, dict(entry.options))


async def test_an_old_printer_sets_up_and_prices_as_before(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    """Through HA's own setup: migration, then the printer, then the fleet it created."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=1,
        minor_version=1,
        unique_id=bambu_sim.serial,
        title="P1S 0001",
        data=bambu_entry_data(bambu_sim),
        options=FIRST,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert entry.minor_version == 2
    fleet = fleet_entry(hass)
    assert fleet is not None
    assert fleet.state is ConfigEntryState.LOADED
    assert entry.runtime_data.jobs.settings() == cost_settings(hass, FIRST)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_unload(fleet.entry_id)
    await hass.async_block_till_done()


_PRICE = st.one_of(st.none(), st.sampled_from([0, 0.3245, 7, 19, 20, 24.99, 30]))
_COSTS = st.fixed_dictionaries(
    {},
    optional={
        "price_per_kg_pla": _PRICE,
        "price_per_kg_petg": _PRICE,
        "energy_price_per_kwh": _PRICE,
        CONF_ENERGY_PRICE_ENTITY: st.sampled_from([PRICE_ENTITY, "sensor.other", ""]),
        "vat_percent": _PRICE,
        "wear_per_hour": _PRICE,
        "average_power_w": _PRICE,
    },
)
_CATEGORIES = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {
            "category_mode": st.sampled_from(["business", "private", "business_hours"]),
            "business_weekdays": st.sampled_from([["mon", "tue", "sat"], list(WEEKDAYS[:5])]),
            "business_start": st.sampled_from(["08:00:00", "22:00", "06:00:00"]),
            "business_end": st.sampled_from(["18:00:00", "06:00:00"]),
        }
    ),
)
_OPTIONS = st.fixed_dictionaries({CONF_COSTS: _COSTS, CONF_CATEGORIES: _CATEGORIES})


def _priced_with(hass: HomeAssistant, options: dict[str, Any]) -> tuple[Any, ...]:
    settings = cost_settings(hass, options)
    return (settings, energy_price_entity(options), energy_sensor(options))


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(fleet=_OPTIONS, printer=_OPTIONS)
def test_leaving_out_what_equals_the_fleet_never_changes_a_price(
    hass: HomeAssistant, fleet: dict[str, Any], printer: dict[str, Any]
) -> None:
    """Saving a printer's options (and migrating) drops only what the fleet gives anyway."""
    assume(not any(_invalid(hass, options) for options in (fleet, printer)))
    kept = printer_overrides(fleet, printer)
    assert _priced_with(hass, merged_options(fleet, kept)) == _priced_with(
        hass, merged_options(fleet, printer)
    )


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(first=_OPTIONS, other=_OPTIONS)
def test_a_migrated_printer_bills_as_before(
    hass: HomeAssistant, first: dict[str, Any], other: dict[str, Any]
) -> None:
    """Whatever the first printer seeded the fleet with, another printer's bills stay."""
    assume(not any(_invalid(hass, options) for options in (first, other)))
    fleet = fleet_seed(first)
    _same_bills(hass, other, merged_options(fleet, migrated_options(fleet, other)))


def _invalid(hass: HomeAssistant, options: dict[str, Any]) -> bool:
    try:
        cost_settings(hass, options)
    except ValueError:
        return True
    return False
