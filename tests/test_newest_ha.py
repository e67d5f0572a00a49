"""The newest-HA import check (scripts/newest_ha.py) against a fake wheel: what it must catch."""

from __future__ import annotations

from collections.abc import Callable
import importlib.util
from pathlib import Path
import subprocess
import sys
from types import ModuleType
from typing import Any
import zipfile

import pytest

ROOT = Path(__file__).parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("newest_ha", ROOT / "scripts/newest_ha.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["newest_ha"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


newest_ha = _load()

# A wheel's worth of HA, as small as the cases need.
FAKE_HA = {
    "homeassistant/__init__.py": "",
    "homeassistant/const.py": (
        "from enum import StrEnum\n"
        "from typing import Final\n"
        "class Platform(StrEnum):\n    SENSOR = 'sensor'\n"
        "CONF_HOST: Final = 'host'\n"
        "_DEPRECATED_CONF_OLD = object()\n"
        "__getattr__ = lambda name: None\n"
    ),
    "homeassistant/core.py": (
        "type CALLBACK_TYPE = object\n"
        "def callback(func):\n"
        "    try:\n        return func\n"
        "    except KeyError, ValueError:\n        raise\n"  # Python 3.14 syntax (PEP 758)
        "class HomeAssistant: ...\n"
    ),
    "homeassistant/helpers/__init__.py": "",
    "homeassistant/helpers/issue_registry.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .typing import Anything\n"
        "try:\n    import orjson as fast_json\nexcept ImportError:\n    fast_json = None\n"
        "class IssueSeverity: ...\n"
        "async def async_create_issue(): ...\n"
        "ISSUE_A, ISSUE_B = 1, 2\n"
    ),
    "homeassistant/helpers/everything.py": "from .issue_registry import *\n",
    "homeassistant/components/__init__.py": "",
    "homeassistant/components/repairs/__init__.py": "from .models import RepairsFlow\n",
    "homeassistant/components/repairs/models.py": "class RepairsFlow: ...\n",
    "homeassistant/components/newer.py": "def f(:\n    pass\nclass Kept: ...\nSTAY = 1\n",
}


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def wheel_dir(tmp_path: Path) -> Path:
    return _write(tmp_path / "wheel", FAKE_HA)


def _check(tmp_path: Path, wheel_dir: Path, source: str) -> list[str]:
    package = _write(tmp_path / "repo" / "custom_components" / "fake", {"module.py": source})
    uses = newest_ha.integration_uses(package)
    return [str(use) for use in newest_ha.missing(uses, newest_ha.Source(wheel_dir))]


def test_names_present_in_the_wheel_pass(tmp_path: Path, wheel_dir: Path) -> None:
    source = (
        "from homeassistant.const import CONF_HOST, Platform\n"
        "from homeassistant.const import CONF_OLD\n"  # deprecated, still served by __getattr__
        "from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback\n"
        "from homeassistant.helpers import issue_registry as ir\n"
        "from homeassistant.helpers.issue_registry import ISSUE_B, fast_json\n"
        "from homeassistant.helpers.everything import IssueSeverity\n"  # through a star import
        "from homeassistant.components.repairs import RepairsFlow\n"  # re-exported
        "from homeassistant.components.newer import Kept, STAY\n"  # unparsable: read by line
        "import homeassistant.helpers.issue_registry\n"
        "from homeassistant.components import repairs\n"
        "ir.async_create_issue(); ir.IssueSeverity; Platform.SENSOR.value\n"
        "from other.package import nothing_to_check\n"
    )
    assert _check(tmp_path, wheel_dir, source) == []


def test_every_missing_name_is_listed_with_its_place(tmp_path: Path, wheel_dir: Path) -> None:
    source = (
        "from homeassistant.const import CONF_HOST, CONF_GONE\n"
        "from homeassistant.helpers import issue_registry as ir, removed_module\n"
        "from homeassistant.helpers.issue_registry import Anything\n"  # only under TYPE_CHECKING
        "from homeassistant.components.dhcp import DhcpServiceInfo\n"
        "import homeassistant.util.dt as dt_util\n"
        "from homeassistant.components.newer import Gone\n"  # read by line: not there either
        "def use():\n"
        "    ir.async_create_issue()\n"
        "    ir.async_delete_issue()\n"
    )
    assert _check(tmp_path, wheel_dir, source) == [
        "custom_components/fake/module.py:1: homeassistant.const.CONF_GONE",
        "custom_components/fake/module.py:2: homeassistant.helpers.removed_module",
        "custom_components/fake/module.py:3: homeassistant.helpers.issue_registry.Anything",
        "custom_components/fake/module.py:4: homeassistant.components.dhcp.DhcpServiceInfo",
        "custom_components/fake/module.py:5: homeassistant.util.dt",
        "custom_components/fake/module.py:6: homeassistant.components.newer.Gone",
        "custom_components/fake/module.py:9: "
        "homeassistant.helpers.issue_registry.async_delete_issue",
    ]


