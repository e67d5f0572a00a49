"""File sensors of a printer: its download activity and the bytes its local copies take.

Both read `printer_files.PrinterFileInfo`, which the file glue updates from the manager's
download reports and signals per printer; they do not depend on the printer being online
(local copies stay where they are while it is off). Progress is shown in whole percent and
written only when it moves, so a 1 GB download does not flood the recorder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfInformation
from homeassistant.core import callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect

from .coordinator import PrinterCoordinator
from .entity import printer_device_info
from .printer_files import PrinterFileInfo, PrinterFiles, activity_signal

IDLE = "idle"
DOWNLOADING = "downloading"


def _activity(info: PrinterFileInfo) -> str:
    return IDLE if info.download is None else DOWNLOADING


def _activity_attributes(info: PrinterFileInfo) -> dict[str, Any]:
    status = info.download
    if status is None:
        return {}
    progress = status.progress
    return {
        "download_id": status.id,
        "file": status.name,
        "folder": status.folder,
        "state": status.state.value,
        "progress": None if progress is None else int(progress),
        "bytes_total": status.bytes_total,
    }


@dataclass(frozen=True, kw_only=True)
class FileSensorDescription(SensorEntityDescription):
    """How one file sensor reads the printer's file info."""

    value_fn: Callable[[PrinterFileInfo], Any]
    attributes_fn: Callable[[PrinterFileInfo], dict[str, Any]] = lambda _: {}


FILE_SENSORS: tuple[FileSensorDescription, ...] = (
    FileSensorDescription(
        key="download_activity",
        translation_key="download_activity",
        device_class=SensorDeviceClass.ENUM,
        options=[IDLE, DOWNLOADING],
        value_fn=_activity,
        attributes_fn=_activity_attributes,
    ),
    FileSensorDescription(
        key="local_files_size",
        translation_key="local_files_size",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.MEGABYTES,
        suggested_display_precision=1,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda info: info.used_bytes,
    ),
)


class FileSensor(SensorEntity):
    """One file figure of a printer, written when the file glue signals a visible change."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _unrecorded_attributes = frozenset(
        {"download_id", "file", "folder", "state", "progress", "bytes_total"}
    )
    _attr_extra_state_attributes: dict[str, Any] = {}  # replaced, never changed
    entity_description: FileSensorDescription

    def __init__(
        self,
        coordinator: PrinterCoordinator,
        files: PrinterFiles,
        serial: str,
        description: FileSensorDescription,
    ) -> None:
        """Bind the description to the printer's file info."""
        self.entity_description = description
        self._files = files
        self._serial = serial
        self._attr_unique_id = f"{serial}_{description.key}"
        self._attr_device_info = printer_device_info(coordinator)
        self._read()

    def _read(self) -> bool:
        """Take the current info; whether what the entity shows changed."""
        info = self._files.printers.get(self._serial)
        if info is None:
            return False
        shown = (self._attr_native_value, self._attr_extra_state_attributes)
        self._attr_native_value = self.entity_description.value_fn(info)
        self._attr_extra_state_attributes = self.entity_description.attributes_fn(info)
        return shown != (self._attr_native_value, self._attr_extra_state_attributes)

    async def async_added_to_hass(self) -> None:
        """Follow the printer's file signal."""
        self.async_on_remove(
            async_dispatcher_connect(self.hass, activity_signal(self._serial), self._on_change)
        )
        self._read()

    @callback
    def _on_change(self, _serial: str) -> None:
        if self._read():
            self.async_write_ha_state()


def file_sensors(coordinator: PrinterCoordinator, files: PrinterFiles) -> list[SensorEntity]:
    """The file sensors of a loaded printer."""
    serial = coordinator.adapter.device_info.serial
    return [FileSensor(coordinator, files, serial, description) for description in FILE_SENSORS]
