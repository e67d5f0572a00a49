"""Options flow sections for costs and categories, and the settings read from them.

The entries are added but never set up: an options flow works on an unloaded entry, so no
simulated printer is needed.
"""

from __future__ import annotations

from decimal import Decimal
import json
from pathlib import Path
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import config_validation as cv
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol
import voluptuous_serialize

from custom_components.printernizer import config_flow
from custom_components.printernizer.const import (
    CONF_ACCESS_CODE,
    CONF_CATEGORIES,
    CONF_COSTS,
    CONF_ENERGY_PRICE_ENTITY,
    CONF_ENERGY_SENSOR,
    CONF_IDLE_POLL_SECONDS,
    CONF_PRINTER_TYPE,
    CONF_REFRESH_MINUTES,
    CONF_SERIAL,
    DOMAIN,
    PRINTER_BAMBU,
    PRINTER_PRUSA,
)
from custom_components.printernizer.costs import (
    OPT_AVERAGE_POWER,
    OPT_BUSINESS_END,
    OPT_BUSINESS_START,
    OPT_BUSINESS_WEEKDAYS,
    OPT_CATEGORY_MODE,
    OPT_ENERGY_PRICE,
    OPT_MATERIAL_OVERRIDES,
    OPT_VAT_PERCENT,
    OPT_WEAR_PER_HOUR,
    WEEKDAYS,
    CategoryMode,
    Material,
    material_price_option,
    parse_settings,
)
from custom_components.printernizer.settings import (
    cost_settings,
    energy_price,
    energy_price_entity,
    energy_sensor,
)

PLA = material_price_option(Material.PLA)
PETG = material_price_option(Material.PETG)
PRICE_ENTITY = "sensor.tariff_price"
PLUG_ENERGY = "sensor.printer_plug_energy"
COSTS = {
    PLA: 24.99,
    PETG: 27.5,
    OPT_ENERGY_PRICE: 0.3245,
    CONF_ENERGY_PRICE_ENTITY: PRICE_ENTITY,
    CONF_ENERGY_SENSOR: PLUG_ENERGY,
    OPT_AVERAGE_POWER: 120.0,
    OPT_WEAR_PER_HOUR: 0.15,
    OPT_VAT_PERCENT: 7.0,
}
CATEGORIES = {
    OPT_CATEGORY_MODE: "business_hours",
    OPT_BUSINESS_WEEKDAYS: ["mon", "tue", "sat"],
    OPT_BUSINESS_START: "22:00:00",
    OPT_BUSINESS_END: "06:00:00",
}
DEFAULT_CATEGORIES = {
    OPT_CATEGORY_MODE: "business_hours",
    OPT_BUSINESS_WEEKDAYS: ["mon", "tue", "wed", "thu", "fri"],
    OPT_BUSINESS_START: "08:00:00",
    OPT_BUSINESS_END: "18:00:00",
}
POLLING = {PRINTER_BAMBU: CONF_REFRESH_MINUTES, PRINTER_PRUSA: CONF_IDLE_POLL_SECONDS}
TRANSLATIONS = Path(config_flow.__file__).parent / "translations"


def _entry(
    hass: HomeAssistant, brand: str = PRINTER_BAMBU, options: dict[str, Any] | None = None
) -> MockConfigEntry:
    """A printer's entry, added but not set up (nothing connects to a printer)."""
    if brand == PRINTER_PRUSA:
        data = {
            CONF_PRINTER_TYPE: PRINTER_PRUSA,
            CONF_HOST: "192.0.2.20",
            CONF_USERNAME: "maker",
            CONF_PASSWORD: "secret",
            CONF_SERIAL: "SN-PRUSA",
        }
    else:
        data = {
            CONF_PRINTER_TYPE: PRINTER_BAMBU,
            CONF_HOST: "192.0.2.10",
            CONF_SERIAL: "01P00A000000001",
            CONF_ACCESS_CODE: "12345678",
        }
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=data[CONF_SERIAL], data=data, options=options or {}
    )
    entry.add_to_hass(hass)
    return entry


