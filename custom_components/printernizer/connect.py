"""Builds the adapter a config entry describes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import ClientSession
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PASSWORD, CONF_USERNAME

from .const import (
    CONF_ACCESS_CODE,
    CONF_CERTIFICATE,
    CONF_FTPS_PORT,
    CONF_IDLE_POLL_SECONDS,
    CONF_MQTT_PORT,
    CONF_PRINTER_TYPE,
    CONF_REFRESH_MINUTES,
    CONF_SERIAL,
    DEFAULT_FTPS_PORT,
    DEFAULT_IDLE_POLL_SECONDS,
    DEFAULT_MQTT_PORT,
    DEFAULT_REFRESH_MINUTES,
    DEFAULT_USERNAME,
    PRINTER_PRUSA,
)
from .printers.bambu.adapter import BambuAdapter, BambuConfig, Timing as BambuTiming
from .printers.base import PrinterAdapter
from .printers.prusa.adapter import PrusaAdapter, PrusaConfig, Timing as PrusaTiming


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


def prusa_config(data: Mapping[str, Any]) -> PrusaConfig:
    """Connection facts of a PrusaLink entry: digest credentials, or an API key instead."""
    return PrusaConfig(
        host=data[CONF_HOST],
        username=data.get(CONF_USERNAME, DEFAULT_USERNAME),
        password=data.get(CONF_PASSWORD, ""),
        api_key=data.get(CONF_API_KEY) or None,
    )


def create_adapter(
    data: Mapping[str, Any], options: Mapping[str, Any], session: ClientSession
) -> PrinterAdapter:
    """The adapter for an entry, tuned by its options."""
    if data[CONF_PRINTER_TYPE] == PRINTER_PRUSA:
        idle = options.get(CONF_IDLE_POLL_SECONDS, DEFAULT_IDLE_POLL_SECONDS)
        return PrusaAdapter(prusa_config(data), session, PrusaTiming(idle_interval=idle))
    minutes = options.get(CONF_REFRESH_MINUTES, DEFAULT_REFRESH_MINUTES)
    return BambuAdapter(bambu_config(data), BambuTiming(pushall_interval=minutes * 60))
