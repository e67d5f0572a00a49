"""Image entities of four simulated printers: registry entries and states, snapshotted."""

from __future__ import annotations

from pathlib import Path

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
import pytest
from syrupy.assertion import SnapshotAssertion

from .platform_printers import PRINTERS, entities_of, platform_printer


@pytest.mark.parametrize("printer", PRINTERS)
@pytest.mark.usefixtures("socket_enabled")
async def test_image_entities(
    hass: HomeAssistant, tmp_path: Path, snapshot: SnapshotAssertion, printer: str
) -> None:
    async with platform_printer(hass, tmp_path, printer, Platform.IMAGE) as (entry, secrets):
        assert entities_of(hass, entry, secrets) == snapshot
