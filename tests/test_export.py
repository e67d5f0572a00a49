"""Job exports: rows from records, CSV round trips in both formats, JSON, names, flat memory."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
import json
import os
from pathlib import Path
import tracemalloc
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.printernizer.jobs.analytics import (
    PeriodKind,
    calendar_period,
    custom_period,
)
from custom_components.printernizer.jobs.export import (
    COLUMNS,
    FORMATS,
    GERMAN,
    INTERNATIONAL,
    CsvFormat,
    ExportRow,
    clean,
    csv_cell,
    export_filename,
    export_row,
    export_rows,
    json_row,
    write_csv,
    write_json_array,
    write_json_lines,
)
from custom_components.printernizer.jobs.records import JobRecord, JobStatus, MaterialUse

BERLIN = ZoneInfo("Europe/Berlin")
COST = {
    "currency": "EUR",
    "material": "2.70",
    "energy": "0.30",
    "wear": "0.40",
    "net": "3.40",
    "vat": "0.65",
    "gross": "4.05",
    "vat_percent": "19.00",
    "lines": [{"cost": "2.00"}, {"cost": "0.70"}],
}
# Started 31 Oct 23:30 UTC: 1 Nov 00:30 in Berlin, the date it is exported with.
STARTED = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
RECORD = JobRecord(
    id="j1",
    serial="S1",
    printer_name="X1C Werkstatt",
    started_at=STARTED,
    updated_at=STARTED + timedelta(hours=2),
    status=JobStatus.COMPLETED,
    job_name="Halter v2",
    file="halter_v2.3mf",
    ended_at=STARTED + timedelta(hours=2),
    duration_seconds=7200.0,
    paused_seconds=900.0,
    materials=(
        MaterialUse(material="PLA Basic", color="FF0000FF", planned_grams=100.0, grams=100.0),
        MaterialUse(material="PETG HF", planned_grams=23.456, grams=23.456),
        MaterialUse(material="PLA Matte", planned_grams=1.0, grams=1.0),
    ),
    energy_kwh=0.4567,
    cost=COST,
    category="business",
    customer="Müller GmbH",
    project="A-1001",
    notes="Kunde holt ab",
)
UNPRICED = JobRecord(
    id="j2",
    serial="S1",
    printer_name="X1C Werkstatt",
    started_at=STARTED,
    updated_at=STARTED,
    status=JobStatus.FAILED,
    file="test.gcode",
    ended_at=STARTED,
    materials=(MaterialUse(material="PLA", grams=None), MaterialUse(material="PLA", grams=5.0)),
)
HOSTILE = {
    "printer": "=cmd|' /C calc'!A0",
    "job": "+SUM(A1:A9)",
    "customer": "-2+3",
    "project": "@SUM(1)",
    "notes": "\tTab first",
}
HOSTILE_NOTES = [
    "\rCR first",
    'separators , and ; "quoted" and\nnew\r\nlines',
    "a lone \ud800 surrogate",
    "nul\x00 and bell\x07",
    "plain",
    "",
]
NEUTRALISED = {
    "printer": "'=cmd|' /C calc'!A0",
    "job": "'+SUM(A1:A9)",
    "customer": "'-2+3",
    "project": "'@SUM(1)",
    "notes": "'\tTab first",
}
NOTES_READ_BACK = [
    "'\rCR first",
    'separators , and ; "quoted" and\nnew\r\nlines',
    "a lone \ufffd surrogate",
    "nul and bell",
    "plain",
    "",
]


def hostile_rows() -> list[ExportRow]:
    row = export_row(RECORD, BERLIN)
    rows = [row._replace(**HOSTILE)]
    rows += [row._replace(notes=notes, currency="€;,\n") for notes in HOSTILE_NOTES]
    return rows


def read_csv(path: Path, fmt: CsvFormat) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as file:
        return list(csv.reader(file, delimiter=fmt.delimiter))


def write(path: Path, rows: Any, fmt: CsvFormat) -> Any:
    with path.open("w", newline="", encoding="utf-8") as file:
        return write_csv(file, rows, fmt)


def test_a_record_as_a_row() -> None:
    row = export_row(RECORD, BERLIN)
    assert row.date == date(2026, 11, 1)  # the local date: the job started after midnight
    assert (row.printer, row.job, row.status) == ("X1C Werkstatt", "Halter v2", "completed")
    assert row.duration_h == 1.75  # print time: 2 h less 15 min paused
    assert row.material_types == ("PLA", "PETG")
    assert row.grams == pytest.approx(124.456)
    assert (row.material_cost, row.energy_cost, row.wear) == (
        Decimal("2.70"),
        Decimal("0.30"),
        Decimal("0.40"),
    )
    assert (row.net, row.vat_rate, row.vat, row.gross) == (
        Decimal("3.40"),
        Decimal("19.00"),
        Decimal("0.65"),
        Decimal("4.05"),
    )
    assert (row.currency, row.category, row.customer, row.project) == (
        "EUR",
        "business",
        "Müller GmbH",
        "A-1001",
    )


def test_unknown_is_empty_never_zero() -> None:
    row = export_row(UNPRICED, BERLIN)
    assert row.job == "test.gcode"  # no job name: the file
    assert (row.grams, row.duration_h, row.energy_kwh, row.net, row.currency) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert (
        export_row(UNPRICED.__class__(**{**_fields(UNPRICED), "materials": ()}), BERLIN).grams
        is None
    )
    half = export_row(_with(RECORD, cost={**COST, "vat": None}), BERLIN)
    assert (half.net, half.vat, half.gross, half.material_cost) == (
        None,
        None,
        None,
        Decimal("2.70"),
    )


def _fields(record: JobRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def _with(record: JobRecord, **changes: Any) -> JobRecord:
    return JobRecord(**{**_fields(record), **changes})


def test_international_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    summary = write(path, export_rows([RECORD, UNPRICED], BERLIN), INTERNATIONAL)
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    header, first, second = read_csv(path, INTERNATIONAL)
    assert tuple(header) == COLUMNS
    assert dict(zip(COLUMNS, first, strict=True)) == {
        "date": "2026-11-01",
        "printer": "X1C Werkstatt",
        "job": "Halter v2",
        "status": "completed",
        "duration_h": "1.75",
        "material_types": "PLA+PETG",
        "grams": "124.46",
        "material_cost": "2.70",
        "energy_kwh": "0.457",
        "energy_cost": "0.30",
        "wear": "0.40",
        "net": "3.40",
        "vat_rate": "19.00",
        "vat": "0.65",
        "gross": "4.05",
        "currency": "EUR",
        "category": "business",
        "customer": "Müller GmbH",
        "project": "A-1001",
        "notes": "Kunde holt ab",
    }
    unknown = dict(zip(COLUMNS, second, strict=True))
    assert unknown["status"] == "failed"
    for column in ("duration_h", "grams", "energy_kwh", "net", "vat", "gross", "category"):
        assert unknown[column] == "", column
    assert summary.as_dict() == {
        "rows": 2,
        "rows_without_cost": 1,
        "grams": 124.46,
        "energy_kwh": 0.457,
        "totals": {"EUR": {"net": "3.40", "vat": "0.65", "gross": "4.05"}},
    }


def test_german_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    write(path, export_rows([RECORD], BERLIN), GERMAN)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with it
    assert b"\r\n" in data
    header, row = read_csv(path, GERMAN)
    assert header[:3] == ["Datum", "Drucker", "Auftrag"]
    cells = dict(zip(COLUMNS, row, strict=True))
    assert cells["date"] == "01.11.2026"
    assert (cells["status"], cells["category"]) == ("abgeschlossen", "geschäftlich")
    assert (cells["grams"], cells["net"], cells["vat_rate"], cells["energy_kwh"]) == (
        "124,46",
        "3,40",
        "19,00",
        "0,457",
    )
    assert cells["duration_h"] == "1,75"
    assert FORMATS == {"international": INTERNATIONAL, "german": GERMAN}


@pytest.mark.parametrize("fmt", [INTERNATIONAL, GERMAN], ids=lambda fmt: fmt.name)
def test_hostile_text_round_trips_neutralised(tmp_path: Path, fmt: CsvFormat) -> None:
    path = tmp_path / "jobs.csv"
    summary = write(path, hostile_rows(), fmt)
    header, *rows = read_csv(path, fmt)
    assert len(rows) == summary.rows == 1 + len(HOSTILE_NOTES)
    first = dict(zip(COLUMNS, rows[0], strict=True))
    for column, expected in NEUTRALISED.items():
        assert first[column] == expected, column
    for row, expected in zip(rows[1:], NOTES_READ_BACK, strict=True):
        cells = dict(zip(COLUMNS, row, strict=True))
        assert cells["notes"] == expected
        assert cells["currency"] == "€;,\n"
        assert len(row) == len(header)
    # Nothing the writer let through starts a formula.
    for row in rows:
        for cell in row:
            assert cell[:1] not in ("=", "+", "@", "\t", "\r") or cell.startswith("'")


def test_a_record_notes_with_a_formula_are_neutralised(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    record = _with(RECORD, notes='=HYPERLINK("http://x")\nsecond line', customer="-1")
    write(path, export_rows([record], BERLIN), INTERNATIONAL)
    cells = dict(zip(COLUMNS, read_csv(path, INTERNATIONAL)[1], strict=True))
    assert cells["notes"] == '\'=HYPERLINK("http://x")\nsecond line'
    assert cells["customer"] == "'-1"


def test_cells_and_clean_text() -> None:
    assert csv_cell(None) == csv_cell("") == ""
    assert csv_cell("=1") == "'=1"
    assert csv_cell("a=1") == "a=1"
    assert clean("ok\ttab\nline") == "ok\ttab\nline"
    assert clean("\x1b[31mred\ud83d") == "[31mred\ufffd"
    assert INTERNATIONAL.number(None, 2) == ""
    assert GERMAN.number(Decimal("1234.5"), 2) == "1234,50"


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    with path.open("w", encoding="utf-8") as file:
        summary = write_json_lines(
            file, [*export_rows([RECORD, UNPRICED], BERLIN), *hostile_rows()]
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == summary.rows == 3 + len(HOSTILE_NOTES)
    first, unknown = json.loads(lines[0]), json.loads(lines[1])
    assert list(first) == list(COLUMNS)
    assert first["date"] == "2026-11-01"
    assert first["material_types"] == ["PLA", "PETG"]
    assert (first["grams"], first["energy_kwh"], first["duration_h"]) == (124.46, 0.457, 1.75)
    assert (first["net"], first["gross"], first["vat_rate"]) == ("3.40", "4.05", "19.00")
    assert (unknown["grams"], unknown["net"], unknown["category"]) == (None, None, None)
    # JSON is no spreadsheet: formulas stay as they are, text is still cleaned.
    assert json.loads(lines[2])["printer"] == HOSTILE["printer"]
    assert [json.loads(line)["notes"] for line in lines[3:]] == [
        "\rCR first",
        *NOTES_READ_BACK[1:],
    ]


def test_json_array(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    with path.open("w", encoding="utf-8") as file:
        summary = write_json_array(file, export_rows([RECORD, UNPRICED], BERLIN))
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [item["status"] for item in data] == ["completed", "failed"]
    assert summary.rows == 2
    assert data[0] == json_row(export_row(RECORD, BERLIN))
    with path.open("w", encoding="utf-8") as file:
        assert write_json_array(file, iter(())).rows == 0
    assert json.loads(path.read_text(encoding="utf-8")) == []


def test_totals_are_kept_per_currency() -> None:
    dollars = export_row(_with(RECORD, cost={**COST, "currency": "USD"}), BERLIN)
    with open(os.devnull, "w", encoding="utf-8") as sink:
        summary = write_json_lines(sink, [export_row(RECORD, BERLIN), dollars, dollars])
    assert summary.as_dict()["totals"] == {
        "EUR": {"net": "3.40", "vat": "0.65", "gross": "4.05"},
        "USD": {"net": "6.80", "vat": "1.30", "gross": "8.10"},
    }


def test_file_names_are_dated_and_safe() -> None:
    month = calendar_period(PeriodKind.MONTH, datetime(2026, 11, 15, tzinfo=UTC), BERLIN)
    assert export_filename(month, "csv") == "printernizer-jobs-2026-11.csv"
    week = calendar_period(PeriodKind.WEEK, datetime(2026, 11, 4, tzinfo=UTC), BERLIN)
    assert export_filename(week, "jsonl") == "printernizer-jobs-2026-W45.jsonl"
    custom = custom_period(date(2026, 11, 3), date(2026, 11, 20), BERLIN)
    assert export_filename(custom, "json") == "printernizer-jobs-2026-11-03_2026-11-20.json"
    assert export_filename(month, "csv", tag="../../etc/passwd") == (
        "printernizer-jobs-2026-11-etc-passwd.csv"
    )
    assert export_filename(month, "csv", tag="Müller / X1C\\..") == (
        "printernizer-jobs-2026-11-M-ller-X1C.csv"
    )
    assert export_filename(month, "csv", tag="/../") == "printernizer-jobs-2026-11.csv"
    long = export_filename(month, "csv", tag="x" * 500)
    assert len(long) <= 124
    assert long.endswith(".csv")
    with pytest.raises(ValueError, match="extension"):
        export_filename(month, "csv/../x")


def test_memory_stays_flat_while_streaming() -> None:
    """Five times the rows, no more memory: one row at a time is held, not the export."""

    def records(count: int) -> Any:
        for index in range(count):
            yield _with(RECORD, id=str(index), notes=f"note {index}")

    def peak(count: int) -> int:
        with open(os.devnull, "w", encoding="utf-8", newline="") as sink:
            tracemalloc.start()
            try:
                assert write_csv(sink, export_rows(records(count), BERLIN), GERMAN).rows == count
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    small, large = peak(1000), peak(5000)
    # Held as a list, 5000 rows take over 6 MB.
    assert large < small * 1.5
    assert large < 500_000
