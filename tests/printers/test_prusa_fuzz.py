"""Fuzzing PrusaLink replies: the pure parsers here, the real poll path in test_prusa_fuzz_poll.

Hostile replies are garbage (not JSON, deeper than the limit, not an object, cut short, invalid
UTF-8) or a real reply with one to three fields the adapter reads set to values it cannot use.
Each must cost that reply only: the adapter keeps polling, counts it as malformed, shows the next
good reply, and the whole run logs at most one line. "Printable" below means what HA can store,
show and log: no control characters, no lone surrogates, at most 255 characters.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
from dataclasses import fields as dataclass_fields, is_dataclass
from datetime import UTC, datetime
import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.printernizer.printers.prusa.device import device_info, family, model_name
from custom_components.printernizer.printers.prusa.files import (
    download_route,
    is_bgcode,
    parse_listing,
    thumbnail_route,
)
from custom_components.printernizer.printers.prusa.status import (
    StatusState,
    file_path,
    legacy_material,
    storage_free,
)
from custom_components.printernizer.printers.prusa.values import Fields
from custom_components.printernizer.printers.values import MAX_MAGNITUDE, MAX_SECONDS

PRUSA_LOGGER = "custom_components.printernizer.printers.prusa"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FUZZ = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# -- values --------------------------------------------------------------------------------

CHARS = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from("\0\x1b\x85"))
TEXTS = st.one_of(
    st.text(CHARS, max_size=12),
    st.builds(lambda head, char, size: head + char * size, st.text(CHARS, max_size=4), CHARS,
              st.integers(250, 300)),
)  # fmt: skip
KEYS = st.text(CHARS, max_size=6)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), TEXTS),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(KEYS, kids, max_size=3),
    max_leaves=5,
)
WORDS = st.sampled_from(["abc", "x", "nan", "-inf", "Infinity", "0x", "1e3x", "12 34", "--"])
HUGE = st.one_of(
    st.integers(MAX_MAGNITUDE + 1, 10**30),
    st.integers(-(10**30), -MAX_MAGNITUDE - 1),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e20, -1e300]),
)
CONTAINERS = st.one_of(
    st.sampled_from([[], [1], {}, {"a": None}, [[[]]], {"id": 1}]), st.lists(JSON, max_size=2)
)
# Unusable values by what the field should hold.
NOT_NUMBER = st.one_of(HUGE, WORDS, st.booleans(), CONTAINERS)
NOT_BYTES = st.one_of(HUGE, WORDS, CONTAINERS, st.integers(-(10**6), -1))
NOT_SECONDS = st.one_of(NOT_NUMBER, st.integers(MAX_SECONDS + 1, MAX_MAGNITUDE), st.just(-5))
NOT_PERCENT = st.one_of(NOT_NUMBER, st.floats(100.01, 1e12), st.floats(-1e12, -0.01))
NOT_TEXT = st.one_of(st.integers(), st.floats(), st.booleans(), CONTAINERS)
NOT_OBJECT = st.one_of(st.integers(), st.floats(), st.booleans(), WORDS, st.lists(JSON, max_size=2))
NOT_FLAG = st.one_of(st.integers(), WORDS, st.lists(JSON, max_size=2))

Path = tuple[str | int, ...]
Targets = list[tuple[Path, st.SearchStrategy[Any]]]

STATUS_BODY: dict[str, Any] = {
    "printer": {
        "state": "PRINTING", "temp_nozzle": 214.8, "target_nozzle": 215.0, "temp_bed": 59.9,
        "target_bed": 60.0, "axis_z": 1.4, "flow": 100, "speed": 100, "fan_hotend": 5200,
        "fan_print": 3100,
    },
    "job": {"id": 7, "progress": 42.0, "time_remaining": 601, "time_printing": 300},
    "storage": [{"path": "/local", "read_only": False, "free_space": 123456}],
    "transfer": {"id": 3, "progress": 12.5},
}  # fmt: skip
STATUS_TARGETS: Targets = [
    (("printer",), NOT_OBJECT),
    (("printer", "state"), NOT_TEXT),
    *((("printer", key), NOT_NUMBER) for key in ("temp_nozzle", "target_bed", "axis_z")),
    *((("printer", key), NOT_NUMBER) for key in ("flow", "speed", "fan_print")),
    (("job",), NOT_OBJECT),
    (("job", "id"), NOT_NUMBER),
    (("job", "progress"), NOT_PERCENT),
    (("job", "time_remaining"), NOT_SECONDS),
    (("job", "time_printing"), NOT_SECONDS),
    (("transfer",), NOT_OBJECT),
    (("transfer", "progress"), NOT_PERCENT),
    (("storage", 0, "free_space"), NOT_BYTES),
]
JOB_TARGETS: Targets = [
    (("id",), NOT_NUMBER),
    (("file",), NOT_OBJECT),
    *((("file", key), NOT_TEXT) for key in ("name", "display_name", "path")),
]
VERSION_TARGETS: Targets = [(("hostname",), NOT_TEXT), (("firmware",), NOT_TEXT)]
INFO_TARGETS: Targets = [
    *(((key,), NOT_TEXT) for key in ("hostname", "serial", "name")),
    (("mmu",), NOT_FLAG),
    (("nozzle_diameter",), NOT_NUMBER),
]
PRINTER_TARGETS: Targets = [(("telemetry",), NOT_OBJECT), (("telemetry", "material"), NOT_TEXT)]
STORAGE_BODY: dict[str, Any] = {
    "storage_list": [{"path": "/usb/", "name": "usb", "read_only": False, "free_space": 9}]
}
STORAGE_TARGETS: Targets = [(("storage_list", 0, "free_space"), NOT_BYTES)]
LISTING_BODY: dict[str, Any] = {
    "type": "FOLDER", "name": "usb", "ro": False, "m_timestamp": 1740830400,
    "children": [{
        "name": "BENCHY~1.BGC", "display_name": "Benchy.bgcode", "type": "PRINT_FILE",
        "m_timestamp": 1740830400, "size": 5090, "ro": False,
        "refs": {"thumbnail": "/thumb/l/usb/BENCHY~1.BGC", "download": "/usb/BENCHY~1.BGC"},
    }],
}  # fmt: skip
LISTING_TARGETS: Targets = [
    (("children",), st.one_of(NOT_OBJECT, st.just({"name": "A.GCO"}))),
    (("children", 0), NOT_OBJECT),
    *((("children", 0, key), NOT_TEXT) for key in ("name", "display_name", "type")),
    (("children", 0, "size"), NOT_BYTES),
    (("children", 0, "refs"), NOT_OBJECT),
    (("children", 0, "refs", "download"), NOT_TEXT),
]


def garbage(base: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Bodies no JSON reader may accept as an object."""
    raw = json.dumps(base).encode()
    return st.one_of(
        st.integers(33, 30_000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(33, 30_000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
        # The cut does not depend on the body's length: bodies read from the simulator vary.
        st.integers(1, 4000).map(lambda cut: raw[: min(cut, len(raw) - 1)]),
        JSON.filter(lambda value: not isinstance(value, dict)).map(
            lambda value: json.dumps(value).encode()
        ),
        st.binary(max_size=40).map(lambda tail: b"\x80\x80" + tail),  # not UTF-8 (nor 16/32)
        st.sampled_from([b"", b"<html>502 Bad Gateway</html>", b"{'single': 'quotes'}"]),
    )


def _set(body: Any, path: Path, value: Any) -> None:
    """Put value at path if its parents are still containers (an earlier change may not be)."""
    for key in path[:-1]:
        if isinstance(key, int):
            if not isinstance(body, list) or len(body) <= key:
                return
        elif not isinstance(body, dict) or key not in body:
            return
        body = body[key]
    key = path[-1]
    fits = isinstance(body, dict) if isinstance(key, str) else isinstance(body, list)
    if fits and (isinstance(body, dict) or len(body) > int(key)):
        body[key] = value


@st.composite
def spoiled(draw: st.DrawFn, base: dict[str, Any], targets: Targets) -> dict[str, Any]:
    """The base reply with 1-3 read fields set to unusable values, plus unread junk."""
    body = copy.deepcopy(base)
    chosen = draw(st.lists(st.sampled_from(range(len(targets))), min_size=1, max_size=3))
    for index in chosen:
        path, values = targets[index]
        _set(body, path, draw(values))
    body |= draw(
        st.dictionaries(st.sampled_from(["x_a", "x_b", "status_connect"]), JSON, max_size=2)
    )
    return body


def hostile(base: dict[str, Any], targets: Targets) -> st.SearchStrategy[Any]:
    return st.one_of(garbage(base), spoiled(base, targets))


# -- what "usable" means -------------------------------------------------------------------


def assert_clean(value: Any, limit: int = 255) -> None:
    """Every text printable, every number finite and bounded, through nested dataclasses."""
    if is_dataclass(value) and not isinstance(value, type):
        for field in dataclass_fields(value):
            assert_clean(getattr(value, field.name), 511 if field.name in ("file", "path") else 255)
    elif isinstance(value, tuple):
        for item in value:
            assert_clean(item)
    elif isinstance(value, str):
        assert not any(ord(char) < 32 or 127 <= ord(char) < 160 for char in value), value
        value.encode("utf-8")
        assert len(value) <= limit
    elif isinstance(value, float):
        assert math.isfinite(value)
        assert abs(value) <= MAX_MAGNITUDE
    elif isinstance(value, int) and not isinstance(value, bool):
        assert abs(value) <= MAX_MAGNITUDE
    elif isinstance(value, datetime):
        assert 1990 <= value.year <= 2200


# -- pure parsers --------------------------------------------------------------------------


ANY_STATUS = st.one_of(
    st.dictionaries(KEYS, JSON, max_size=4), spoiled(STATUS_BODY, STATUS_TARGETS)
)


@settings(FUZZ, max_examples=600)
@given(
    st.lists(ANY_STATUS, min_size=1, max_size=4),
    st.one_of(JSON, spoiled({"id": 7, "file": LISTING_BODY["children"][0]}, JOB_TARGETS)),
)
def test_status_and_job_parsing_never_raises(bodies: list[dict[str, Any]], job: Any) -> None:
    status = StatusState()
    for body in [STATUS_BODY, *bodies]:
        state = status.apply_status(body, NOW, fields=Fields())
        assert_clean(state)
    state = status.apply_job(job if isinstance(job, dict) else None, fields=Fields())
    assert_clean(state)
    assert_clean(storage_free(job))
    assert_clean(legacy_material(job))
    assert_clean(file_path(job))


JOB_BODY: dict[str, Any] = {"id": 7, "file": {**LISTING_BODY["children"][0], "path": "/usb"}}
VERSION_BODY: dict[str, Any] = {"hostname": "prusa-mk4", "firmware": "6.5.3"}
INFO_BODY: dict[str, Any] = {"serial": "SN1", "hostname": "prusa-mk4", "name": "Workshop"}


Parse = Callable[[dict[str, Any], Fields], object]


def _status(body: dict[str, Any], fields: Fields) -> object:
    return StatusState().apply_status(body, NOW, fields=fields)


def _job(body: dict[str, Any], fields: Fields) -> object:
    status = StatusState()
    status.apply_status(STATUS_BODY, NOW)
    return status.apply_job(body, fields=fields)


def _version(body: dict[str, Any], fields: Fields) -> object:
    return device_info(body, INFO_BODY, "h", fields=fields)


def _info(body: dict[str, Any], fields: Fields) -> object:
    return device_info(VERSION_BODY, body, "h", fields=fields)


def _material(body: dict[str, Any], fields: Fields) -> object:
    return legacy_material(body, fields=fields)


def _storage(body: dict[str, Any], fields: Fields) -> object:
    return storage_free(body, fields=fields)


def _listing(body: dict[str, Any], fields: Fields) -> object:
    return parse_listing(body, "/usb", fields=fields)


PARSERS: list[tuple[dict[str, Any], Targets, Parse]] = [
    (STATUS_BODY, STATUS_TARGETS, _status),
    (JOB_BODY, JOB_TARGETS, _job),
    (VERSION_BODY, VERSION_TARGETS, _version),
    (INFO_BODY, INFO_TARGETS[:3], _info),  # mmu and nozzle_diameter are read by the adapter
    ({"telemetry": {"material": "PLA"}}, PRINTER_TARGETS, _material),
    (STORAGE_BODY, STORAGE_TARGETS, _storage),
    (LISTING_BODY, LISTING_TARGETS, _listing),
]


@pytest.mark.parametrize(("base", "targets", "parse"), PARSERS)
def test_every_spoiled_field_is_noted(base: dict[str, Any], targets: Targets, parse: Parse) -> None:
    """Each target really is read and noted (the fuzz through the poll path relies on it)."""
    clean = Fields()
    parse(copy.deepcopy(base), clean)
    assert clean.rejected == []
    for path, _ in targets:
        for junk in (["junk"], "junk", 1e300):
            body = copy.deepcopy(base)
            _set(body, path, junk)
            fields = Fields()
            parse(body, fields)
            assert fields.rejected or (isinstance(junk, str) and path[-1] in _TEXT_KEYS), path


_TEXT_KEYS = {"state", "name", "display_name", "path", "type", "download", "hostname", "firmware",
              "serial", "material"}  # fmt: skip


@settings(FUZZ, max_examples=400)
@given(
    st.one_of(JSON, spoiled({"hostname": "prusa-mk4", "firmware": "6.5.3"}, VERSION_TARGETS)),
    st.one_of(JSON, spoiled({"serial": "SN1", "hostname": "h", "mmu": False}, INFO_TARGETS)),
)
def test_identity_parsing_never_raises(version: Any, info: Any) -> None:
    version = version if isinstance(version, dict) else {}
    info = info if isinstance(info, dict) else {}
    device = device_info(version, info, "192.0.2.1", fields=Fields())
    assert_clean(device)
    assert device.serial
    assert family(version) in ("buddy", "pi")
    assert_clean(model_name(version, info))


@settings(FUZZ, max_examples=400)
@given(st.one_of(st.dictionaries(KEYS, JSON, max_size=3), spoiled(LISTING_BODY, LISTING_TARGETS)))
def test_listing_and_routes_never_raise(body: dict[str, Any]) -> None:
    files = parse_listing(body, "/usb", fields=Fields())
    assert_clean(files)
    children = body.get("children")
    for child in children if isinstance(children, list) else ():
        if isinstance(child, dict):
            for fam in ("buddy", "pi"):
                assert_clean(download_route(child, fam))  # type: ignore[arg-type]
                assert_clean(thumbnail_route(child, fam))  # type: ignore[arg-type]
            assert isinstance(is_bgcode(child), bool)
