"""Discovery: Bambu printers by their SSDP NOTIFY on UDP, Prusa printers by DHCP and zeroconf.

The Bambu listener runs for real on 127.0.0.1 and a free port (tests/conftest.py); the
simulator's NOTIFY reaches it as a datagram. HA's test harness runs neither its DHCP nor its
zeroconf watcher, so the Prusa tests hand the discovery steps what the simulator announces.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from ipaddress import ip_address
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import (
    SOURCE_DHCP,
    SOURCE_IGNORE,
    SOURCE_INTEGRATION_DISCOVERY,
    SOURCE_ZEROCONF,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_USERNAME, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType, section
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.service_info.dhcp import DhcpServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.loader import async_get_dhcp, async_get_zeroconf
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.printernizer.const import (
    CONF_ACCESS_CODE,
    CONF_FTPS_PORT,
    CONF_MODEL,
    CONF_MQTT_PORT,
    CONF_PRINTER_TYPE,
    CONF_SERIAL,
    DOMAIN,
    PRINTER_BAMBU,
    PRINTER_PRUSA,
)
from custom_components.printernizer.discovery.bambu import (
    DATA_BAMBU_DISCOVERY,
    BambuDiscovery,
    async_use_bambu_discovery,
)
from simulator.bambu.printer import BambuSimulator
from simulator.bambu.ssdp import SsdpAnnouncer, notify_packet, send_datagram
from simulator.prusa import PrusaSimulator
from simulator.prusa.announce import MdnsService, dhcp_lease, mdns_services

from .conftest import bambu_entry_data, prusa_entry_data

WRONG_CODE = "q7wr0ngX"
OTHER_SERIAL = "01S00C000000042"  # an X1C's serial (not simulated: it is only announced)
SENTINEL = "01S00C000000043"


# -- helpers -------------------------------------------------------------------------------------


async def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    """Wait for a condition that a datagram or a reload makes true, within a bound."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def _listener(hass: HomeAssistant) -> BambuDiscovery:
    return hass.data[DATA_BAMBU_DISCOVERY]


def _announce(hass: HomeAssistant, packet: bytes) -> None:
    send_datagram(packet, ("127.0.0.1", _listener(hass).port))


def _flows(hass: HomeAssistant, serial: str | None = None) -> list[Any]:
    """The discovery flows in progress, for one serial if given."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if serial is None or flow["context"].get("unique_id") == serial
    ]


def _packet(sim: BambuSimulator, *, host: str = "127.0.0.1", name: str = "Workshop") -> bytes:
    return notify_packet(serial=sim.serial, host=host, model=sim.model, name=name)


def _defaults(result: FlowResult) -> dict[str, Any]:
    """The values a form is pre-filled with; a section's as a dict of their own."""
    schema = result["data_schema"]
    assert isinstance(schema, vol.Schema)
    defaults: dict[str, Any] = {}
    for key, value in schema.schema.items():
        if isinstance(value, section):
            defaults[str(key)] = {
                str(inner): inner.default() for inner in value.schema.schema if inner.default
            }
        elif key.default is not vol.UNDEFINED:
            defaults[str(key)] = key.default()
    return defaults


def _zeroconf(service: MdnsService) -> ZeroconfServiceInfo:
    """What HA's zeroconf watcher hands a flow for a resolved service."""
    address = ip_address(service.address)
    return ZeroconfServiceInfo(
        ip_address=address,
        ip_addresses=[address],
        port=service.port,
        hostname=service.hostname,
        type=service.type,
        name=service.name,
        properties=service.properties,
    )


