"""Fuzzing the job file readers: 3MF archives and their XML, G-code tails, bgcode streams.

Whatever the bytes, a reader returns metadata whose every text is clean and every number finite
and bounded, or (3MF only) raises the documented ProtocolError. Deterministic: CI replays the
same examples every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import math
from pathlib import Path
import re
import struct
from typing import Any
from xml.sax.saxutils import quoteattr
import zipfile
import zlib

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.printernizer.printers import values
from custom_components.printernizer.printers.bambu.threemf import (
    MAX_FILAMENTS,
    MAX_THUMBNAIL_BYTES,
    SLICE_INFO,
    parse_3mf,
)
from custom_components.printernizer.printers.errors import ProtocolError
from custom_components.printernizer.printers.models import JobMetadata
from custom_components.printernizer.printers.prusa.metadata import (
    KEYS,
    MAX_METADATA_BYTES,
    MAX_THUMBNAIL_BYTES as MAX_BGCODE_THUMBNAIL_BYTES,
    MAX_TOOLS,
    BgcodeReader,
    metadata_from_values,
    parse_gcode_tail,
)

from .hostile_files import Member, raw_zip

FUZZ = settings(
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PNG = b"\x89PNG\r\n\x1a\n"
_HEX_COLOR = re.compile(r"#[0-9A-F]{6}")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")  # no XML 1.0 document holds these


def assert_clean(metadata: JobMetadata, max_filaments: int) -> None:
    """What a user could ever see: clean text, finite bounded numbers, a real PNG."""
    assert len(metadata.filaments) <= max_filaments
    for usage in metadata.filaments:
        for text in (usage.material, usage.slot_id):
            assert text is None or clean(text), text
        assert usage.color is None or _HEX_COLOR.fullmatch(usage.color), usage.color
        assert usage.grams is None or 0 <= usage.grams <= values.MAX_MAGNITUDE
    predicted = metadata.predicted_seconds
    assert predicted is None or 0 <= predicted <= values.MAX_SECONDS
    total = metadata.total_grams
    assert total is None or (math.isfinite(total) and 0 <= total <= values.MAX_MAGNITUDE)
    png = metadata.thumbnail_png
    assert png is None or (png.startswith(PNG) and len(png) <= MAX_THUMBNAIL_BYTES)


def clean(text: str) -> bool:
    """Storable, loggable, displayable: what `values.text` promises."""
    text.encode("utf-8")
    return (
        0 < len(text) <= values.MAX_TEXT
        and text == text.strip()
        and not any(ord(char) < 32 or 127 <= ord(char) < 160 for char in text)
    )


# Values a hostile slicer or printer might write where a number or a name belongs.
NUMBERS = st.sampled_from(
    ["1e400", "-1e400", "nan", "inf", "-0", "1e300", "9" * 400, "0x10", "1_000", " 2.5 ", "-3"]
)
HOSTILE_TEXTS = st.sampled_from(
    [
        *("PLA\x85", "\tPETG\x9f", "x" * 400, " PLA ", "\u200bABS", "PL\u2028A", "\x7fASA"),
        *("é", "#ff00ff", "#FF00FF00", "", " "),
    ]
)
# Anything an XML 1.0 attribute can hold (C1 controls included, C0 ones not).
XML_TEXTS = HOSTILE_TEXTS | st.text(
    st.characters(
        codec="utf-8",
        exclude_characters="".join(map(chr, [*range(9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF])),
    ),
    max_size=30,
)
TEXTS = XML_TEXTS | st.text(max_size=20) | st.sampled_from(["PLA\ud800", "\udfffABS", "\x00"])
VALUES = NUMBERS | TEXTS | st.integers(-(2**70), 2**70).map(str)
XML_VALUES = NUMBERS | XML_TEXTS | st.integers(-(2**70), 2**70).map(str)


# 3MF


@pytest.fixture(scope="module")
def job_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file the examples overwrite; hypothesis cannot use function-scoped fixtures."""
    return tmp_path_factory.mktemp("fuzz") / "job.3mf"


def read_3mf(path: Path, data: bytes, plate: int = 1) -> JobMetadata | None:
    """parse_3mf of these bytes; None when it raised the documented error."""
    path.write_bytes(data)
    try:
        metadata = parse_3mf(path, plate, slot_ids={1: "ams0", 2: "ext\ud800"})
    except ProtocolError:
        return None
    assert_clean(metadata, MAX_FILAMENTS)
    return metadata