def test_python_314_except_syntax_is_read_as_a_tree(wheel_dir: Path) -> None:
    source = newest_ha.Source(wheel_dir)
    assert {"CALLBACK_TYPE", "callback", "HomeAssistant"} <= source.names("homeassistant.core")
    assert source.unparsable == set()
    assert "Kept" in source.names("homeassistant.components.newer")
    assert source.unparsable == {"homeassistant.components.newer"}


def test_the_check_reports_and_fails(
    tmp_path: Path, wheel_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = _write(
        tmp_path / "repo" / "custom_components" / "fake",
        {"a.py": "from homeassistant.core import HomeAssistant, Gone\n"},
    )
    assert newest_ha.main(["--package", str(package), "--source", str(wheel_dir)]) == 1
    assert "custom_components/fake/a.py:1: homeassistant.core.Gone" in capsys.readouterr().err
    (package / "a.py").write_text("from homeassistant.core import HomeAssistant\n")
    assert newest_ha.main(["--package", str(package), "--source", str(wheel_dir)]) == 0


def test_the_integration_itself_names_ha_modules() -> None:
    uses = newest_ha.integration_uses(ROOT / "custom_components" / "printernizer")
    modules = {use.module for use in uses}
    assert "homeassistant.helpers.issue_registry" in modules
    assert all(module.startswith("homeassistant") for module in modules)


# -- download and cache (pip stands in for PyPI here) ----------------------------------------


def _fake_pip(
    calls: list[list[str]], version: str | None, found: list[bool] | None = None
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """pip download as far as the check relies on it; `found`: was the wheel in --dest."""
    found = [] if found is None else found

    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        if version is None:
            return subprocess.CompletedProcess(command, 1, "", "Could not fetch URL: offline")
        dest = Path(command[command.index("--dest") + 1])
        wheel = dest / f"homeassistant-{version}-py3-none-any.whl"
        found.append(wheel.exists())
        if not wheel.exists():  # pip keeps a file it finds in --dest
            with zipfile.ZipFile(wheel, "w") as archive:
                archive.writestr("homeassistant/const.py", f"VERSION = {version!r}\n")
        return subprocess.CompletedProcess(command, 0, "", "")

    return run


def test_download_asks_for_python_3_14_2_and_reuses_the_cached_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    found: list[bool] = []
    cache = tmp_path / "cache"
    monkeypatch.setattr(newest_ha.subprocess, "run", _fake_pip(calls, "2026.11.0", found))
    first = newest_ha.download(cache)
    assert first == cache / "homeassistant-2026.11.0-py3-none-any.whl"
    downloaded = first.read_bytes()
    command = calls[0]
    assert command[command.index("--python-version") + 1] == "3.14.2"
    assert {"--no-deps", "--only-binary=:all:"} <= set(command)
    assert newest_ha.download(cache) == first
    assert found == [False, True]  # the cached wheel was in --dest: pip skips the download
    assert first.read_bytes() == downloaded
    monkeypatch.setattr(newest_ha.subprocess, "run", _fake_pip(calls, "2026.12.1"))
    newest_ha.unpack(first, cache)
    assert newest_ha.download(cache).name == "homeassistant-2026.12.1-py3-none-any.whl"
    assert sorted(path.name for path in cache.iterdir()) == [
        "homeassistant-2026.12.1-py3-none-any.whl"
    ]  # the older version, wheel and sources, is gone


def test_unreachable_pypi_fails_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(newest_ha.subprocess, "run", _fake_pip([], None))
    assert newest_ha.main(["--cache", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Cannot download the newest homeassistant wheel from PyPI" in err
    assert "offline" in err


def test_unpack_keeps_only_ha_sources_inside_the_cache(tmp_path: Path) -> None:
    wheel = tmp_path / "homeassistant-2026.11.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("homeassistant/core.py", "X = 1\n")
        archive.writestr("homeassistant/../../escape.py", "bad\n")
        archive.writestr("homeassistant-2026.11.0.dist-info/METADATA", "meta\n")
    root = newest_ha.unpack(wheel, tmp_path / "cache")
    assert (root / "homeassistant/core.py").read_text() == "X = 1\n"
    assert not (root / "homeassistant-2026.11.0.dist-info").exists()
    assert not list(tmp_path.rglob("escape.py"))
    assert newest_ha.unpack(wheel, tmp_path / "cache") == root  # unpacked once