def _fields(result: FlowResult) -> dict[str, dict[str, Any]]:
    """The form as the frontend receives it, by name; section fields as `section.field`."""
    schema = result["data_schema"]
    assert isinstance(schema, vol.Schema)
    fields: dict[str, dict[str, Any]] = {}
    for field in voluptuous_serialize.convert(schema, custom_serializer=cv.custom_serializer):
        fields[field["name"]] = field
        if field.get("type") == "expandable":
            for inner in field["schema"]:
                fields[f"{field['name']}.{inner['name']}"] = inner
    return fields


def _section_suggestions(result: FlowResult, name: str) -> dict[str, Any]:
    """What a section's fields are pre-filled with (suggested values, never defaults)."""
    fields = _fields(result)[name]["schema"]
    assert not [field["name"] for field in fields if "default" in field]
    return {
        field["name"]: field["description"]["suggested_value"]
        for field in fields
        if "suggested_value" in field.get("description", {})
    }


async def _open(hass: HomeAssistant, entry: MockConfigEntry) -> FlowResult:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    return result


# -- the form --------------------------------------------------------------------------------


@pytest.mark.parametrize("brand", [PRINTER_BAMBU, PRINTER_PRUSA])
async def test_form_shows_current_values(hass: HomeAssistant, brand: str) -> None:
    polling = POLLING[brand]
    options = {polling: 45, CONF_COSTS: COSTS, CONF_CATEGORIES: CATEGORIES}
    result = await _open(hass, _entry(hass, brand, options))
    fields = _fields(result)
    assert list(fields) == [
        polling,
        CONF_COSTS,
        *(f"{CONF_COSTS}.{material_price_option(material)}" for material in Material),
        *(
            f"{CONF_COSTS}.{key}"
            for key in (
                OPT_MATERIAL_OVERRIDES,
                OPT_ENERGY_PRICE,
                CONF_ENERGY_PRICE_ENTITY,
                CONF_ENERGY_SENSOR,
                OPT_AVERAGE_POWER,
                OPT_WEAR_PER_HOUR,
                OPT_VAT_PERCENT,
            )
        ),
        CONF_CATEGORIES,
        *(
            f"{CONF_CATEGORIES}.{key}"
            for key in (
                OPT_CATEGORY_MODE,
                OPT_BUSINESS_WEEKDAYS,
                OPT_BUSINESS_START,
                OPT_BUSINESS_END,
            )
        ),
    ]
    assert fields[polling]["default"] == 45  # the brand's polling field stays on top
    assert fields[CONF_COSTS]["expanded"] is False
    assert fields[CONF_CATEGORIES]["expanded"] is False
    assert _section_suggestions(result, CONF_COSTS) == COSTS
    assert _section_suggestions(result, CONF_CATEGORIES) == CATEGORIES


async def test_form_without_options_suggests_the_cost_model_defaults(hass: HomeAssistant) -> None:
    result = await _open(hass, _entry(hass))
    assert _fields(result)[CONF_REFRESH_MINUTES]["default"] == 5
    # No prices and no VAT rate: nothing is assumed until the user enters it.
    assert _section_suggestions(result, CONF_COSTS) == {}
    assert _section_suggestions(result, CONF_CATEGORIES) == DEFAULT_CATEGORIES
    rule = parse_settings({}, currency="EUR").category
    assert [WEEKDAYS[day] for day in sorted(rule.weekdays)] == ["mon", "tue", "wed", "thu", "fri"]


