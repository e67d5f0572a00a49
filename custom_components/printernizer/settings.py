"""Cost settings of a config entry: its options-flow sections read for the pure cost model.

The options flow stores costs and categories as two sections (nested dicts, see config_flow);
`costs.parse_settings` wants one flat mapping and no Home Assistant. This module is the one
place that bridges the two, adds HA's currency, and reads the live energy price entity.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from homeassistant.core import HomeAssistant

from .const import CONF_CATEGORIES, CONF_COSTS, CONF_ENERGY_PRICE_ENTITY, CONF_ENERGY_SENSOR
from .costs import CostSettings, parse_settings


def _section(options: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """One section of the options; missing (never opened, older entries) reads as empty."""
    value = options.get(key)
    return value if isinstance(value, Mapping) else {}


def cost_settings(hass: HomeAssistant, options: Mapping[str, Any]) -> CostSettings:
    """The entry's CostSettings in HA's currency.

    Both sections are flattened into the one mapping `parse_settings` reads (their keys do not
    overlap); a missing section or value takes the cost model's default, so an entry whose
    options were never saved costs with unknown prices, no wear and no VAT. Raises
    ValueError naming the bad option, as `parse_settings` does.
    """
    flat = {**_section(options, CONF_COSTS), **_section(options, CONF_CATEGORIES)}
    return parse_settings(flat, currency=hass.config.currency)


def _entity(options: Mapping[str, Any], key: str) -> str | None:
    value = _section(options, CONF_COSTS).get(key)
    return value if isinstance(value, str) and value else None


def energy_sensor(options: Mapping[str, Any]) -> str | None:
    """The energy meter (smart plug) measuring the printer, if one is configured.

    With a meter a job's energy is measured from its readings; without, it is estimated from
    the average power.
    """
    return _entity(options, CONF_ENERGY_SENSOR)


def energy_price_entity(options: Mapping[str, Any]) -> str | None:
    """The sensor or input_number holding the current energy price, if one is configured."""
    return _entity(options, CONF_ENERGY_PRICE_ENTITY)


def energy_price(
    hass: HomeAssistant, options: Mapping[str, Any], settings: CostSettings
) -> Decimal | None:
    """Price per kWh to cost energy with now: the price entity's state, else the fixed price.

    A dynamic tariff's entity changes through the day, so it is read when a job is costed; it
    wins whenever its state is a finite number >= 0 (taken as currency per kWh). Otherwise,
    when it is unknown, unavailable, removed, not a number, or negative (spot prices can be,
    the cost model rejects it), the fixed price from the options is used, which may be None
    (unknown): a broken entity never costs energy at 0.
    """
    if (entity_id := energy_price_entity(options)) and (state := hass.states.get(entity_id)):
        try:
            price = Decimal(state.state)
        except InvalidOperation:
            price = None
        if price is not None and price.is_finite() and price >= 0:
            return price
    return settings.energy_price_per_kwh
