"""Printernizer: Bambu Lab and Prusa printer fleets in Home Assistant.

The printer protocols live in the HA-free `printers` package; config entries, the coordinator
and entities build on it.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the integration; printers arrive as config entries."""
    return True
