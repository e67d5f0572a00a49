"""Moved: the job actions are `actions/jobs.py`, the helpers actions share `actions/common.py`.

Only `actions/files.py` (written as this moved) still imports the helpers from here under their
old names, and a committed `__init__.py` may still set up the job actions by the old name;
delete this module once both import from `actions`.
"""

from .actions.common import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_DEVICE_ID,
    IDS as _IDS,
    MAX_PLACEHOLDER,
    error as _error,
    loaded_entries as _loaded_entries,
    safe as _safe,
    string as _string,
    targets as _targets,
    whole as _whole,
)
from .actions.jobs import async_setup_job_actions as async_setup_services

__all__ = [
    "ATTR_CONFIG_ENTRY_ID",
    "ATTR_DEVICE_ID",
    "MAX_PLACEHOLDER",
    "_IDS",
    "_error",
    "_loaded_entries",
    "_safe",
    "_string",
    "_targets",
    "_whole",
    "async_setup_services",
]
