"""One coordinator per printer, fed by the adapter's pushes instead of polling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
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
from .printers.models import FINER_PARTS, PrinterState, with_finer_parts
from .repairs import PrinterIssues
from .system_health import record_error

if TYPE_CHECKING:
    from .tracking import PrinterJobs

# The parts job tracking reads; a push that changes none of them leaves it alone.
JOB_PARTS: Final = frozenset({"online", "status", "job", "material"})
MAX_WOKEN: Final = 512


@dataclass(frozen=True, slots=True)
class Reads:
    """A listener context naming the state parts the listener reads.

    Parts are `PrinterState` fields, or an attribute of one (`nozzle.target`, `job.progress`,
    see `FINER_PARTS`).
    """

    parts: frozenset[str]


@dataclass(slots=True)
class PrinternizerData:
    """What a loaded printer entry holds."""

    coordinator: PrinterCoordinator
    jobs: PrinterJobs


type PrinternizerConfigEntry = ConfigEntry[PrinternizerData]


class PrinterCoordinator(DataUpdateCoordinator[PrinterState]):
    """Publishes each changed `PrinterState` of one printer to its job tracker and entities.

    Keyed fan-out: a listener added with a `Reads` context is called only for pushes that
    changed one of its parts (a nozzle reading wakes the nozzle sensor, nothing else); every
    other listener, and every listener on any other update (the first data, online/offline, a
    refresh, `async_update_listeners` called by anyone), gets every update as HA's coordinator
    gives it. Each of them gets its update even if another one raised (see `guard`).
    """

    config_entry: PrinternizerConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: PrinternizerConfigEntry, adapter: PrinterAdapter
    ) -> None:
        """Wrap an adapter that is not started yet."""
        super().__init__(hass, LOGGER, config_entry=entry, name=entry.title, update_interval=None)
        self.adapter = adapter
        self.issues = PrinterIssues(hass, entry)
        self.loaded_at = hass.loop.time()  # adapters count messages from here (system health)
        # Set once the entry is set up; sees each snapshot before the entities do.
        self.jobs: PrinterJobs | None = None
        self.listener_errors = Listeners(LOGGER, f"Printer {entry.title}")
        # part -> the keyed listeners reading it; tuples are replaced, never changed, so a
        # dispatch iterates them without copying while a listener may (un)subscribe.
        self._readers: dict[str, tuple[CALLBACK_TYPE, ...]] = {}
        self._keyed: tuple[CALLBACK_TYPE, ...] = ()  # every keyed listener, in order added
        # The parts the update being dispatched changed; None: a full update.
        self._changed: frozenset[str] | None = None
        # changed parts -> the keyed listeners to wake, each once; a printer's pushes change
        # the same few combinations again and again. Emptied when a listener comes or goes.
        self._woken: dict[frozenset[str], tuple[CALLBACK_TYPE, ...]] = {}

    async def _async_setup(self) -> None:
        """Connect; the first full report becomes the first data."""
        try:
            await self.adapter.start()
        except AdapterError as err:
            record_error(self.hass, self.name, str(err))
            raise self._setup_error(err) from err
        self.issues.started(self.adapter)
        self._online = self.adapter.state.online
        self.config_entry.async_on_unload(self.adapter.add_change_listener(self._on_state))
        self.config_entry.async_on_unload(self.adapter.add_error_listener(self._on_error))

    def _setup_error(self, error: AdapterError) -> Exception:
        """HA's reaction to a failed start; raises the repair issue it calls for."""
        placeholders = {"name": self.name}
        if isinstance(error, AuthenticationError):
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="invalid_auth",
                translation_placeholders=placeholders,
            )
        if isinstance(error, CertificateMismatchError):
            self.issues.certificate_changed()
            return ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="certificate_changed",
                translation_placeholders=placeholders,
            )
        if self.issues.setup_failed(error):
            return ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="firmware_too_old",
                translation_placeholders=placeholders,
            )
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders=placeholders,
        )

    async def _async_update_data(self) -> PrinterState:
        """Pushes keep the data current; this only serves the first refresh."""
        return self.adapter.state

    async def async_shutdown(self) -> None:
        """Disconnect from the printer when the entry unloads."""
        await super().async_shutdown()
        await self.adapter.stop()

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Listen for updates; with a `Reads` context only for those that change its parts."""
        if not isinstance(context, Reads):
            return super().async_add_listener(update_callback, context)
        for part in context.parts:
            self._readers[part] = (*self._readers.get(part, ()), update_callback)
        self._keyed = (*self._keyed, update_callback)
        self._woken = {}

        @callback
        def remove() -> None:
            for part in context.parts:
                self._readers[part] = tuple(
                    reader for reader in self._readers[part] if reader is not update_callback
                )
            self._keyed = tuple(reader for reader in self._keyed if reader is not update_callback)
            self._woken = {}

        return remove

    @callback
    def _on_state(self, state: PrinterState, changed: frozenset[str] | None = None) -> None:
        """A new snapshot; `changed` names the parts it changed (None: any may have)."""
        if state.online != self._online:
            self._online = state.online
            if state.online:
                LOGGER.info("Printer %s is back online", self.name)
            else:
                LOGGER.info("Printer %s is offline", self.name)
                record_error(self.hass, self.name, "went offline")
        self.issues.state_changed(state)
        if self.jobs is not None and (changed is None or not changed.isdisjoint(JOB_PARTS)):
            self.listener_errors.call(self.jobs.async_update, state)
        # Availability is every entity's: a change of it (or a recovery from a failed
        # update) is a full update.
        if self.last_update_success and changed is not None and "online" not in changed:
            # Which attribute of a heater or the job changed, for the listeners reading one.
            old: PrinterState | None = self.data  # None: a push before the first data
            if old is None:
                changed = None
            elif not changed.isdisjoint(FINER_PARTS):
                changed = with_finer_parts(old, state, changed)
            self._changed = changed
        try:
            self.async_set_updated_data(state)
        finally:
            self._changed = None

    @callback
    def async_update_listeners(self) -> None:
        """Update the listeners this update concerns, also when one of them raises."""
        changed, self._changed = self._changed, None
        call = self.listener_errors.call
        if self._listeners:
            for update_callback, _ in list(self._listeners.values()):
                call(update_callback)
        if changed is None:
            for reader in self._keyed:
                call(reader)
        else:
            readers = self._woken.get(changed)
            for reader in self._wake(changed) if readers is None else readers:
                call(reader)

    def _wake(self, changed: frozenset[str]) -> tuple[CALLBACK_TYPE, ...]:
        """The keyed listeners reading any of `changed`, each once, in the same order always."""
        woken: dict[CALLBACK_TYPE, None] = {}
        for part in sorted(changed):
            woken.update(dict.fromkeys(self._readers.get(part, ())))
        if len(self._woken) >= MAX_WOKEN:  # a printer inventing combinations: start over
            self._woken = {}
        self._woken[changed] = readers = tuple(woken)
        return readers

    @callback
    def _on_error(self, error: AdapterError) -> None:
        """Credentials or certificate the printer refuses for good need the user."""
        record_error(self.hass, self.name, str(error))
        if isinstance(error, AuthenticationError):
            self.config_entry.async_start_reauth(self.hass)
        elif not isinstance(error, PrinterOfflineError):
            LOGGER.error("Printer %s: %s", self.name, error)
            if isinstance(error, CertificateMismatchError):
                self.issues.certificate_changed()
