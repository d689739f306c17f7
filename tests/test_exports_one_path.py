"""Every CSV / XLSX file goes through ``miniops.core.exports``.

A copy of the export code that writes its own CSV or XLSX loses the formula
escaping (it happened twice: the member and order exports). This test reads every
product module and fails on any CSV or spreadsheet writer outside the one path;
django-import-export admins must mix in ``EscapedImportExport`` so the library
hands the file to the one path too.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "miniops"
ONE_PATH = "miniops/core/exports.py"

#: Libraries that write spreadsheet files.
WRITER_MODULES = {"openpyxl", "tablib", "xlsxwriter", "xlwt", "pyexcel", "odf", "pandas"}
#: A file being handed out as CSV or a spreadsheet.
FILE_TYPES = re.compile(
    r"text/csv|text/tab-separated-values|spreadsheetml|ms-excel|opendocument\.spreadsheet"
)
#: tablib's writers, reached through a Dataset or a Databook.
DATASET_WRITERS = {"csv", "tsv", "xls", "xlsx", "ods", "export_set", "export_book"}

#: (module, rule) -> why it is not an export. Every entry must still match something.
EXEMPT = {
    (
        "miniops/analytics/lake.py",
        "csv.writer",
    ): "a temporary file DuckDB reads to build the Parquet lake; never sent to anyone",
}


@dataclass(frozen=True)
class Finding:
    module: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.rule}"


def findings_in(source: str, module: str) -> list[Finding]:
    """Every place in ``source`` that writes CSV or a spreadsheet by itself."""
    found: list[Finding] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        rule = ""
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
            rule = next((f"import {n}" for n in names if n in WRITER_MODULES), "")
        elif isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".")[0]
            if root in WRITER_MODULES:
                rule = f"import {root}"
            elif root == "csv" and {a.name for a in node.names} & {"writer", "DictWriter"}:
                rule = "csv.writer"
        elif isinstance(node, ast.Attribute):
            if (
                isinstance(node.value, ast.Name)
                and node.value.id == "csv"
                and node.attr in {"writer", "DictWriter"}
            ):
                rule = "csv.writer"
            elif node.attr in DATASET_WRITERS and not (
                isinstance(node.value, ast.Name) and node.value.id in {"csv", "exports"}
            ):
                rule = f".{node.attr} (a tablib writer)"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = FILE_TYPES.search(node.value)
            if match:
                rule = f"content type {match.group(0)}"
        if rule:
            found.append(Finding(module, getattr(node, "lineno", 0), rule))
    return found


def product_modules() -> list[Path]:
    skipped = ("/tests/", "/migrations/", "/testing/")
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if not any(part in f"/{path.relative_to(ROOT).as_posix()}" for part in skipped)
    )


def test_no_module_but_the_one_path_writes_csv_or_a_spreadsheet() -> None:
    # given every product module
    modules = product_modules()
    assert len(modules) > 100
    # when each is read
    found = [
        finding
        for path in modules
        if (module := path.relative_to(ROOT).as_posix()) != ONE_PATH
        for finding in findings_in(path.read_text(encoding="utf-8"), module)
    ]
    # then only the exempt ones remain, and every exemption is still needed
    bypasses = [f for f in found if (f.module, f.rule) not in EXEMPT]
    assert not bypasses, "export without miniops.core.exports:\n" + "\n".join(map(str, bypasses))
    assert {(f.module, f.rule) for f in found} == set(EXEMPT)


def test_the_one_path_is_where_the_writers_are() -> None:
    source = (ROOT / ONE_PATH).read_text(encoding="utf-8")
    rules = {f.rule for f in findings_in(source, ONE_PATH)}
    assert {"csv.writer", "import openpyxl", "content type text/csv"} <= rules


@pytest.mark.parametrize(
    ("snippet", "rule"),
    [
        ("import csv\nw = csv.writer(out)", "csv.writer"),
        ("from csv import DictWriter", "csv.writer"),
        ("from openpyxl import Workbook", "import openpyxl"),
        ("import tablib.formats", "import tablib"),
        ("body = dataset.csv", ".csv (a tablib writer)"),
        ("body = resource.export().xlsx", ".xlsx (a tablib writer)"),
        ('HttpResponse(body, content_type="text/csv")', "content type text/csv"),
        (
            'r = HttpResponse(b, content_type="application/vnd.openxmlformats-officedocument'
            '.spreadsheetml.sheet")',
            "content type spreadsheetml",
        ),
    ],
)
def test_the_walk_catches_each_kind_of_bypass(snippet: str, rule: str) -> None:
    assert [f.rule for f in findings_in(snippet, "x.py")] == [rule]


@pytest.mark.parametrize(
    "snippet",
    [
        "import csv\nrows = csv.reader(io.StringIO(text))",
        "from miniops.core import exports\nexports.export(name='x', fmt=fmt)",
        "chunks = exports.csv_chunks(header, rows)",
        "from import_export.admin import ImportExportMixin",
    ],
)
def test_reading_csv_and_calling_the_one_path_are_fine(snippet: str) -> None:
    assert findings_in(snippet, "x.py") == []


@pytest.mark.django_db
def test_every_import_export_admin_writes_through_the_one_path() -> None:
    from import_export.admin import ExportMixin
    from import_export.formats.base_formats import CSV, XLSX

    from miniops.core.console import site
    from miniops.core.exports import EscapedImportExport

    admins = [admin for admin in site._registry.values() if isinstance(admin, ExportMixin)]
    assert admins, "the catalog's SKU admin exports through django-import-export"
    for admin in admins:
        name = type(admin).__name__
        assert isinstance(admin, EscapedImportExport), name
        for method in ("get_export_data", "get_export_formats", "get_import_formats"):
            assert getattr(type(admin), method) is getattr(EscapedImportExport, method), (
                f"{name}.{method} overrides the one path"
            )
        assert admin.get_export_formats() == [CSV, XLSX]
        assert admin.export_permission
