"""The integration loads in Home Assistant with its manifest and translations."""

import json
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.setup import async_setup_component

from custom_components.printernizer.const import DOMAIN

COMPONENT = Path(__file__).parents[2] / "custom_components" / DOMAIN


async def test_integration_sets_up(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    integration = await async_get_integration(hass, DOMAIN)
    assert integration.config_flow
    # MQTT, FTPS and HTTP are spoken with the standard library and HA's aiohttp: nothing to install.
    assert integration.requirements == []


def test_translations_have_the_same_keys() -> None:
    def keys(node: object, prefix: str = "") -> set[str]:
        if isinstance(node, dict):
            return {k for key, value in node.items() for k in keys(value, f"{prefix}{key}.")}
        return {prefix}

    english = json.loads((COMPONENT / "translations" / "en.json").read_text())
    german = json.loads((COMPONENT / "translations" / "de.json").read_text())
    assert keys(english) == keys(german)
