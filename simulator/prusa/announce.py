"""What a PrusaLink printer tells the network about itself: its mDNS services and DHCP lease.

Buddy firmware (MK4, Core One, XL, MINI) registers `_prusalink._tcp` without a TXT record;
PrusaLink on a Raspberry Pi registers `_prusalink._tcp`, `_http._tcp` and `_octoprint._tcp`,
each named "PrusaLink at <hostname>[:port]" with TXT `path=/`. Printer boards carry Prusa's
MAC prefix 10:9C:70. Tests hand these to HA's discovery steps as its zeroconf and DHCP
watchers would (HA's test harness runs neither).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import hashlib
from typing import Final

from .printer import PrusaSimulator

PRUSA_OUI: Final = "10:9c:70"
_PI_TYPES: Final = ("_prusalink._tcp.local.", "_http._tcp.local.", "_octoprint._tcp.local.")


@dataclass(frozen=True, slots=True)
class MdnsService:
    """One DNS-SD service as a browser resolves it."""

    type: str
    name: str
    hostname: str
    address: str
    port: int
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DhcpLease:
    """What a DHCP watcher sees when the printer asks for an address."""

    ip: str
    hostname: str
    macaddress: str  # lower case, no separators, as HA's DHCP watcher reports it


def mdns_services(sim: PrusaSimulator) -> list[MdnsService]:
    """The services the simulated printer's firmware registers, at its address and port."""
    hostname = f"{sim.hostname}.local."
    if sim.family == "buddy":
        return [
            MdnsService(
                "_prusalink._tcp.local.",
                f"{sim.hostname}._prusalink._tcp.local.",
                hostname,
                sim.host,
                sim.port,
            )
        ]
    port_part = "" if sim.port == 80 else f":{sim.port}"
    return [
        MdnsService(
            kind,
            f"PrusaLink at {sim.hostname}{port_part}.{kind}",
            hostname,
            sim.host,
            sim.port,
            {"path": "/"},
        )
        for kind in _PI_TYPES
    ]


def dhcp_lease(sim: PrusaSimulator) -> DhcpLease:
    """The lease request of the printer: Prusa's OUI and a device part taken from its serial."""
    device = hashlib.sha256(sim.serial.encode()).hexdigest()[:6]
    return DhcpLease(sim.host, sim.hostname, PRUSA_OUI.replace(":", "") + device)
