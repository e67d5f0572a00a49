"""Job history core: pure lifecycle rules and the stored record (no Home Assistant imports)."""

from .lifecycle import (
    EventKind,
    JobEvent,
    JobIdentity,
    JobTracker,
    finish_record,
    planned_materials,
    used_materials,
    with_costs,
    with_metadata,
)
from .records import JobRecord, JobStatus, MaterialUse

__all__ = [
    "EventKind",
    "JobEvent",
    "JobIdentity",
    "JobRecord",
    "JobStatus",
    "JobTracker",
    "MaterialUse",
    "finish_record",
    "planned_materials",
    "used_materials",
    "with_costs",
    "with_metadata",
]
