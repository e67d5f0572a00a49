"""The printer's storages as in-memory trees, with FAT 8.3 names where the firmware shows them.

`PrusaSimulator.files` maps storage names to `Storage`: {"usb"} on Buddy, {"local", "sdcard"} on
the Pi. Paths are relative to the storage ("Benchy.bgcode", "/parts/Clip.gcode"); every segment
may be given by its long name or, on Buddy, its 8.3 short name ("BENCHY~1.BGC"). Tests add files
with `sim.files["usb"].add_file("Part.gcode", data)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import itertools
import string
import time
import zlib

from . import gcode

PRINT_EXTENSIONS = (".gcode", ".bgcode", ".gco", ".g", ".bgc")
_FAT_CHARS = frozenset(string.ascii_uppercase + string.digits + "!#$%&'()-@^_`{}~")
FORBIDDEN_CHARS = frozenset('\\:*?"<>|') | frozenset(chr(c) for c in range(32))


def is_print_file(name: str) -> bool:
    """G-code the printer would print (by extension, as the firmware decides)."""
    return name.lower().endswith(PRINT_EXTENSIONS)


def short_name(name: str, taken: set[str]) -> str:
    """The 8.3 alias FAT gives a long name, unique among `taken` (BENCHY~1.BGC)."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    base = "".join(c for c in stem.upper() if c in _FAT_CHARS)
    ext3 = "".join(c for c in ext.upper() if c in _FAT_CHARS)[:3]
    suffix = f".{ext3}" if ext3 else ""
    if base == stem and ext3 == ext and 0 < len(base) <= 8 and name not in taken:
        return name  # already a valid upper-case 8.3 name
    for n in itertools.count(1):
        tail = f"~{n}"
        candidate = f"{base[: 8 - len(tail)] or 'FILE'}{tail}{suffix}"
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")


@dataclass(eq=False, slots=True)
class VirtualFile:
    """A file; `partial` while an upload is still arriving (listed read-only, no download)."""

    name: str
    short_name: str
    data: bytes
    m_timestamp: int
    read_only: bool = False
    partial: bool = False

    @property
    def size(self) -> int:
        """Bytes stored."""
        return len(self.data)

    def metadata(self) -> dict[str, str]:
        """Slicer metadata read from the content (empty if there is none)."""
        try:
            return gcode.read_metadata(self.data)
        except (ValueError, IndexError, EOFError, OSError):
            return {}

    def thumbnails(self) -> list[tuple[int, int, bytes]]:
        """Embedded PNG previews, smallest first."""
        try:
            return gcode.read_thumbnails(self.data)
        except (ValueError, IndexError, OSError):
            return []


@dataclass(eq=False, slots=True)
class VirtualFolder:
    """A folder; children keyed by long name."""

    name: str
    short_name: str
    m_timestamp: int
    children: dict[str, VirtualFile | VirtualFolder] = field(default_factory=dict)
    read_only: bool = False


type Entry = VirtualFile | VirtualFolder


@dataclass(slots=True)
class DownloadFaults:
    """How file downloads from a storage misbehave.

    `rate` slows them to that many bytes per second; the next `drops` downloads send
    `drop_after` bytes of the announced length and then cut the connection. `downloads` counts
    requests, so tests can tell a client is not hammering the printer.
    """

    rate: float | None = None
    drop_after: int = 0
    drops: int = 0
    downloads: int = 0


