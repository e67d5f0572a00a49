"""Per-colour/brand material prices in the fleet's options, priced into a simulated P1S's job.

The simulator's job uses black PLA (#000000, 11.92 g) and blue PETG (#0A2989, 3.48 g).
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer.const import CONF_CATEGORIES, CONF_COSTS
from custom_components.printernizer.costs import OPT_MATERIAL_OVERRIDES
from custom_components.printernizer.settings import fleet_entry
from simulator.bambu.printer import BambuSimulator

from ..printers.waiting import wait_until
from .test_fleet import FLEET_PRICES, _ended, _set_fleet_options

OVERRIDES = "PLA #000000 = 60\nPLA #FFFFFF = 5\nPETG Prusament = 99"


async def test_a_coloured_material_line_takes_the_fleet_override(
    hass: HomeAssistant, bambu_sim: BambuSimulator, bambu_entry: MockConfigEntry
) -> None:
    hass.config_entries.async_update_entry(
        bambu_entry, options={CONF_COSTS: {"average_power_w": 120}}, minor_version=2
    )
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    fleet = fleet_entry(hass)
    assert fleet is not None

    # Unreadable: refused in the form, naming the field's trouble; nothing stored.
    result = await hass.config_entries.options.async_init(fleet.entry_id)
    bad = {
        **FLEET_PRICES,
        CONF_COSTS: {**FLEET_PRICES[CONF_COSTS], OPT_MATERIAL_OVERRIDES: "PLA = x"},
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], bad)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_material_overrides"}
    assert OPT_MATERIAL_OVERRIDES not in fleet.options.get(CONF_COSTS, {})

    await _set_fleet_options(
        hass,
        {
            CONF_COSTS: {**FLEET_PRICES[CONF_COSTS], OPT_MATERIAL_OVERRIDES: OVERRIDES},
            CONF_CATEGORIES: FLEET_PRICES[CONF_CATEGORIES],
        },
    )
    bambu_sim.start_print("Cube", total_layers=20, minutes=20)
    await wait_until(lambda: len(_ended(hass, bambu_sim.serial)) == 1, timeout=20)
    (job,) = _ended(hass, bambu_sim.serial)
    assert job.cost is not None
    # Black PLA at its override: 11.92 g x 60 = 0.72; PETG (not Prusament) at the type's 25:
    # 3.48 g x 25 = 0.09; 19 % VAT of 0.81 = 0.15.
    lines = [(line["material"], line["price_per_kg"], line["cost"]) for line in job.cost["lines"]]
    assert lines == [("PLA", "60.00", "0.72"), ("PETG", "25.00", "0.09")]
    assert (job.cost["material"], job.cost["gross"]) == ("0.81", "0.96")

    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    assert await hass.config_entries.async_unload(fleet.entry_id)
    await hass.async_block_till_done()