async def test_form_selectors(hass: HomeAssistant) -> None:
    hass.config.currency = "CHF"
    result = await _open(hass, _entry(hass))
    fields = _fields(result)

    def selector(key: str, kind: str) -> dict[str, Any]:
        config: dict[str, Any] = fields[key]["selector"][kind]
        return config

    for material in Material:
        price = selector(f"{CONF_COSTS}.{material_price_option(material)}", "number")
        assert (price["min"], price["step"], price["mode"]) == (0, 0.01, "box")
        assert price["unit_of_measurement"] == "CHF/kg"
        assert "max" not in price
    assert selector(f"{CONF_COSTS}.{OPT_ENERGY_PRICE}", "number")["unit_of_measurement"] == (
        "CHF/kWh"
    )
    assert selector(f"{CONF_COSTS}.{OPT_WEAR_PER_HOUR}", "number")["unit_of_measurement"] == (
        "CHF/h"
    )
    assert selector(f"{CONF_COSTS}.{OPT_AVERAGE_POWER}", "number")["unit_of_measurement"] == "W"
    vat = selector(f"{CONF_COSTS}.{OPT_VAT_PERCENT}", "number")
    assert (vat["min"], vat["max"], vat["unit_of_measurement"]) == (0, 100, "%")
    price_entity = selector(f"{CONF_COSTS}.{CONF_ENERGY_PRICE_ENTITY}", "entity")
    assert price_entity["filter"] == [{"domain": ["sensor", "input_number"]}]
    meter = selector(f"{CONF_COSTS}.{CONF_ENERGY_SENSOR}", "entity")
    assert meter["filter"] == [{"domain": ["sensor"], "device_class": ["energy"]}]
    mode = selector(f"{CONF_CATEGORIES}.{OPT_CATEGORY_MODE}", "select")
    assert mode["options"] == [mode.value for mode in CategoryMode]
    assert mode["translation_key"] == "category_mode"
    days = selector(f"{CONF_CATEGORIES}.{OPT_BUSINESS_WEEKDAYS}", "select")
    assert (days["options"], days["multiple"]) == (list(WEEKDAYS), True)
    assert days["translation_key"] == "weekday"
    assert "time" in fields[f"{CONF_CATEGORIES}.{OPT_BUSINESS_START}"]["selector"]
    assert "time" in fields[f"{CONF_CATEGORIES}.{OPT_BUSINESS_END}"]["selector"]


# -- submitting ------------------------------------------------------------------------------


@pytest.mark.parametrize("brand", [PRINTER_BAMBU, PRINTER_PRUSA])
async def test_submit_stores_sections(hass: HomeAssistant, brand: str) -> None:
    polling = POLLING[brand]
    entry = _entry(hass, brand)
    result = await _open(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {polling: 60, CONF_COSTS: COSTS, CONF_CATEGORIES: CATEGORIES}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {polling: 60, CONF_COSTS: COSTS, CONF_CATEGORIES: CATEGORIES}

    settings = cost_settings(hass, entry.options)
    assert settings.material_prices == {
        Material.PLA: Decimal("24.99"),
        Material.PETG: Decimal("27.5"),
    }
    assert settings.energy_price_per_kwh == Decimal("0.3245")
    assert settings.average_power_w == Decimal(120)
    assert settings.wear_per_hour == Decimal("0.15")
    assert settings.vat_percent == Decimal(7)
    assert settings.category.weekdays == frozenset({0, 1, 5})
    assert (settings.category.start.hour, settings.category.end.hour) == (22, 6)
    assert energy_sensor(entry.options) == PLUG_ENERGY
    assert energy_price_entity(entry.options) == PRICE_ENTITY


async def test_clearing_a_price_makes_it_unknown(hass: HomeAssistant) -> None:
    entry = _entry(
        hass, options={CONF_REFRESH_MINUTES: 5, CONF_COSTS: COSTS, CONF_CATEGORIES: CATEGORIES}
    )
    result = await _open(hass, entry)
    # The frontend leaves cleared fields out of the section it sends.
    costs = {
        key: value
        for key, value in COSTS.items()
        if key not in (PLA, OPT_ENERGY_PRICE, CONF_ENERGY_PRICE_ENTITY, CONF_ENERGY_SENSOR)
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_REFRESH_MINUTES: 5, CONF_COSTS: costs, CONF_CATEGORIES: CATEGORIES},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_COSTS] == costs
    settings = cost_settings(hass, entry.options)
    assert Material.PLA not in settings.material_prices  # unknown, not 0
    assert settings.energy_price_per_kwh is None
    assert energy_sensor(entry.options) is None
    assert energy_price_entity(entry.options) is None
    assert energy_price(hass, entry.options, settings) is None

    result = await _open(hass, entry)
    assert PLA not in _section_suggestions(result, CONF_COSTS)


