"""The one export path: every CSV / XLSX file the console hands out is written here.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula, so a member nickname ``=HYPERLINK("http://x","y")``
would come out as a live link in finance's Excel ("CSV injection"). Apps describe
their columns and rows; this module

- checks the permission the export needs and writes its ACCESS audit row (an export
  is an operator action, and most carry personal or financial data);
- writes every text cell that a spreadsheet would run with a leading apostrophe
  (``safe_cell``), in CSV and XLSX alike, and drops the control characters XLSX
  cannot hold; numbers, dates and times stay typed, so a refund of -5.00 is the
  number -5.00, never the text ``'-5.00`` (pass amounts through ``yuan``);
- streams CSV, UTF-8 with a byte-order mark so Excel opens Chinese text correctly,
  and writes XLSX in openpyxl's write-only mode (amounts with two decimals, times in
  the business time zone).

``export`` is the path for the console's own exports; ``EscapedImportExport`` puts
django-import-export admins on it. ``tests/test_exports_one_path.py`` fails if any
other module writes CSV or XLSX itself.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from miniops.core import audit
from miniops.core.errors import Forbidden, InvalidInput

T = TypeVar("T")

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

#: A text cell a spreadsheet would run: one of ``= + - @ TAB CR`` first, or after
#: apostrophes (so that escaping is undone exactly by ``unescape_cell``).
_RUNS_AS_FORMULA = re.compile(r"'*[=+\-@\t\r]")
#: What XLSX cannot hold (openpyxl refuses it): C0 controls other than tab, LF, CR.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_DATETIME = "%Y-%m-%d %H:%M:%S"


def safe_cell(value: Any) -> Any:
    """A text cell that would run as a formula, with an apostrophe in front
    (``=1+1`` -> ``'=1+1``); anything that is not text is returned as it is."""
    if isinstance(value, str) and _RUNS_AS_FORMULA.match(value):
        return "'" + value
    return value


def unescape_cell(text: str) -> str:
    """The inverse of ``safe_cell`` for imports, so that re-importing an export
    leaves a product title as it was (``'=1+1`` -> ``=1+1``: the stored text is then
    escaped again by the next export)."""
    if text.startswith("'") and _RUNS_AS_FORMULA.match(text):
        return text[1:]
    return text


def yuan(fen: int) -> Decimal:
    """An amount in fen as a yuan number with two decimals (``-500`` ->
    ``Decimal("-5.00")``): a number in both formats, exact."""
    return Decimal(int(fen)).scaleb(-2)


@dataclass(frozen=True)
class Column(Generic[T]):
    """One column of an export: its header and how to read it from a row object."""

    label: str | Promise
    value: Callable[[T], Any]


def header_of(columns: Sequence[Column[Any]]) -> list[str]:
    return [str(column.label) for column in columns]


def rows_of(columns: Sequence[Column[T]], objects: Iterable[T]) -> Iterator[list[Any]]:
    for obj in objects:
        yield [column.value(obj) for column in columns]


# --- cells ------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    return str(safe_cell(_CONTROL.sub("", str(value))))


def _local(moment: datetime) -> datetime:
    """Aware times in the business time zone, without tzinfo (XLSX has none)."""
    if timezone.is_aware(moment):
        return timezone.localtime(moment).replace(tzinfo=None)
    return moment


def csv_cell(value: Any) -> Any:
    """What a CSV cell holds: numbers as numbers, times local, text escaped."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return _local(value).strftime(_DATETIME)
    if isinstance(value, date):
        return value.isoformat()
    return _text(value)


def _xlsx_cell(sheet: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        cell = WriteOnlyCell(sheet, value=value)
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent == -2:
            cell.number_format = "0.00"
        return cell
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=_local(value))
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    # A string cell, never a formula: openpyxl makes a formula of text starting
    # with "=", which ``_text`` has already prefixed.
    cell = WriteOnlyCell(sheet, value=_text(value))
    cell.data_type = "s"
    return cell


# --- files ------------------------------------------------------------------------------------
class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_chunks(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV file, a row at a time: BOM, header, rows."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    yield writer.writerow([_text(h) for h in header])
    for row in rows:
        yield writer.writerow([csv_cell(v) for v in row])


def xlsx_bytes(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, sheet: str) -> bytes:
    """The XLSX file: one sheet (``sheet``, at most 31 characters), header first."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet[:31])
    worksheet.append([_xlsx_cell(worksheet, str(h)) for h in header])
    for row in rows:
        worksheet.append([_xlsx_cell(worksheet, v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def render(fmt: str, header: Sequence[Any], rows: Iterable[Sequence[Any]], *, sheet: str) -> bytes:
    """The whole file as bytes (for callers that cannot stream)."""
    _check_format(fmt)
    if fmt == "xlsx":
        return xlsx_bytes(header, rows, sheet=sheet)
    return "".join(csv_chunks(header, rows)).encode("utf-8")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidInput(fields={"fmt": _("Choose CSV or XLSX.")})


def _response(
    name: str, fmt: str, header: Sequence[Any], rows: Iterable[Sequence[Any]]
) -> HttpResponseBase:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response: HttpResponseBase
    if fmt == "xlsx":
        response = HttpResponse(
            xlsx_bytes(header, rows, sheet=name), content_type=CONTENT_TYPES[fmt]
        )
    else:
        response = StreamingHttpResponse(csv_chunks(header, rows), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{fmt}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- permission and audit ---------------------------------------------------------------------
def _require(actor: Any, permission: str) -> None:
    """Operators need ``permission``; ``None`` (a command, a test) may."""
    if actor is not None and not actor.has_permission(permission):
        raise Forbidden()


def _audit(
    *,
    actor: Any,
    fmt: str,
    model: type[models.Model],
    description: str,
    additional: Mapping[str, Any] | None,
) -> None:
    audit.record(
        actor=actor,
        action=audit.Action.ACCESS,
        model=model,
        object_repr=description,
        additional={"export": fmt, **(additional or {})},
    )


def export(
    *,
    name: str,
    fmt: str,
    header: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    actor: Any,
    permission: str,
    model: type[models.Model],
    description: str,
    additional: Mapping[str, Any] | None = None,
) -> HttpResponseBase:
    """``name``-YYYYmmdd-HHMM.csv / .xlsx, after checking that ``actor`` holds
    ``permission`` and writing the ACCESS audit row (on ``model``, saying
    ``description``, with ``{"export": fmt, **additional}``).

    ``rows`` may be a generator over a query: a CSV streams it row by row.
    """
    _check_format(fmt)
    _require(actor, permission)
    _audit(actor=actor, fmt=fmt, model=model, description=description, additional=additional)
    return _response(name, fmt, header, rows)


class EscapedImportExport:
    """Mix into a django-import-export admin (before ``ImportExportMixin``): CSV and
    XLSX only, and the file written by ``render`` with its permission check and
    audit row, instead of tablib's writers (which escape nothing).

    django-import-export's own ``IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`` only drops
    one leading ``=`` (so ``==1+1`` and ``+1`` still run); we do not use it.
    """

    model: type[models.Model]
    #: The permission an export needs (checked again here, not only by the admin).
    export_permission: str
    #: File name stem and sheet title.
    export_name: str

    def get_export_formats(self) -> list[Any]:
        from import_export.formats.base_formats import CSV, XLSX

        return [CSV, XLSX]

    def get_import_formats(self) -> list[Any]:
        from import_export.formats.base_formats import CSV, XLSX

        return [CSV, XLSX]

    def get_export_data(
        self, file_format: Any, request: HttpRequest, queryset: Any, **kwargs: Any
    ) -> bytes:
        if not self.has_export_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        fmt = file_format.get_extension()
        _check_format(fmt)
        actor = request.user
        try:
            _require(actor, self.export_permission)
        except Forbidden as exc:
            raise PermissionDenied from exc
        dataset = self.get_data_for_export(  # type: ignore[attr-defined]
            request, queryset, force_native_type=True, **kwargs
        )
        _audit(
            actor=actor,
            fmt=fmt,
            model=self.model,
            description=_("%(name)s export (%(n)d rows)")
            % {"name": self.model._meta.verbose_name_plural, "n": len(dataset)},
            additional={"rows": len(dataset)},
        )
        return render(fmt, list(dataset.headers or []), iter(dataset), sheet=self.export_name)