@settings(FUZZ, max_examples=500)
@given(data=st.binary(max_size=600) | st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b))
def test_3mf_random_bytes(job_path: Path, data: bytes) -> None:
    read_3mf(job_path, data)


METHODS = st.sampled_from(
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, 99]
)


@st.composite
def members(draw: st.DrawFn) -> Member:
    """A member whose name, method, payload, checksum, size and flags may all be lies."""
    name = draw(st.sampled_from([SLICE_INFO, "Metadata/plate_1.png", "3D/3dmodel.model"]))
    content = draw(st.binary(max_size=200) | st.just(PNG + b"\0" * 16) | xml_documents())
    method = draw(METHODS)
    if method == zipfile.ZIP_DEFLATED and draw(st.booleans()):
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = compressor.compress(content) + compressor.flush()
    else:
        payload = content
    honest = draw(st.booleans())
    crc = zlib.crc32(content) if honest else draw(st.integers(0, 2**32 - 1))
    size = len(content) if honest else draw(st.integers(0, 2**32 - 1))
    flags = draw(st.sampled_from([0, 0, 1, 8]))
    return Member(name, payload, method, crc, size, flags)


@settings(FUZZ, max_examples=300)
@given(
    archive=st.lists(members(), max_size=4),
    zip64=st.booleans(),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3),
)
def test_3mf_hostile_archives(
    job_path: Path, archive: list[Member], zip64: bool, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(raw_zip(archive, zip64=zip64))
    for position, byte in flips:
        if data:
            data[position % len(data)] = byte
    read_3mf(job_path, bytes(data))


@dataclass(frozen=True)
class Plate:
    """A generated plate: its index text, metadata pairs and filament attributes."""

    index: str
    metadata: list[tuple[str, str]]
    filaments: list[dict[str, str]]


ATTRIBUTES = st.fixed_dictionaries(
    {},
    optional={
        "id": st.integers(-2, 4).map(str) | XML_VALUES,
        "type": XML_TEXTS,
        "color": XML_VALUES,
        "used_g": XML_VALUES,
    },
)
PLATES = st.builds(
    Plate,
    index=st.sampled_from(["1", "1", "1", "2", " 1 ", "01", "x"]),
    metadata=st.lists(
        st.tuples(st.sampled_from(["prediction", "weight", "weight", "index"]), XML_VALUES),
        max_size=3,
    ),
    filaments=st.lists(ATTRIBUTES, max_size=5) | st.just([{"type": "PLA"}] * 80),
)


def render(plates: list[Plate], prefix: str) -> str:
    """slice_info.config text for these plates, attribute values escaped as XML requires."""
    parts = [prefix, "<config>"]
    for plate in plates:
        parts.append(f'<plate><metadata key="index" value={quoteattr(plate.index)}/>')
        if "ENTITY" in prefix:
            parts.append('<filament id="0" type="&a;"/>')
        for key, value in plate.metadata:
            parts.append(f"<metadata key={quoteattr(key)} value={quoteattr(value)}/>")
        for attributes in plate.filaments:
            rendered = " ".join(f"{key}={quoteattr(value)}" for key, value in attributes.items())
            parts.append(f"<filament {rendered}/><object><a><b/></a></object>")
        parts.append("</plate>")
    parts.append("</config>")
    return "".join(parts)


PREFIXES = st.sampled_from(
    [
        "",
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0" encoding="latin-1"?>',
        '<!DOCTYPE config [<!ENTITY a "PLA">]>',
        '<?xml version="1.0"?><!DOCTYPE config SYSTEM "file:///etc/passwd">',
    ]
)
ENCODINGS = st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-8-sig"])


@st.composite
def xml_documents(draw: st.DrawFn) -> bytes:
    """Encoded slice_info documents, some with a DTD, some in UTF-16."""
    document = render(draw(st.lists(PLATES, max_size=3)), draw(PREFIXES))
    return document.encode(draw(ENCODINGS), "surrogatepass")


def expected_materials(plates: list[Plate], prefix: str) -> list[str | None] | None:
    """What a plain reading of the document says plate 1's materials are, in filament order."""
    if "DOCTYPE" in prefix:
        return None
    for plate in plates:
        indices = [plate.index] + [value for key, value in plate.metadata if key == "index"]
        if values.integer(indices[-1]) == 1:
            numbered = [
                (number if (number := values.integer(f.get("id"))) is not None else math.inf, f)
                for f in plate.filaments[:MAX_FILAMENTS]
            ]
            numbered.sort(key=lambda pair: pair[0])
            return [values.text(f.get("type")) for _, f in numbered]
    return None


@settings(FUZZ, max_examples=250)
@given(plates=st.lists(PLATES, max_size=3), prefix=PREFIXES, encoding=ENCODINGS)
def test_3mf_hostile_slice_info(
    job_path: Path, plates: list[Plate], prefix: str, encoding: str
) -> None:
    document = render(plates, prefix).encode(encoding, "surrogatepass")
    with zipfile.ZipFile(job_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(SLICE_INFO, document)
    data = job_path.read_bytes()
    metadata = read_3mf(job_path, data)
    assert metadata is not None  # a sound archive never raises, whatever its XML
    expected = (
        None if _NOT_XML.search(document.decode(encoding)) else expected_materials(plates, prefix)
    )
    if expected is None:
        assert metadata.filaments == ()
    else:
        assert [usage.material for usage in metadata.filaments] == expected


# G-code tails and PrusaLink meta

LINE_KEYS = st.sampled_from(sorted(KEYS)) | st.text(max_size=12)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r", "", "\n\n"])


@st.composite
def ini_text(draw: st.DrawFn) -> str:
    """`key = value` lines with hostile keys, values, comments, spacing and line ends."""
    lines = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["", ";", "; ", " ;  ", ";;"]),
                LINE_KEYS,
                st.sampled_from(["=", " = ", "", "=="]),
                VALUES | st.lists(NUMBERS | TEXTS, max_size=6).map(", ".join),
                ENDINGS,
            ),
            max_size=12,
        )
    )
    return "".join(f"{lead}{key}{sep}{value}{end}" for lead, key, sep, value, end in lines)


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@settings(FUZZ, max_examples=700)
@given(
    tail=ini_text().map(encode) | st.binary(max_size=400),
    whole=st.booleans(),
)
def test_gcode_tail(tail: bytes, whole: bool) -> None:
    found = parse_gcode_tail(tail, whole_file=whole)
    assert set(found) <= KEYS
    assert_clean(metadata_from_values(found), MAX_TOOLS)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats()
    | st.sampled_from([10**400, -(10**400)])
    | TEXTS
    | NUMBERS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXTS, inner, max_size=3),
    max_leaves=20,
)


