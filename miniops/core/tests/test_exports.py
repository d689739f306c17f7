"""The one export path: formula cells escaped in CSV and XLSX alike, numbers and
times kept typed, CSV streamed, the permission checked and the audit row written."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.http import StreamingHttpResponse
from openpyxl import load_workbook

from miniops.accounts.models import Operator
from miniops.core import exports
from miniops.core.errors import Forbidden, InvalidInput
from miniops.core.exports import safe_cell, unescape_cell, yuan
from miniops.core.permissions import P
from miniops.testing import exports as testing_exports
from miniops.testing import factories

#: What a spreadsheet would run, and what our files must hold instead (with an
#: apostrophe already in front, so that an import can take ours off exactly).
HOSTILE = {**testing_exports.HOSTILE, "'=1+1": "''=1+1"}
HARMLESS = ["", "阿花", "a=b", "1+1", " =1", "'quoted", "50%"]


def csv_of(response: Any) -> tuple[str, list[list[str]]]:
    raw = b"".join(response.streaming_content).decode("utf-8")
    return raw, list(csv.reader(io.StringIO(raw.removeprefix("\ufeff"))))


def sheet_of(response: Any) -> Any:
    return load_workbook(io.BytesIO(response.content)).active


def export(
    rows: Any, *, fmt: str, actor: Any = None, permission: str = P.MEMBERS_EXPORT, **kw: Any
) -> Any:
    return exports.export(
        name="test",
        fmt=fmt,
        header=["text", "number"],
        rows=rows,
        actor=actor,
        permission=permission,
        model=Operator,
        description="test export",
        **kw,
    )


# --- cells ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "escaped"), HOSTILE.items())
def test_text_that_would_run_as_a_formula_gets_an_apostrophe(value: str, escaped: str) -> None:
    assert safe_cell(value) == escaped
    assert unescape_cell(escaped) == value


@pytest.mark.parametrize("value", HARMLESS)
def test_other_text_is_left_alone_and_survives_an_import(value: str) -> None:
    assert safe_cell(value) == value
    assert unescape_cell(value) == value


@pytest.mark.parametrize("value", [-5, -5.5, Decimal("-5.00"), 0, None, True, date(2026, 1, 2)])
def test_values_that_are_not_text_are_never_escaped(value: Any) -> None:
    assert safe_cell(value) is value


def test_yuan_is_an_exact_two_decimal_number() -> None:
    assert yuan(1234) == Decimal("12.34")
    assert str(yuan(1200)) == "12.00"
    assert str(yuan(-500)) == "-5.00"
    assert str(yuan(7)) == "0.07"


# --- CSV -----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_csv_escapes_text_but_writes_negative_numbers_as_numbers() -> None:
    # given hostile text, negative numbers and a time
    moment = datetime(2026, 3, 1, 16, 30, 5, tzinfo=UTC)  # 00:30:05 on 2 March in Shanghai
    rows = [[value, -5] for value in HOSTILE] + [["-1+1", yuan(-500)], [None, moment]]
    # when
    response = export(rows, fmt="csv")
    raw, table = csv_of(response)
    # then Excel gets a BOM, every hostile text an apostrophe, numbers stay bare
    assert raw.startswith("\ufeff")
    assert table[0] == ["text", "number"]
    assert [row[0] for row in table[1 : 1 + len(HOSTILE)]] == list(HOSTILE.values())
    assert {row[1] for row in table[1 : 1 + len(HOSTILE)]} == {"-5"}
    assert table[-2] == ["'-1+1", "-5.00"]
    assert table[-1] == ["", "2026-03-02 00:30:05"]
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="test-')
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.django_db
def test_csv_streams_the_rows_as_it_reads_them() -> None:
    # given a generator that records how far it was read
    read: list[int] = []

    def rows() -> Iterator[list[Any]]:
        for n in range(3):
            read.append(n)
            yield [f"row {n}", n]

    # when the export answers
    response = export(rows(), fmt="csv")
    # then nothing is read before the body is sent, and then everything
    assert isinstance(response, StreamingHttpResponse)
    assert read == []
    _raw, table = csv_of(response)
    assert read == [0, 1, 2]
    assert len(table) == 4


# --- XLSX ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_xlsx_text_cells_are_escaped_strings_and_numbers_stay_numbers() -> None:
    # given
    moment = datetime(2026, 3, 1, 16, 30, 5, tzinfo=UTC)
    rows = [[value, -5] for value in HOSTILE] + [
        ["-1+1", yuan(-500)],
        ["when", moment],
        ["day", date(2026, 3, 2)],
        ["ratio", -0.25],
    ]
    # when
    sheet = sheet_of(export(rows, fmt="xlsx"))
    cells = list(sheet.iter_rows(min_row=2))
    # then no cell is a formula and the text is what the CSV holds
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    # (XML reads a carriage return back as a line feed: still after the apostrophe)
    assert [row[0].value for row in cells[: len(HOSTILE)]] == [
        escaped.replace("\r", "\n") for escaped in HOSTILE.values()
    ]
    assert {row[0].data_type for row in cells[: len(HOSTILE)]} == {"s"}
    # and numbers are numbers: -5 is never the text "'-5"
    assert {row[1].value for row in cells[: len(HOSTILE)]} == {-5}
    negative = cells[len(HOSTILE)]
    assert negative[0].value == "'-1+1"
    assert (negative[1].value, negative[1].data_type, negative[1].number_format) == (
        -5,
        "n",
        "0.00",
    )
    # and times are local, dates are dates
    assert cells[len(HOSTILE) + 1][1].value == datetime(2026, 3, 2, 0, 30, 5)
    assert cells[len(HOSTILE) + 2][1].value.date() == date(2026, 3, 2)
    assert cells[len(HOSTILE) + 3][1].value == -0.25


@pytest.mark.django_db
def test_control_characters_xlsx_cannot_hold_are_dropped_in_both_formats() -> None:
    # given a nickname with a bell and a NUL before a formula
    rows = [["\x07\x00=1+1 阿花\x1f", 1]]
    # when
    sheet = sheet_of(export(rows, fmt="xlsx"))
    _raw, table = csv_of(export(rows, fmt="csv"))
    # then the file is written, the formula is still escaped, the text the same in both
    assert sheet.cell(row=2, column=1).value == "'=1+1 阿花"
    assert table[1][0] == "'=1+1 阿花"


# --- permission and audit ------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_is_audited_with_its_format_and_details(fmt: str) -> None:
    actor = factories.operator_with_role("ops_manager")
    export([["a", 1]], fmt=fmt, actor=actor, additional={"rows": 1})
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS)
    assert entry.actor == actor
    assert entry.object_repr == "test export"
    assert entry.additional_data == {"export": fmt, "rows": 1}


@pytest.mark.django_db
def test_an_operator_without_the_permission_gets_no_file_and_no_audit_row() -> None:
    actor = factories.operator_with_role("customer_service")  # no members.export
    with pytest.raises(Forbidden):
        export([["a", 1]], fmt="csv", actor=actor)
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["pdf", "", "CSV"])
def test_an_unknown_format_is_refused(fmt: str) -> None:
    with pytest.raises(InvalidInput):
        export([["a", 1]], fmt=fmt)
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()


def test_render_gives_the_same_cells_as_the_response() -> None:
    data = exports.render("csv", ["h"], [["=1"], [-5]], sheet="s").decode("utf-8")
    assert data == "\ufeffh\r\n'=1\r\n-5\r\n"
    book = load_workbook(io.BytesIO(exports.render("xlsx", ["h"], [["=1"], [-5]], sheet="s")))
    assert [c.value for c in book["s"]["A"]] == ["h", "'=1", -5]
