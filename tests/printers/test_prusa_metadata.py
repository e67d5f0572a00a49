"""Slicer metadata from Prusa-Link `meta`, .bgcode blocks and G-code comments."""

from __future__ import annotations

from collections.abc import Callable
import struct
import tracemalloc
import zlib

import pytest

from custom_components.printernizer.printers.models import FilamentUsage, JobMetadata
from custom_components.printernizer.printers.prusa.metadata import (
    MAX_METADATA_BYTES,
    MAX_TAIL_BYTES,
    MAX_TOOLS,
    BgcodeReader,
    metadata_from_values,
    parse_duration,
    parse_gcode_tail,
)
from simulator.prusa.gcode import Sliced, build_bgcode, build_gcode, png

SLICED = Sliced(filament_type="PETG", filament_g=11.71, seconds=3723)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h 2m 3s", 3723),
        ("1d 2h 3m 4s", 93784),
        ("13m 22s", 802),
        ("45s", 45),
        ("2h", 7200),
        ("3723", 3723),
        (3723, 3723),
        (12.6, 13),
        ("", None),
        ("soon", None),
        ("1h soon", None),
        (None, None),
        (-5, None),
        (True, None),
    ],
)
def test_parse_duration(text: object, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


def test_single_tool_values() -> None:
    metadata = metadata_from_values(
        {
            "filament used [g]": "11.71",
            "filament_type": "PETG",
            "filament_colour": "#fa6800",
            "estimated printing time (normal mode)": "1h 2m 3s",
        }
    )
    assert metadata == JobMetadata(
        filaments=(FilamentUsage(material="PETG", grams=11.71, color="#FA6800"),),
        predicted_seconds=3723,
        total_grams=11.71,
    )


def test_multi_tool_lists_drop_unused_tools() -> None:
    metadata = metadata_from_values(
        {
            "filament used [g]": "0.00, 3.71, 0.00, 2.5, 0.00",
            "filament_type": "PLA;PETG;PLA;ASA;PLA",
            "extruder_colour": "#FF0000;#00FF00;#0000FF;#FFFFFF;#000000",
            "total filament used [g]": "6.21",
        }
    )
    assert metadata.filaments == (
        FilamentUsage(material="PETG", grams=3.71, color="#00FF00", slot_id="1"),
        FilamentUsage(material="ASA", grams=2.5, color="#FFFFFF", slot_id="3"),
    )
    assert metadata.total_grams == 6.21


def test_pi_meta_with_numbers_and_lists() -> None:
    metadata = metadata_from_values(
        {
            "filament used [g]": [1.5, 2.5],
            "filament_type": ["PLA", "PETG"],
            "estimated_print_time": 600,
        }
    )
    assert [(f.material, f.grams, f.slot_id) for f in metadata.filaments] == [
        ("PLA", 1.5, "0"),
        ("PETG", 2.5, "1"),
    ]
    assert (metadata.predicted_seconds, metadata.total_grams) == (600, 4.0)
    only_type = metadata_from_values({"filament_type": "PLA;PLA"})
    assert only_type.filaments == (FilamentUsage(material="PLA", grams=None),)
    assert metadata_from_values({"filament used [g]": "junk, nan"}) == JobMetadata()
    assert metadata_from_values({}) == JobMetadata()


def test_gcode_tail_from_simulated_prusaslicer_output() -> None:
    data = build_gcode(SLICED)
    values = parse_gcode_tail(data[-4096:], whole_file=False)
    metadata = metadata_from_values(values)
    assert metadata.filaments == (FilamentUsage(material="PETG", grams=11.71),)
    assert metadata.predicted_seconds == 3723
    # The cut first line of a tail is not trusted.
    assert parse_gcode_tail(b"used [g] = 99\n; filament_type = X\n", whole_file=False) == {
        "filament_type": "X"
    }
    # Any line end; only the keys read here are kept.
    assert parse_gcode_tail(b"; filament_type = PLA\r; a = 1\r\n;x=1", whole_file=True) == {
        "filament_type": "PLA"
    }
    assert parse_gcode_tail(b"; a = 1\n;filament_type=PLA\n", whole_file=True) == {
        "filament_type": "PLA"
    }


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
@pytest.mark.parametrize("compress_metadata", [False, True])
def test_bgcode_reader_stops_at_first_gcode_block(chunk: int, compress_metadata: bool) -> None:
    data = build_bgcode(SLICED, compress_metadata=compress_metadata)
    reader = BgcodeReader()
    consumed = 0
    for start in range(0, len(data), chunk):
        consumed = start + chunk
        if reader.feed(data[start : start + chunk]):
            break
    assert reader.done
    assert reader.valid
    first_gcode = _first_gcode_offset(data)
    assert consumed < first_gcode + 8 + chunk  # its 8-byte header, not a byte more
    metadata = reader.result()
    assert metadata.filaments == (FilamentUsage(material="PETG", grams=11.71),)
    assert metadata.predicted_seconds == 3723
    assert metadata.total_grams == 11.71
    # The largest PNG preview wins.
    assert metadata.thumbnail_png == png(313, 173, SLICED.colour)


def _first_gcode_offset(data: bytes) -> int:
    position = 10
    while True:
        kind, compression, size = struct.unpack_from("<HHI", data, position)
        if kind == 1:
            return position
        header = 8
        if compression:
            (size,) = struct.unpack_from("<I", data, position + 8)
            header = 12
        position += header + (6 if kind == 5 else 2) + size + 4


def _block(kind: int, compression: int, params: bytes, payload: bytes, size: int) -> bytes:
    header = struct.pack("<HHI", kind, compression, size)
    if compression:
        header += struct.pack("<I", len(payload))
    return header + params + payload


def test_bgcode_reader_edge_cases() -> None:
    ini = struct.pack("<H", 0)
    data = (
        b"GCDE"
        + struct.pack("<IH", 1, 0)  # no checksums
        + _block(3, 2, ini, b"\x00" * 10, 50)  # heatshrink metadata: skipped
        + _block(4, 0, ini, b"filament used [g]=2.5\n", 22)
        + _block(5, 0, struct.pack("<HHH", 1, 640, 480), b"\xff\xd8jpeg", 6)  # JPG: skipped
        + _block(5, 0, struct.pack("<HHH", 0, 16, 16), b"not a png", 9)  # bad PNG: skipped
        + _block(2, 1, ini, zlib.compress(b"filament_type=ASA\n"), 18)  # slicer config
        + _block(4, 1, ini, b"broken deflate", 40)
        + _block(1, 0, ini, b"G1 X1\n", 6)
    )
    reader = BgcodeReader()
    assert reader.feed(data)
    assert reader.feed(b"more") is True
    assert reader.result() == JobMetadata(
        filaments=(FilamentUsage(material="ASA", grams=2.5),), total_grams=2.5
    )

    not_bgcode = BgcodeReader()
    assert not_bgcode.feed(b"; generated by PrusaSlicer\n")
    assert not_bgcode.valid is False
    assert not_bgcode.result() == JobMetadata()

    short = BgcodeReader()
    assert not short.feed(b"GCDE")
    assert short.valid is None

    # A block too large to buffer is skipped from its header without storing it.
    huge = BgcodeReader()
    header = b"GCDE" + struct.pack("<IH", 1, 0) + struct.pack("<HHI", 3, 0, 64 << 20)
    assert not huge.feed(header + ini + b"x" * 1000)
    assert len(huge._buffer) == 0


# Hostile files: bounded memory, clean values, nothing raised.

PEAK_BOUND = 16 * 1024 * 1024


def peak_bytes(func: Callable[[], object]) -> tuple[object, int]:
    """What `func` returned and the peak of Python allocations while it ran."""
    tracemalloc.start()
    try:
        result = func()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, peak


def _bgcode(*blocks: bytes) -> bytes:
    return b"GCDE" + struct.pack("<IH", 1, 0) + b"".join(blocks)


def _zeros_deflated(megabytes: int) -> bytes:
    compressor = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    return b"".join(compressor.compress(chunk) for _ in range(megabytes)) + compressor.flush()


@pytest.mark.parametrize("declared", [0, 1000, MAX_METADATA_BYTES])
def test_bgcode_deflate_bomb_is_inflated_no_further_than_allowed(declared: int) -> None:
    """Before: a block declaring size 0 inflated without limit (0 means none to zlib)."""
    ini = struct.pack("<H", 0)
    data = _bgcode(
        _block(4, 1, ini, _zeros_deflated(64), declared),
        _block(2, 1, ini, zlib.compress(b"filament_type=ASA\n"), 18),
        _block(1, 0, ini, b"G1 X1\n", 6),
    )
    assert len(data) < 200_000
    reader = BgcodeReader()
    done, peak = peak_bytes(lambda: reader.feed(data))
    assert done is True
    assert peak < PEAK_BOUND
    # The bomb costs its own block only; the blocks after it still count.
    assert reader.result() == JobMetadata(filaments=(FilamentUsage(material="ASA", grams=None),))


def test_bgcode_metadata_keeps_only_the_keys_it_reads() -> None:
    """Before: every line of a block became a dict entry (60,000 of them)."""
    lines = b"".join(b"key%d = %d\n" % (index, index) for index in range(60_000))
    lines += b"filament used [g] = 2.5\n"
    ini = struct.pack("<H", 0)
    data = _bgcode(_block(4, 1, ini, zlib.compress(lines), len(lines)))
    reader = BgcodeReader()
    _, peak = peak_bytes(lambda: reader.feed(data))
    assert reader.values == {"filament used [g]": "2.5"}
    assert peak < 3 * len(data) + len(lines) + (1 << 20)


def test_bgcode_blocks_beyond_their_limits_are_skipped_unbuffered() -> None:
    ini = struct.pack("<H", 0)
    reader = BgcodeReader()
    big = _block(4, 0, ini, b"x" * 1000, MAX_METADATA_BYTES + 1)
    assert not reader.feed(_bgcode(big))
    assert len(reader._buffer) == 0
    # Declared lengths near 2**32 are skipped too, whatever the chunking.
    reader = BgcodeReader()
    header = struct.pack("<HHII", 5, 1, 2**32 - 1, 2**32 - 1)
    assert not reader.feed(_bgcode(header))
    assert len(reader._buffer) == 0
    assert reader.result() == JobMetadata()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (10**400, None),  # before: OverflowError
        ("9" * 60 + "d", None),  # before: a 65-digit number of seconds
        ("1e400", None),
        (float("nan"), None),
        (float("inf"), None),
        ("1" * 10_000, None),
        ("11d", 950_400),
        ("20000d", None),  # beyond ten years
    ],
    ids=["huge-int", "huge-days", "1e400", "nan", "inf", "long-digits", "11-days", "55-years"],
)
def test_parse_duration_is_bounded(value: object, seconds: int | None) -> None:
    assert parse_duration(value) == seconds


