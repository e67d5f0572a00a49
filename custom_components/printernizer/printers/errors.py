"""Typed errors every adapter raises; the integration maps each to one HA reaction."""

from __future__ import annotations


class AdapterError(Exception):
    """Base of every adapter error. Messages never carry credentials."""


class AuthenticationError(AdapterError):
    """The printer rejected the credentials; retrying will not help."""


class PrinterOfflineError(AdapterError):
    """The printer cannot be reached right now; retrying later may help."""


class PrinterTimeoutError(PrinterOfflineError):
    """The printer accepted the connection but did not answer in time."""


class ProtocolError(AdapterError):
    """The printer answered with something we do not understand."""


class WrongSerialError(ProtocolError):
    """The printer dropped us for asking about a serial it does not have."""


class CertificateMismatchError(AdapterError):
    """The printer presented a different certificate than the one pinned when it was added."""


class CommandRefusedError(AdapterError):
    """The printer received a command and refused it."""

    def __init__(self, command: str, reason: str | None = None) -> None:
        super().__init__(f"{command} refused" + (f": {reason}" if reason else ""))
        self.command = command
        self.reason = reason


class CommandConflictError(CommandRefusedError):
    """The command does not fit the printer's current state (PrusaLink 409)."""


class ControlsLockedError(CommandRefusedError):
    """Firmware requires signed commands; only Developer Mode lets us control the printer."""