@settings(FUZZ, max_examples=200)
@given(meta=st.dictionaries(st.sampled_from(sorted(KEYS)) | TEXTS, JSON, max_size=8))
def test_prusalink_meta(meta: dict[str, Any]) -> None:
    assert_clean(metadata_from_values(meta), MAX_TOOLS)


# bgcode


@st.composite
def blocks(draw: st.DrawFn) -> bytes:
    """A bgcode block whose type, compression, sizes and payload may all be wrong."""
    kind = draw(st.sampled_from([0, 2, 3, 4, 5, 1, 7]))
    compression = draw(st.sampled_from([0, 0, 1, 2, 3]))
    content = draw(ini_text().map(encode) | st.binary(max_size=100) | st.just(PNG + b"\0" * 8))
    payload = zlib.compress(content) if compression == 1 and draw(st.booleans()) else content
    honest = draw(st.booleans())
    size = len(content) if honest else draw(st.integers(0, 2**32 - 1))
    stored = len(payload) if honest else draw(st.integers(0, 2**32 - 1))
    params = draw(
        st.sampled_from([struct.pack("<HHH", 0, 16, 16), struct.pack("<H", 0)])
        | st.binary(min_size=2, max_size=6)
    )
    header = struct.pack("<HHI", kind, compression, size)
    if compression:
        header += struct.pack("<I", stored)
    return header + params + payload + draw(st.sampled_from([b"", b"\0\0\0\0"]))


def chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    position = 0
    for size in sizes:
        yield data[position : position + size]
        position += size
    yield data[position:]


@settings(FUZZ, max_examples=250)
@given(
    checksum=st.sampled_from([0, 1, 7]),
    body=st.lists(blocks(), max_size=6).map(b"".join) | st.binary(max_size=300),
    sizes=st.lists(st.integers(1, 64), max_size=8),
)
def test_bgcode_stream(checksum: int, body: bytes, sizes: list[int]) -> None:
    reader = BgcodeReader()
    limit = max(MAX_METADATA_BYTES, MAX_BGCODE_THUMBNAIL_BYTES) + 128
    for chunk in chunks(b"GCDE" + struct.pack("<IH", 1, checksum) + body, sizes):
        if reader.feed(chunk):
            break
        assert len(reader._buffer) <= limit
    assert set(reader.values) <= KEYS
    assert_clean(reader.result(), MAX_TOOLS)