async def _unload_all(hass: HomeAssistant) -> None:
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def listening(
    hass: HomeAssistant, loaded_prusa_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """A Prusa printer set up, so the Bambu listener runs; its entry is yielded."""
    yield loaded_prusa_entry
    await _unload_all(hass)


# -- Bambu: the SSDP listener --------------------------------------------------------------------


async def test_announced_printer_is_offered_and_added(
    hass: HomeAssistant, listening: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    """A NOTIFY on the socket offers the printer with its name and model; the code adds it."""
    listener = _listener(hass)
    with patch.object(
        discovery_flow, "async_create_flow", wraps=discovery_flow.async_create_flow
    ) as create_flow:
        async with SsdpAnnouncer(_packet(bambu_sim), target=("127.0.0.1", listener.port)):
            await _until(lambda: len(_flows(hass, bambu_sim.serial)) == 1)
            # Announced every few seconds (here: three more), offered once.
            for _ in range(3):
                _announce(hass, _packet(bambu_sim))
            sentinel = notify_packet(serial=OTHER_SERIAL, host="127.0.0.9", model="X1C")
            _announce(hass, sentinel)
            await _until(lambda: len(_flows(hass, OTHER_SERIAL)) == 1)
    assert create_flow.call_count == 2  # the P1S once, the sentinel once

    (flow,) = _flows(hass, bambu_sim.serial)
    assert flow["context"]["source"] == SOURCE_INTEGRATION_DISCOVERY
    assert flow["context"]["title_placeholders"] == {"name": "P1S Workshop"}
    result: FlowResult = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["step_id"] == "bambu_discovery_confirm"
    assert result["description_placeholders"] == {
        "name": "Workshop",
        "model": "P1S",
        "serial": bambu_sim.serial,
        "host": "127.0.0.1",
    }

    ports = {CONF_MQTT_PORT: bambu_sim.mqtt_port, CONF_FTPS_PORT: bambu_sim.ftps_port}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_ACCESS_CODE: WRONG_CODE, "advanced": ports}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    assert _defaults(result) == {"advanced": ports}  # the ports kept, the code never

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_ACCESS_CODE: f" {bambu_sim.access_code} ", "advanced": ports}
    )
    assert result["step_id"] == "bambu_confirm"  # the certificate to trust, as when typed in
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "P1S Workshop"
    assert result["data"] == {**bambu_entry_data(bambu_sim), CONF_MODEL: "P1S"}
    entry = result["result"]
    assert entry.unique_id == bambu_sim.serial
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert _listener(hass) is listener  # one listener, however many printers

    # Set up now: its announcements start nothing (only the sentinel's flow remains).
    _announce(hass, _packet(bambu_sim))
    _announce(hass, notify_packet(serial=SENTINEL, host="127.0.0.9", model="X1C"))
    await _until(lambda: len(_flows(hass)) == 2)
    assert not _flows(hass, bambu_sim.serial)

    # Removed: offered again at its next announcement, though nothing about it changed.
    assert entry.discovery_keys[DOMAIN][0].key == bambu_sim.serial
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    _announce(hass, _packet(bambu_sim))
    await _until(lambda: len(_flows(hass, bambu_sim.serial)) == 1)