def test_hostile_values_become_none_or_clean_text() -> None:
    """Before: 10**400 raised OverflowError; 1e300 g, controls and surrogates got through."""
    metadata = metadata_from_values(
        {
            "filament used [g]": [10**400, "1e300", "nan", 1.5] + [1.0] * 10_000,
            "filament_type": ["PL\x85A\x07", "PETG\ud800", {"nested": 1}, None, "x" * 1000],
            "filament_colour": ["#ff0000", 5, "#00FF00\x00"],
            "total filament used [g]": "1e400",
            "estimated printing time (normal mode)": 10**400,
        }
    )
    assert len(metadata.filaments) == MAX_TOOLS - 3  # the first three weigh nothing
    assert metadata.filaments[:2] == (
        FilamentUsage(material=None, grams=1.5, color=None, slot_id="3"),
        FilamentUsage(material="x" * 255, grams=1.0, slot_id="4"),
    )
    assert metadata.total_grams == MAX_TOOLS - 3 + 0.5
    assert metadata.predicted_seconds is None
    single = metadata_from_values({"filament used [g]": 10**400, "filament_type": "PL\x85A\x07"})
    assert single == JobMetadata(filaments=(FilamentUsage(material="PLA", grams=None),))
    many = metadata_from_values({"filament_type": "PETG\ud800;" * 100_000})
    assert many.filaments == (FilamentUsage(material="PETG\ufffd", grams=None),)


def test_gcode_tail_is_bounded_and_clean() -> None:
    assert parse_gcode_tail(b"x" * (4 << 20), whole_file=True) == {}  # one endless line
    assert parse_gcode_tail(b" " * (1 << 20) + b"\n" * (1 << 20), whole_file=True) == {}
    tail = b"; filament used [g] = 1e400\n; filament_type = PL\xc2\x85A\xff\n"
    assert metadata_from_values(parse_gcode_tail(tail, whole_file=True)) == JobMetadata(
        filaments=(FilamentUsage(material="PLA\ufffd", grams=None),)
    )
    # A huge tail keeps its end only; the first line after the cut is dropped.
    junk = b"".join(b"; key%d = %d\n" % (index, index) for index in range(200_000))
    big = b"; filament_type = ABS\n" + junk + b"; filament used [g] = 3\n"
    values, peak = peak_bytes(lambda: parse_gcode_tail(big, whole_file=True))
    assert values == {"filament used [g]": "3"}
    assert peak < 3 * MAX_TAIL_BYTES + (1 << 20)
