"""One coordinator per printer, fed by the adapter's pushes instead of polling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import DOMAIN, LOGGER
from .guard import Listeners
from .printers.base import PrinterAdapter
from .printers.errors import (
    AdapterError,
    AuthenticationError,
    CertificateMismatchError,
    PrinterOfflineError,
)
from .printers.models import PrinterState

if TYPE_CHECKING:
    from .tracking import PrinterJobs


@dataclass(slots=True)
class PrinternizerData:
    """What a loaded printer entry holds."""

    coordinator: PrinterCoordinator
    jobs: PrinterJobs


type PrinternizerConfigEntry = ConfigEntry[PrinternizerData]


class PrinterCoordinator(DataUpdateCoordinator[PrinterState]):
    """Publishes each changed `PrinterState` of one printer to its job tracker and entities.

    Each of them gets every snapshot even if another one raised (see `guard`).
    """

    config_entry: PrinternizerConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: PrinternizerConfigEntry, adapter: PrinterAdapter
    ) -> None:
        """Wrap an adapter that is not started yet."""
        super().__init__(hass, LOGGER, config_entry=entry, name=entry.title, update_interval=None)
        self.adapter = adapter
        # Set once the entry is set up; sees each snapshot before the entities do.
        self.jobs: PrinterJobs | None = None
        self.listener_errors = Listeners(LOGGER, f"Printer {entry.title}")

    async def _async_setup(self) -> None:
        """Connect; the first full report becomes the first data."""
        try:
            await self.adapter.start()
        except AuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="invalid_auth",
                translation_placeholders={"name": self.name},
            ) from err
        except CertificateMismatchError as err:
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="certificate_changed",
                translation_placeholders={"name": self.name},
            ) from err
        except AdapterError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"name": self.name},
            ) from err
        self._online = self.adapter.state.online
        self.config_entry.async_on_unload(self.adapter.add_listener(self._on_state))
        self.config_entry.async_on_unload(self.adapter.add_error_listener(self._on_error))

    async def _async_update_data(self) -> PrinterState:
        """Pushes keep the data current; this only serves the first refresh."""
        return self.adapter.state

    async def async_shutdown(self) -> None:
        """Disconnect from the printer when the entry unloads."""
        await super().async_shutdown()
        await self.adapter.stop()

    @callback
    def _on_state(self, state: PrinterState) -> None:
        if state.online != self._online:
            self._online = state.online
            if state.online:
                LOGGER.info("Printer %s is back online", self.name)
            else:
                LOGGER.info("Printer %s is offline", self.name)
        if self.jobs is not None:
            self.listener_errors.call(self.jobs.async_update, state)
        self.async_set_updated_data(state)

    @callback
    def async_update_listeners(self) -> None:
        """Update every entity, also when one of them raises."""
        for update_callback, _ in list(self._listeners.values()):
            self.listener_errors.call(update_callback)

    @callback
    def _on_error(self, error: AdapterError) -> None:
        """Credentials or certificate the printer refuses for good need the user."""
        if isinstance(error, AuthenticationError):
            self.config_entry.async_start_reauth(self.hass)
        elif not isinstance(error, PrinterOfflineError):
            LOGGER.error("Printer %s: %s", self.name, error)