async def test_moved_printer_gets_its_new_address(
    hass: HomeAssistant, bambu_sim: BambuSimulator
) -> None:
    """An entry retrying at the old address is moved to the announced one and comes up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=bambu_sim.serial,
        title="P1S Workshop",
        data={**bambu_entry_data(bambu_sim), CONF_HOST: "127.0.0.2"},  # nothing listens there
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY

    _announce(hass, _packet(bambu_sim))  # a retrying printer keeps the listener running
    await _until(lambda: entry.state is ConfigEntryState.LOADED)
    assert entry.data[CONF_HOST] == "127.0.0.1"
    assert entry.data[CONF_ACCESS_CODE] == bambu_sim.access_code  # the rest is kept
    assert not _flows(hass)  # updated, not offered again

    await _unload_all(hass)
    assert DATA_BAMBU_DISCOVERY not in hass.data  # the last printer took the listener with it


async def test_hostile_datagrams_are_ignored(
    hass: HomeAssistant, listening: MockConfigEntry
) -> None:
    """Garbage, forged and oversized packets start nothing; the listener keeps listening."""
    forged = "01S00C000000045"
    valid = notify_packet(serial=forged, host="127.0.0.9", model="X1C", name="Lab")
    hostile = [
        b"",
        b"\x00" * 64,
        b"\xff\xfe" + valid,  # not UTF-8
        valid + b"X" * 4096,  # far too large
        valid.replace(b"NOTIFY * HTTP/1.1", b"M-SEARCH * HTTP/1.1"),
        valid.replace(b"urn:bambulab-com", b"urn:schemas-upnp-org"),
        valid.replace(forged.encode(), b"../../etc/passwd"),
        valid.replace(forged.encode(), b"A" * 200),
        valid.replace(b"ssdp:alive", b"ssdp:byebye"),
        valid.replace(b"\r\nNT:", b"\r\nno colon here\r\nNT:"),
    ]
    for packet in hostile:
        _announce(hass, packet)
    # Doubtful parts only: a broadcast Location (the sender's address stands in) and a name
    # with a control character or a Markdown link (left out).
    _announce(hass, notify_packet(serial=OTHER_SERIAL, host="255.255.255.255", model="X1C"))
    _announce(hass, notify_packet(serial=SENTINEL, host="127.0.0.9", model="C99", name="[x](y)"))
    await _until(lambda: len(_flows(hass)) == 2)
    assert not _flows(hass, forged)
    placeholders = {}
    for flow in _flows(hass):
        result = await hass.config_entries.flow.async_configure(flow["flow_id"])
        placeholders[flow["context"]["unique_id"]] = result["description_placeholders"]
    assert placeholders[OTHER_SERIAL]["host"] == "127.0.0.1"
    assert placeholders[SENTINEL] == {
        "name": SENTINEL,  # no name
        "model": "C99",  # a model code we do not know
        "serial": SENTINEL,
        "host": "127.0.0.9",
    }


async def test_a_flood_of_forged_printers_is_throttled(
    hass: HomeAssistant, listening: MockConfigEntry
) -> None:
    """Fifty made-up serials in a minute offer ten printers, not fifty."""
    with patch.object(
        discovery_flow, "async_create_flow", wraps=discovery_flow.async_create_flow
    ) as create_flow:
        for number in range(50):
            _announce(
                hass, notify_packet(serial=f"01S00C{number:09d}", host="127.0.0.9", model="X1C")
            )
            await asyncio.sleep(0)  # let the listener read: loopback drops what overflows it
        # A printer offered already, at a new address: not throttled, and read after the rest.
        _announce(hass, notify_packet(serial=f"01S00C{0:09d}", host="127.0.0.10", model="X1C"))
        await _until(lambda: create_flow.call_count == 11)
        await hass.async_block_till_done()
    assert create_flow.call_args.kwargs["data"]["host"] == "127.0.0.10"
    assert len(_flows(hass)) == 10


async def test_configured_printer_named_by_host_name_keeps_it(hass: HomeAssistant) -> None:
    """A host name the user chose stays; an ignored printer stays ignored and untouched."""
    named = MockConfigEntry(
        domain=DOMAIN,
        unique_id="01P00A000000001",
        data={
            CONF_PRINTER_TYPE: PRINTER_BAMBU,
            CONF_HOST: "p1s.lan",
            CONF_SERIAL: "01P00A000000001",
        },
    )
    ignored = MockConfigEntry(domain=DOMAIN, unique_id=OTHER_SERIAL, source=SOURCE_IGNORE)
    named.add_to_hass(hass)
    ignored.add_to_hass(hass)
    for entry in (named, ignored):
        result = await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_INTEGRATION_DISCOVERY},
            data={"serial": entry.unique_id, "host": "10.0.0.7", "model": "P1S"},
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
    assert named.data[CONF_HOST] == "p1s.lan"
    assert dict(ignored.data) == {}


async def test_listener_stops_with_home_assistant(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """Started for a printer entry, closed when HA stops (entries are not unloaded then)."""
    entry = MockConfigEntry(domain=DOMAIN, data={CONF_PRINTER_TYPE: PRINTER_BAMBU})
    entry.add_to_hass(hass)
    await async_use_bambu_discovery(hass, entry)
    assert DATA_BAMBU_DISCOVERY in hass.data
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert DATA_BAMBU_DISCOVERY not in hass.data


# -- Prusa: DHCP and zeroconf --------------------------------------------------------------------


async def test_manifest_routes_prusa_announcements_here(hass: HomeAssistant) -> None:
    """HA's watchers start our flows for PrusaLink's mDNS service and Prusa's MAC prefix."""
    zeroconf = await async_get_zeroconf(hass)
    assert {"domain": DOMAIN} in zeroconf["_prusalink._tcp.local."]
    assert {"domain": DOMAIN, "macaddress": "109C70*"} in await async_get_dhcp(hass)


async def test_zeroconf_adds_prusa_printer(hass: HomeAssistant, prusa_sim: PrusaSimulator) -> None:
    """The announced address and port are filled in; the login adds the printer."""
    (service,) = mdns_services(prusa_sim)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(service)
    )
    assert result["step_id"] == "prusa_discovery_confirm"
    host = f"127.0.0.1:{prusa_sim.port}"
    (flow,) = _flows(hass)
    assert flow["context"]["title_placeholders"] == {"name": "prusa-mk4"}
    assert _defaults(result) == {CONF_HOST: host, CONF_USERNAME: "maker"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: host, CONF_USERNAME: "maker", CONF_PASSWORD: "wrong-pass"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: host, CONF_USERNAME: "maker", CONF_PASSWORD: prusa_sim.password},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "prusa-mk4"  # the host name names the model already
    assert result["result"].unique_id == prusa_sim.serial
    assert result["data"][CONF_SERIAL] == prusa_sim.serial
    assert result["data"][CONF_HOST] == host
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    await _unload_all(hass)


