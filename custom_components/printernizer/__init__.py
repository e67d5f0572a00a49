"""Printernizer: Bambu Lab and Prusa printer fleets in Home Assistant.

The printer protocols live in the HA-free `printers` package; each config entry runs one adapter
behind one push-fed coordinator.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.typing import ConfigType

from .actions.analytics import async_setup_analytics
from .actions.files import async_setup_file_actions
from .actions.jobs import async_setup_job_actions
from .connect import create_adapter
from .const import CONF_PRINTER_TYPE, DOMAIN, SIGNAL_FLEET_UPDATED
from .coordinator import PrinterCoordinator, PrinternizerConfigEntry, PrinternizerData
from .device_updates import async_follow_device
from .discovery.bambu import async_use_bambu_discovery
from .entity import printer_device_info
from .fleet import migration
from .fleet.entry import async_ensure_fleet, async_setup_fleet, async_unload_fleet
from .fleet.statistics import FleetStatistics
from .history import DATA_HISTORY, JobHistory
from .printer_files import async_setup_files, printer_files
from .repairs import async_delete_entry_issues
from .settings import is_fleet_entry, printer_cost_options
from .tracking import PrinterJobs

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CALENDAR,
    Platform.CAMERA,
    Platform.EVENT,
    Platform.FAN,
    Platform.IMAGE,
    Platform.LIGHT,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.UPDATE,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Load the job history every printer shares and register the actions."""
    history = JobHistory(hass)
    await history.async_load()
    hass.data[DATA_HISTORY] = history
    if "recorder" in hass.config.components:
        FleetStatistics(hass, history).async_start()
    async_setup_job_actions(hass)
    await async_setup_analytics(hass)
    await async_setup_files(hass)
    async_setup_file_actions(hass)
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    """Move older entries' prices to the fleet (see fleet.migration)."""
    return await migration.async_migrate_entry(hass, entry)


async def async_setup_entry(hass: HomeAssistant, entry: PrinternizerConfigEntry) -> bool:
    """Connect to the printer and create its entities; or set up the fleet."""
    if is_fleet_entry(entry):
        return await async_setup_fleet(hass, entry)  # type: ignore[arg-type]
    # Before connecting: a printer that moved is found at its new address while retrying.
    await async_use_bambu_discovery(hass, entry)
    adapter = create_adapter(entry.data, entry.options, async_get_clientsession(hass))
    coordinator = PrinterCoordinator(hass, entry, adapter)
    await coordinator.async_config_entry_first_refresh()
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **printer_device_info(coordinator)
    )
    jobs = PrinterJobs(
        hass,
        options=printer_cost_options(hass, entry.options),
        printer_type=entry.data[CONF_PRINTER_TYPE],
        serial=adapter.device_info.serial,
        name=entry.title,
        device_id=device.id,
        history=hass.data[DATA_HISTORY],
        metadata=adapter.job_metadata,
        on_change=coordinator.async_update_listeners,
    )
    entry.runtime_data = PrinternizerData(coordinator=coordinator, jobs=jobs)
    jobs.async_start(adapter.state)
    coordinator.jobs = jobs
    entry.async_on_unload(jobs.async_stop)
    entry.async_on_unload(async_follow_device(hass, coordinator, device.id))
    entry.async_on_unload(printer_files(hass).async_add_printer(entry, device.id))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_reload))

    @callback
    def _fleet_updated() -> None:
        jobs.async_set_options(printer_cost_options(hass, entry.options))

    entry.async_on_unload(async_dispatcher_connect(hass, SIGNAL_FLEET_UPDATED, _fleet_updated))
    async_ensure_fleet(hass)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: PrinternizerConfigEntry) -> bool:
    """Remove the entities; the coordinator's shutdown disconnects the printer."""
    if is_fleet_entry(entry):
        return await async_unload_fleet(hass, entry)  # type: ignore[arg-type]
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """A removed printer's repair issues go with it."""
    async_delete_entry_issues(hass, entry.entry_id)


async def _async_reload(hass: HomeAssistant, entry: PrinternizerConfigEntry) -> None:
    """Options, reauth and reconfigure change the entry; apply them by reloading."""
    await hass.config_entries.async_reload(entry.entry_id)
