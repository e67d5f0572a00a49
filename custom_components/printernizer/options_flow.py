"""Options: a printer's machine settings and price overrides, and the fleet's prices and hours.

Both forms store the same two sections, `{"costs": {...}, "categories": {...}}`, each holding
only the fields that have a value (a cleared price is absent: unknown, never 0). The fleet's
hold the prices, VAT, currency and business hours every printer shares; a printer's hold its
energy meter, average power and wear, and whatever it prices differently (see
`settings.merged_options`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.generated.currencies import ACTIVE_CURRENCIES
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TimeSelector,
)
import voluptuous as vol

from .const import (
    CONF_CATEGORIES,
    CONF_COSTS,
    CONF_CURRENCY,
    CONF_ENERGY_PRICE_ENTITY,
    CONF_ENERGY_SENSOR,
    CONF_IDLE_POLL_SECONDS,
    CONF_PRINTER_TYPE,
    CONF_REFRESH_MINUTES,
    DEFAULT_IDLE_POLL_SECONDS,
    DEFAULT_REFRESH_MINUTES,
    LOGGER,
    PRINTER_PRUSA,
)
from .costs import (
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
    MaterialOverrideError,
    material_price_option,
    parse_settings,
)
from .file_settings import (
    CONF_FILES,
    DEFAULT_MAX_FILE_MB,
    DEFAULT_MIN_FREE_MB,
    MAX_FILE_MB,
    MAX_FREE_MB,
    MAX_KEEP_DAYS,
    OPT_AUTO_TIMELAPSE,
    OPT_KEEP_DAYS,
    OPT_MAX_FILE_MB,
    OPT_MIN_FREE_MB,
)
from .settings import (
    cost_settings,
    fleet_currency,
    fleet_options,
    merged_options,
    printer_overrides,
)

# What the cost model assumes for options never set: the sections suggest these.
_DEFAULT_SETTINGS = parse_settings({}, currency="")
STEP_FLEET = "fleet"


class PrinternizerOptionsFlow(OptionsFlow):
    """Per-printer tunables: the brand's polling field, then costs and categories sections.

    Stored options: `{<polling key>: n, "costs": {...}, "categories": {...}}`. The form shows
    what the printer prices with now (the fleet's values under its own); what is saved equal
    to the fleet's is left out, so it follows later changes of the fleet.
    """

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form; it is checked with the cost model before it is stored."""
        errors: dict[str, str] = {}
        fleet = fleet_options(self.hass)
        values: Mapping[str, Any] = self.config_entry.options
        if user_input is not None:
            # The frontend always sends both sections; a caller that leaves one out keeps it.
            options = {**self.config_entry.options, **user_input}
            if not (errors := _options_errors(self.hass, merged_options(fleet, options))):
                return self.async_create_entry(data=printer_overrides(fleet, options))
            values = options
        shown = merged_options(fleet, values)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                _options_schema(self.hass, self.config_entry.data[CONF_PRINTER_TYPE], values),
                _suggestions(shown),
            ),
            errors=errors,
        )


