"""Cost settings: the fleet's and a printer's options-flow sections read for the cost model.

The options flows store costs and categories as two sections (nested dicts, see
options_flow); `costs.parse_settings` wants one flat mapping and no Home Assistant. This module
is the one place that bridges the two: it lays a printer's overrides over the fleet's prices,
adds the currency (the fleet's, else HA's), and reads the live energy price entity.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import (
    CONF_CATEGORIES,
    CONF_COSTS,
    CONF_CURRENCY,
    CONF_ENERGY_PRICE_ENTITY,
    CONF_ENERGY_SENSOR,
    CONF_ENTRY_TYPE,
    DOMAIN,
    ENTRY_TYPE_FLEET,
)
from .costs import (
    OPT_BUSINESS_END,
    OPT_BUSINESS_START,
    OPT_BUSINESS_WEEKDAYS,
    OPT_CATEGORY_MODE,
    OPT_ENERGY_PRICE,
    OPT_MATERIAL_OVERRIDES,
    OPT_VAT_PERCENT,
    WEEKDAYS,
    CategoryRule,
    CostSettings,
    Material,
    material_price_option,
    parse_settings,
)

# What the fleet's costs section holds and a printer may override (the machine's meter, power
# and wear are the printer's alone). The fixed energy price and the price entity go together:
# a printer that sets either takes neither from the fleet.
ENERGY_PRICE_KEYS = (OPT_ENERGY_PRICE, CONF_ENERGY_PRICE_ENTITY)
FLEET_PRICE_KEYS = frozenset(
    {*(material_price_option(material) for material in Material), *ENERGY_PRICE_KEYS}
    | {OPT_VAT_PERCENT, OPT_MATERIAL_OVERRIDES}
)
# Fleet options a migration derived before its fleet entry exists (the entry is being created).
DATA_FLEET_SEED: HassKey[dict[str, Any]] = HassKey("printernizer_fleet_seed")


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
    return parse_settings(flat, currency=fleet_currency(hass, options))


def is_fleet_entry(entry: ConfigEntry[Any]) -> bool:
    """Whether the entry is the fleet's, not a printer's."""
    return entry.data.get(CONF_ENTRY_TYPE) == ENTRY_TYPE_FLEET


def fleet_entry(hass: HomeAssistant) -> ConfigEntry[Any] | None:
    """The fleet's config entry, loaded or not."""
    return next(
        (entry for entry in hass.config_entries.async_entries(DOMAIN) if is_fleet_entry(entry)),
        None,
    )


def fleet_options(hass: HomeAssistant) -> Mapping[str, Any]:
    """The fleet's options; while a migration's fleet entry is being created, its seed."""
    if (entry := fleet_entry(hass)) is not None:
        return entry.options
    seed = hass.data.get(DATA_FLEET_SEED)
    return {} if seed is None else seed


def _set(value: Any) -> bool:
    return value is not None and value != ""


def merged_options(fleet: Mapping[str, Any], printer: Mapping[str, Any]) -> dict[str, Any]:
    """A printer's options with the fleet's prices, VAT, currency and hours beneath its own.

    What the printer sets wins; what it leaves empty comes from the fleet. The categories
    section is one rule: a printer's non-empty section replaces the fleet's whole.
    """
    costs = {
        key: value
        for key, value in _section(fleet, CONF_COSTS).items()
        if (key in FLEET_PRICE_KEYS or key == CONF_CURRENCY) and _set(value)
    }
    own = {key: value for key, value in _section(printer, CONF_COSTS).items() if _set(value)}
    if any(key in own for key in ENERGY_PRICE_KEYS):
        for key in ENERGY_PRICE_KEYS:
            costs.pop(key, None)
    costs |= own
    categories = _section(printer, CONF_CATEGORIES) or _section(fleet, CONF_CATEGORIES)
    return {**printer, CONF_COSTS: costs, CONF_CATEGORIES: dict(categories)}


def printer_cost_options(hass: HomeAssistant, printer: Mapping[str, Any]) -> dict[str, Any]:
    """The options a printer prices its jobs with: the fleet's under its own overrides."""
    return merged_options(fleet_options(hass), printer)


