"""Builds the adapter a config entry describes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_HOST

from .const import (
    CONF_ACCESS_CODE,
    CONF_CERTIFICATE,
    CONF_FTPS_PORT,
    CONF_MQTT_PORT,
    CONF_REFRESH_MINUTES,
    CONF_SERIAL,
    DEFAULT_FTPS_PORT,
    DEFAULT_MQTT_PORT,
    DEFAULT_REFRESH_MINUTES,
)
from .printers.bambu.adapter import BambuAdapter, BambuConfig, Timing


def bambu_config(data: Mapping[str, Any]) -> BambuConfig:
    """Connection facts of a Bambu entry (or of a flow's input)."""
    return BambuConfig(
        host=data[CONF_HOST],
        serial=data[CONF_SERIAL],
        access_code=data[CONF_ACCESS_CODE],
        certificate=data[CONF_CERTIFICATE],
        mqtt_port=data.get(CONF_MQTT_PORT, DEFAULT_MQTT_PORT),
        ftps_port=data.get(CONF_FTPS_PORT, DEFAULT_FTPS_PORT),
    )


def create_adapter(data: Mapping[str, Any], options: Mapping[str, Any]) -> BambuAdapter:
    """The adapter for an entry; Prusa joins here with its own issue."""
    minutes = options.get(CONF_REFRESH_MINUTES, DEFAULT_REFRESH_MINUTES)
    return BambuAdapter(bambu_config(data), Timing(pushall_interval=minutes * 60))
