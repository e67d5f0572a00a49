"""Parsing job metadata out of sliced 3MFs, including damaged and hostile ones."""

from __future__ import annotations

from pathlib import Path
import zipfile

import pytest

from custom_components.printernizer.printers.bambu.threemf import (
    MAX_THUMBNAIL_BYTES,
    SLICE_INFO,
    parse_3mf,
)
from custom_components.printernizer.printers.errors import ProtocolError
from custom_components.printernizer.printers.models import FilamentUsage, JobMetadata
from simulator.bambu.threemf import SlicedFilament, build_3mf

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 20


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def slice_info(plates: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<config>{plates}</config>'.encode()


def test_parses_a_built_job_with_slot_mapping(tmp_path: Path) -> None:
    job = tmp_path / "job.3mf"
    job.write_bytes(
        build_3mf(
            plate_name="plate_2",
            subtask="Benchy",
            filaments=[
                SlicedFilament(material="PLA", color="#FF0000", grams=10, meters=3),
                SlicedFilament(material="ABS", color="#000000", grams=2.25, meters=1),
            ],
            prediction_seconds=3600,
            total_layers=10,
        )
    )
    metadata = parse_3mf(job, plate=2, slot_ids={1: "ams0-tray2", 2: "external"})
    assert metadata.filaments == (
        FilamentUsage(material="PLA", grams=10.0, color="#FF0000", slot_id="ams0-tray2"),
        FilamentUsage(material="ABS", grams=2.25, color="#000000", slot_id="external"),
    )
    assert (metadata.predicted_seconds, metadata.total_grams) == (3600, 12.25)
    assert metadata.thumbnail_png is not None
    assert metadata.thumbnail_png.startswith(PNG[:8])
    assert parse_3mf(job, plate=1) == JobMetadata()  # no such plate in this file


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip at all", b"PK\x03\x04" + b"\xff" * 64],
    ids=["empty", "text", "broken-header"],
)
def test_unreadable_archive_is_a_protocol_error(tmp_path: Path, content: bytes) -> None:
    job = tmp_path / "job.3mf"
    job.write_bytes(content)
    with pytest.raises(ProtocolError, match="unreadable 3MF job.3mf"):
        parse_3mf(job)


def test_truncated_archive_is_a_protocol_error(tmp_path: Path) -> None:
    full = build_3mf(subtask="x", filaments=[], prediction_seconds=1, total_layers=1)
    job = tmp_path / "job.3mf"
    job.write_bytes(full[: len(full) // 2])
    with pytest.raises(ProtocolError):
        parse_3mf(job)


def test_corrupt_member_data_is_a_protocol_error(tmp_path: Path) -> None:
    job = write_zip(tmp_path / "job.3mf", {SLICE_INFO: slice_info("<plate/>") * 50})
    data = bytearray(job.read_bytes())
    start = data.index(b"PK\x03\x04") + 30 + len(SLICE_INFO)
    data[start : start + 20] = b"\xff" * 20  # scramble the deflate stream, keep the directory
    job.write_bytes(bytes(data))
    with pytest.raises(ProtocolError):
        parse_3mf(job)


def test_model_only_3mf_gives_empty_metadata(tmp_path: Path) -> None:
    job = write_zip(tmp_path / "job.3mf", {"3D/3dmodel.model": b"<model/>"})
    assert parse_3mf(job) == JobMetadata()


def test_bad_values_become_none(tmp_path: Path) -> None:
    plate = """<plate>
      <metadata key="index" value="1"/>
      <metadata key="prediction" value="soon"/>
      <filament id="2" type="PETG" color="#00ae42ff" used_g="nan"/>
      <filament id="1" type="" color="blue" used_g="-3"/>
      <filament id="x" type="TPU" color="#123456" used_g="1.5"/>
    </plate>"""
    job = write_zip(
        tmp_path / "job.3mf",
        {SLICE_INFO: slice_info(plate), "Metadata/plate_1.png": b"GIF89a not a png"},
    )
    metadata = parse_3mf(job, slot_ids={1: "a", 2: "b"})
    assert metadata == JobMetadata(
        filaments=(
            FilamentUsage(material=None, grams=None, color=None, slot_id="a"),
            FilamentUsage(material="PETG", grams=None, color="#00AE42", slot_id="b"),
            FilamentUsage(material="TPU", grams=1.5, color="#123456", slot_id=None),
        )
    )


def test_total_falls_back_to_the_sum_of_filaments(tmp_path: Path) -> None:
    plate = """<plate><metadata key="index" value="1"/>
      <filament id="1" type="PLA" color="#FFFFFF" used_g="1.25"/>
      <filament id="2" type="PLA" color="#FFFFFF" used_g="2"/></plate>"""
    job = write_zip(tmp_path / "job.3mf", {SLICE_INFO: slice_info(plate)})
    assert parse_3mf(job).total_grams == 3.25


@pytest.mark.parametrize(
    "document",
    [
        b"<config><plate>",  # malformed
        b'<?xml version="1.0"?><!DOCTYPE config [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<config><plate><metadata key="index" value="1"/>'
        b'<filament id="1" type="&b;"/></plate></config>',
    ],
    ids=["malformed", "entities"],
)
def test_broken_or_hostile_xml_is_ignored(tmp_path: Path, document: bytes) -> None:
    job = write_zip(tmp_path / "job.3mf", {SLICE_INFO: document, "Metadata/plate_1.png": PNG})
    assert parse_3mf(job) == JobMetadata(thumbnail_png=PNG)


def test_oversized_thumbnail_is_skipped_without_inflating_it(tmp_path: Path) -> None:
    huge = PNG + b"\0" * MAX_THUMBNAIL_BYTES
    job = write_zip(tmp_path / "job.3mf", {"Metadata/plate_1.png": huge})
    assert job.stat().st_size < 100_000
    assert parse_3mf(job).thumbnail_png is None
