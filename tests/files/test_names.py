"""Hostile printer file names never make a write land outside the download folder."""

from __future__ import annotations

import os
from pathlib import Path
import unicodedata

import pytest

from custom_components.printernizer.files import local
from custom_components.printernizer.files.names import (
    MAX_NAME_BYTES,
    UnsafePathError,
    contained,
    numbered,
    safe_name,
)

# (printer's name, what a user should still recognise in the local name or None)
HOSTILE = [
    ("../../etc/passwd", "passwd"),
    ("..", None),
    (".", None),
    ("...", None),
    ("/etc/shadow", "shadow"),
    ("\\\\server\\share\\x.3mf", "x.3mf"),
    ("C:\\Windows\\system32\\evil.dll", "evil.dll"),
    ("C:evil.3mf", "C_evil.3mf"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("a/../../b.gcode", "b.gcode"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("com1.3mf", "_com1.3mf"),
    ("LPT9", "_LPT9"),
    ("x" * 1000 + ".gcode.3mf", ".3mf"),
    ("é" * 300 + ".mp4", ".mp4"),
    ("name\x00.3mf", "name.3mf"),
    ("line\nbreak\r.3mf", "line break"),
    ("\x1b[31mred.3mf", "[31mred.3mf"),
    ("evil\u202egpj.exe", "evilgpj.exe"),  # right-to-left override
    ("zero\u200bwidth.3mf", "zerowidth.3mf"),
    ("..\uff0f..\uff0fescape.3mf", "escape.3mf"),  # fullwidth solidus
    ("\uff0e\uff0e", None),  # fullwidth dots
    ("\u2024\u2024/x.3mf", "x.3mf"),  # one-dot leaders, NFKC "."
    ("x.part", "x.part_"),
    (".index.json", "index.json_"),
    ("  spaced  .3mf  ", "spaced .3mf"),
    ("what?<>|*.3mf", "what_____.3mf"),
    ("trailing.dots...", "trailing.dots"),
    ("\ud800lone-surrogate.3mf", "lone-surrogate.3mf"),
    ("", None),
]


@pytest.mark.parametrize(("hostile", "expected"), HOSTILE)
def test_hostile_names_become_one_safe_component(
    tmp_path: Path, hostile: str, expected: str | None
) -> None:
    name = safe_name(hostile)
    assert name
    assert name not in (".", "..")
    assert "/" not in name
    assert "\\" not in name
    assert "\0" not in name
    assert all(unicodedata.category(char)[0] != "C" for char in name)
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name.split(".")[0].upper() not in ("CON", "NUL", "COM1", "LPT9")
    assert not name.endswith((".part", ".json"))
    if expected is not None:
        assert expected in name
    # The real proof: writing it lands directly in the folder.
    root = tmp_path / "downloads"
    root.mkdir()
    path, relpath = local.target(root, hostile, "2026-12", lambda _: False)
    path.write_bytes(b"x")
    assert path.parent == root / "2026-12"
    assert Path(os.path.realpath(path)).parent == Path(os.path.realpath(root / "2026-12"))
    assert relpath == f"2026-12/{name}"
    assert list(tmp_path.iterdir()) == [root]


def test_table_has_at_least_twenty_names() -> None:
    assert len(HOSTILE) >= 20


def test_a_symlinked_month_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "2026-12").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError):
        local.target(root, "a.3mf", "2026-12", lambda _: False)
    assert list(outside.iterdir()) == []


def test_a_symlink_where_the_file_goes_is_never_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_text("keep")
    (tmp_path / "root" / "2026-12").mkdir(parents=True)
    (tmp_path / "root" / "2026-12" / "a.3mf").symlink_to(outside)
    path, _ = local.target(tmp_path / "root", "a.3mf", "2026-12", lambda _: False)
    assert path.name == "a (2).3mf"
    path.write_text("download")
    assert outside.read_text() == "keep"
    # even when it is this file's own earlier copy, the symlink is refused
    with pytest.raises(UnsafePathError):
        local.target(tmp_path / "root", "a.3mf", "2026-12", lambda _: False, "2026-12/a.3mf")


@pytest.mark.parametrize("part", ["..", ".", "", "a/b", "a\\b", "x\0"])
def test_contained_refuses_unsafe_components(tmp_path: Path, part: str) -> None:
    with pytest.raises(UnsafePathError):
        contained(tmp_path, part)


def test_a_taken_name_gets_a_number_before_its_suffix(tmp_path: Path) -> None:
    taken = {"2026-12/Benchy.3mf", "2026-12/Benchy (2).3mf"}
    path, relpath = local.target(tmp_path, "Benchy.3mf", "2026-12", taken.__contains__)
    assert relpath == "2026-12/Benchy (3).3mf"
    assert path.name == "Benchy (3).3mf"
    assert numbered("noext", 2) == "noext (2)"


def test_truncation_keeps_utf8_whole_and_the_suffix() -> None:
    name = safe_name("ü" * 500 + ".gcode")
    name.encode().decode()  # never a cut multibyte character
    assert name.endswith(".gcode")
    assert len(name.encode()) <= MAX_NAME_BYTES
