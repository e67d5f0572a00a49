"""Constants shared across the integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "printernizer"
LOGGER = logging.getLogger(__package__)

CONF_PRINTER_TYPE: Final = "printer_type"
CONF_SERIAL: Final = "serial"
CONF_ACCESS_CODE: Final = "access_code"
CONF_CERTIFICATE: Final = "certificate"
CONF_MQTT_PORT: Final = "mqtt_port"
CONF_FTPS_PORT: Final = "ftps_port"
CONF_CAMERA_PORT: Final = "camera_port"  # P1/A1 chamber camera; tests point it elsewhere
CONF_MODEL: Final = "model"

PRINTER_BAMBU: Final = "bambu"
PRINTER_PRUSA: Final = "prusa"

DEFAULT_MQTT_PORT: Final = 8883
DEFAULT_FTPS_PORT: Final = 990
DEFAULT_REFRESH_MINUTES: Final = 5

CONF_REFRESH_MINUTES: Final = "refresh_minutes"
DEFAULT_IDLE_POLL_SECONDS: Final = 60

CONF_IDLE_POLL_SECONDS: Final = "idle_poll_seconds"
DEFAULT_USERNAME: Final = "maker"

# How a PrusaLink entry logs in: digest user/password, or an X-Api-Key (`api_key` in the data).
CONF_AUTH_METHOD: Final = "auth_method"
AUTH_PASSWORD: Final = "password"  # noqa: S105 - a method's name, not a password
AUTH_API_KEY: Final = "api_key"

# Options-flow sections: costs (flat keys of costs.py plus the two entities) and categories.
CONF_COSTS: Final = "costs"
CONF_CATEGORIES: Final = "categories"
CONF_ENERGY_SENSOR: Final = "energy_sensor"
CONF_ENERGY_PRICE_ENTITY: Final = "energy_price_entity"

# The fleet: one config entry per HA holding what every printer shares (prices, VAT, hours).
CONF_ENTRY_TYPE: Final = "entry_type"
ENTRY_TYPE_FLEET: Final = "fleet"
FLEET_UNIQUE_ID: Final = "fleet"
CONF_CURRENCY: Final = "currency"
SIGNAL_FLEET_UPDATED: Final = "printernizer_fleet_updated"
