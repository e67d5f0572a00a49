"""Slicer metadata from Prusa-Link `meta`, .bgcode blocks and G-code comments."""

from __future__ import annotations

import struct
import zlib

import pytest

from custom_components.printernizer.printers.models import FilamentUsage, JobMetadata
from custom_components.printernizer.printers.prusa.metadata import (
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
    assert parse_gcode_tail(b"; a = 1\n", whole_file=True) == {"a": "1"}


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
