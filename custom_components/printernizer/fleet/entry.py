"""The fleet's config entry: its device, its figures, and telling the printers of changes.

Printers read the fleet's options straight from its entry (loaded or not, see `settings`);
when they change, the fleet entry reloads and its setup signals every loaded printer, whose
job tracking then prices with them: printers are not reloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import SOURCE_SYSTEM, ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_send

from ..const import DOMAIN, FLEET_UNIQUE_ID, SIGNAL_FLEET_UPDATED
from ..history import DATA_HISTORY
from ..settings import DATA_FLEET_SEED, fleet_currency, fleet_entry
from .summary import FleetSummary

FLEET_PLATFORMS = [Platform.CALENDAR, Platform.SENSOR]


@dataclass(slots=True)
class FleetData:
    """What a loaded fleet entry holds."""

    summary: FleetSummary


type FleetConfigEntry = ConfigEntry[FleetData]


def fleet_device_info(entry: ConfigEntry[Any]) -> DeviceInfo:
    """The fleet's device: a service device the farm dashboard's sensors belong to."""
    return DeviceInfo(
        identifiers={(DOMAIN, FLEET_UNIQUE_ID)},
        name=entry.title,
        manufacturer="Printernizer",
        model="Fleet",
        entry_type=DeviceEntryType.SERVICE,
    )


@callback
def async_ensure_fleet(hass: HomeAssistant) -> None:
    """Create the fleet entry if there is none (with the first printer); once per run."""
    if fleet_entry(hass) is not None or DATA_FLEET_SEED in hass.data:
        return
    hass.data[DATA_FLEET_SEED] = {}  # no prices yet; stops other printers starting a flow
    hass.async_create_task(
        hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_SYSTEM}, data={"options": {}}
        ),
        "printernizer fleet",
    )


async def async_setup_fleet(hass: HomeAssistant, entry: FleetConfigEntry) -> bool:
    """Create the fleet device and sensors, then let every printer read the fleet's options."""
    hass.data.pop(DATA_FLEET_SEED, None)
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **fleet_device_info(entry)
    )
    summary = FleetSummary(hass, hass.data[DATA_HISTORY], fleet_currency(hass, entry.options))
    entry.runtime_data = FleetData(summary=summary)
    entry.async_on_unload(summary.async_stop)
    await summary.async_start()
    await hass.config_entries.async_forward_entry_setups(entry, FLEET_PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_reload))
    async_dispatcher_send(hass, SIGNAL_FLEET_UPDATED)
    return True


async def async_unload_fleet(hass: HomeAssistant, entry: FleetConfigEntry) -> bool:
    """Remove the fleet's entities; the summary stops with the entry."""
    return await hass.config_entries.async_unload_platforms(entry, FLEET_PLATFORMS)


async def _async_reload(hass: HomeAssistant, entry: FleetConfigEntry) -> None:
    """New options: reload (its sensors' currency may change); the setup tells the printers."""
    await hass.config_entries.async_reload(entry.entry_id)
