"""Turning a printer's file name into a safe local one.

Names come from the printer (anyone who can upload a file chooses them), so they are treated
as hostile: the result is always one plain path component, never empty, never `.`/`..`, never
a Windows device name, free of control and bidi characters, and short enough for any file
system. Where the file lands is decided by `contained`, which also refuses symlinked folders.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import unicodedata

MAX_NAME_BYTES = 200
_FALLBACK = "file"
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"COM{n}" for n in (*range(10), "¹", "²", "³")}
    | {f"LPT{n}" for n in (*range(10), "¹", "²", "³")}
)
# Windows-forbidden punctuation plus both separators; replaced, so names stay recognisable.
_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
# Suffixes the manager gives its own files; a printer file must never look like one.
_OWN_SUFFIXES = (".part", ".json")


class UnsafePathError(ValueError):
    """A path would leave the download folder (a symlink, a `..` that slipped through)."""


def safe_name(name: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    r"""One safe file name for `name`.

    NFKC first, so fullwidth slashes and dots become real ones and are caught; then only the
    last path component is kept (`../../etc/passwd` -> `passwd`, `C:\x\y.3mf` -> `y.3mf`).
    """
    text = unicodedata.normalize("NFKC", name)
    text = re.split(r"[/\\]", text)[-1]
    # Control, format (RTL override, zero-width), surrogate, private and unassigned code points.
    text = "".join(
        " " if char.isspace() else char
        for char in text
        if unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn") or char.isspace()
    )
    text = _FORBIDDEN.sub("_", text)
    text = " ".join(text.split())
    text = text.strip(" .")
    if not text:
        return _FALLBACK
    stem, dot, suffix = text.partition(".")
    if stem.rstrip(" ").upper() in _RESERVED:
        text = f"_{text}"
    if text.lower().endswith(_OWN_SUFFIXES):
        text = f"{text}_"
    return _truncate(text, max_bytes)


def _truncate(text: str, max_bytes: int) -> str:
    """Cut to `max_bytes` of UTF-8, keeping a short suffix (`.gcode.3mf`) where it fits."""
    if len(text.encode()) <= max_bytes:
        return text
    stem, suffix = text, ""
    if "." in text[1:]:
        head, _, tail = text.rpartition(".")
        if len(tail.encode()) <= 16 and head:
            stem, suffix = head, f".{tail}"
    room = max_bytes - len(suffix.encode())
    cut = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
    return f"{cut or _FALLBACK}{suffix}"


def numbered(name: str, number: int) -> str:
    """`name` with " (n)" before its suffix, for a second file of the same name."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        return _truncate(f"{name} ({number})", MAX_NAME_BYTES)
    return _truncate(f"{stem} ({number}).{suffix}", MAX_NAME_BYTES)


def contained(root: Path, *parts: str) -> Path:
    """`root/parts...`, refusing anything that would resolve outside `root`.

    Each part must already be a safe name. Blocking (it touches the disk): call it in the
    executor. A symlinked folder on the way, or a symlink where the file goes, is refused.
    """
    base = Path(os.path.realpath(root))
    path = base
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\\" in part or "\0" in part:
            raise UnsafePathError(f"unsafe path component {part!r}")
        path = path / part
        if path.is_symlink():
            raise UnsafePathError(f"{path} is a symlink")
    if not Path(os.path.realpath(path)).is_relative_to(base):
        raise UnsafePathError(f"{path} is outside {base}")
    return path
