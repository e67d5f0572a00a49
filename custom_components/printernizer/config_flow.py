"""Adding a printer: pick the brand, enter its connection, and it is checked live."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .connect import bambu_config
from .const import (
    CONF_ACCESS_CODE,
    CONF_CERTIFICATE,
    CONF_FTPS_PORT,
    CONF_MODEL,
    CONF_MQTT_PORT,
    CONF_PRINTER_TYPE,
    CONF_REFRESH_MINUTES,
    CONF_SERIAL,
    DEFAULT_FTPS_PORT,
    DEFAULT_MQTT_PORT,
    DEFAULT_REFRESH_MINUTES,
    DOMAIN,
    LOGGER,
    PRINTER_BAMBU,
)
from .printers.bambu.adapter import BambuAdapter, Timing
from .printers.bambu.tls import fetch_certificate, fingerprint
from .printers.errors import (
    AuthenticationError,
    CertificateMismatchError,
    PrinterOfflineError,
    PrinterTimeoutError,
    WrongSerialError,
)
from .printers.models import DeviceInfo

CONF_ADVANCED = "advanced"
# Seconds a printer gets to send its identity and first report while the user waits.
VALIDATION_TIMEOUT = 10.0

_PORT = NumberSelector(NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX))
_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def _bambu_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, "")): str,
            vol.Required(CONF_SERIAL, default=defaults.get(CONF_SERIAL, "")): str,
            vol.Required(CONF_ACCESS_CODE): _PASSWORD,
            vol.Required(CONF_ADVANCED): section(
                vol.Schema(
                    {
                        vol.Required(
                            CONF_MQTT_PORT,
                            default=defaults.get(CONF_MQTT_PORT, DEFAULT_MQTT_PORT),
                        ): _PORT,
                        vol.Required(
                            CONF_FTPS_PORT,
                            default=defaults.get(CONF_FTPS_PORT, DEFAULT_FTPS_PORT),
                        ): _PORT,
                    }
                ),
                {"collapsed": True},
            ),
        }
    )


async def _validate_bambu(data: dict[str, Any]) -> tuple[DeviceInfo, dict[str, str]]:
    """Log in to the printer and wait for its identity and a full report.

    Returns the identity and the form errors; the adapter is stopped either way.
    """
    loop = asyncio.get_running_loop()
    try:
        if CONF_CERTIFICATE not in data:
            data[CONF_CERTIFICATE] = await loop.run_in_executor(
                None, fetch_certificate, data[CONF_HOST], data[CONF_MQTT_PORT]
            )
        adapter = BambuAdapter(bambu_config(data), Timing(setup_timeout=VALIDATION_TIMEOUT))
        await adapter.start()
    except AuthenticationError:
        return DeviceInfo(serial=data[CONF_SERIAL]), {"base": "invalid_auth"}
    except WrongSerialError:
        return DeviceInfo(serial=data[CONF_SERIAL]), {"base": "wrong_serial"}
    except CertificateMismatchError:
        return DeviceInfo(serial=data[CONF_SERIAL]), {"base": "certificate_changed"}
    except PrinterTimeoutError:
        return DeviceInfo(serial=data[CONF_SERIAL]), {"base": "timeout"}
    except PrinterOfflineError:
        return DeviceInfo(serial=data[CONF_SERIAL]), {"base": "cannot_connect"}
    except Exception:
        LOGGER.exception("Unexpected error while adding printer %s", data[CONF_SERIAL])
        return DeviceInfo(serial=data[CONF_SERIAL]), {"base": "unknown"}
    await adapter.stop()
    return adapter.device_info, {}


class PrinternizerConfigFlow(ConfigFlow, domain=DOMAIN):
    """One config entry per printer, keyed by its serial."""

    VERSION = 1

    def __init__(self) -> None:
        """Start an empty flow."""
        self._data: dict[str, Any] = {}
        self._device: DeviceInfo | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> PrinternizerOptionsFlow:
        """Tunables of a printer."""
        return PrinternizerOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the printer brand."""
        return self.async_show_menu(step_id="user", menu_options=[PRINTER_BAMBU])

    async def async_step_bambu(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Host, serial and access code of a Bambu Lab printer."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {
                CONF_PRINTER_TYPE: PRINTER_BAMBU,
                CONF_HOST: user_input[CONF_HOST].strip(),
                CONF_SERIAL: user_input[CONF_SERIAL].strip().upper(),
                CONF_ACCESS_CODE: user_input[CONF_ACCESS_CODE].strip(),
                CONF_MQTT_PORT: int(user_input[CONF_ADVANCED][CONF_MQTT_PORT]),
                CONF_FTPS_PORT: int(user_input[CONF_ADVANCED][CONF_FTPS_PORT]),
            }
            await self.async_set_unique_id(data[CONF_SERIAL])
            self._abort_if_unique_id_configured()
            self._device, errors = await _validate_bambu(data)
            if not errors:
                self._data = data
                return await self.async_step_bambu_confirm()
            user_input = {**user_input, **data}
        return self.async_show_form(
            step_id="bambu", data_schema=_bambu_schema(user_input or {}), errors=errors
        )

    async def async_step_bambu_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what was found and which certificate will be trusted from now on."""
        assert self._device is not None
        model = self._device.model or "Bambu Lab"
        if user_input is not None:
            return self.async_create_entry(
                title=f"{model} {self._data[CONF_SERIAL]}",
                data={**self._data, CONF_MODEL: self._device.model},
            )
        return self.async_show_form(
            step_id="bambu_confirm",
            description_placeholders={
                "model": model,
                "serial": self._data[CONF_SERIAL],
                "firmware": self._device.firmware or "-",
                "fingerprint": fingerprint(self._data[CONF_CERTIFICATE]),
            },
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The printer rejected the stored access code."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the new access code and check it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_ACCESS_CODE: user_input[CONF_ACCESS_CODE].strip()}
            _, errors = await _validate_bambu(data)
            if not errors:
                return self._async_update_and_abort(entry, data, "reauth_successful")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_ACCESS_CODE): _PASSWORD}),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The printer moved to another address; its certificate is fetched anew."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_HOST: user_input[CONF_HOST].strip()}
            del data[CONF_CERTIFICATE]
            _, errors = await _validate_bambu(data)
            if not errors:
                return self._async_update_and_abort(entry, data, "reconfigure_successful")
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=vol.Schema({vol.Required(CONF_HOST, default=entry.data[CONF_HOST]): str}),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    def _async_update_and_abort(
        self, entry: ConfigEntry, data: dict[str, Any], reason: str
    ) -> ConfigFlowResult:
        """Store the checked data and make the entry use it.

        A loaded entry reloads through its update listener (when the data changed). One whose
        setup failed, typically on the very code or certificate fixed here, has no listener:
        set it up again now instead of at the next restart.
        """
        loaded = entry.state is ConfigEntryState.LOADED  # the listener starts unloading at once
        self.hass.config_entries.async_update_entry(entry, data=data)
        if not loaded:
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_abort(reason=reason)


class PrinternizerOptionsFlow(OptionsFlow):
    """Per-printer tunables; costs and files add their sections here later."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The tunables form."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {
                    vol.Required(
                        CONF_REFRESH_MINUTES,
                        default=self.config_entry.options.get(
                            CONF_REFRESH_MINUTES, DEFAULT_REFRESH_MINUTES
                        ),
                    ): NumberSelector(
                        NumberSelectorConfig(
                            min=1,
                            max=60,
                            step=1,
                            mode=NumberSelectorMode.BOX,
                            unit_of_measurement="min",
                        )
                    ),
                }
            ),
        )
