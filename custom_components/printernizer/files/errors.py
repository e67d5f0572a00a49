"""Errors of the file manager; each carries a stable `code` the HA glue translates.

Sources (the adapters) raise `RemoteMissingError` and `PrinterBusyError` on top of the usual
adapter errors; everything else here is raised by the manager for a caller's bad request.
"""

from __future__ import annotations

from ..printers.errors import AdapterError


class RemoteMissingError(AdapterError):
    """The printer says there is no such file or folder (FTPS 550, HTTP 404)."""


class PrinterBusyError(AdapterError):
    """The printer refuses file access right now (Bambu answers 550 to listings while printing)."""


class ResumeUnsupportedError(AdapterError):
    """The source cannot continue a transfer where it stopped; start again from byte 0."""


class FileManagerError(Exception):
    """A request the file manager refuses; `code` names the reason (a translation key)."""

    code = "file_error"

    def __init__(self, message: str, **placeholders: str) -> None:
        super().__init__(message)
        self.placeholders = placeholders


class UnknownPrinterError(FileManagerError):
    """No file source is registered for that serial."""

    code = "unknown_printer"


class UnknownFileError(FileManagerError):
    """The printer's listing has no such file (maybe it vanished since)."""

    code = "unknown_file"


class UnknownDownloadError(FileManagerError):
    """No download with that id (ids do not survive a restart)."""

    code = "unknown_download"


class FileTooLargeError(FileManagerError):
    """The file is bigger than the configured limit."""

    code = "file_too_large"


class NotEnoughSpaceError(FileManagerError):
    """The download folder's disk would fall below the configured free space."""

    code = "not_enough_space"


class FileInUseError(FileManagerError):
    """The printer is printing this file; it is never deleted."""

    code = "file_in_use"
