"""Buttons: pause, resume, stop and a full refresh, each available only when it makes sense."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinternizerConfigEntry
from .entity import PrinternizerEntity
from .printers.base import PrinterAdapter
from .printers.models import ACTIVE_STATUSES, PrinterState, PrinterStatus

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PrinterButtonDescription(ButtonEntityDescription):
    """A command and the states in which it makes sense."""

    press_fn: Callable[[PrinterAdapter], Awaitable[object]]
    usable_fn: Callable[[PrinterState], bool]


BUTTONS: tuple[PrinterButtonDescription, ...] = (
    PrinterButtonDescription(
        key="pause",
        translation_key="pause",
        press_fn=lambda adapter: adapter.pause(),
        usable_fn=lambda state: state.status in (PrinterStatus.PREPARING, PrinterStatus.PRINTING),
    ),
    PrinterButtonDescription(
        key="resume",
        translation_key="resume",
        press_fn=lambda adapter: adapter.resume(),
        usable_fn=lambda state: state.status is PrinterStatus.PAUSED,
    ),
    PrinterButtonDescription(
        key="stop",
        translation_key="stop",
        press_fn=lambda adapter: adapter.stop_print(),
        usable_fn=lambda state: state.status in ACTIVE_STATUSES,
    ),
    PrinterButtonDescription(
        key="refresh",
        translation_key="refresh",
        entity_category=EntityCategory.DIAGNOSTIC,
        press_fn=lambda adapter: adapter.refresh(),
        usable_fn=lambda _: True,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the buttons."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(PrinterButton(coordinator, description) for description in BUTTONS)


class PrinterButton(PrinternizerEntity, ButtonEntity):
    """A command button."""

    entity_description: PrinterButtonDescription
    _sources = ("status",)

    @property
    def available(self) -> bool:
        """Only offer the command where the printer can take it."""
        return super().available and self.entity_description.usable_fn(self.coordinator.data)

    async def async_press(self) -> None:
        """Send the command."""
        description = self.entity_description
        await self._command(description.key, description.press_fn(self.coordinator.adapter))
