"""Shared fixtures: simulators run on 127.0.0.1, so socket tests opt in via socket_enabled.

The secret guard runs for every test: each access code, password and API key a test configures
(simulators, adapter configs, config entries, config and options flows) must never show up in a
log record, in an exception handed to the test, in diagnostics, in an action's response or in
what a flow shows the user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
import functools
import logging
import re
from typing import Any

from homeassistant import config_entries, data_entry_flow
from homeassistant.const import CONF_API_KEY, CONF_PASSWORD, CONF_TOKEN
from homeassistant.core import ServiceRegistry
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component import common as phcc_common

from custom_components.printernizer import diagnostics
from custom_components.printernizer.const import CONF_ACCESS_CODE
from custom_components.printernizer.discovery import bambu as bambu_discovery
from custom_components.printernizer.printers.bambu.adapter import BambuConfig
from custom_components.printernizer.printers.prusa.adapter import PrusaConfig
from simulator.bambu.printer import BambuSimulator
from simulator.prusa import PrusaSimulator

SECRET_KEYS = frozenset({CONF_ACCESS_CODE, CONF_PASSWORD, CONF_API_KEY, CONF_TOKEN})
# Shorter values ("p", "pw", "nope") are test placeholders that would match ordinary words.
MIN_SECRET_LENGTH = 6
# Logged at DEBUG too: users turn debug logging on to file bug reports, and post the log.
_DEBUG_LOGGERS = ("custom_components.printernizer",)
# What a flow shows the user; entry data (`data`, `result`) carries the secrets by design.
_FLOW_SHOWN = ("errors", "description_placeholders", "reason")


class SecretGuard(logging.Handler):
    """Knows the test's secrets, keeps its log records, and collects every leak it finds.

    Cheap: records are only kept while the test runs and matched once, at teardown, with one
    regular expression. A secret counts only as a whole token (not inside a longer run of
    letters and digits), so "12345678" is not found in a millisecond timestamp.
    """

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.secrets: set[str] = set()
        self.records: list[logging.LogRecord] = []
        self.leaks: list[str] = []
        self._pattern: re.Pattern[str] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record; it is read at teardown."""
        self.records.append(record)

    def add(self, *values: object) -> None:
        """Remember values as secrets (non-text and short values are ignored)."""
        for value in values:
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
                self.secrets.add(value)
                self._pattern = None

    def add_from(self, data: object) -> None:
        """Remember the values under secret keys of a mapping (nested sections included)."""
        if not isinstance(data, Mapping):
            return
        for key, value in data.items():
            if key in SECRET_KEYS:
                self.add(value)
            elif isinstance(value, Mapping):
                self.add_from(value)

    def scan(self, where: str, text: str) -> None:
        """Record a leak if a secret is in `text`."""
        if not self.secrets:
            return
        if self._pattern is None:
            alternatives = "|".join(re.escape(s) for s in sorted(self.secrets, key=len)[::-1])
            self._pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")
        if found := self._pattern.search(text):
            secret = found.group()  # named by its start and length: CI logs are public too
            self.leaks.append(f"{where}: {secret[:2]}... ({len(secret)} characters)")

    def scan_exception(self, where: str, error: BaseException) -> None:
        """Scan an exception's messages, arguments and notes, through its whole chain.

        The frames of a traceback are source lines (test code may spell a secret out); what
        a traceback carries at run time is this.
        """
        for link in _chain(error):
            parts = [type(link).__name__, str(link), repr(link.args)]
            parts += getattr(link, "__notes__", ())
            if isinstance(link, HomeAssistantError):
                parts.append(repr(link.translation_placeholders))
            self.scan(f"{where} ({type(link).__name__})", "\n".join(parts))

    def scan_records(self) -> None:
        """Scan every kept record: message, arguments and any exception attached."""
        if not self.secrets:
            return
        for record in self.records:
            where = f"log record {record.name} {record.levelname}"
            try:
                message = record.getMessage()
            except Exception:
                message = str(record.msg)
            self.scan(where, f"{message}\n{record.args!r}\n{record.exc_text or ''}")
            if record.exc_info and record.exc_info[1] is not None:
                self.scan_exception(where, record.exc_info[1])

    def check(self) -> None:
        """Fail the test for every leak found so far (log records included)."""
        self.scan_records()
        self.records.clear()
        if self.leaks:
            leaks, self.leaks = self.leaks, []
            pytest.fail("A secret leaked:\n  " + "\n  ".join(dict.fromkeys(leaks)), pytrace=False)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [error]
    while todo:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        todo += [e for e in (link.__cause__, link.__context__) if e is not None]
        todo += getattr(link, "exceptions", ())


