"""The Bambu SSDP parser: real announcements read right, anything else dropped, never raised."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.printernizer.discovery.ssdp import (
    MAX_PACKET,
    BambuAnnouncement,
    parse_announcement,
)
from simulator.bambu.ssdp import MODEL_CODES, notify_packet

SERIAL = "01P00A000000001"
# A P1S NOTIFY with the headers real printers send (shared/protocols/bambu.md, section 6).
CAPTURED = (
    b"NOTIFY * HTTP/1.1\r\n"
    b"HOST: 239.255.255.250:1990\r\n"
    b"Server: UPnP/1.0\r\n"
    b"Location: 192.168.1.57\r\n"
    b"NT: urn:bambulab-com:device:3dprinter:1\r\n"
    b"NTS: ssdp:alive\r\n"
    b"USN: 01P00A000000001\r\n"
    b"Cache-Control: max-age=1800\r\n"
    b"DevModel.bambu.com: C12\r\n"
    b"DevName.bambu.com: Workshop P1S\r\n"
    b"DevSignal.bambu.com: -45\r\n"
    b"DevConnect.bambu.com: lan\r\n"
    b"DevBind.bambu.com: free\r\n"
    b"Devseclink.bambu.com: secure\r\n"
    b"DevVersion.bambu.com: 01.08.02.00\r\n"
    b"DevCap.bambu.com: 1\r\n\r\n"
)
EXPECTED = BambuAnnouncement(
    serial=SERIAL, host="192.168.1.57", model_code="C12", model="P1S", name="Workshop P1S"
)


def test_captured_notify() -> None:
    assert parse_announcement(CAPTURED, "192.168.1.57") == EXPECTED


def test_search_reply_and_loose_formatting() -> None:
    """An M-SEARCH reply (ST instead of NT), bare LF, lower-case names, lower-case serial."""
    reply = (
        CAPTURED.replace(b"NOTIFY * HTTP/1.1", b"HTTP/1.1 200 OK")
        .replace(b"NT:", b"st:")
        .replace(b"USN: 01P00A", b"usn: 01p00a")
        .replace(b"\r\n", b"\n")
    )
    assert parse_announcement(reply) == EXPECTED


@pytest.mark.parametrize("model", sorted(MODEL_CODES))
def test_simulator_announcements_name_their_model(model: str) -> None:
    """The simulator's codes are the integration's: each model is named from its announcement."""
    packet = notify_packet(serial=SERIAL, host="127.0.0.1", model=model, name="Lab")
    announcement = parse_announcement(packet)
    assert announcement is not None
    assert (announcement.model, announcement.host, announcement.name) == (model, "127.0.0.1", "Lab")


@pytest.mark.parametrize(
    ("location", "source", "host"),
    [
        (b"Location: 10.0.0.5", None, "10.0.0.5"),
        (b"Location: http://10.0.0.5/", "10.0.0.6", "10.0.0.6"),  # not a bare address
        (b"Location: 0.0.0.0", "10.0.0.6", "10.0.0.6"),
        (b"Location: 239.255.255.250", "10.0.0.6", "10.0.0.6"),
        (b"Location: 255.255.255.255", "10.0.0.6", "10.0.0.6"),
        (b"Location: 010.000.000.005", "10.0.0.6", "10.0.0.6"),  # octal-looking: refused
        (b"Location: fe80::1", "10.0.0.6", "10.0.0.6"),
        (b"X-Nothing: here", "10.0.0.6", "10.0.0.6"),  # no Location at all
    ],
)
def test_address_from_location_else_sender(location: bytes, source: str | None, host: str) -> None:
    announcement = parse_announcement(CAPTURED.replace(b"Location: 192.168.1.57", location), source)
    assert announcement is not None
    assert announcement.host == host


def test_no_address_at_all() -> None:
    packet = CAPTURED.replace(b"Location: 192.168.1.57", b"Location: nowhere")
    assert parse_announcement(packet, None) is None
    assert parse_announcement(packet, "not an address") is None


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\r\n\r\n",
        b"\x00" * 100,
        b"\xff" + CAPTURED,
        CAPTURED.replace(b"NOTIFY * HTTP/1.1", b"M-SEARCH * HTTP/1.1"),
        CAPTURED.replace(b"NOTIFY * HTTP/1.1", b"NOTIFY * HTTP/1.0"),
        CAPTURED.replace(b"urn:bambulab-com:device:3dprinter:1", b"upnp:rootdevice"),
        CAPTURED.replace(b"NT: urn:bambulab-com:device:3dprinter:1\r\n", b""),
        CAPTURED.replace(b"ssdp:alive", b"ssdp:byebye"),
        CAPTURED.replace(b"USN: 01P00A000000001\r\n", b""),
        CAPTURED.replace(b"01P00A000000001", b"uuid:1234-5678"),
        CAPTURED.replace(b"01P00A000000001", b"01P00A00000000\xc3\xa9"),
        CAPTURED.replace(b"01P00A000000001", b"SHORT"),
        CAPTURED.replace(b"01P00A000000001", b"9" * 33),
        CAPTURED.replace(b"Server:", b"Server"),  # a header line without a colon
        CAPTURED.replace(b"Server:", b": no name"),
        CAPTURED + b"X" * MAX_PACKET,
        CAPTURED.replace(b"Server: UPnP/1.0\r\n", b"X-Pad: 1\r\n" * 40),  # too many headers
    ],
    ids=lambda packet: f"{len(packet)}B",
)
def test_refused(packet: bytes) -> None:
    assert parse_announcement(packet, "10.0.0.6") is None


@pytest.mark.parametrize(
    "name",
    [
        b"A" * 65,
        b"Lab\x1b[31m",
        "Lab\u202e".encode(),
        b"[click](http://evil.example)",
        b"<img src=x>",
        b"`code`",
        b"",
    ],
)
def test_doubtful_name_is_left_out(name: bytes) -> None:
    """The printer is still found; only the name is dropped."""
    announcement = parse_announcement(CAPTURED.replace(b"Workshop P1S", name))
    assert announcement is not None
    assert announcement.name is None
    assert announcement.serial == SERIAL


def test_unknown_or_odd_model_code() -> None:
    unknown = parse_announcement(
        CAPTURED.replace(b"DevModel.bambu.com: C12", b"DevModel.bambu.com: Z9")
    )
    assert unknown is not None
    assert (unknown.model_code, unknown.model) == ("Z9", None)
    odd = parse_announcement(CAPTURED.replace(b"C12", b"C" * 40))
    assert odd is not None
    assert (odd.model_code, odd.model) == (None, None)


def test_first_of_repeated_headers_counts() -> None:
    packet = CAPTURED.replace(b"Server: UPnP/1.0\r\n", b"USN: 01P00A000000002\r\n" * 2)
    announcement = parse_announcement(packet)
    assert announcement is not None
    assert announcement.serial == "01P00A000000002"


@settings(derandomize=True, max_examples=400, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes(data: bytes) -> None:
    """Random datagrams: refused or parsed, never an exception."""
    result = parse_announcement(data, "10.0.0.6")
    assert result is None or isinstance(result, BambuAnnouncement)


@settings(derandomize=True, max_examples=400, deadline=None)
@given(st.integers(0, len(CAPTURED)), st.integers(0, 40), st.binary(max_size=40))
def test_mangled_announcement(at: int, cut: int, inserted: bytes) -> None:
    """A real packet with bytes cut out and others put in: whatever comes out is well-formed."""
    packet = CAPTURED[:at] + inserted + CAPTURED[at + cut :]
    result = parse_announcement(packet, "10.0.0.6")
    if result is not None:
        assert result.serial.isalnum()
        assert result.serial.isupper() or result.serial.isdigit()
        assert 8 <= len(result.serial) <= 32
        assert result.name is None or (result.name.isprintable() and len(result.name) <= 64)
        assert result.host.count(".") == 3


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_name(name: str) -> None:
    """Whatever a printer calls itself, the name shown is printable, short and markup-free."""
    result = parse_announcement(CAPTURED.replace(b"Workshop P1S", name.encode()))
    if result is not None and result.name is not None:
        assert result.name.isprintable()
        assert len(result.name) <= 64
        assert not set(result.name) & set("<>[]()`")
