"""Device triggers: a printer's prints starting, pausing and ending, and its errors.

Each trigger is an event trigger on one of the bus events of `events.py`, matched on the
printer's device id and the one field that tells, say, a finished print from a failed one.
"""

from __future__ import annotations

from typing import Final

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import (
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType
import voluptuous as vol

from .const import DOMAIN, FLEET_UNIQUE_ID
from .events import ATTR_DEVICE_ID, TRIGGER_TYPES, TRIGGERS

TRIGGER_SCHEMA: Final = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {vol.Required(CONF_TYPE): vol.In(TRIGGER_TYPES)}
)


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, str]]:
    """Every trigger type for one of our printers; none for any other device."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None or not any(identifier[0] == DOMAIN for identifier in device.identifiers):
        return []
    if (DOMAIN, FLEET_UNIQUE_ID) in device.identifiers:  # the fleet prints nothing itself
        return []
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: trigger_type,
        }
        for trigger_type in TRIGGER_TYPES
    ]


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the trigger's bus event of this printer."""
    bus_event, match = TRIGGERS[config[CONF_TYPE]]
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: bus_event,
            CONF_EVENT_DATA: {ATTR_DEVICE_ID: config[CONF_DEVICE_ID], **match},
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
