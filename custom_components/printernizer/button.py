"""Buttons: pause, resume, stop and a full refresh.

Pause, Resume and Stop stay available while the printer is online, as Home Assistant's own
buttons do: pressed when they do not apply, they refuse with a message saying why, instead of
flickering to unavailable (a red marker and a logbook entry) with every status change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import PrinternizerConfigEntry
from .entity import PrinternizerEntity
from .printers.base import PrinterAdapter
from .printers.models import ACTIVE_STATUSES, PrinterState, PrinterStatus

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PrinterButtonDescription(ButtonEntityDescription):
    """A command, the states in which it makes sense and the refusal otherwise."""

    press_fn: Callable[[PrinterAdapter], Awaitable[object]]
    usable_fn: Callable[[PrinterState], bool]
    refusal: str | None = None  # translation key of the error when not usable


BUTTONS: tuple[PrinterButtonDescription, ...] = (
    PrinterButtonDescription(
        key="pause",
        translation_key="pause",
        press_fn=lambda adapter: adapter.pause(),
        usable_fn=lambda state: state.status in (PrinterStatus.PREPARING, PrinterStatus.PRINTING),
        refusal="nothing_to_pause",
    ),
    PrinterButtonDescription(
        key="resume",
        translation_key="resume",
        press_fn=lambda adapter: adapter.resume(),
        usable_fn=lambda state: state.status is PrinterStatus.PAUSED,
        refusal="nothing_to_resume",
    ),
    PrinterButtonDescription(
        key="stop",
        translation_key="stop",
        press_fn=lambda adapter: adapter.stop_print(),
        usable_fn=lambda state: state.status in ACTIVE_STATUSES,
        refusal="nothing_to_stop",
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
    """A command button; available whenever the printer is online."""

    entity_description: PrinterButtonDescription
    # A button shows only availability, which reaches every entity: no state part to follow.
    _sources = ("online",)

    async def async_press(self) -> None:
        """Send the command, or say why it does not apply now."""
        description = self.entity_description
        coordinator = self.coordinator
        if description.refusal and not description.usable_fn(coordinator.data):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=description.refusal,
                translation_placeholders={"name": coordinator.name},
            )
        await self._command(description.key, description.press_fn(coordinator.adapter))
