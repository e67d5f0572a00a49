"""The simulator's sliced-3MF builder produces what Bambu Studio would."""

from __future__ import annotations

import hashlib
import io
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib

import pytest

from simulator.bambu.threemf import SlicedFilament, build_3mf

FILAMENTS = [
    SlicedFilament(material="PLA", color="#FF0000", grams=12.34, meters=4.1),
    SlicedFilament(
        material="PETG-CF", color="#00AE42", grams=3.5, meters=1.2, tray_info_idx="GFG98"
    ),
]


def build(
    *,
    plate_name: str = "plate_1",
    subtask: str = "Benchy",
    filaments: list[SlicedFilament] = FILAMENTS,
) -> bytes:
    return build_3mf(
        plate_name=plate_name,
        subtask=subtask,
        filaments=filaments,
        prediction_seconds=5025,
        total_layers=40,
    )


def test_archive_members() -> None:
    with zipfile.ZipFile(io.BytesIO(build())) as archive:
        assert archive.testzip() is None
        assert set(archive.namelist()) == {
            "[Content_Types].xml",
            "_rels/.rels",
            "3D/3dmodel.model",
            "Metadata/slice_info.config",
            "Metadata/plate_1.png",
            "Metadata/plate_1.gcode",
            "Metadata/plate_1.gcode.md5",
        }
        gcode = archive.read("Metadata/plate_1.gcode")
        md5 = archive.read("Metadata/plate_1.gcode.md5").decode()
        assert b"Benchy" in archive.read("3D/3dmodel.model")
    assert md5 == hashlib.md5(gcode, usedforsecurity=False).hexdigest().upper()
    assert b"; total layer number: 40\n" in gcode
    assert gcode.count(b"; CHANGE_LAYER") == 40


def test_slice_info_like_bambu_studio() -> None:
    with zipfile.ZipFile(io.BytesIO(build())) as archive:
        root = ET.fromstring(archive.read("Metadata/slice_info.config"))
    [plate] = root.findall("plate")
    metadata = {m.get("key"): m.get("value") for m in plate.findall("metadata")}
    assert metadata["index"] == "1"
    assert metadata["prediction"] == "5025"
    assert metadata["weight"] == "15.84"
    assert [f.attrib for f in plate.findall("filament")] == [
        {
            "id": "1",
            "tray_info_idx": "GFA00",
            "type": "PLA",
            "color": "#FF0000",
            "used_m": "4.10",
            "used_g": "12.34",
        },
        {
            "id": "2",
            "tray_info_idx": "GFG98",
            "type": "PETG-CF",
            "color": "#00AE42",
            "used_m": "1.20",
            "used_g": "3.50",
        },
    ]


def test_thumbnail_is_a_valid_png() -> None:
    with zipfile.ZipFile(io.BytesIO(build())) as archive:
        png = archive.read("Metadata/plate_1.png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    chunks = {}
    offset = 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, data = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + data)
        chunks[kind] = data
        offset += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    pixels = zlib.decompress(chunks[b"IDAT"])
    assert len(pixels) == height * (1 + width * 3)
    assert pixels[1:4] == b"\xff\x50\x50"  # the diagonal stripe over the first colour
    assert pixels[1 + 3 * 20 : 4 + 3 * 20] == b"\xff\x00\x00"


def test_other_plate_and_reproducible() -> None:
    data = build(plate_name="plate_3")
    assert data == build(plate_name="plate_3")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "Metadata/plate_3.png" in archive.namelist()
        assert b'<metadata key="index" value="3"/>' in archive.read("Metadata/slice_info.config")


def test_attribute_values_are_escaped() -> None:
    odd = SlicedFilament(material='PLA "Silk" <&>', color="#ABCDEF", grams=1, meters=1)
    with zipfile.ZipFile(io.BytesIO(build(filaments=[odd], subtask="A & B"))) as archive:
        root = ET.fromstring(archive.read("Metadata/slice_info.config"))
        ET.fromstring(archive.read("3D/3dmodel.model"))
    filament = root.find("plate/filament")
    assert filament is not None
    assert filament.get("type") == 'PLA "Silk" <&>'


@pytest.mark.parametrize("color", ["FF0000", "#ff0000", "#FF0000FF", "red"])
def test_rejects_colours_studio_never_writes(color: str) -> None:
    with pytest.raises(ValueError, match="RRGGBB"):
        SlicedFilament(material="PLA", color=color, grams=1, meters=1)


def test_rejects_odd_plate_names() -> None:
    with pytest.raises(ValueError, match="plate_1"):
        build(plate_name="plate_0")
