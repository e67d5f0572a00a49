"""Listeners that cannot stop each other: one that raises costs only its own update.

A coordinator hands each printer snapshot to the job tracker and then to every entity; the
history hands each put record to every listener of its printer. Without a guard, the first
listener that raises (a bug, or a value nobody foresaw) ends the loop and everything after it
misses the update, for every later update too. Here each failure is counted, and logged with
its traceback once per listener kind (its qualified name: one entity class, the tracker), not
once per update, so a push every second cannot flood the log.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
from typing import Any

MAX_KINDS = 64  # kinds logged in full per guard; more are counted only


class Listeners:
    """Calls listeners one by one; a failure is counted, logged once per kind, and passed."""

    def __init__(self, logger: logging.Logger, owner: str) -> None:
        """`owner` names what the listeners listen to, for the log."""
        self._logger = logger
        self._owner = owner
        self._logged: set[str] = set()
        self.failures = 0

    def call(self, listener: Callable[..., Any], *args: Any) -> None:
        """Call one listener; never raises what the listener raised."""
        try:
            listener(*args)
        except Exception:  # whatever it raised, the others still get the update
            self.failures += 1
            kind = getattr(listener, "__qualname__", None) or type(listener).__qualname__
            if kind in self._logged or len(self._logged) >= MAX_KINDS:
                return
            self._logged.add(kind)
            self._logger.exception(
                "%s: %s failed; it is skipped, the others are updated (logged once)",
                self._owner,
                kind,
            )

    def call_all(self, listeners: list[Callable[..., Any]], *args: Any) -> None:
        """Call each listener of a copy of the list (a listener may remove itself)."""
        for listener in list(listeners):
            self.call(listener, *args)