async def test_empty_sections_fall_back_to_defaults(hass: HomeAssistant) -> None:
    entry = _entry(hass, options={CONF_REFRESH_MINUTES: 5, CONF_COSTS: COSTS})
    result = await _open(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_REFRESH_MINUTES: 5, CONF_COSTS: {}, CONF_CATEGORIES: {}}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_REFRESH_MINUTES: 5, CONF_COSTS: {}, CONF_CATEGORIES: {}}
    assert cost_settings(hass, entry.options) == cost_settings(hass, {})


async def test_a_section_left_out_is_kept(hass: HomeAssistant) -> None:
    """Callers other than the frontend (scripts, tests) may send only the polling field."""
    entry = _entry(
        hass, options={CONF_REFRESH_MINUTES: 5, CONF_COSTS: COSTS, CONF_CATEGORIES: CATEGORIES}
    )
    result = await _open(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_REFRESH_MINUTES: 9}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_REFRESH_MINUTES: 9,
        CONF_COSTS: COSTS,
        CONF_CATEGORIES: CATEGORIES,
    }


# -- rejected input --------------------------------------------------------------------------


async def test_equal_business_hours_are_rejected_and_the_input_kept(hass: HomeAssistant) -> None:
    stored = {CONF_REFRESH_MINUTES: 5, CONF_COSTS: COSTS, CONF_CATEGORIES: CATEGORIES}
    entry = _entry(hass, options=stored)
    result = await _open(hass, entry)
    costs = {PLA: 30.0, OPT_VAT_PERCENT: 0.0}
    categories = {
        OPT_CATEGORY_MODE: "business_hours",
        OPT_BUSINESS_WEEKDAYS: ["wed"],
        OPT_BUSINESS_START: "09:00:00",
        OPT_BUSINESS_END: "09:00",
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_REFRESH_MINUTES: 12, CONF_COSTS: costs, CONF_CATEGORIES: categories},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_business_hours"}
    assert entry.options == stored
    assert _fields(result)[CONF_REFRESH_MINUTES]["default"] == 12
    assert _section_suggestions(result, CONF_COSTS) == costs
    assert _section_suggestions(result, CONF_CATEGORIES) == categories

    categories[OPT_BUSINESS_END] = "17:30:00"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_REFRESH_MINUTES: 12, CONF_COSTS: costs, CONF_CATEGORIES: categories},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_REFRESH_MINUTES: 12,
        CONF_COSTS: costs,
        CONF_CATEGORIES: categories,
    }


