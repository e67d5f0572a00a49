"""Hand-built hostile job files: zips whose headers lie, decompression bombs, huge directories.

zipfile only writes honest archives, so these are assembled byte by byte. Shared by the tests
and `bench/file_readers.py`.
"""

from __future__ import annotations

import bz2
from collections.abc import Iterable
from dataclasses import dataclass
import struct
from typing import Protocol
import zipfile
import zlib

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR = struct.Struct("<4sLQL")
_MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Member:
    """One archive member exactly as written: payload already compressed, sizes as declared."""

    name: str
    payload: bytes
    method: int = zipfile.ZIP_STORED
    crc: int = 0
    size: int | None = None  # declared uncompressed size; None: len(payload)
    flags: int = 0  # general purpose bits; 1 says encrypted


def stored(name: str, data: bytes) -> Member:
    """An honest uncompressed member."""
    return Member(name, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data))


def bomb(name: str, method: int, megabytes: int, *, declared: int | None = None) -> Member:
    """`megabytes` MiB of zeros compressed with `method`; declared as `declared` bytes if given.

    The zeros are compressed a MiB at a time, so building a 400 MiB bomb costs no memory.
    """
    compressor = _compressor(method)
    chunk = bytes(_MIB)
    crc = 0
    parts = []
    for _ in range(megabytes):
        parts.append(compressor.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(compressor.flush())
    size = megabytes * _MIB if declared is None else declared
    return Member(name, b"".join(parts), method, crc, size)


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


def _compressor(method: int) -> _Compressor:
    if method == zipfile.ZIP_DEFLATED:
        return zlib.compressobj(9, zlib.DEFLATED, -15)
    if method == zipfile.ZIP_BZIP2:
        return bz2.BZ2Compressor(9)
    if method == zipfile.ZIP_LZMA:
        # zipfile's own framing of a raw LZMA stream; not in the type stubs.
        compressor: _Compressor = zipfile.LZMACompressor()  # type: ignore[attr-defined]
        return compressor
    raise ValueError(method)


def raw_zip(members: Iterable[Member], *, zip64: bool = False) -> bytes:
    """An archive of exactly these members; `zip64` adds the ZIP64 end records."""
    out = bytearray()
    directory = bytearray()
    count = 0
    for member in members:
        name = member.name.encode()
        size = len(member.payload) if member.size is None else member.size
        fields = (member.method, 0, 0x21, member.crc, len(member.payload), size, len(name), 0)
        flags = member.flags
        directory += _CENTRAL.pack(b"PK\x01\x02", 20, 20, flags, *fields, 0, 0, 0, 0, len(out))
        directory += name
        out += _LOCAL.pack(b"PK\x03\x04", 20, flags, *fields) + name + member.payload
        count += 1
    start = len(out)
    out += directory
    if zip64:
        end64 = len(out)
        out += _END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), start)
        out += _LOCATOR.pack(b"PK\x06\x07", 0, end64, 1)
    short = min(count, 0xFFFF)
    return bytes(out + _END.pack(b"PK\x05\x06", 0, 0, short, short, len(directory), start, 0))


def many_entries(count: int) -> bytes:
    """A valid archive of `count` empty stored members, ZIP64 when it needs to be."""
    return raw_zip(
        (Member(f"{index:x}", b"", zipfile.ZIP_STORED, 0, 0) for index in range(count)),
        zip64=count > 0xFFFF,
    )
