"""What a running printer changes about its device: the firmware version, new error codes.

Entities hand their device info to the registry once, when they are added; a firmware update
while Home Assistant runs would stay unseen until a restart, so the registry entry follows the
state here. New error codes become bus events for automations (the error sensor shows what is
active now); codes already active when the entry loads are the baseline, so a restart or reload
does not announce them again.
"""

from __future__ import annotations

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .coordinator import PrinterCoordinator, Reads
from .events import EVENT_PRINTER_ERROR


@callback
def async_follow_device(
    hass: HomeAssistant, coordinator: PrinterCoordinator, device_id: str
) -> CALLBACK_TYPE:
    """Keep the registry's firmware version current and fire error events; the remover."""
    registry = dr.async_get(hass)
    known = frozenset(error.code for error in coordinator.data.errors)
    serial = coordinator.adapter.device_info.serial

    @callback
    def firmware_changed() -> None:
        firmware = coordinator.data.firmware
        device = registry.async_get(device_id)
        if firmware and device is not None and device.sw_version != firmware:
            registry.async_update_device(device_id, sw_version=firmware)

    @callback
    def errors_changed() -> None:
        nonlocal known
        errors = coordinator.data.errors
        codes = frozenset(error.code for error in errors)
        if codes == known:
            return
        new = [error for error in errors if error.code not in known]
        known = codes
        for error in new:
            hass.bus.async_fire(
                EVENT_PRINTER_ERROR,
                {
                    "device_id": device_id,
                    "serial": serial,
                    "printer_name": coordinator.name,
                    "code": error.code,
                    "severity": error.severity.value,
                    "module": error.module,
                    "url": error.url,
                },
            )

    removers = (
        coordinator.async_add_listener(firmware_changed, Reads(frozenset({"firmware"}))),
        coordinator.async_add_listener(errors_changed, Reads(frozenset({"errors"}))),
    )

    @callback
    def remove() -> None:
        for remover in removers:
            remover()

    return remove
