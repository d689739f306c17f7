"""Tables as CSV (UTF-8 with BOM, so Excel opens Chinese text correctly) or XLSX
downloads. Text cells that a spreadsheet would run as a formula (``=``, ``+``,
``-``, ``@`` first) are prefixed with an apostrophe."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

FORMATS = ("csv", "xlsx")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def table_response(
    name: str, header: list[Any], rows: Iterable[list[Any]], *, fmt: str
) -> HttpResponse | StreamingHttpResponse:
    """``name``-YYYYmmdd-HHMM.csv / .xlsx with ``header`` then ``rows``."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    header = [str(h) for h in header]
    if fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(name[:31])
        sheet.append(header)
        for row in rows:
            sheet.append([safe_cell(v) for v in row])
        buffer = io.BytesIO()
        workbook.save(buffer)
        response = HttpResponse(
            buffer.getvalue(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.xlsx"'
        return response

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())

    def stream() -> Iterator[str]:
        yield "\ufeff"
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([safe_cell(v) for v in row])

    streaming = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    streaming["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return streaming