_guard: SecretGuard | None = None  # the running test's


def _on_init(*names: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Wrap `__init__` so the named arguments (or attributes, once set) are remembered."""

    def wrap(init: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(init)
        def remembering(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            if _guard is not None:
                _guard.add(*(getattr(self, name, None) for name in names))

        return remembering

    return wrap


def _entry_init(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def remembering(self: config_entries.ConfigEntry, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if _guard is not None:
            _guard.add_from(self.data)
            _guard.add_from(self.options)

    return remembering


def _flow_step(method: Callable[..., Any], given: str) -> Callable[..., Any]:
    """Remember secrets a test types into a flow; scan what the flow shows back."""

    @functools.wraps(method)
    async def step(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _guard is not None:
            _guard.add_from(kwargs.get(given, args[1] if len(args) > 1 else None))
        result = await method(self, *args, **kwargs)
        if _guard is not None and isinstance(result, Mapping):
            shown = {key: result.get(key) for key in _FLOW_SHOWN}
            _guard.scan(f"flow step {result.get('step_id') or result.get('type')}", repr(shown))
        return result

    return step


def _service_call(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(self: ServiceRegistry, domain: str, service: str, *args: Any, **kw: Any) -> Any:
        response = await method(self, domain, service, *args, **kw)
        if _guard is not None and response is not None:
            _guard.scan(f"response of {domain}.{service}", repr(response))
        return response

    return call


def _diagnostics(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def report(*args: Any, **kwargs: Any) -> Any:
        result = await function(*args, **kwargs)
        if _guard is not None:
            _guard.scan("diagnostics", repr(result))
        return result

    return report


def _raises_exit(exit_: Callable[..., Any]) -> Callable[..., Any]:
    """`pytest.raises` hands the exception to the test: scan it on the way."""

    @functools.wraps(exit_)
    def exit_scanning(self: Any, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        if _guard is not None and exc is not None:
            _guard.scan_exception("exception raised to the test", exc)
        return exit_(self, exc_type, exc, tb)

    return exit_scanning


def _raises_class() -> type:
    try:
        from _pytest.raises import RaisesExc  # pytest >= 8.4
    except ImportError:
        from _pytest.python_api import RaisesContext

        return RaisesContext
    return RaisesExc


def _patches() -> Iterable[tuple[object, str, Callable[[Any], Any]]]:
    yield BambuSimulator, "__init__", _on_init("access_code")
    yield PrusaSimulator, "__init__", _on_init("password", "api_key")
    yield BambuConfig, "__init__", _on_init("access_code")
    yield PrusaConfig, "__init__", _on_init("password", "api_key")
    yield config_entries.ConfigEntry, "__init__", _entry_init
    yield data_entry_flow.FlowManager, "async_init", lambda m: _flow_step(m, "data")
    yield config_entries.ConfigEntriesFlowManager, "async_init", lambda m: _flow_step(m, "data")
    yield data_entry_flow.FlowManager, "async_configure", lambda m: _flow_step(m, "user_input")
    yield ServiceRegistry, "async_call", _service_call
    yield diagnostics, "async_get_config_entry_diagnostics", _diagnostics
    yield _raises_class(), "__exit__", _raises_exit


@pytest.fixture(autouse=True)
def _own_config_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each test's HA gets a config folder of its own: files, exports and downloads written
    under `<config>/printernizer/` never reach the next test (nor the installed harness).
    """
    folder = tmp_path_factory.mktemp("config")
    monkeypatch.setattr(
        phcc_common, "get_test_config_dir", lambda *parts: str(folder.joinpath(*parts))
    )


@pytest.fixture(autouse=True)
def _discovery_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Bambu SSDP listener binds loopback and a free port, never all interfaces' 2021."""
    monkeypatch.setattr(bambu_discovery, "LISTEN", bambu_discovery.ListenAddress("127.0.0.1", 0))


@pytest.fixture(autouse=True, scope="session")
def _secret_sources() -> Iterator[None]:
    """Wrap, once, everything that configures a secret or hands something to the test."""
    with pytest.MonkeyPatch.context() as patch:
        for owner, name, wrapper in _patches():
            patch.setattr(owner, name, wrapper(vars(owner)[name]))
        yield


@pytest.fixture(autouse=True)
def secret_guard(_secret_sources: None) -> Iterator[SecretGuard]:
    """Fail the test if a configured secret leaked anywhere the user or a log could see it."""
    global _guard  # noqa: PLW0603 - the wrappers above are installed once per session
    guard = _guard = SecretGuard()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in _DEBUG_LOGGERS}
    for name in _DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(guard)
    try:
        yield guard
    finally:
        root.removeHandler(guard)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        _guard = None
    guard.check()
