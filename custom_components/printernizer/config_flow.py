"""Adding a printer: pick the brand, enter its connection, and it is checked live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.dhcp import DhcpServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import voluptuous as vol

from .connect import bambu_config, prusa_config
from .const import (
    AUTH_API_KEY,
    AUTH_PASSWORD,
    CONF_ACCESS_CODE,
    CONF_AUTH_METHOD,
    CONF_CERTIFICATE,
    CONF_ENTRY_TYPE,
    CONF_FTPS_PORT,
    CONF_MODEL,
    CONF_MQTT_PORT,
    CONF_PRINTER_TYPE,
    CONF_SERIAL,
    DEFAULT_FTPS_PORT,
    DEFAULT_MQTT_PORT,
    DEFAULT_USERNAME,
    DOMAIN,
    ENTRY_TYPE_FLEET,
    FLEET_UNIQUE_ID,
    LOGGER,
    PRINTER_BAMBU,
    PRINTER_PRUSA,
)
from .discovery.ssdp import BambuAnnouncement
from .options_flow import FleetOptionsFlow, PrinternizerOptionsFlow
from .printers.bambu.adapter import BambuAdapter, Timing as BambuTiming
from .printers.bambu.tls import fetch_certificate, fingerprint
from .printers.base import PrinterAdapter
from .printers.errors import (
    AuthenticationError,
    CertificateMismatchError,
    PrinterOfflineError,
    PrinterTimeoutError,
    WrongSerialError,
)
from .printers.models import DeviceInfo
from .printers.prusa.adapter import PrusaAdapter, Timing as PrusaTiming
from .settings import is_fleet_entry

CONF_ADVANCED = "advanced"
STEP_PRUSA_API_KEY = "prusa_api_key"
# Seconds a printer gets to send its identity and first report while the user waits.
VALIDATION_TIMEOUT = 10.0

STEP_FLEET = "fleet"
FLEET_TITLE = "Printernizer fleet"
_PORT = NumberSelector(NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX))
_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_AUTH_METHOD = SelectSelector(
    SelectSelectorConfig(
        options=[AUTH_PASSWORD, AUTH_API_KEY],
        mode=SelectSelectorMode.LIST,
        translation_key=CONF_AUTH_METHOD,
    )
)
# What a PrusaLink login stores; switching the method drops the other one's fields.
_PRUSA_LOGIN = (CONF_USERNAME, CONF_PASSWORD, CONF_API_KEY)


def _letters(value: str) -> str:
    return "".join(char for char in value.casefold() if char.isalnum())


def entry_title(model: str, name: str | None, fallback: str) -> str:
    """The entry title, which is also the device name (entity ids follow from it).

    The model and the printer's own name, said once: a PrusaLink hostname "prusa-mk4" already
    names the model, so it stands alone (HA core's prusalink titles entries by hostname too);
    a name that does not ("workshop") gets the model in front. Without a name: the model and
    `fallback` (the last digits of a Bambu serial, the address of a Prusa).
    """
    if not name:
        return f"{model} {fallback}"
    if _letters(model) in _letters(name):
        return name
    return f"{model} {name}"


def _auth_method(data: Mapping[str, Any]) -> str:
    """How a PrusaLink entry logs in."""
    return AUTH_API_KEY if CONF_API_KEY in data else AUTH_PASSWORD


def _prusa_login_fields(method: str, defaults: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    """The form fields of a PrusaLink login; secrets are never pre-filled."""
    if method == AUTH_API_KEY:
        return {vol.Required(CONF_API_KEY): _PASSWORD}
    return {
        vol.Required(CONF_USERNAME, default=defaults.get(CONF_USERNAME, DEFAULT_USERNAME)): str,
        vol.Required(CONF_PASSWORD): _PASSWORD,
    }


def _prusa_login(method: str, user_input: Mapping[str, Any]) -> dict[str, str]:
    """The entry data of a login as typed.

    Passwords are exact. An API key is copied from a screen, and an HTTP header value cannot
    begin or end with spaces anyway: stray ones are typos.
    """
    if method == AUTH_API_KEY:
        return {CONF_API_KEY: user_input[CONF_API_KEY].strip()}
    return {
        CONF_USERNAME: user_input[CONF_USERNAME].strip(),
        CONF_PASSWORD: user_input[CONF_PASSWORD],
    }


def _bambu_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, "")): str,
            vol.Required(CONF_SERIAL, default=defaults.get(CONF_SERIAL, "")): str,
            vol.Required(CONF_ACCESS_CODE): _PASSWORD,
            vol.Required(CONF_ADVANCED): _bambu_ports(defaults),
        }
    )


def _bambu_ports(defaults: Mapping[str, Any]) -> section:
    """The collapsed section with the MQTT and FTPS ports (only tests and odd networks)."""
    return section(
        vol.Schema(
            {
                vol.Required(
                    CONF_MQTT_PORT, default=defaults.get(CONF_MQTT_PORT, DEFAULT_MQTT_PORT)
                ): _PORT,
                vol.Required(
                    CONF_FTPS_PORT, default=defaults.get(CONF_FTPS_PORT, DEFAULT_FTPS_PORT)
                ): _PORT,
            }
        ),
        {"collapsed": True},
    )


def _host_parts(host: Any) -> tuple[str | None, int | None]:
    """Address and port of a stored host ("10.0.0.5:8080" -> "10.0.0.5", 8080), if it has them."""
    if not isinstance(host, str):
        return None, None
    try:
        parts = urlsplit(host if "://" in host else f"//{host}")
        port = parts.port  # checked only when read
    except ValueError:
        return None, None
    return parts.hostname, port


def _host_address(host: Any) -> str | None:
    """The address part of a stored host."""
    return _host_parts(host)[0]


def _with_port(address: str, port: int | None) -> str:
    """A host to store: the address (IPv6 in brackets) and the port unless it is HTTP's 80."""
    host = f"[{address}]" if ":" in address else address
    return host if port in (None, 80) else f"{host}:{port}"


def _is_ip_address(host: Any) -> bool:
    """The stored host is an IP address (with or without port), not a host name."""
    try:
        ipaddress.ip_address(_host_address(host) or "")
    except ValueError:
        return False
    return True


async def _validate(hass: HomeAssistant, data: dict[str, Any]) -> tuple[DeviceInfo, dict[str, str]]:
    """Connect like the integration will and wait for identity and a full state.

    Returns the identity and the form errors; the adapter is stopped either way. A Bambu
    printer's certificate is read first when the data has none (trust on first use).
    """
    unknown = DeviceInfo(serial=data.get(CONF_SERIAL, ""))
    if (key := data.get(CONF_API_KEY)) is not None and not (key and key.isprintable()):
        # Empty, or a control character no header can carry: no printer takes such a key.
        return unknown, {"base": "invalid_auth"}
    adapter: PrinterAdapter
    try:
        if data[CONF_PRINTER_TYPE] == PRINTER_PRUSA:
            try:
                adapter = PrusaAdapter(
                    prusa_config(data),
                    async_get_clientsession(hass),
                    PrusaTiming(request_timeout=VALIDATION_TIMEOUT),
                )
            except ValueError:  # a mistyped address ("host:99999") is no URL: nothing to reach
                return unknown, {"base": "cannot_connect"}
        else:
            if CONF_CERTIFICATE not in data:
                data[CONF_CERTIFICATE] = await hass.async_add_executor_job(
                    fetch_certificate, data[CONF_HOST], data[CONF_MQTT_PORT]
                )
            adapter = BambuAdapter(
                bambu_config(data), BambuTiming(setup_timeout=VALIDATION_TIMEOUT)
            )
        await adapter.start()
    except AuthenticationError:
        return unknown, {"base": "invalid_auth"}
    except WrongSerialError:
        return unknown, {"base": "wrong_serial"}
    except CertificateMismatchError:
        return unknown, {"base": "certificate_changed"}
    except PrinterTimeoutError:
        return unknown, {"base": "timeout"}
    except PrinterOfflineError:
        return unknown, {"base": "cannot_connect"}
    except Exception:
        LOGGER.exception("Unexpected error while adding printer at %s", data[CONF_HOST])
        return unknown, {"base": "unknown"}
    await adapter.stop()
    return adapter.device_info, {}


class PrinternizerConfigFlow(ConfigFlow, domain=DOMAIN):
    """One config entry per printer, keyed by its serial, and the one fleet entry.

    Minor version 2: prices, VAT and business hours moved to the fleet (see fleet.migration).
    """

    VERSION = 1
    MINOR_VERSION = 2

    def __init__(self) -> None:
        """Start an empty flow."""
        self._data: dict[str, Any] = {}
        self._device: DeviceInfo | None = None
        self._auth_method = AUTH_PASSWORD
        self._discovered: BambuAnnouncement | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry[Any]) -> OptionsFlow:
        """Tunables of a printer, or the fleet's prices and hours."""
        if is_fleet_entry(config_entry):
            return FleetOptionsFlow()
        return PrinternizerOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the printer brand, and for PrusaLink how it logs in; or the fleet settings."""
        return self.async_show_menu(
            step_id="user",
            menu_options=[PRINTER_BAMBU, PRINTER_PRUSA, STEP_PRUSA_API_KEY, STEP_FLEET],
        )

    async def async_step_fleet(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Add the fleet settings by hand (the first printer adds them too): one per HA."""
        await self.async_set_unique_id(FLEET_UNIQUE_ID)
        self._abort_if_unique_id_configured()
        if user_input is not None:
            return self._async_create_fleet({})
        return self.async_show_form(step_id=STEP_FLEET)

    async def async_step_system(self, discovery_info: dict[str, Any]) -> ConfigFlowResult:
        """Create the fleet without asking: with a printer's setup or its migration.

        `options` are the fleet's first options (a migration's, taken from its printer).
        """
        await self.async_set_unique_id(FLEET_UNIQUE_ID)
        self._abort_if_unique_id_configured()
        options = discovery_info.get("options")
        return self._async_create_fleet(options if isinstance(options, dict) else {})

    def _async_create_fleet(self, options: dict[str, Any]) -> ConfigFlowResult:
        return self.async_create_entry(
            title=FLEET_TITLE, data={CONF_ENTRY_TYPE: ENTRY_TYPE_FLEET}, options=options
        )

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
            self._device, errors = await _validate(self.hass, data)
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
            # The LAN protocol carries no printer name (only SSDP's DevName does).
            return self.async_create_entry(
                title=entry_title(model, self._device.name, self._data[CONF_SERIAL][-4:]),
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

    async def async_step_integration_discovery(
        self, discovery_info: dict[str, Any]
    ) -> ConfigFlowResult:
        """A Bambu Lab printer announced itself on UDP 2021 (see discovery.bambu).

        A printer set up already gets the announced address (unless its entry names it by host
        name); a new one is offered with serial, model and name filled in.
        """
        found = BambuAnnouncement(**discovery_info)
        await self.async_set_unique_id(found.serial)
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, found.serial)
        by_name = entry is not None and not _is_ip_address(entry.data.get(CONF_HOST))
        # A loaded entry reloads through its update listener; one waiting to retry is
        # reloaded by HA now that the printer was seen.
        self._abort_if_unique_id_configured(
            updates=None if by_name else {CONF_HOST: found.host}, reload_on_update=False
        )
        self._discovered = found
        self._data = {
            CONF_PRINTER_TYPE: PRINTER_BAMBU,
            CONF_HOST: found.host,
            CONF_SERIAL: found.serial,
        }
        self.context["title_placeholders"] = {
            "name": entry_title(found.model or "Bambu Lab", found.name, found.serial[-4:])
        }
        return await self.async_step_bambu_discovery_confirm()

    async def async_step_bambu_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The access code of the announced printer; the rest came with the announcement."""
        assert self._discovered is not None
        found = self._discovered
        errors: dict[str, str] = {}
        ports: Mapping[str, Any] = {}
        if user_input is not None:
            ports = user_input[CONF_ADVANCED]
            data = {
                **self._data,
                CONF_ACCESS_CODE: user_input[CONF_ACCESS_CODE].strip(),
                CONF_MQTT_PORT: int(ports[CONF_MQTT_PORT]),
                CONF_FTPS_PORT: int(ports[CONF_FTPS_PORT]),
            }
            device, errors = await _validate(self.hass, data)
            if not errors:
                self._data = data
                self._device = replace(device, model=device.model or found.model, name=found.name)
                return await self.async_step_bambu_confirm()
        return self.async_show_form(
            step_id="bambu_discovery_confirm",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_ACCESS_CODE): _PASSWORD,
                    vol.Required(CONF_ADVANCED): _bambu_ports(ports),
                }
            ),
            description_placeholders={
                "name": found.name or found.serial,
                "model": found.model or found.model_code or "Bambu Lab",
                "serial": found.serial,
                "host": found.host,
            },
            errors=errors,
        )

    async def async_step_dhcp(self, discovery_info: DhcpServiceInfo) -> ConfigFlowResult:
        """A Prusa printer (MAC prefix 10:9C:70) got an address; PrusaLink serves port 80."""
        return await self._async_prusa_discovered(discovery_info.ip, None, discovery_info.hostname)

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """PrusaLink announced itself (`_prusalink._tcp`, Buddy firmware and the Pi alike)."""
        name = discovery_info.hostname.removesuffix(".").removesuffix(".local")
        return await self._async_prusa_discovered(
            str(discovery_info.ip_address), discovery_info.port, name
        )

    async def _async_prusa_discovered(
        self, address: str, port: int | None, name: str
    ) -> ConfigFlowResult:
        """Offer a discovered PrusaLink printer unless its address is set up already.

        Its serial is behind the login: until the user logs in, the address stands for the
        printer, so one flow runs per address and ignoring it ignores that address. A printer
        set up before and now unreachable at its old address may be this one: see
        `_async_moved_prusa`.
        """
        await self.async_set_unique_id(address)
        self._abort_if_unique_id_configured()
        if any(
            _host_address(entry.data.get(CONF_HOST)) == address
            for entry in self._async_current_entries(include_ignore=False)
        ):
            return self.async_abort(reason="already_configured")
        if (moved := await self._async_moved_prusa(address, port)) is not None:
            return moved
        host = _with_port(address, port)
        self._data = {CONF_HOST: host}
        self.context["title_placeholders"] = {"name": name or host}
        return await self.async_step_prusa_discovery_confirm()

    async def _async_moved_prusa(self, address: str, port: int | None) -> ConfigFlowResult | None:
        """Move a set-up printer waiting to retry to this address if it answers there.

        Each such entry's own login is tried, digest logins only (an API key would travel in
        the clear to whatever announced itself); the port is the announced one, else the
        entry's. The entry that matches by serial gets the address and is set up again.
        """
        for entry in self._async_current_entries(include_ignore=False):
            if (
                entry.state is not ConfigEntryState.SETUP_RETRY
                or entry.data.get(CONF_PRINTER_TYPE) != PRINTER_PRUSA
                or _auth_method(entry.data) != AUTH_PASSWORD
            ):
                continue
            host = _with_port(address, port or _host_parts(entry.data.get(CONF_HOST))[1])
            data = {**entry.data, CONF_HOST: host}
            device, errors = await _validate(self.hass, data)
            if not errors and device.serial == entry.unique_id:
                return self._async_update_and_abort(entry, data, "already_configured")
        return None

    async def async_step_prusa_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The PrusaLink login of the discovered printer; its address is filled in."""
        return await self._async_add_prusa("prusa_discovery_confirm", AUTH_PASSWORD, user_input)

    async def async_step_prusa(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Address and PrusaLink user and password; the serial comes from the printer."""
        return await self._async_add_prusa(PRINTER_PRUSA, AUTH_PASSWORD, user_input)

    async def async_step_prusa_api_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Address and the X-Api-Key of a PrusaLink printer set up that way."""
        return await self._async_add_prusa(STEP_PRUSA_API_KEY, AUTH_API_KEY, user_input)

    async def _async_add_prusa(
        self, step_id: str, method: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {
                CONF_PRINTER_TYPE: PRINTER_PRUSA,
                CONF_HOST: user_input[CONF_HOST].strip(),
                **_prusa_login(method, user_input),
            }
            device, errors = await _validate(self.hass, data)
            if not errors:
                await self.async_set_unique_id(device.serial)
                self._abort_if_unique_id_configured(updates={CONF_HOST: data[CONF_HOST]})
                return self.async_create_entry(
                    title=entry_title(device.model or "Prusa", device.name, data[CONF_HOST]),
                    data={**data, CONF_SERIAL: device.serial, CONF_MODEL: device.model},
                )
        defaults = user_input or self._data  # a discovered printer's address
        return self.async_show_form(
            step_id=step_id,
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, "")): str,
                    **_prusa_login_fields(method, defaults),
                }
            ),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The printer rejected the stored access code."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the secret the entry logs in with and check it.

        The access code (Bambu), the PrusaLink password or the API key, whichever it stored.
        """
        entry = self._get_reauth_entry()
        if entry.data[CONF_PRINTER_TYPE] != PRINTER_PRUSA:
            secret = CONF_ACCESS_CODE
        else:
            secret = CONF_API_KEY if _auth_method(entry.data) == AUTH_API_KEY else CONF_PASSWORD
        errors: dict[str, str] = {}
        if user_input is not None:
            # Codes and keys are copied from a screen (stray spaces are typos); passwords are exact.
            value = user_input[secret]
            data = {**entry.data, secret: value if secret == CONF_PASSWORD else value.strip()}
            _, errors = await _validate(self.hass, data)
            if not errors:
                return self._async_update_and_abort(entry, data, "reauth_successful")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(secret): _PASSWORD}),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The printer moved to another address, or a PrusaLink printer logs in another way.

        A Bambu printer's certificate is fetched anew. A new login method asks for its
        credentials next.
        """
        entry = self._get_reconfigure_entry()
        if is_fleet_entry(entry):
            return self.async_abort(reason="fleet_in_options")
        prusa = entry.data[CONF_PRINTER_TYPE] == PRINTER_PRUSA
        current = _auth_method(entry.data)
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_HOST: user_input[CONF_HOST].strip()}
            data.pop(CONF_CERTIFICATE, None)
            if prusa and (method := user_input.get(CONF_AUTH_METHOD, current)) != current:
                self._data, self._auth_method = data, method
                return await self.async_step_reconfigure_login()
            errors = await self._async_same_printer(data)
            if not errors:
                return self._async_update_and_abort(entry, data, "reconfigure_successful")
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_HOST, default=entry.data[CONF_HOST]): str
        }
        if prusa:
            fields[vol.Required(CONF_AUTH_METHOD, default=current)] = _AUTH_METHOD
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=vol.Schema(fields),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure_login(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The credentials of the new PrusaLink login method, checked at the address given."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {key: value for key, value in self._data.items() if key not in _PRUSA_LOGIN}
            data |= _prusa_login(self._auth_method, user_input)
            errors = await self._async_same_printer(data)
            if not errors:
                return self._async_update_and_abort(entry, data, "reconfigure_successful")
        return self.async_show_form(
            step_id="reconfigure_login",
            data_schema=vol.Schema(_prusa_login_fields(self._auth_method, user_input or {})),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def _async_same_printer(self, data: dict[str, Any]) -> dict[str, str]:
        """The form errors of the check, `wrong_serial` when another printer answered."""
        device, errors = await _validate(self.hass, data)
        if not errors and device.serial != self._get_reconfigure_entry().unique_id:
            return {"base": "wrong_serial"}
        return errors

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