class Storage:
    """One storage; `generation` changes with every modification (ETags follow it)."""

    def __init__(
        self,
        name: str,
        *,
        label: str,
        kind: str,
        short_names: bool,
        capacity: int,
        read_only: bool = False,
    ) -> None:
        self.name, self.label, self.kind = name, label, kind
        self.short_names, self.capacity, self.read_only = short_names, capacity, read_only
        self.root = VirtualFolder(name, name, int(time.time()), read_only=read_only)
        self.generation = 1
        self.download_faults = DownloadFaults()

    # -- lookup ----------------------------------------------------------------------------

    @staticmethod
    def segments(path: str) -> list[str]:
        """Path segments, ignoring leading, trailing and doubled slashes."""
        return [part for part in path.split("/") if part]

    def locate(self, path: str) -> list[Entry] | None:
        """The entries from the root down to `path` ([] is the root); None if missing."""
        chain: list[Entry] = []
        folder: Entry = self.root
        for part in self.segments(path):
            if not isinstance(folder, VirtualFolder):
                return None
            entry = self._child(folder, part)
            if entry is None:
                return None
            chain.append(entry)
            folder = entry
        return chain

    def _child(self, folder: VirtualFolder, part: str) -> Entry | None:
        found = folder.children.get(part)
        if found is None and self.short_names:
            upper = part.upper()
            found = next((e for e in folder.children.values() if e.short_name == upper), None)
        return found

    def resolve(self, path: str) -> Entry | None:
        """The entry at `path` (the root folder for "" or "/")."""
        chain = self.locate(path)
        if chain is None:
            return None
        return chain[-1] if chain else self.root

    def short_path(self, chain: list[Entry]) -> str:
        """Short-name path as refs use it: /usb/FOLDER~1/BENCHY~1.BGC."""
        return "/" + "/".join([self.name, *(entry.short_name for entry in chain)])

    def long_path(self, chain: list[Entry]) -> str:
        """The same with long names."""
        return "/" + "/".join([self.name, *(entry.name for entry in chain)])

    def files(self) -> list[tuple[list[Entry], VirtualFile]]:
        """Every file with its chain, depth first."""
        found: list[tuple[list[Entry], VirtualFile]] = []

        def walk(folder: VirtualFolder, chain: list[Entry]) -> None:
            for entry in folder.children.values():
                if isinstance(entry, VirtualFile):
                    found.append(([*chain, entry], entry))
                else:
                    walk(entry, [*chain, entry])

        walk(self.root, [])
        return found

    # -- space and change tracking ---------------------------------------------------------

    @property
    def used(self) -> int:
        """Bytes taken by files."""
        return sum(file.size for _, file in self.files())

    @property
    def free(self) -> int:
        """Bytes left of `capacity`."""
        return max(self.capacity - self.used, 0)

    def changed(self) -> None:
        """Something changed: new ETags."""
        self.generation += 1

    def etag(self, path: str) -> int:
        """Numeric ETag (never 0, which the firmware treats as "none") for a listing."""
        key = f"{self.name}/{'/'.join(self.segments(path))}:{self.generation}"
        return zlib.crc32(key.encode()) or 1

    # -- changes ---------------------------------------------------------------------------

    def parent(self, path: str) -> tuple[VirtualFolder | None, str]:
        """The folder that holds (or would hold) `path`, and the leaf name."""
        parts = self.segments(path)
        if not parts:
            return None, ""
        holder = self.resolve("/".join(parts[:-1]))
        return (holder if isinstance(holder, VirtualFolder) else None), parts[-1]

    def _alias(self, folder: VirtualFolder, name: str) -> str:
        if not self.short_names:
            return name
        existing = folder.children.get(name)
        if existing is not None:
            return existing.short_name
        return short_name(name, {entry.short_name for entry in folder.children.values()})

    def add_file(
        self,
        path: str,
        data: bytes,
        *,
        m_timestamp: int | None = None,
        read_only: bool = False,
        partial: bool = False,
    ) -> VirtualFile:
        """Create or replace a file (KeyError if its folder is missing)."""
        folder, name = self.parent(path)
        if folder is None or not name:
            raise KeyError(path)
        old = self._child(folder, name)
        if old is not None:
            name = old.name  # addressed by its short name: keep the long one
        stamp = int(time.time()) if m_timestamp is None else m_timestamp
        entry = VirtualFile(name, self._alias(folder, name), data, stamp, read_only, partial)
        folder.children[name] = entry
        folder.m_timestamp = stamp
        self.changed()
        return entry

    def add_folder(self, path: str) -> VirtualFolder:
        """Create a folder (KeyError if its parent is missing)."""
        folder, name = self.parent(path)
        if folder is None or not name:
            raise KeyError(path)
        entry = VirtualFolder(name, self._alias(folder, name), int(time.time()))
        folder.children[name] = entry
        self.changed()
        return entry

    def remove(self, path: str) -> None:
        """Delete a file or folder (KeyError if missing)."""
        folder, name = self.parent(path)
        entry = self._child(folder, name) if folder is not None else None
        if folder is None or entry is None:
            raise KeyError(path)
        del folder.children[entry.name]
        folder.m_timestamp = int(time.time())
        self.changed()


@dataclass(eq=False, slots=True)
class Transfer:
    """An upload in progress (real time: uploads arrive at network speed, not printer speed)."""

    id: int
    storage: str
    path: str
    display_name: str
    size: int
    to_print: bool
    started: float
    transferred: int = 0


def sample_storages(family: str, model: str, capacity: int) -> dict[str, Storage]:
    """What a freshly set-up printer holds: previews, no preview, .bgcode plain and deflated."""
    pla = gcode.Sliced(printer_model=model)
    petg = gcode.Sliced(
        printer_model=model, filament_type="PETG", filament_mm=1520.4, filament_g=4.62,
        filament_cost=0.14, seconds=1954, temperature=240, bed_temperature=85,
        max_layer_z=20.0, colour=(30, 90, 200),
    )  # fmt: skip
    week_ago = int(time.time()) - 7 * 86_400
    samples = {
        "Benchy.bgcode": gcode.build_bgcode(pla),
        "Calibration cube.gcode": gcode.build_gcode(petg),
        "No preview.gcode": gcode.build_gcode(pla, thumbnails=()),
        "Shape box.bgcode": gcode.build_bgcode(petg, compress_metadata=True),
    }
    if family == "buddy":
        main = Storage("usb", label="usb", kind="USB", short_names=True, capacity=capacity)
        storages = {"usb": main}
    else:
        main = Storage(
            "local", label="PrusaLink gcodes", kind="LOCAL", short_names=False, capacity=capacity
        )
        sdcard = Storage(
            "sdcard", label="SD Card", kind="SDCARD", short_names=False,
            capacity=4 * 2**30, read_only=True,
        )  # fmt: skip
        sdcard.add_file(
            "OLDPART.GCO",
            gcode.build_gcode(pla, thumbnails=()),
            m_timestamp=week_ago,
            read_only=True,
        )
        storages = {"local": main, "sdcard": sdcard}
    for offset, (name, data) in enumerate(samples.items()):
        main.add_file(name, data, m_timestamp=week_ago + offset * 3600)
    return storages
