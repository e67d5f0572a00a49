"""The printer's camera: P1/A1 chamber JPEGs through HA's proxy, X1/H2/P2 RTSPS for HA's stream.

Which model has which camera comes from the model the printer reports (see
`printers.bambu.camera`); Prusa printers and models whose camera is unknown get none. The
RTSPS URL carries the access code, so it lives only in the entity, never in a log, an
attribute or an error.
"""

from __future__ import annotations

import logging

from aiohttp import web
from homeassistant.components.camera import (
    Camera,
    CameraEntityDescription,
    CameraEntityFeature,
    async_get_still_stream,
)
from homeassistant.const import CONF_HOST, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_ACCESS_CODE, CONF_CAMERA_PORT, CONF_CERTIFICATE, CONF_MODEL, DOMAIN
from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import PrinternizerEntity
from .printers.bambu.adapter import BambuAdapter
from .printers.bambu.camera import (
    CHAMBER_CAMERA_PORT,
    CameraKind,
    CameraTiming,
    ChamberCamera,
    camera_kind,
    liveview_disabled,
    rtsps_url,
)
from .printers.errors import AdapterError

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0

CAMERA = CameraEntityDescription(key="camera", translation_key="camera")
# The chamber camera's timings; tests shorten the linger to see the connection go.
CAMERA_TIMING = CameraTiming()


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One camera for Bambu printers whose model has a known camera."""
    coordinator = entry.runtime_data.coordinator
    adapter = coordinator.adapter
    if not isinstance(adapter, BambuAdapter):
        return
    data = entry.data
    kind = camera_kind(adapter.device_info.model or data.get(CONF_MODEL))
    if kind is CameraKind.CHAMBER:
        client = ChamberCamera(
            host=data[CONF_HOST],
            access_code=data[CONF_ACCESS_CODE],
            certificate=data[CONF_CERTIFICATE],
            port=data.get(CONF_CAMERA_PORT, CHAMBER_CAMERA_PORT),
            timing=CAMERA_TIMING,
        )
        async_add_entities([ChamberCameraEntity(coordinator, client)])
    elif kind is CameraKind.RTSPS:
        source = rtsps_url(data[CONF_HOST], data[CONF_ACCESS_CODE])
        async_add_entities([LiveViewCamera(coordinator, adapter, source)])


class ChamberCameraEntity(PrinternizerEntity, Camera):
    """P1/A1: JPEG frames over TLS, connected only while a still or a stream is wanted."""

    _sources = ("online",)  # only availability: a report never wakes the camera

    def __init__(self, coordinator: PrinterCoordinator, client: ChamberCamera) -> None:
        """Show what the chamber camera client delivers."""
        super().__init__(coordinator, CAMERA)
        Camera.__init__(self)
        self._client = client
        self._stop_listener: CALLBACK_TYPE | None = None

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """A current frame (HA scales it when asked to)."""
        try:
            return await self._client.snapshot()
        except AdapterError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="camera_unavailable",
                translation_placeholders={"name": self.coordinator.name},
            ) from err

    async def handle_async_mjpeg_stream(self, request: web.Request) -> web.StreamResponse | None:
        """Every frame as it arrives, from the connection all viewers share.

        No response (HA answers 502) when not even a first frame comes; a connection ending
        later ends the stream.
        """
        async with self._client.watch() as viewer:
            try:
                pending = [await viewer.next_frame()]
            except AdapterError as err:
                _LOGGER.debug("%s: no camera stream: %s", self.coordinator.name, err)
                return None

            async def next_image() -> bytes | None:
                if pending:
                    return pending.pop()
                try:
                    return await viewer.next_frame()
                except AdapterError:
                    return None

            # Interval 0: the camera's own pace (a frame every 1-2 s) sets the rate.
            return await async_get_still_stream(request, next_image, self.content_type, 0)

    async def async_added_to_hass(self) -> None:
        """Hang up when HA stops too (entities are not removed then); open streams end."""
        await super().async_added_to_hass()
        self._stop_listener = self.hass.bus.async_listen_once(
            EVENT_HOMEASSISTANT_STOP, self._async_hang_up
        )

    async def async_will_remove_from_hass(self) -> None:
        """Hang up on the camera; open streams end."""
        await super().async_will_remove_from_hass()
        if self._stop_listener is not None:
            self._stop_listener()
        await self._client.close()

    async def _async_hang_up(self, _: Event) -> None:
        self._stop_listener = None  # fired: removing it again would be an error
        await self._client.close()


class LiveViewCamera(PrinternizerEntity, Camera):
    """X1/H2/P2: the printer's RTSPS live view, played (and turned into stills) by HA."""

    _attr_supported_features = CameraEntityFeature.STREAM
    _sources = ("online",)

    def __init__(self, coordinator: PrinterCoordinator, adapter: BambuAdapter, source: str) -> None:
        """Keep the URL (it carries the access code) to this entity."""
        super().__init__(coordinator, CAMERA)
        Camera.__init__(self)
        self._adapter = adapter
        self.__source = source

    @property
    def use_stream_for_stills(self) -> bool:
        """Stills come from the stream's keyframes; the printer serves no snapshot URL."""
        return True

    async def stream_source(self) -> str | None:
        """The RTSPS URL, unless the printer reports LAN live view switched off."""
        if liveview_disabled(self._adapter.raw_report):
            return None
        return self.__source