def fleet_seed(printer: Mapping[str, Any]) -> dict[str, Any]:
    """The first fleet options a migration takes from a printer: its prices, VAT and hours."""
    costs = {
        key: value
        for key, value in _section(printer, CONF_COSTS).items()
        if key in FLEET_PRICE_KEYS and _set(value)
    }
    return {CONF_COSTS: costs, CONF_CATEGORIES: dict(_section(printer, CONF_CATEGORIES))}


def migrated_options(fleet: Mapping[str, Any], printer: Mapping[str, Any]) -> dict[str, Any]:
    """`printer_overrides` for an entry from before the fleet: what it billed, it bills.

    Before the fleet an unset VAT rate meant none and unset hours meant the defaults; under a
    fleet with a rate or other hours they would change the printer's bills, so they become
    explicit overrides. An unset price was unknown: the fleet's fills it in.
    """
    result = printer_overrides(fleet, printer)
    own, fleet_costs = _section(printer, CONF_COSTS), _section(fleet, CONF_COSTS)
    fleet_vat = fleet_costs.get(OPT_VAT_PERCENT)
    if not _set(own.get(OPT_VAT_PERCENT)) and _set(fleet_vat) and not _same(fleet_vat, 0):
        result[CONF_COSTS] = {**_section(result, CONF_COSTS), OPT_VAT_PERCENT: 0}
    default = parse_settings({}, currency="").category
    if (
        not _section(printer, CONF_CATEGORIES)
        and _rule(_section(fleet, CONF_CATEGORIES)) != default
    ):
        result[CONF_CATEGORIES] = {
            OPT_CATEGORY_MODE: default.mode.value,
            OPT_BUSINESS_WEEKDAYS: [WEEKDAYS[day] for day in sorted(default.weekdays)],
            OPT_BUSINESS_START: default.start.isoformat(),
            OPT_BUSINESS_END: default.end.isoformat(),
        }
    return result


def fleet_currency(hass: HomeAssistant, options: Mapping[str, Any]) -> str:
    """The fleet's currency: the one set in its options, else Home Assistant's."""
    currency = _section(options, CONF_COSTS).get(CONF_CURRENCY)
    return currency if isinstance(currency, str) and currency else hass.config.currency


def _same(stored: Any, fleet: Any) -> bool:
    """Whether two option values mean the same (12 and 12.0 do; empty and unset do)."""
    if not _set(stored) or not _set(fleet):
        return not _set(stored) and not _set(fleet)
    try:
        return Decimal(str(stored)) == Decimal(str(fleet))
    except InvalidOperation:
        return bool(stored == fleet)


def _rule(categories: Mapping[str, Any]) -> CategoryRule | None:
    try:
        return parse_settings(categories, currency="").category
    except ValueError:
        return None


def printer_overrides(fleet: Mapping[str, Any], printer: Mapping[str, Any]) -> dict[str, Any]:
    """The printer's options without what equals the fleet's, so that follows the fleet.

    The meter, power and wear are the machine's own and stay. A price or the VAT rate stays
    where it differs from the fleet's, the energy price pair where either differs, and the
    categories section where its rule differs (else it is emptied). Nothing else changes.
    """
    result = dict(printer)
    fleet_costs = _section(fleet, CONF_COSTS)
    if CONF_COSTS in printer:
        costs = dict(_section(printer, CONF_COSTS))
        for key in list(costs):
            if (
                key in FLEET_PRICE_KEYS
                and key not in ENERGY_PRICE_KEYS
                and _same(costs[key], fleet_costs.get(key))
            ):
                del costs[key]
        if all(_same(costs.get(key), fleet_costs.get(key)) for key in ENERGY_PRICE_KEYS):
            for key in ENERGY_PRICE_KEYS:
                costs.pop(key, None)
        result[CONF_COSTS] = costs
    categories = _section(printer, CONF_CATEGORIES)
    rule = _rule(categories) if categories else None
    if rule is not None and rule == _rule(_section(fleet, CONF_CATEGORIES)):
        result[CONF_CATEGORIES] = {}
    return result


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
