"""The fleet dashboard: built-in Lovelace cards only, so it works on any HA without add-ons.

One stack per printer (live state, the job's preview, controls, totals, recent jobs) and
fleet-wide graphs of cost, material per type and temperatures. Rows carry short names: the card
title already says which printer it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .stack import DemoPrinter

DASHBOARD_URL = "printer-fleet"  # HA wants a hyphen in a dashboard's URL

_LIVE = (
    ("status", "Status"),
    ("stage", "Stage"),
    ("job_name", "Job"),
    ("progress", "Progress"),
    ("remaining_time", "Remaining time"),
    ("nozzle_temperature", "Nozzle"),
    ("bed_temperature", "Bed"),
    ("chamber_temperature", "Chamber"),
)
_TOTALS = (
    ("jobs_completed", "Jobs completed"),
    ("cost_total", "Total cost"),
    ("material_used", "Material used"),
    ("last_job_cost", "Last job cost"),
    ("job_cost", "Current job cost"),
)
# The fleet's grams per type: the P1S's plate is PLA and PETG, the MK4 prints PLA.
MATERIALS = ["printernizer:material_pla", "printernizer:material_petg"]
_BUTTONS = (("pause", "Pause", "mdi:pause"), ("resume", "Resume", "mdi:play"),
            ("stop", "Stop", "mdi:stop"))  # fmt: skip


def _rows(printer: DemoPrinter, fields: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """Entity rows for the fields this printer has (the MK4 has no chamber sensor)."""
    return [
        {"entity": printer.entities[key], "name": name}
        for key, name in fields
        if key in printer.entities
    ]


def _printer_stack(printer: DemoPrinter) -> dict[str, Any]:
    buttons = [
        {
            "type": "button", "name": name, "icon": icon, "entity": printer.entities[key],
            "show_state": False,
            "tap_action": {
                "action": "perform-action", "perform_action": "button.press",
                "target": {"entity_id": printer.entities[key]},
            },
        }
        for key, name, icon in _BUTTONS
    ]  # fmt: skip
    recent = [printer.entities[key] for key in ("print", "status") if key in printer.entities]
    return {
        "type": "vertical-stack",
        "cards": [
            {"type": "entities", "title": printer.title, "entities": _rows(printer, _LIVE)},
            {
                "type": "picture-entity",
                "entity": printer.entities["job_preview"],
                "show_name": False,
                "show_state": False,
            },
            {"type": "horizontal-stack", "cards": buttons},
            {"type": "entities", "title": "Jobs and costs", "entities": _rows(printer, _TOTALS)},
            {"type": "logbook", "title": "Recent jobs", "entities": recent, "hours_to_show": 24},
        ],
    }


def dashboard_config(printers: Sequence[DemoPrinter]) -> dict[str, Any]:
    """The dashboard's Lovelace config for these printers."""
    temperatures = [
        {"entity": printer.entities[key], "name": f"{printer.title} {name.lower()}"}
        for printer in printers
        for key, name in (("nozzle_temperature", "Nozzle"), ("bed_temperature", "Bed"))
    ]
    costs = [printer.entities["cost_total"] for printer in printers]
    fleet = [
        {
            "type": "statistics-graph", "title": "Total cost", "entities": costs,
            "chart_type": "line", "period": "5minute", "days_to_show": 1,
            "stat_types": ["state"],
        },
        {
            "type": "statistics-graph", "title": "Material per type", "entities": MATERIALS,
            "chart_type": "bar", "period": "day", "days_to_show": 7, "stat_types": ["change"],
        },
        {"type": "history-graph", "title": "Temperatures", "hours_to_show": 1,
         "entities": temperatures},
    ]  # fmt: skip
    return {
        "title": "Printers",
        "views": [
            {
                "title": "Fleet",
                "path": "fleet",
                "icon": "mdi:printer-3d",
                "cards": [_printer_stack(printer) for printer in printers] + fleet,
            }
        ],
    }
