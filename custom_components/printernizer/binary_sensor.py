"""Binary sensors: reachability, activity, errors and the firmware lockdown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import PRINTER_BAMBU, PRINTER_PRUSA
from .coordinator import PrinternizerConfigEntry
from .entity import PrinterEntityDescription, PrinternizerEntity
from .printers.models import PrinterState, PrinterStatus

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PrinterBinarySensorDescription(BinarySensorEntityDescription, PrinterEntityDescription):
    """How one binary sensor reads the printer state."""

    value_fn: Callable[[PrinterState], bool]
    attributes_fn: Callable[[PrinterState], dict[str, Any] | None] = lambda _: None
    always_available: bool = False
    exists_fn: Callable[[PrinterState], bool] = lambda _: True


def _error_attributes(state: PrinterState) -> dict[str, Any]:
    return {
        "count": len(state.errors),
        "errors": [
            {"code": error.code, "severity": error.severity.value, "module": error.module}
            for error in state.errors
        ],
    }


BINARY_SENSORS: tuple[PrinterBinarySensorDescription, ...] = (
    PrinterBinarySensorDescription(
        key="online",
        translation_key="online",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.online,
        sources=("status",),
        always_available=True,
    ),
    PrinterBinarySensorDescription(
        key="printing",
        translation_key="printing",
        device_class=BinarySensorDeviceClass.RUNNING,
        value_fn=lambda state: state.status in (PrinterStatus.PREPARING, PrinterStatus.PRINTING),
        sources=("status",),
    ),
    PrinterBinarySensorDescription(
        key="paused",
        translation_key="paused",
        value_fn=lambda state: state.status is PrinterStatus.PAUSED,
        sources=("status",),
    ),
    PrinterBinarySensorDescription(
        key="needs_attention",
        translation_key="needs_attention",
        device_class=BinarySensorDeviceClass.PROBLEM,
        value_fn=lambda state: state.needs_attention,
        brands=frozenset({PRINTER_PRUSA}),
        sources=("needs_attention",),
    ),
    PrinterBinarySensorDescription(
        key="mmu",
        translation_key="mmu",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: bool(state.mmu),
        exists_fn=lambda state: state.mmu is not None,
        sources=("mmu",),
    ),
    PrinterBinarySensorDescription(
        key="error",
        translation_key="error",
        device_class=BinarySensorDeviceClass.PROBLEM,
        value_fn=lambda state: bool(state.errors),
        attributes_fn=_error_attributes,
        sources=("errors",),
    ),
    PrinterBinarySensorDescription(
        key="controls_locked",
        translation_key="controls_locked",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.controls_locked,
        brands=frozenset({PRINTER_BAMBU}),
        sources=("controls_locked",),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the binary sensors."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        PrinterBinarySensor(coordinator, description)
        for description in BINARY_SENSORS
        if description.exists_fn(coordinator.data) and description.applies_to(entry)
    )


class PrinterBinarySensor(PrinternizerEntity, BinarySensorEntity):
    """A binary sensor over the printer state."""

    entity_description: PrinterBinarySensorDescription

    # Error lists change with every HMS update; history keeps the on/off, not the details.
    _unrecorded_attributes = frozenset({"errors", "count"})

    @property
    def available(self) -> bool:
        """The online sensor must stay available to say the printer is offline."""
        return self.entity_description.always_available or super().available

    @property
    def is_on(self) -> bool:
        """The current value."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Readable error codes, severities and modules."""
        return self.entity_description.attributes_fn(self.coordinator.data)

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self.is_on, self.extra_state_attributes)
