"""The download folder on disk: one folder per printer, one per month, and an index.

Layout: `<root>/<serial>/<YYYY-MM>/<safe name>`, partial downloads beside their target as
`.<name>.<random>.part`, and `<root>/<serial>/.index.json` mapping each local copy back to the
printer folder and name it came from (with its SHA-256). Every function here blocks: the
manager runs them through its executor, never in the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
import datetime as dt
import json
import logging
import os
from pathlib import Path
import re
import shutil
import tempfile

from .names import contained, numbered, safe_name

_LOGGER = logging.getLogger(__name__)

INDEX_NAME = ".index.json"
PART_SUFFIX = ".part"
COVER_SUFFIX = ".cover"
PLAYABLE_SUFFIX = ".mp4"
MAX_COVER_BYTES = 2 * 1024 * 1024
_MONTH = re.compile(r"\d{4}-\d{2}")
_MAX_INDEX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalRecord:
    """A local copy (or a download that was cut off) and where it came from.

    `relpath` is relative to the printer's folder (`2026-12/Benchy.3mf`). `state` is "done",
    "partial" (written while running: a leftover after a crash) or "failed" (with `reason`).
    """

    folder: str
    name: str
    relpath: str
    state: str
    size: int = 0
    sha256: str | None = None
    remote_modified: str | None = None
    saved_at: str = ""
    reason: str | None = None
    part: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalFile:
    """A file found on disk under a printer's folder."""

    relpath: str
    size: int
    modified: dt.datetime
    has_cover: bool = False


def free_bytes(path: Path) -> int:
    """Free bytes on the disk holding `path` (its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def printer_dir(root: Path, serial: str) -> Path:
    """`<root>/<serial>`, created; refused when it would leave `root` or is a symlink."""
    root.mkdir(parents=True, exist_ok=True)
    path = contained(root, safe_name(serial))
    path.mkdir(exist_ok=True)
    return path


def load_index(directory: Path) -> dict[tuple[str, str], LocalRecord]:
    """The printer's index; a missing or damaged one is an empty one (files stay local-only)."""
    path = directory / INDEX_NAME
    try:
        if path.is_symlink() or path.stat().st_size > _MAX_INDEX_BYTES:
            return {}
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        _LOGGER.warning("Ignoring damaged file index %s: %s", path, err)
        return {}
    records: dict[tuple[str, str], LocalRecord] = {}
    for item in raw.get("files", []) if isinstance(raw, dict) else []:
        try:
            record = LocalRecord(**item)
        except TypeError:
            continue
        if all(isinstance(value, str) for value in (record.folder, record.name, record.relpath)):
            records[(record.folder, record.name)] = record
    return records


def save_index(directory: Path, records: dict[tuple[str, str], LocalRecord]) -> None:
    """Write the index atomically (temporary file, fsync, rename)."""
    data = json.dumps({"version": 1, "files": [asdict(r) for r in records.values()]}, indent=1)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".index.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, directory / INDEX_NAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def scan(directory: Path) -> tuple[list[LocalFile], list[Path]]:
    """Complete files and `.part` leftovers in the month folders (symlinks are skipped)."""
    files: list[LocalFile] = []
    partials: list[Path] = []
    try:
        months = [entry for entry in os.scandir(directory) if _MONTH.fullmatch(entry.name)]
    except FileNotFoundError:
        return files, partials
    for month in months:
        if not month.is_dir(follow_symlinks=False):
            continue
        with os.scandir(month.path) as entries:
            listed = list(entries)
        covers = {e.name for e in listed if e.name.endswith(COVER_SUFFIX) and e.name[0] == "."}
        for entry in listed:
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.name.endswith(PART_SUFFIX):
                partials.append(Path(entry.path))
                continue
            if entry.name.startswith("."):
                continue
            info = entry.stat(follow_symlinks=False)
            files.append(
                LocalFile(
                    relpath=f"{month.name}/{entry.name}",
                    size=info.st_size,
                    modified=dt.datetime.fromtimestamp(info.st_mtime, dt.UTC),
                    has_cover=f".{entry.name}{COVER_SUFFIX}" in covers,
                )
            )
    return files, partials


def target(
    directory: Path,
    name: str,
    month: str,
    taken: Callable[[str], bool],
    own: str | None = None,
) -> tuple[Path, str]:
    """Where a download of `name` goes: the path and its relpath, the month folder created.

    `taken(relpath)` says a name belongs to a different printer file; so does any file already
    on disk except `own` (this printer file's earlier copy, which is replaced). Those get
    " (2)" etc., so a download never overwrites another file.
    """
    folder = contained(directory, month)
    folder.mkdir(exist_ok=True)
    base = safe_name(name)
    candidate = base
    number = 1
    while taken(relpath := f"{month}/{candidate}") or (
        relpath != own and os.path.lexists(folder / candidate)
    ):
        number += 1
        candidate = numbered(base, number)
    return contained(directory, month, candidate), f"{month}/{candidate}"


def part_path(dest: Path) -> Path:
    """A fresh, exclusive partial file beside `dest` (never followed through a symlink)."""
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name[:80]}.", suffix=PART_SUFFIX)
    os.close(fd)
    return Path(name)


def remove(path: Path) -> bool:
    """Delete a file (not following symlinks) with its cover and MP4; False if already gone."""
    cover_path(path).unlink(missing_ok=True)
    playable_path(path).unlink(missing_ok=True)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def cover_path(path: Path) -> Path:
    """Where a local copy's preview image lives: hidden beside it (`.<name>.cover`)."""
    return path.with_name(f".{path.name}{COVER_SUFFIX}")


def playable_path(path: Path) -> Path:
    """Where the MP4 of an AVI local copy lives: hidden beside it (`.<name>.mp4`)."""
    return path.with_name(f".{path.name}{PLAYABLE_SUFFIX}")


def write_cover(path: Path, image: bytes) -> None:
    """Store the printer's preview of a local copy (replacing, never following, a link)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".cover.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(image)
        os.replace(temporary, cover_path(path))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_cover(path: Path) -> bytes | None:
    """A local copy's preview, None when there is none (symlinks are not followed)."""
    try:
        fd = os.open(cover_path(path), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as cover:
        data = cover.read(MAX_COVER_BYTES + 1)
    return data if len(data) <= MAX_COVER_BYTES else None


def usage(directory: Path) -> int:
    """Bytes used by complete local copies of one printer."""
    files, _ = scan(directory)
    return sum(file.size for file in files)
