"""System health: how many printers are connected, how busy their links are, the last error.

Messages are what the printers send: MQTT reports for a Bambu printer, HTTP replies for a
PrusaLink one. The rate is measured between two reads of this page (from loading for the first
read), so it shows the current load rather than an average since HA started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from weakref import WeakKeyDictionary

from homeassistant.components import system_health
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .printers.bambu.adapter import BambuAdapter
from .printers.prusa.adapter import PrusaAdapter
from .settings import is_fleet_entry

if TYPE_CHECKING:
    from .coordinator import PrinterCoordinator
    from .printers.base import PrinterAdapter

# A rate over less time than this says little; the previous one is shown instead.
MIN_WINDOW_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class LastError:
    """The most recent error any printer reported, and when."""

    printer: str
    message: str
    at: datetime


@dataclass(slots=True)
class MessageRate:
    """Messages per minute of one printer between two samples of its running total."""

    at: float
    count: int
    per_minute: float | None = None

    def sample(self, now: float, count: int) -> float:
        """The rate since the previous sample, which this one replaces when long enough ago.

        The first sample takes whatever time has passed since loading; later ones keep showing
        the last rate until `MIN_WINDOW_SECONDS` have passed, so two quick reads agree.
        """
        elapsed = now - self.at
        if elapsed >= MIN_WINDOW_SECONDS or (self.per_minute is None and elapsed > 0):
            self.per_minute = max(count - self.count, 0) * 60 / elapsed
            self.at, self.count = now, count
        return self.per_minute or 0.0


@dataclass(slots=True)
class HealthData:
    """What system health reads across reloads: the last error and each link's rate."""

    last_error: LastError | None = None
    rates: WeakKeyDictionary[PrinterCoordinator, MessageRate] = field(
        default_factory=WeakKeyDictionary
    )


DATA_HEALTH: Final = HassKey[HealthData](f"{DOMAIN}_health")


def _health(hass: HomeAssistant) -> HealthData:
    if (data := hass.data.get(DATA_HEALTH)) is None:
        data = hass.data[DATA_HEALTH] = HealthData()
    return data


@callback
def record_error(hass: HomeAssistant, printer: str, message: str) -> None:
    """Remember an error a printer reported (messages never carry credentials)."""
    _health(hass).last_error = LastError(printer, message, dt_util.utcnow())


def message_count(adapter: PrinterAdapter) -> int:
    """The messages a printer has sent this adapter so far."""
    if isinstance(adapter, BambuAdapter):
        return adapter.messages
    if isinstance(adapter, PrusaAdapter):
        return adapter.request_count
    return 0


@callback
def async_register(hass: HomeAssistant, register: system_health.SystemHealthRegistration) -> None:
    """Show Printernizer's figures on the system health page."""
    register.async_register_info(system_health_info)


async def system_health_info(hass: HomeAssistant) -> dict[str, Any]:
    """Connected printers of all configured ones, their messages per minute, the last error."""
    health = _health(hass)
    printers = [e for e in hass.config_entries.async_entries(DOMAIN) if not is_fleet_entry(e)]
    now = hass.loop.time()
    connected, per_minute = 0, 0.0
    for entry in printers:
        if entry.state is not ConfigEntryState.LOADED:
            continue
        coordinator = entry.runtime_data.coordinator
        connected += coordinator.adapter.state.online
        count = message_count(coordinator.adapter)
        rate = health.rates.get(coordinator)
        if rate is None:
            rate = health.rates[coordinator] = MessageRate(coordinator.loaded_at, 0)
        per_minute += rate.sample(now, count)
    last = health.last_error
    return {
        "printers_connected": f"{connected}/{len(printers)}",
        "messages_per_minute": round(per_minute, 1),
        "last_error": f"{last.printer}: {last.message}" if last else "-",
        "last_error_at": last.at if last else "-",
    }
