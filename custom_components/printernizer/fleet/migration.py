"""Config-entry migration 1.1 -> 1.2: prices, VAT and business hours move to the fleet.

Printer entries of minor version 1 hold every cost option themselves. The first one migrated
seeds the fleet (its prices, energy price, VAT rate and categories) and a fleet entry is
created from that; each printer then keeps, as overrides, only what differs from the fleet,
next to its machine settings (meter, power, wear). What a printer priced with before is what
it prices with after: nothing a user entered is lost.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_SYSTEM, ConfigEntry
from homeassistant.core import HomeAssistant

from ..const import DOMAIN, LOGGER
from ..settings import DATA_FLEET_SEED, fleet_entry, fleet_seed, is_fleet_entry, migrated_options

MINOR_VERSION = 2


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    """Move an entry to 1.2; an entry of a newer major version is refused (a downgrade)."""
    if entry.version > 1:
        return False
    if entry.minor_version >= MINOR_VERSION:
        return True
    if is_fleet_entry(entry):  # there were no fleet entries before 1.2; nothing to move
        hass.config_entries.async_update_entry(entry, minor_version=MINOR_VERSION)
        return True
    # No await from here on: entries migrating side by side see each other's seed.
    if (fleet := fleet_entry(hass)) is not None:
        options: dict[str, Any] = dict(fleet.options)
    elif DATA_FLEET_SEED in hass.data:
        options = hass.data[DATA_FLEET_SEED]
    else:
        options = hass.data[DATA_FLEET_SEED] = fleet_seed(entry.options)
        hass.async_create_task(
            hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_SYSTEM}, data={"options": options}
            ),
            "printernizer fleet from migration",
        )
        LOGGER.info("Fleet settings start from the cost options of %s", entry.title)
    hass.config_entries.async_update_entry(
        entry,
        options=migrated_options(options, entry.options),
        minor_version=MINOR_VERSION,
    )
    return True