async def test_a_number_the_selector_lets_through_is_rejected(hass: HomeAssistant) -> None:
    entry = _entry(hass)
    result = await _open(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_REFRESH_MINUTES: 5,
            CONF_COSTS: {PLA: float("nan")},
            CONF_CATEGORIES: DEFAULT_CATEGORIES,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_costs"}
    assert entry.options == {}


# -- settings.py -----------------------------------------------------------------------------


async def test_missing_sections_give_defaults(hass: HomeAssistant) -> None:
    for options in ({}, {CONF_REFRESH_MINUTES: 5}, {CONF_COSTS: None, CONF_CATEGORIES: "x"}):
        settings = cost_settings(hass, options)
        assert settings.material_prices == {}
        assert settings.energy_price_per_kwh is None
        assert settings.average_power_w is None
        assert settings.wear_per_hour == 0
        assert settings.vat_percent == 0  # no VAT until the user sets a rate
        assert settings.currency == "EUR"
        assert settings.category.mode is CategoryMode.BUSINESS_HOURS
        assert energy_sensor(options) is None
        assert energy_price_entity(options) is None
        assert energy_price(hass, options, settings) is None
    hass.config.currency = "USD"
    assert cost_settings(hass, {}).currency == "USD"
    # An entry that stored a rate (older forms suggested 19 %) keeps it.
    stored = cost_settings(hass, {CONF_COSTS: {OPT_VAT_PERCENT: 19.0}})
    assert stored.vat_percent == Decimal(19)


async def test_cost_settings_names_the_bad_option(hass: HomeAssistant) -> None:
    with pytest.raises(ValueError, match=OPT_VAT_PERCENT):
        cost_settings(hass, {CONF_COSTS: {OPT_VAT_PERCENT: 101}})
    with pytest.raises(ValueError, match=OPT_BUSINESS_WEEKDAYS):
        cost_settings(hass, {CONF_CATEGORIES: {OPT_BUSINESS_WEEKDAYS: ["someday"]}})


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("0.4123", Decimal("0.4123")),
        ("0", Decimal(0)),
        (" 0.5 ", Decimal("0.5")),
        ("unknown", Decimal("0.3245")),
        ("unavailable", Decimal("0.3245")),
        ("cheap", Decimal("0.3245")),
        ("", Decimal("0.3245")),
        ("-0.02", Decimal("0.3245")),  # negative spot price: the cost model has no use for it
        ("nan", Decimal("0.3245")),
        ("inf", Decimal("0.3245")),
        (None, Decimal("0.3245")),  # the entity does not exist (any more)
    ],
)
async def test_energy_price(hass: HomeAssistant, state: str | None, expected: Decimal) -> None:
    options = {CONF_COSTS: {OPT_ENERGY_PRICE: 0.3245, CONF_ENERGY_PRICE_ENTITY: PRICE_ENTITY}}
    if state is not None:
        hass.states.async_set(PRICE_ENTITY, state)
    settings = cost_settings(hass, options)
    assert energy_price(hass, options, settings) == expected


async def test_energy_price_entity_without_fixed_price(hass: HomeAssistant) -> None:
    options = {CONF_COSTS: {CONF_ENERGY_PRICE_ENTITY: "input_number.price"}}
    settings = cost_settings(hass, options)
    assert energy_price(hass, options, settings) is None
    hass.states.async_set("input_number.price", "0.28")
    assert energy_price(hass, options, settings) == Decimal("0.28")
    hass.states.async_set("input_number.price", "unavailable")
    assert energy_price(hass, options, settings) is None


async def test_fixed_price_without_entity(hass: HomeAssistant) -> None:
    hass.states.async_set(PRICE_ENTITY, "0.99")  # exists, but is not configured
    options = {CONF_COSTS: {OPT_ENERGY_PRICE: "0,31", CONF_ENERGY_PRICE_ENTITY: ""}}
    settings = cost_settings(hass, options)
    assert energy_price_entity(options) is None
    assert energy_price(hass, options, settings) == Decimal("0.31")


# -- translations ----------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "de"])
async def test_every_field_is_translated(hass: HomeAssistant, language: str) -> None:
    strings = json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))
    step = strings["options"]["step"]["init"]
    for brand, polling in POLLING.items():
        result = await _open(hass, _entry(hass, brand))
        for name, field in _fields(result).items():
            if field.get("type") == "expandable":
                assert step["sections"][name]["name"]
                continue
            if "." not in name:
                assert step["data"][name]
                assert step["data_description"][name]
                continue
            section_name, key = name.split(".")
            section_strings = step["sections"][section_name]
            assert section_strings["data"][key], name
            assert section_strings["data_description"][key], name
            select = field["selector"].get("select", {})
            if translation_key := select.get("translation_key"):
                labels = strings["selector"][translation_key]["options"]
                assert set(labels) == set(select["options"]), name
        assert polling in step["data"]
    assert set(strings["options"]["error"]) >= {"invalid_business_hours", "invalid_costs"}
