"""Reading exported files in tests, and the values a spreadsheet would run.

Each export's tests put these values into real data (a nickname, a product title,
a coupon name, an event path, a refund reason...) and check that the CSV and the
XLSX hold them with a leading apostrophe and no formula cell.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import load_workbook

#: value -> how the file must hold it
HOSTILE: dict[str, str] = {
    '=HYPERLINK("http://x","y")': '\'=HYPERLINK("http://x","y")',
    "+1": "'+1",
    "-1+2": "'-1+2",
    "@SUM(A1)": "'@SUM(A1)",
    "\t=1+1": "'\t=1+1",
    "\r=1+1": "'\r=1+1",
}
#: the same as an XLSX reads back (XML turns a carriage return into a line feed)
HOSTILE_XLSX: dict[str, str] = {value: held.replace("\r", "\n") for value, held in HOSTILE.items()}


def csv_rows(response: Any) -> list[list[str]]:
    """The rows of a CSV answer (streamed or not), with its BOM checked."""
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode("utf-8")
    assert body.startswith("\ufeff"), "a CSV for Excel starts with a BOM"
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"), newline="")))


def xlsx_rows(response: Any) -> list[list[Any]]:
    """The cell values of an XLSX answer's first sheet, having checked that no cell
    is a formula."""
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = []
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"formula cell {cell.coordinate}: {cell.value!r}"
        rows.append([cell.value for cell in row])
    return rows


def column(rows: list[list[Any]], index: int) -> list[Any]:
    """The values of column ``index`` (0-based), after the header row. (Headers are
    translated into the operator's language, so tests find columns by position.)"""
    return [row[index] for row in rows[1:]]
