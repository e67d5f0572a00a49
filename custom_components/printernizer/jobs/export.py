"""Job exports an accountant can open: rows streamed to CSV (two locales), JSON lines or array.

No Home Assistant imports; the caller opens the file (text, UTF-8, `newline=""`) under a path of
its choosing, typically named by `export_filename`, and passes the records in the order wanted.
Rows are produced and written one at a time, so memory stays flat however many jobs there are.

Cells are what each job's record holds: unknown amounts are empty cells (null in JSON), never 0.
Money is the stored breakdown's, each amount in cents. Text from users or printers is made safe
to open: a lone UTF-16 surrogate becomes U+FFFD, control characters other than tab, line feed
and carriage return go, and in CSV a cell starting with `=`, `+`, `-`, `@`, tab or carriage
return gets a leading `'`, so a spreadsheet shows it as text instead of running it as a formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
import csv
from dataclasses import dataclass, field
from datetime import date, tzinfo
from decimal import Decimal
import json
import re
from typing import Any, NamedTuple, Protocol

from ..costs import material_type
from .analytics import Period, money
from .records import JobRecord, JobStatus

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_FORMULA = frozenset("=+-@\t\r")
_SLUG = re.compile(r"[^A-Za-z0-9_]+")
EXTENSIONS = frozenset({"csv", "json", "jsonl"})

COLUMNS = (
    "date",
    "printer",
    "job",
    "status",
    "duration_h",
    "material_types",
    "grams",
    "material_cost",
    "energy_kwh",
    "energy_cost",
    "wear",
    "net",
    "vat_rate",
    "vat",
    "gross",
    "currency",
    "category",
    "customer",
    "project",
    "notes",
)


class Writable(Protocol):
    """A text file opened by the caller."""

    def write(self, text: str, /) -> int:
        """Write text."""
        ...  # pragma: no cover - protocol


class ExportRow(NamedTuple):
    """One job as exported; None is unknown. `duration_h` is print time (pauses excluded)."""

    date: date
    printer: str
    job: str
    status: str
    duration_h: float | None
    material_types: tuple[str, ...]
    grams: float | None
    material_cost: Decimal | None
    energy_kwh: float | None
    energy_cost: Decimal | None
    wear: Decimal | None
    net: Decimal | None
    vat_rate: Decimal | None  # percent
    vat: Decimal | None
    gross: Decimal | None
    currency: str | None
    category: str | None
    customer: str | None
    project: str | None
    notes: str | None


def clean(text: str) -> str:
    """Text any encoder and spreadsheet accepts (see the module docstring)."""
    return text if text.isprintable() else _CONTROL.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    return "\ufffd" if match.group() >= "\ud800" else ""


def _known(value: float | None) -> float | None:
    return value if value is not None and 0 <= value < float("inf") else None


def export_row(record: JobRecord, tz: tzinfo) -> ExportRow:
    """A record as a row: the local date it started, grams only when every line knows them."""
    cost = record.cost if type(record.cost) is dict else {}
    grams: float | None = 0.0
    types: dict[str, None] = {}
    for use in record.materials:
        types[material_type(use.material).value] = None
        known = _known(use.grams)
        grams = None if grams is None or known is None else grams + known
    if not record.materials:
        grams = None
    net, vat, gross = (money(cost.get(name)) for name in ("net", "vat", "gross"))
    if net is None or vat is None or gross is None:
        net = vat = gross = None
    seconds = _known(record.print_seconds)
    currency = cost.get("currency")
    return ExportRow(
        date=record.started_at.astimezone(tz).date(),
        printer=record.printer_name,
        job=record.job_name or record.file or "",
        status=str(record.status),
        duration_h=None if seconds is None else seconds / 3600,
        material_types=tuple(types),
        grams=grams,
        material_cost=money(cost.get("material")),
        energy_kwh=_known(record.energy_kwh),
        energy_cost=money(cost.get("energy")),
        wear=money(cost.get("wear")),
        net=net,
        vat_rate=money(cost.get("vat_percent")),
        vat=vat,
        gross=gross,
        currency=currency if type(currency) is str else None,
        category=record.category,
        customer=record.customer,
        project=record.project,
        notes=record.notes,
    )


def export_rows(records: Iterable[JobRecord], tz: tzinfo) -> Iterator[ExportRow]:
    """Rows of the records, one at a time, in their order."""
    for record in records:
        yield export_row(record, tz)


@dataclass(slots=True)
class ExportSummary:
    """What an export wrote: rows, and money per currency over the rows that know it."""

    rows: int = 0
    rows_without_cost: int = 0
    grams: float = 0.0
    energy_kwh: float = 0.0
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # currency -> net, ...

    def add(self, row: ExportRow) -> None:
        """Count a row written."""
        self.rows += 1
        self.grams += row.grams or 0.0
        self.energy_kwh += row.energy_kwh or 0.0
        if row.net is None or row.vat is None or row.gross is None or row.currency is None:
            self.rows_without_cost += 1
            return
        total = self.totals.setdefault(
            row.currency, {"net": Decimal(0), "vat": Decimal(0), "gross": Decimal(0)}
        )
        total["net"] += row.net
        total["vat"] += row.vat
        total["gross"] += row.gross

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly values."""
        return {
            "rows": self.rows,
            "rows_without_cost": self.rows_without_cost,
            "grams": round(self.grams, 2),
            "energy_kwh": round(self.energy_kwh, 3),
            "totals": {
                currency: {name: str(amount) for name, amount in amounts.items()}
                for currency, amounts in sorted(self.totals.items())
            },
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CsvFormat:
    """How numbers, dates and labels are written for one locale's spreadsheets."""

    name: str
    delimiter: str
    decimal: str
    german_dates: bool
    bom: bool
    headers: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # status and category values

    def number(self, value: float | Decimal | None, places: int) -> str:
        """A number with a fixed count of places and this locale's decimal mark."""
        if value is None:
            return ""
        text = f"{value:.{places}f}"
        return text if self.decimal == "." else text.replace(".", self.decimal)

    def date(self, value: date) -> str:
        """A date as this locale writes it."""
        if self.german_dates:
            return f"{value.day:02d}.{value.month:02d}.{value.year:04d}"
        return value.isoformat()


INTERNATIONAL = CsvFormat(
    name="international", delimiter=",", decimal=".", german_dates=False, bom=False, headers=COLUMNS
)
GERMAN = CsvFormat(
    name="german",
    delimiter=";",
    decimal=",",
    german_dates=True,
    bom=True,
    headers=(
        "Datum",
        "Drucker",
        "Auftrag",
        "Status",
        "Dauer (h)",
        "Material",
        "Gramm",
        "Materialkosten",
        "Energie (kWh)",
        "Energiekosten",
        "Verschleiß",
        "Netto",
        "USt-Satz (%)",
        "USt",
        "Brutto",
        "Währung",
        "Kategorie",
        "Kunde",
        "Projekt",
        "Notizen",
    ),
    labels={
        JobStatus.ACTIVE: "läuft",
        JobStatus.COMPLETED: "abgeschlossen",
        JobStatus.CANCELLED: "abgebrochen",
        JobStatus.FAILED: "fehlgeschlagen",
        JobStatus.UNKNOWN: "unbekannt",
        "business": "geschäftlich",
        "private": "privat",
    },
)
FORMATS = {INTERNATIONAL.name: INTERNATIONAL, GERMAN.name: GERMAN}


def csv_cell(text: str | None) -> str:
    """A text cell made safe to open in a spreadsheet (see the module docstring)."""
    if not text:
        return ""
    text = clean(text)
    return f"'{text}" if text[:1] in _FORMULA else text


def csv_fields(row: ExportRow, fmt: CsvFormat) -> list[str]:
    """A row's cells in `fmt`."""
    number = fmt.number
    labels = fmt.labels
    category = row.category
    return [
        fmt.date(row.date),
        csv_cell(row.printer),
        csv_cell(row.job),
        csv_cell(labels.get(row.status, row.status)),
        number(row.duration_h, 2),
        csv_cell("+".join(row.material_types)),
        number(row.grams, 2),
        number(row.material_cost, 2),
        number(row.energy_kwh, 3),
        number(row.energy_cost, 2),
        number(row.wear, 2),
        number(row.net, 2),
        number(row.vat_rate, 2),
        number(row.vat, 2),
        number(row.gross, 2),
        csv_cell(row.currency),
        csv_cell(labels.get(category, category) if category else None),
        csv_cell(row.customer),
        csv_cell(row.project),
        csv_cell(row.notes),
    ]


def write_csv(file: Writable, rows: Iterable[ExportRow], fmt: CsvFormat) -> ExportSummary:
    """Write a header and the rows; the German format starts with a UTF-8 BOM for Excel."""
    if fmt.bom:
        file.write("\ufeff")
    writer = csv.writer(file, delimiter=fmt.delimiter, lineterminator="\r\n")
    writer.writerow(fmt.headers)
    summary = ExportSummary()
    for row in rows:
        writer.writerow(csv_fields(row, fmt))
        summary.add(row)
    return summary


def _text(value: str | None) -> str | None:
    return None if value is None else clean(value)


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def json_row(row: ExportRow) -> dict[str, Any]:
    """A row as JSON values: amounts as strings with 2 places (exact), as in action responses."""
    return {
        "date": row.date.isoformat(),
        "printer": clean(row.printer),
        "job": clean(row.job),
        "status": row.status,
        "duration_h": None if row.duration_h is None else round(row.duration_h, 4),
        "material_types": list(row.material_types),
        "grams": None if row.grams is None else round(row.grams, 2),
        "material_cost": _amount(row.material_cost),
        "energy_kwh": None if row.energy_kwh is None else round(row.energy_kwh, 3),
        "energy_cost": _amount(row.energy_cost),
        "wear": _amount(row.wear),
        "net": _amount(row.net),
        "vat_rate": _amount(row.vat_rate),
        "vat": _amount(row.vat),
        "gross": _amount(row.gross),
        "currency": _text(row.currency),
        "category": _text(row.category),
        "customer": _text(row.customer),
        "project": _text(row.project),
        "notes": _text(row.notes),
    }


def _dumps(row: ExportRow) -> str:
    return json.dumps(json_row(row), ensure_ascii=False, separators=(",", ":"))


def write_json_lines(file: Writable, rows: Iterable[ExportRow]) -> ExportSummary:
    """One JSON object per line."""
    summary = ExportSummary()
    for row in rows:
        file.write(_dumps(row) + "\n")
        summary.add(row)
    return summary


def write_json_array(file: Writable, rows: Iterable[ExportRow]) -> ExportSummary:
    """One JSON array, an object per line, written as the rows come."""
    summary = ExportSummary()
    file.write("[")
    for row in rows:
        file.write(("\n" if not summary.rows else ",\n") + _dumps(row))
        summary.add(row)
    file.write("\n]\n" if summary.rows else "]\n")
    return summary


def export_filename(period: Period, extension: str, *, tag: str | None = None) -> str:
    """A safe dated name like `printernizer-jobs-2026-11.csv`; `tag` is any text to add.

    Only letters, digits, `_` and single `-` survive, so no path part or dot can come from the
    period or tag.
    """
    if extension not in EXTENSIONS:
        raise ValueError(f"extension must be one of {sorted(EXTENSIONS)}, got {extension!r}")
    parts = ["printernizer", "jobs", period.label, *([tag] if tag else [])]
    slug = "-".join(part for part in (_SLUG.sub("-", part).strip("-") for part in parts) if part)
    return f"{slug[:120].rstrip('-')}.{extension}"
