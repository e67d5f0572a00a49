"""The slicer's preview of the printer's current (or last) job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.components.image import ImageEntity, ImageEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import PrinternizerEntity
from .tracking import TRACKED_PARTS, PrinterJobs

PARALLEL_UPDATES = 0

PREVIEW = ImageEntityDescription(key="job_preview", translation_key="job_preview")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One preview per printer."""
    data = entry.runtime_data
    async_add_entities([JobPreview(data.coordinator, data.jobs)])


class JobPreview(PrinternizerEntity, ImageEntity):
    """The plate or G-code thumbnail, read once per job with the slicer metadata.

    It changes when a job's file has been read, not on printer pushes; a job without a
    thumbnail shows none.
    """

    _attr_content_type = "image/png"
    # Job tracking runs on these; a new job clears the thumbnail, a file read sets it (and
    # updates every entity).
    _sources = TRACKED_PARTS

    def __init__(self, coordinator: PrinterCoordinator, jobs: PrinterJobs) -> None:
        """Show the job tracking's thumbnail."""
        super().__init__(coordinator, PREVIEW)
        ImageEntity.__init__(self, coordinator.hass)
        self._jobs = jobs

    @property
    def image_last_updated(self) -> datetime | None:
        """When the shown thumbnail was read."""
        return self._jobs.thumbnail_at

    async def async_image(self) -> bytes | None:
        """The PNG bytes as the slicer wrote them."""
        return self._jobs.thumbnail

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self._jobs.thumbnail_at)