class FleetOptionsFlow(OptionsFlow):
    """The fleet's prices, VAT rate, currency and business hours; every printer reads them."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The fleet's form has its own step (and texts)."""
        return await self.async_step_fleet()

    async def async_step_fleet(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """One form, checked with the cost model before it is stored."""
        errors: dict[str, str] = {}
        values: Mapping[str, Any] = self.config_entry.options
        if user_input is not None:
            options = {**self.config_entry.options, **user_input}
            if not (errors := _options_errors(self.hass, options)):
                return self.async_create_entry(data=options)
            values = options
        suggestions = _suggestions(values)
        suggestions[CONF_COSTS].setdefault(CONF_CURRENCY, self.hass.config.currency)
        suggestions[CONF_FILES] = _file_suggestions(values)
        return self.async_show_form(
            step_id=STEP_FLEET,
            data_schema=self.add_suggested_values_to_schema(
                _fleet_schema(fleet_currency(self.hass, values)), suggestions
            ),
            errors=errors,
        )


def _options_errors(hass: HomeAssistant, options: Mapping[str, Any]) -> dict[str, str]:
    """The form error for options the cost model rejects, by the section at fault.

    The selectors already bound every field, so the categories section can only fail on its
    times (start equal to end); the costs section on a number the selector lets through
    (NaN, infinity).
    """
    try:
        cost_settings(hass, {CONF_CATEGORIES: options.get(CONF_CATEGORIES, {})})
    except ValueError as err:
        LOGGER.debug("Rejected categories options: %s", err)
        return {"base": "invalid_business_hours"}
    try:
        cost_settings(hass, options)
    except MaterialOverrideError as err:
        LOGGER.debug("Rejected material price overrides: %s", err)
        return {"base": "invalid_material_overrides"}
    except ValueError as err:
        LOGGER.debug("Rejected costs options: %s", err)
        return {"base": "invalid_costs"}
    return {}


def _suggestions(values: Mapping[str, Any]) -> dict[str, Any]:
    """What the sections' fields show: stored (or just entered) values over the defaults.

    Section fields carry no voluptuous defaults: a default would be put back into a field the
    user cleared, and a price must be clearable. The polling field keeps its default.
    """
    rule = _DEFAULT_SETTINGS.category
    defaults: dict[str, dict[str, Any]] = {
        CONF_COSTS: {},  # empty VAT means none: the user sets a rate, none is assumed
        CONF_CATEGORIES: {
            OPT_CATEGORY_MODE: rule.mode.value,
            OPT_BUSINESS_WEEKDAYS: [WEEKDAYS[day] for day in sorted(rule.weekdays)],
            OPT_BUSINESS_START: rule.start.isoformat(),
            OPT_BUSINESS_END: rule.end.isoformat(),
        },
    }
    suggestions: dict[str, Any] = {}
    for key, section_defaults in defaults.items():
        current = values.get(key)
        merged = {**section_defaults, **(current if isinstance(current, Mapping) else {})}
        suggestions[key] = {name: value for name, value in merged.items() if value is not None}
    return suggestions


def _box(
    unit: str, *, step: float | Literal["any"] = 0.01, high: float | None = None
) -> NumberSelector:
    config = NumberSelectorConfig(
        min=0, step=step, mode=NumberSelectorMode.BOX, unit_of_measurement=unit
    )
    if high is not None:
        config["max"] = high
    return NumberSelector(config)


def _price_fields(currency: str) -> dict[vol.Marker, Any]:
    """Material prices, the fixed energy price and its entity: the fleet's, or a printer's own."""
    fields: dict[vol.Marker, Any] = {
        vol.Optional(material_price_option(material)): _box(f"{currency}/kg")
        for material in Material
    }
    fields[vol.Optional(OPT_MATERIAL_OVERRIDES)] = TextSelector(TextSelectorConfig(multiline=True))
    fields |= {
        vol.Optional(OPT_ENERGY_PRICE): _box(f"{currency}/kWh", step="any"),  # tariffs: 0.3245
        vol.Optional(CONF_ENERGY_PRICE_ENTITY): EntitySelector(
            EntitySelectorConfig(filter={"domain": ["sensor", "input_number"]})
        ),
    }
    return fields


def _categories_fields() -> dict[vol.Marker, Any]:
    return {
        vol.Optional(OPT_CATEGORY_MODE): SelectSelector(
            SelectSelectorConfig(
                options=[mode.value for mode in CategoryMode],
                mode=SelectSelectorMode.LIST,
                translation_key="category_mode",
            )
        ),
        vol.Optional(OPT_BUSINESS_WEEKDAYS): SelectSelector(
            SelectSelectorConfig(
                options=list(WEEKDAYS),
                multiple=True,
                mode=SelectSelectorMode.LIST,
                translation_key="weekday",
            )
        ),
        vol.Optional(OPT_BUSINESS_START): TimeSelector(),
        vol.Optional(OPT_BUSINESS_END): TimeSelector(),
    }


def _vat() -> NumberSelector:
    return _box("%", step=0.1, high=100)


def _options_schema(
    hass: HomeAssistant, printer_type: str, values: Mapping[str, Any]
) -> vol.Schema:
    """The brand's polling field (default: its current value) and the two collapsed sections."""
    if printer_type == PRINTER_PRUSA:
        key, default, low, high, unit = (
            CONF_IDLE_POLL_SECONDS,
            DEFAULT_IDLE_POLL_SECONDS,
            30,
            300,
            "s",
        )
    else:
        key, default, low, high, unit = (
            CONF_REFRESH_MINUTES,
            DEFAULT_REFRESH_MINUTES,
            1,
            60,
            "min",
        )
    currency = fleet_currency(hass, fleet_options(hass))
    costs_fields = _price_fields(currency) | {
        vol.Optional(CONF_ENERGY_SENSOR): EntitySelector(
            EntitySelectorConfig(filter={"domain": "sensor", "device_class": "energy"})
        ),
        vol.Optional(OPT_AVERAGE_POWER): _box("W", step=1),
        vol.Optional(OPT_WEAR_PER_HOUR): _box(f"{currency}/h"),
        vol.Optional(OPT_VAT_PERCENT): _vat(),
    }
    return vol.Schema(
        {
            vol.Required(key, default=values.get(key, default)): NumberSelector(
                NumberSelectorConfig(
                    min=low,
                    max=high,
                    step=1,
                    mode=NumberSelectorMode.BOX,
                    unit_of_measurement=unit,
                )
            ),
            vol.Optional(CONF_COSTS): section(vol.Schema(costs_fields), {"collapsed": True}),
            vol.Optional(CONF_CATEGORIES): section(
                vol.Schema(_categories_fields()), {"collapsed": True}
            ),
        }
    )


def _file_suggestions(values: Mapping[str, Any]) -> dict[str, Any]:
    """The files section's fields: stored values over the defaults (see file_settings)."""
    stored = values.get(CONF_FILES)
    return {
        OPT_AUTO_TIMELAPSE: False,
        OPT_MAX_FILE_MB: DEFAULT_MAX_FILE_MB,
        OPT_MIN_FREE_MB: DEFAULT_MIN_FREE_MB,
        OPT_KEEP_DAYS: 0,
        **(stored if isinstance(stored, Mapping) else {}),
    }


def _files_fields() -> dict[vol.Marker, Any]:
    """Timelapses fetched after each print, download limits, how long copies stay."""
    return {
        vol.Optional(OPT_AUTO_TIMELAPSE): BooleanSelector(),
        vol.Optional(OPT_MAX_FILE_MB): _box("MB", step=1, high=MAX_FILE_MB),
        vol.Optional(OPT_MIN_FREE_MB): _box("MB", step=1, high=MAX_FREE_MB),
        vol.Optional(OPT_KEEP_DAYS): _box("d", step=1, high=MAX_KEEP_DAYS),
    }


def _fleet_schema(currency: str) -> vol.Schema:
    """Prices, VAT and currency; then business hours. Both open: this is where prices live."""
    costs_fields = _price_fields(currency) | {
        vol.Optional(OPT_VAT_PERCENT): _vat(),
        vol.Optional(CONF_CURRENCY): SelectSelector(
            SelectSelectorConfig(
                options=sorted(ACTIVE_CURRENCIES), mode=SelectSelectorMode.DROPDOWN
            )
        ),
    }
    return vol.Schema(
        {
            vol.Optional(CONF_COSTS): section(vol.Schema(costs_fields), {"collapsed": False}),
            vol.Optional(CONF_CATEGORIES): section(
                vol.Schema(_categories_fields()), {"collapsed": False}
            ),
            vol.Optional(CONF_FILES): section(vol.Schema(_files_fields()), {"collapsed": True}),
        }
    )
