"""Bambu Lab's SSDP announcement: what a NOTIFY (or an M-SEARCH reply) on UDP 2021 says.

HA-free and strict: a datagram comes from anyone on the LAN, so everything is checked and
anything doubtful is dropped (None), never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
import ipaddress
import re
from typing import Final

from ..printers.bambu.version import model_from_code

# The search target every Bambu printer announces; other SSDP devices share port 2021 rarely,
# but the check keeps their packets from becoming printers.
BAMBU_URN: Final = "urn:bambulab-com:device:3dprinter:1"
# A real announcement is about 500 bytes; anything far larger is not one.
MAX_PACKET: Final = 2048
_MAX_HEADERS: Final = 32
_MAX_NAME: Final = 64
_MAX_CODE: Final = 16
_SERIAL: Final = re.compile(r"[0-9A-Z]{8,32}")
_START_LINES: Final = ("NOTIFY * HTTP/1.1", "HTTP/1.1 200 OK")
# The name is shown in the flow's Markdown: no links, images or HTML from a forged packet.
_MARKUP: Final = frozenset("<>[]()`")


@dataclass(frozen=True, slots=True, kw_only=True)
class BambuAnnouncement:
    """A printer as it announces itself: who (serial), where (IPv4) and what it calls itself."""

    serial: str
    host: str
    model_code: str | None = None
    model: str | None = None
    name: str | None = None


def parse_announcement(data: bytes, source: str | None = None) -> BambuAnnouncement | None:
    """The announcement in a datagram, or None when it is not a well-formed Bambu one.

    The address is the `Location` header (a bare IPv4 address); when that is missing or is
    no usable address, the datagram's `source` address stands in for it.
    """
    if len(data) > MAX_PACKET:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.splitlines()
    if not lines or lines[0].strip() not in _START_LINES:
        return None
    headers = _headers(lines[1:])
    if headers is None:
        return None
    target = headers.get("nt") or headers.get("st")
    if target is None or target.casefold() != BAMBU_URN or headers.get("nts") == "ssdp:byebye":
        return None
    serial = headers.get("usn", "").upper()
    if not _SERIAL.fullmatch(serial):
        return None
    host = _address(headers.get("location")) or _address(source)
    if host is None:
        return None
    code = _text(headers.get("devmodel.bambu.com"), _MAX_CODE)
    return BambuAnnouncement(
        serial=serial,
        host=host,
        model_code=code,
        model=model_from_code(code),
        name=_text(headers.get("devname.bambu.com"), _MAX_NAME),
    )


def _headers(lines: list[str]) -> dict[str, str] | None:
    """Header names folded to lower case; the first of repeated ones counts."""
    headers: dict[str, str] = {}
    for number, line in enumerate(lines):
        if not line.strip():
            break  # the blank line ends the headers; SSDP has no body
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or number == _MAX_HEADERS:
            return None
        headers.setdefault(name.strip().casefold(), value.strip())
    return headers


def _address(value: str | None) -> str | None:
    """A unicast IPv4 address a printer can have (loopback included: the simulators)."""
    if not value:
        return None
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        return None
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return None
    return str(address)


def _text(value: str | None, limit: int) -> str | None:
    """A printable value of at most `limit` characters without markup, else None."""
    if not value or len(value) > limit or not value.isprintable() or _MARKUP & set(value):
        return None
    return value
