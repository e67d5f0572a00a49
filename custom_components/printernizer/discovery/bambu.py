"""One Bambu Lab SSDP listener per HA, running while any printer entry is loaded.

HA's own SSDP listens on port 1900; Bambu printers announce themselves on UDP 2021, so without
this listener they are never discovered. Each announcement that says something new (a printer
not seen before, or at another address, or with another name) starts a discovery flow, which
offers the printer or updates the address of its entry; repeats of the same announcement
(every few seconds) start nothing.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import asdict, dataclass
from functools import partial
import time
from typing import Any, Final

from homeassistant.config_entries import (
    SOURCE_INTEGRATION_DISCOVERY,
    ConfigEntry,
    ConfigEntryState,
    signal_discovered_config_entry_removed,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN, LOGGER
from ..settings import is_fleet_entry
from .listener import ANY_ADDRESS, DatagramListener
from .ssdp import BambuAnnouncement, parse_announcement


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """Where the listener binds; tests use loopback and a free port."""

    host: str
    port: int


# Bambu printers send to 2021 whatever their HOST header says.
LISTEN: ListenAddress = ListenAddress(ANY_ADDRESS, 2021)
DATA_BAMBU_DISCOVERY: Final[HassKey[BambuDiscovery]] = HassKey(f"{DOMAIN}_bambu_discovery")
DISCOVERY_KEY_VERSION: Final = 1
# A printer entry in these states keeps the listener running: one waiting to retry most of all,
# as its printer may have moved to the address the listener will hear about.
_RUNNING: Final = frozenset(
    {ConfigEntryState.LOADED, ConfigEntryState.SETUP_IN_PROGRESS, ConfigEntryState.SETUP_RETRY}
)
# Printers remembered (least recently announced forgotten first), and how many printers not
# seen before may start a flow per minute: a flood of forged serials cannot bury the UI.
_MAX_KNOWN: Final = 256
_NEW_FLOWS_PER_MINUTE: Final = 10


class BambuDiscovery:
    """The listener, what it has seen, and the entries that keep it running."""

    def __init__(self, hass: HomeAssistant, address: ListenAddress) -> None:
        self.hass = hass
        self._listener = DatagramListener(address.host, address.port, self._datagram)
        self._known: OrderedDict[str, BambuAnnouncement] = OrderedDict()
        self._new_flows: deque[float] = deque(maxlen=_NEW_FLOWS_PER_MINUTE)
        self._unsubscribe: list[CALLBACK_TYPE] = []

    @property
    def port(self) -> int:
        """The UDP port listened on."""
        return self._listener.port

    async def async_start(self) -> None:
        """Listen; stop with HA. Raises OSError when the port cannot be bound."""
        await self._listener.start()
        self._unsubscribe = [
            self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._async_hass_stop),
            async_dispatcher_connect(
                self.hass, signal_discovered_config_entry_removed(DOMAIN), self._entry_removed
            ),
        ]

    @callback
    def async_stop(self) -> None:
        """Close the socket and stop listening to HA."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._listener.stop()
        if self.hass.data.get(DATA_BAMBU_DISCOVERY) is self:
            del self.hass.data[DATA_BAMBU_DISCOVERY]

    @callback
    def _async_hass_stop(self, event: Event) -> None:
        self._unsubscribe = self._unsubscribe[1:]  # the once-listener has removed itself
        self.async_stop()

    @callback
    def _entry_removed(self, entry: ConfigEntry[Any]) -> None:
        """A removed printer is offered again when it next announces itself."""
        for key in entry.discovery_keys.get(DOMAIN, ()):
            if isinstance(key.key, str):
                self._known.pop(key.key, None)

    @callback
    def _datagram(self, data: bytes, source: str) -> None:
        announcement = parse_announcement(data, source)
        if announcement is None:
            return
        serial = announcement.serial
        known = self._known.get(serial)
        if known is not None:
            self._known.move_to_end(serial)
            if known == announcement:
                return
        elif not self._may_start_flow():
            return
        self._known[serial] = announcement
        if len(self._known) > _MAX_KNOWN:
            self._known.popitem(last=False)
        LOGGER.debug(
            "Bambu Lab printer %s announced at %s (%s)",
            serial,
            announcement.host,
            announcement.model_code,
        )
        discovery_flow.async_create_flow(
            self.hass,
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data=asdict(announcement),
            discovery_key=discovery_flow.DiscoveryKey(
                domain=DOMAIN, key=serial, version=DISCOVERY_KEY_VERSION
            ),
        )

    def _may_start_flow(self) -> bool:
        """At most _NEW_FLOWS_PER_MINUTE printers not seen before start a flow per minute."""
        now = time.monotonic()
        if len(self._new_flows) == self._new_flows.maxlen and now - self._new_flows[0] < 60:
            return False
        self._new_flows.append(now)
        return True


async def async_use_bambu_discovery(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Listen while `entry` is set up or waiting to retry; the first printer entry starts it.

    A port that cannot be bound leaves discovery off (logged); the printer works regardless.
    """
    entry.async_on_unload(partial(_release, hass, entry))
    if DATA_BAMBU_DISCOVERY in hass.data:
        return
    discovery = BambuDiscovery(hass, LISTEN)
    try:
        await discovery.async_start()
    except OSError as err:
        LOGGER.warning(
            "Bambu Lab printers will not be discovered: cannot listen on UDP port %s: %s",
            LISTEN.port,
            err,
        )
        return
    hass.data[DATA_BAMBU_DISCOVERY] = discovery


@callback
def _release(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Stop listening when the last printer entry unloads (one retrying keeps it)."""
    discovery = hass.data.get(DATA_BAMBU_DISCOVERY)
    if discovery is None or entry.state is ConfigEntryState.SETUP_RETRY:
        return
    if not any(
        other.entry_id != entry.entry_id and other.state in _RUNNING and not is_fleet_entry(other)
        for other in hass.config_entries.async_entries(DOMAIN)
    ):
        discovery.async_stop()