async def test_pi_announces_three_services_one_offer(
    hass: HomeAssistant, pi_sim: PrusaSimulator
) -> None:
    """PrusaLink on a Pi registers three services at one address: one flow; DHCP joins it."""
    results = [
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(service)
        )
        for service in mdns_services(pi_sim)
    ]
    lease = dhcp_lease(pi_sim)
    results.append(
        await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_DHCP},
            data=DhcpServiceInfo(ip=lease.ip, hostname=lease.hostname, macaddress=lease.macaddress),
        )
    )
    assert [result["type"] for result in results] == [FlowResultType.FORM] + [
        FlowResultType.ABORT
    ] * 3
    assert {result.get("reason") for result in results[1:]} == {"already_in_progress"}


async def test_dhcp_adds_prusa_printer(hass: HomeAssistant, prusa_sim: PrusaSimulator) -> None:
    """A DHCP lease gives the address only: PrusaLink's port 80 is assumed, and can be changed."""
    lease = dhcp_lease(prusa_sim)
    assert lease.macaddress.startswith("109c70")
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_DHCP},
        data=DhcpServiceInfo(ip=lease.ip, hostname=lease.hostname, macaddress=lease.macaddress),
    )
    assert result["step_id"] == "prusa_discovery_confirm"
    assert _defaults(result)[CONF_HOST] == "127.0.0.1"
    # The simulator is not on port 80: the user says where PrusaLink is.
    host = f"127.0.0.1:{prusa_sim.port}"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: host, CONF_USERNAME: "maker", CONF_PASSWORD: prusa_sim.password},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PRINTER_TYPE] == PRINTER_PRUSA
    assert result["result"].unique_id == prusa_sim.serial
    await hass.async_block_till_done()
    await _unload_all(hass)


async def test_discovered_prusa_already_set_up_is_not_offered(
    hass: HomeAssistant, prusa_entry: MockConfigEntry, prusa_sim: PrusaSimulator
) -> None:
    """Its address is in an entry (with a port there, none in the lease): nothing to offer."""
    (service,) = mdns_services(prusa_sim)
    lease = dhcp_lease(prusa_sim)
    for source, data in (
        (SOURCE_ZEROCONF, _zeroconf(service)),
        (
            SOURCE_DHCP,
            DhcpServiceInfo(ip=lease.ip, hostname=lease.hostname, macaddress="109c70000001"),
        ),
    ):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": source}, data=data
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"


@pytest.mark.parametrize("source", [SOURCE_ZEROCONF, SOURCE_DHCP])
async def test_moved_prusa_printer_gets_its_new_address(
    hass: HomeAssistant, prusa_sim: PrusaSimulator, source: str
) -> None:
    """Retrying where it was, found elsewhere: its own login identifies it there; not offered.

    DHCP names no port: the entry's own is kept.
    """
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=prusa_sim.serial,
        title="prusa-mk4",
        data={**prusa_entry_data(prusa_sim), CONF_HOST: f"127.0.0.2:{prusa_sim.port}"},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY

    (service,) = mdns_services(prusa_sim)
    lease = dhcp_lease(prusa_sim)
    data = (
        _zeroconf(service)
        if source == SOURCE_ZEROCONF
        else DhcpServiceInfo(ip=lease.ip, hostname=lease.hostname, macaddress=lease.macaddress)
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": source}, data=data
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == f"127.0.0.1:{prusa_sim.port}"
    await _until(lambda: entry.state is ConfigEntryState.LOADED)
    await _unload_all(hass)


async def test_other_prusa_printer_is_offered_not_taken_for_a_moved_one(
    hass: HomeAssistant, prusa_sim: PrusaSimulator, pi_sim: PrusaSimulator
) -> None:
    """A retrying entry's login fails (or names another serial) at the new address: offered."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=prusa_sim.serial,
        data={**prusa_entry_data(prusa_sim), CONF_HOST: f"127.0.0.2:{prusa_sim.port}"},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    pi_service = mdns_services(pi_sim)[0]
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(pi_service)
    )
    assert result["step_id"] == "prusa_discovery_confirm"
    assert entry.data[CONF_HOST] == f"127.0.0.2:{prusa_sim.port}"
    assert entry.state is ConfigEntryState.SETUP_RETRY
