"""The fleet's `files` options section: limits for downloads, timelapses, how long copies stay.

The fleet options flow stores them as one section, `{"files": {...}}`, holding only what the
user set; everything unset reads as the default here, so an older fleet entry needs no
migration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import math
from typing import Any, Final

from .files.model import FileLimits

CONF_FILES: Final = "files"
OPT_AUTO_TIMELAPSE: Final = "auto_timelapse"
OPT_MAX_FILE_MB: Final = "max_file_size_mb"
OPT_MIN_FREE_MB: Final = "min_free_space_mb"
OPT_KEEP_DAYS: Final = "keep_days"

_MB: Final = 1024 * 1024
_DEFAULT_LIMITS: Final = FileLimits()
DEFAULT_MAX_FILE_MB: Final = _DEFAULT_LIMITS.max_file_bytes // _MB
DEFAULT_MIN_FREE_MB: Final = _DEFAULT_LIMITS.min_free_bytes // _MB
MAX_FILE_MB: Final = 100 * 1024  # 100 GB: no print file or timelapse comes near it
MAX_FREE_MB: Final = 10 * 1024 * 1024
MAX_KEEP_DAYS: Final = 3650


@dataclass(frozen=True, slots=True, kw_only=True)
class FileSettings:
    """The fleet's file settings, read and bounded.

    `keep_days` of 0 keeps local copies until a user cleans them up.
    """

    limits: FileLimits
    auto_timelapse: bool = False
    keep_days: int = 0


def _whole(value: Any, default: int, high: int) -> int:
    """A stored number as a whole number in 0..high; anything else is the default."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return min(max(int(value), 0), high)


def file_settings(fleet: Mapping[str, Any]) -> FileSettings:
    """The file settings in the fleet's options; unset or unreadable values are the defaults."""
    section = fleet.get(CONF_FILES)
    values: Mapping[str, Any] = section if isinstance(section, Mapping) else {}
    max_mb = _whole(values.get(OPT_MAX_FILE_MB), DEFAULT_MAX_FILE_MB, MAX_FILE_MB)
    free_mb = _whole(values.get(OPT_MIN_FREE_MB), DEFAULT_MIN_FREE_MB, MAX_FREE_MB)
    return FileSettings(
        limits=FileLimits(max_file_bytes=max(max_mb, 1) * _MB, min_free_bytes=free_mb * _MB),
        auto_timelapse=values.get(OPT_AUTO_TIMELAPSE) is True,
        keep_days=_whole(values.get(OPT_KEEP_DAYS), 0, MAX_KEEP_DAYS),
    )
