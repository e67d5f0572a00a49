"""Parsing job metadata out of sliced 3MFs, including damaged and hostile ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
import struct
import tracemalloc
import zipfile

import pytest

from custom_components.printernizer.printers.bambu.threemf import (
    MAX_DIRECTORY_BYTES,
    MAX_FILAMENTS,
    MAX_SLICE_INFO_BYTES,
    MAX_THUMBNAIL_BYTES,
    SLICE_INFO,
    parse_3mf,
)
from custom_components.printernizer.printers.errors import ProtocolError
from custom_components.printernizer.printers.models import FilamentUsage, JobMetadata
from simulator.bambu.threemf import SlicedFilament, build_3mf

from .hostile_files import Member, bomb, many_entries, raw_zip, stored

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


# Hostile archives: every case costs bounded memory whatever the headers declare.

BOMB_MIB = 64
PEAK_BOUND = 16 * 1024 * 1024  # a quarter of the bomb; a real 3MF parses in well under 1 MiB


def peak_bytes(func: Callable[[], object]) -> tuple[object, int]:
    """What `func` returned (or raised) and the peak of Python allocations while it ran."""
    tracemalloc.start()
    try:
        result: object = func()
    except ProtocolError as err:
        result = err
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return result, peak


@pytest.fixture(scope="module")
def bombs() -> dict[int, Member]:
    """A BOMB_MIB slice_info per method, built once."""
    return {
        method: bomb(SLICE_INFO, method, BOMB_MIB)
        for method in (zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
    }


@pytest.mark.parametrize(
    "method",
    [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
    ids=["deflate", "bzip2", "lzma"],
)
@pytest.mark.parametrize("declared", [None, 1000], ids=["honest-size", "lying-size"])
def test_decompression_bomb_is_refused_in_bounded_memory(
    tmp_path: Path, bombs: dict[int, Member], method: int, declared: int | None
) -> None:
    """Before: a lying header let zipfile inflate the whole 64 MiB (bzip2 and lzma always)."""
    member = replace(bombs[method], size=declared) if declared else bombs[method]
    job = tmp_path / "job.3mf"
    job.write_bytes(raw_zip([member, stored("Metadata/plate_1.png", PNG)]))
    assert job.stat().st_size < 200_000
    result, peak = peak_bytes(lambda: parse_3mf(job))
    assert peak < PEAK_BOUND
    if method == zipfile.ZIP_DEFLATED and declared is not None:
        # Inflated in chunks up to the declared end, where the checksum cannot match.
        assert isinstance(result, ProtocolError)
    else:
        assert result == JobMetadata(thumbnail_png=PNG)  # member refused, the rest still read


@pytest.mark.parametrize(
    ("count", "zip64"), [(5_000, False), (100_000, True)], ids=["plain", "zip64"]
)
def test_archive_with_a_huge_directory_is_refused_before_reading_it(
    tmp_path: Path, count: int, zip64: bool
) -> None:
    """Before: zipfile built an object per entry (a million entries cost +531 MB)."""
    job = tmp_path / "job.3mf"
    job.write_bytes(many_entries(count))
    assert zip64 == (count > 0xFFFF)
    result, peak = peak_bytes(lambda: parse_3mf(job))
    assert isinstance(result, ProtocolError)
    assert "entries" in str(result)
    assert peak < 1024 * 1024


def test_directory_size_is_checked_whatever_count_is_declared(tmp_path: Path) -> None:
    """zipfile ignores the declared count and parses the whole directory: its size is the cap."""
    count = MAX_DIRECTORY_BYTES // 40
    archive = bytearray(many_entries(count))
    archive[-14:-10] = struct.pack("<HH", 1, 1)  # "one entry"
    job = tmp_path / "job.3mf"
    job.write_bytes(bytes(archive))
    result, peak = peak_bytes(lambda: parse_3mf(job))
    assert isinstance(result, ProtocolError)
    assert peak < 1024 * 1024


def test_end_record_declaring_an_absurd_directory_is_refused(tmp_path: Path) -> None:
    archive = bytearray(raw_zip([stored(SLICE_INFO, slice_info(""))]))
    archive[-10:-6] = struct.pack("<L", 0xFFFFFFF0)  # directory size
    job = tmp_path / "job.3mf"
    job.write_bytes(bytes(archive))
    with pytest.raises(ProtocolError, match="directory"):
        parse_3mf(job)


def test_zip64_and_commented_archives_still_parse(tmp_path: Path) -> None:
    plate = """<plate><metadata key="index" value="1"/>
      <filament id="1" type="PLA" color="#FFFFFF" used_g="1.5"/></plate>"""
    expected = JobMetadata(
        filaments=(FilamentUsage(material="PLA", grams=1.5, color="#FFFFFF"),), total_grams=1.5
    )
    members = [stored(SLICE_INFO, slice_info(plate))]
    zip64 = tmp_path / "zip64.3mf"
    zip64.write_bytes(raw_zip(members, zip64=True))
    assert parse_3mf(zip64) == expected
    commented = tmp_path / "commented.3mf"
    with zipfile.ZipFile(commented, "w") as archive:
        archive.writestr(SLICE_INFO, slice_info(plate))
        archive.comment = b"sliced by a test " * 100
    assert parse_3mf(commented) == expected


BILLION_LAUGHS = (
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE config [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    '<config><plate><metadata key="index" value="1"/>'
    '<filament id="1" type="&b;"/></plate></config>'
)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_dtd_is_refused_whatever_the_encoding(tmp_path: Path, encoding: str) -> None:
    """Before: the byte check missed `<!DOCTYPE` in UTF-16, entities expanded into the type."""
    document = BILLION_LAUGHS.replace("UTF-16", encoding.upper()).encode(encoding)
    if encoding == "utf-16-be":
        document = b"\xfe\xff" + document
    job = write_zip(tmp_path / "job.3mf", {SLICE_INFO: document, "Metadata/plate_1.png": PNG})
    assert parse_3mf(job) == JobMetadata(thumbnail_png=PNG)


def test_utf16_document_without_dtd_is_read(tmp_path: Path) -> None:
    document = (
        '<?xml version="1.0" encoding="UTF-16"?><config><plate>'
        '<metadata key="index" value="1"/><filament id="1" type="PLA"/></plate></config>'
    ).encode("utf-16")
    job = write_zip(tmp_path / "job.3mf", {SLICE_INFO: document})
    assert parse_3mf(job).filaments == (FilamentUsage(material="PLA", grams=None),)


def test_huge_xml_keeps_a_bounded_number_of_filaments(tmp_path: Path) -> None:
    """Before: 4 MiB of elements became a tree of 130,000 objects and as many filaments."""
    filament = '<filament id="1" type="PLA" used_g="1"/>'
    body = filament * ((MAX_SLICE_INFO_BYTES - 200) // len(filament))
    plate = f'<plate><metadata key="index" value="1"/>{body}</plate>'
    job = write_zip(tmp_path / "job.3mf", {SLICE_INFO: slice_info(plate)})
    result, peak = peak_bytes(lambda: parse_3mf(job))
    assert isinstance(result, JobMetadata)
    assert len(result.filaments) == MAX_FILAMENTS
    assert peak < PEAK_BOUND


def test_tag_with_endless_attributes_is_refused_while_buffered(tmp_path: Path) -> None:
    """Before: expat handed over one dict of 300,000 attributes (60 MiB)."""
    attributes = " ".join(f"a{index:x}=''" for index in range(300_000))
    plate = f'<plate><metadata key="index" value="1"/><filament {attributes}/></plate>'
    job = write_zip(tmp_path / "job.3mf", {SLICE_INFO: slice_info(plate)})
    result, peak = peak_bytes(lambda: parse_3mf(job))
    assert result == JobMetadata()
    assert peak < PEAK_BOUND


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    depth = 100_000
    document = b"<config>" + b"<a>" * depth + b"</a>" * depth + b"</config>"
    job = write_zip(tmp_path / "job.3mf", {SLICE_INFO: document})
    result, peak = peak_bytes(lambda: parse_3mf(job))
    assert result == JobMetadata()
    assert peak < PEAK_BOUND


def test_text_is_cleaned_and_numbers_bounded(tmp_path: Path) -> None:
    """Before: C1 controls and tabs reached the material, 1e300 g and seconds the model."""
    plate = f"""<plate><metadata key="index" value="1"/>
      <metadata key="prediction" value="1e300"/>
      <metadata key="weight" value="1e300"/>
      <filament id="1" type="&#x9;P&#x9f;LA&#x85;" color="#ff0000" used_g="1e300"/>
      <filament id="2" type="{"x" * 1000}" used_g="inf"/>
      <filament id="99999999999999999999999" type="PETG" used_g="-0.5"/></plate>"""
    job = write_zip(tmp_path / "job.3mf", {SLICE_INFO: slice_info(plate)})
    assert parse_3mf(job, slot_ids={1: "ams\ud800"}) == JobMetadata(
        filaments=(
            FilamentUsage(material="PLA", grams=None, color="#FF0000", slot_id="ams\ufffd"),
            FilamentUsage(material="x" * 255, grams=None),
            FilamentUsage(material="PETG", grams=None),
        )
    )
