"""Finance exports: paid orders in a date range, with totals (CSV or XLSX)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import audit
from miniops.core.money import fen_to_yuan
from miniops.orders.models import Order

COLUMNS = [
    "number",
    "status",
    "created_at",
    "paid_at",
    "goods",
    "shipping",
    "discounts",
    "payable",
    "paid",
    "refunded",
    "net",
    "transaction_id",
]


def _rows(orders: QuerySet[Order]) -> Iterator[list[Any]]:
    for order in orders.prefetch_related("payments").iterator(chunk_size=1000):
        paid = next((p for p in order.payments.all() if p.status == "paid"), None)
        yield [
            order.number,
            order.get_status_display(),
            timezone.localtime(order.created_at).strftime("%Y-%m-%d %H:%M"),
            timezone.localtime(order.paid_at).strftime("%Y-%m-%d %H:%M") if order.paid_at else "",
            fen_to_yuan(order.goods_amount),
            fen_to_yuan(order.shipping_fee),
            fen_to_yuan(order.discount_amount),
            fen_to_yuan(order.payable_amount),
            fen_to_yuan(order.paid_amount),
            fen_to_yuan(order.refunded_amount),
            fen_to_yuan(order.paid_amount - order.refunded_amount),
            paid.transaction_id if paid else "",
        ]


def totals(orders: QuerySet[Order]) -> dict[str, int]:
    from django.db.models import Count, Sum

    sums = orders.aggregate(
        count=Count("id"),
        goods=Sum("goods_amount"),
        shipping=Sum("shipping_fee"),
        discounts=Sum("discount_amount"),
        payable=Sum("payable_amount"),
        paid=Sum("paid_amount"),
        refunded=Sum("refunded_amount"),
    )
    return {k: int(v or 0) for k, v in sums.items()}


def export(
    orders: QuerySet[Order], *, fmt: str, actor: Any
) -> HttpResponse | StreamingHttpResponse:
    summary = totals(orders)
    audit.record(
        actor=actor,
        action=audit.Action.ACCESS,
        model=Order,
        object_repr=_("Finance export (%(n)d orders)") % {"n": summary["count"]},
        additional={"export": fmt, "rows": summary["count"]},
    )
    header = [_(c) for c in COLUMNS]
    total_row = [
        _("Total"),
        f"{summary['count']}",
        "",
        "",
        *(
            fen_to_yuan(summary[k])
            for k in ("goods", "shipping", "discounts", "payable", "paid", "refunded")
        ),
        fen_to_yuan(summary["paid"] - summary["refunded"]),
        "",
    ]
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("orders")
        sheet.append(header)
        for row in _rows(orders):
            sheet.append(row)
        sheet.append(total_row)
        buffer = io.BytesIO()
        workbook.save(buffer)
        response = HttpResponse(
            buffer.getvalue(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="orders-{stamp}.xlsx"'
        return response

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())

    def stream() -> Iterator[str]:
        yield "\ufeff"
        yield writer.writerow(header)
        for row in _rows(orders):
            yield writer.writerow(row)
        yield writer.writerow(total_row)

    streaming = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    streaming["Content-Disposition"] = f'attachment; filename="orders-{stamp}.csv"'
    return streaming
