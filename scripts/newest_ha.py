"""Does the integration still import on the newest Home Assistant? Checked without installing it.

The tests run on an older HA than users do. This downloads the newest `homeassistant` wheel for
Python 3.14.2 (plain `3.14` resolves to 3.14.0 and silently yields an older HA), then checks every
`homeassistant.*` name the integration imports against the wheel's source, read with `ast` and
never imported: `from homeassistant.x import y` needs module `homeassistant.x` in the wheel and
`y` defined there (or a submodule `y`), and `alias.z` on an imported HA module needs `z` in it.

Wheels and their unpacked sources are cached under `.cache/newest-ha/`, keyed by version: a rerun
asks PyPI only which version is newest. Exit status 1 lists what is missing; 2 means PyPI could
not be asked.

    python scripts/newest_ha.py [--package custom_components/printernizer] [--source DIR]
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "custom_components" / "printernizer"
CACHE = ROOT / ".cache" / "newest-ha"
PYTHON_VERSION = "3.14.2"
WHEEL = re.compile(r"^homeassistant-(?P<version>[^-]+)-py3-none-any\.whl$")
# Python 3.14's `except A, B:` (PEP 758), spelled so that an older `ast` reads it.
_BARE_EXCEPT_TUPLE = re.compile(r"^(\s*except\*?\s+)([^()\n:]+,[^()\n:]+?)\s*:", re.MULTILINE)
# A top-level statement's names, for modules this Python cannot parse even so.
_DEF = re.compile(r"^(?:async\s+def|def|class|type)\s+(\w+)")
_ASSIGN = re.compile(r"^(\w+)\s*(?::[^=]*)?=(?!=)")
_FROM_IMPORT = re.compile(r"^from\s+\S+\s+import\s+\(?([^)#]*)")


class CheckError(Exception):
    """The check could not run (PyPI unreachable, a broken download); the message says why."""


@dataclass(frozen=True, slots=True)
class Use:
    """One `homeassistant` name the integration relies on, and where."""

    path: str
    line: int
    module: str
    name: str | None = None  # None: the module itself
    # `alias.name` where alias was imported from HA: checked only if the alias is a module.
    attribute: bool = False

    def __str__(self) -> str:
        target = f"{self.module}.{self.name}" if self.name else self.module
        return f"{self.path}:{self.line}: {target}"


def _is_ha(module: str) -> bool:
    return module == "homeassistant" or module.startswith("homeassistant.")


def integration_uses(package: Path) -> list[Use]:
    """Every HA module, imported name and attribute of an imported HA module in the package."""
    uses: list[Use] = []
    for path in sorted(package.rglob("*.py")):
        shown = path.relative_to(package.parent.parent).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        uses.extend(_file_uses(tree, shown))
    return uses


def _file_uses(tree: ast.Module, shown: str) -> Iterator[Use]:
    # alias -> dotted name of a module it may stand for (resolved against the wheel later).
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _is_ha(node.module or ""):
            module = node.module or ""
            for alias in node.names:
                if alias.name == "*":
                    yield Use(shown, node.lineno, module)
                    continue
                yield Use(shown, node.lineno, module, alias.name)
                aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_ha(alias.name):
                    yield Use(shown, node.lineno, alias.name)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            yield Use(shown, node.lineno, aliases[node.value.id], node.attr, attribute=True)


@dataclass(slots=True)
class Source:
    """An unpacked `homeassistant` package, read with `ast` and never imported."""

    root: Path
    unparsable: set[str] = field(default_factory=set)
    _names: dict[str, frozenset[str]] = field(default_factory=dict)

    def module_path(self, module: str) -> Path | None:
        """The file of a dotted module name, or None when the wheel has no such module."""
        base = self.root.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def has(self, use: Use) -> bool:
        """Whether the module exists and defines (or has a submodule named) the name."""
        if self.module_path(use.module) is None:
            return use.attribute  # an attribute of a class or constant is not checked
        if use.name is None or self.module_path(f"{use.module}.{use.name}") is not None:
            return True
        names = self.names(use.module)
        # HA keeps deprecated constants importable: `_DEPRECATED_X` served by `__getattr__`.
        return use.name in names or (f"_DEPRECATED_{use.name}" in names and "__getattr__" in names)

    def names(self, module: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
        """Names a module binds at its top level (star imports of HA modules followed)."""
        if module in self._names:
            return self._names[module]
        path = self.module_path(module)
        if path is None or module in seen:
            return frozenset()
        text = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(_BARE_EXCEPT_TUPLE.sub(r"\1(\2):", text), filename=str(path))
        except SyntaxError:
            self.unparsable.add(module)
            found = frozenset(_scan_names(text))
        else:
            found = frozenset(self._bound(tree.body, module, seen | {module}))
        self._names[module] = found
        return found

    def _bound(self, body: Iterable[ast.stmt], module: str, seen: frozenset[str]) -> Iterator[str]:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield node.name
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    yield from (n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, ast.TypeAlias):
                yield node.name.id
            elif isinstance(node, ast.Import):
                yield from ((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name != "*":
                        yield alias.asname or alias.name
                    elif (origin := self._absolute(module, node)) and _is_ha(origin):
                        yield from self.names(origin, seen)
            elif isinstance(node, ast.If | ast.Try | ast.With):
                for block in _runtime_blocks(node):
                    yield from self._bound(block, module, seen)

    def _absolute(self, module: str, node: ast.ImportFrom) -> str | None:
        """The absolute module a `from ... import *` inside `module` names."""
        if node.level == 0:
            return node.module
        path = self.module_path(module)
        package = module if path and path.name == "__init__.py" else module.rpartition(".")[0]
        parts = package.split(".")
        if node.level > len(parts):
            return None
        base = parts[: len(parts) - node.level + 1]
        return ".".join([*base, node.module] if node.module else base)


def _runtime_blocks(node: ast.If | ast.Try | ast.With) -> Iterator[list[ast.stmt]]:
    """The blocks of a compound statement that run; `if TYPE_CHECKING:` bodies never do."""
    if isinstance(node, ast.If):
        if not _is_type_checking(node.test):
            yield node.body
        yield node.orelse
        return
    yield node.body
    if isinstance(node, ast.Try):
        yield node.orelse
        yield node.finalbody
        for handler in node.handlers:
            yield handler.body


def _is_type_checking(test: ast.expr) -> bool:
    name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", None)
    return name == "TYPE_CHECKING"


def _scan_names(text: str) -> Iterator[str]:
    """Top-level names by line, for source this Python cannot parse (newer syntax)."""
    for line in text.splitlines():
        if match := _DEF.match(line) or _ASSIGN.match(line):
            yield match[1]
        elif match := _FROM_IMPORT.match(line):
            for part in match[1].split(","):
                words = part.split()
                if words:
                    yield words[-1]


def missing(uses: Iterable[Use], source: Source) -> list[Use]:
    """The uses the wheel cannot satisfy, each once, in file order."""
    return [use for use in dict.fromkeys(uses) if not source.has(use)]


def download(cache: Path) -> Path:
    """The newest wheel for Python 3.14.2, downloaded only when the cache lacks that version.

    Older versions (wheel and unpacked sources) are removed from the cache.
    """
    cache.mkdir(parents=True, exist_ok=True)
    cached = {p.name: p for p in cache.glob("homeassistant-*.whl") if WHEEL.match(p.name)}
    with tempfile.TemporaryDirectory(prefix="newest-ha-") as temp:
        target = Path(temp)
        for name, path in cached.items():
            (target / name).symlink_to(path)  # pip finds it there and skips the download
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            "--python-version", PYTHON_VERSION, "--only-binary=:all:", "--dest", temp,
            "homeassistant",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise CheckError(
                "Cannot download the newest homeassistant wheel from PyPI (offline, or PyPI is "
                "unreachable); the newest-HA check needs it.\n" + result.stderr.strip()[-2000:]
            )
        fresh = [p for p in target.glob("homeassistant-*.whl") if not p.is_symlink()]
        for wheel in fresh:
            shutil.move(wheel, cache / wheel.name)
    names = [p.name for p in fresh] or list(cached)
    if not names:
        raise CheckError("pip reported success but left no homeassistant wheel")
    newest = max(names, key=_version_key)
    for old in {*cached, *names} - {newest}:  # older versions are never checked again
        (cache / old).unlink(missing_ok=True)
        shutil.rmtree(cache / old.removesuffix(".whl"), ignore_errors=True)
    return cache / newest


def _version_key(name: str) -> tuple[tuple[int, str], ...]:
    match = WHEEL.match(name)
    version = match["version"] if match else ""
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.]", version))


def unpack(wheel: Path, cache: Path) -> Path:
    """The wheel's Python sources under cache/<wheel name>/, unpacked once."""
    root = cache / wheel.name.removesuffix(".whl")
    done = root / ".complete"
    if done.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            name = info.filename
            if name.startswith("homeassistant/") and name.endswith(".py") and ".." not in name:
                archive.extract(info, root)
    done.touch()
    return root


def main(argv: list[str] | None = None) -> int:
    """Check; print what is missing. 0 all present, 1 something missing, 2 could not check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, default=PACKAGE)
    parser.add_argument("--source", type=Path, help="an unpacked wheel instead of downloading")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)
    try:
        if args.source:
            root, label = args.source, str(args.source)
        else:
            wheel = download(args.cache)
            root, label = unpack(wheel, args.cache), wheel.name
    except CheckError as err:
        print(f"newest-HA check: {err}", file=sys.stderr)
        return 2
    source = Source(root)
    uses = integration_uses(args.package)
    absent = missing(uses, source)
    if source.unparsable:
        print(f"Read by line (newer syntax): {', '.join(sorted(source.unparsable))}")
    if absent:
        print(f"Missing in {label}:", file=sys.stderr)
        for use in absent:
            print(f"  {use}", file=sys.stderr)
        return 1
    print(f"{label}: all {len(set(uses))} homeassistant names the integration uses are there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
