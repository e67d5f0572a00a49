"""The bus events we fire and the device triggers and event-entity types built on them.

Every event carries the printer's `device_id`, `serial` and `printer_name`; job events add the
job fields, their `cost` (gross) a number with two decimals beside its `currency`, as action
responses give money. A device trigger is an event trigger on one of these events, matched on
the device and, where needed, one more field, so automations and the event entity see the same
thing.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

EVENT_JOB_STARTED: Final = "printernizer_job_started"
EVENT_JOB_PROGRESS: Final = "printernizer_job_progress"
EVENT_JOB_PAUSED: Final = "printernizer_job_paused"
EVENT_JOB_RESUMED: Final = "printernizer_job_resumed"
EVENT_JOB_FINISHED: Final = "printernizer_job_finished"
EVENT_STATUS_CHANGED: Final = "printernizer_printer_status_changed"
# A code the printer did not report before: code, severity, module and wiki url.
EVENT_PRINTER_ERROR: Final = "printernizer_printer_error"

ATTR_DEVICE_ID: Final = "device_id"
ATTR_STATUS: Final = "status"

PRINT_STARTED: Final = "print_started"
PRINT_FINISHED: Final = "print_finished"
PRINT_FAILED: Final = "print_failed"
PRINT_CANCELLED: Final = "print_cancelled"
PRINT_PAUSED: Final = "print_paused"
PRINT_RESUMED: Final = "print_resumed"
PRINTER_ERROR: Final = "error"
PRINTER_ERROR_CODE: Final = "error_code"  # a new error code (HMS, print error), not the status

# Trigger (and event entity) type -> the bus event and the fields besides device_id it matches.
TRIGGERS: Final = MappingProxyType(
    {
        PRINT_STARTED: (EVENT_JOB_STARTED, MappingProxyType({})),
        PRINT_FINISHED: (EVENT_JOB_FINISHED, MappingProxyType({ATTR_STATUS: "completed"})),
        PRINT_FAILED: (EVENT_JOB_FINISHED, MappingProxyType({ATTR_STATUS: "failed"})),
        PRINT_CANCELLED: (EVENT_JOB_FINISHED, MappingProxyType({ATTR_STATUS: "cancelled"})),
        PRINT_PAUSED: (EVENT_JOB_PAUSED, MappingProxyType({})),
        PRINT_RESUMED: (EVENT_JOB_RESUMED, MappingProxyType({})),
        PRINTER_ERROR: (EVENT_STATUS_CHANGED, MappingProxyType({ATTR_STATUS: "error"})),
        PRINTER_ERROR_CODE: (EVENT_PRINTER_ERROR, MappingProxyType({})),
    }
)
TRIGGER_TYPES: Final = tuple(TRIGGERS)
