"""Finance exports (CSV or XLSX), behind ``orders.export`` and audited:

- orders: one row per order with its amounts and a totals row (the order list's
  action, or the orders paid in a period on the reconciliation page);
- payments: the payments paid in a period, with what was refunded of each;
- refunds: the refunds requested in a period, whatever became of them.

Amounts are yuan numbers with two decimals; payments and refunds also carry the
exact amount in fen, as WeChat Pay's bills and API count it. Columns only: the file
is written by ``miniops.core.exports`` (formula cells escaped)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponseBase
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from miniops.core import exports
from miniops.core.exports import Column, yuan
from miniops.core.permissions import P
from miniops.core.timeutils import range_bounds
from miniops.orders.models import (
    Order,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)


def _transaction_id(order: Order) -> str:
    paid = next((p for p in order.payments.all() if p.status == PaymentStatus.PAID), None)
    return (paid.transaction_id or "") if paid else ""


def _refunded(payment: Payment) -> int:
    """The successful refunds of ``payment`` (annotated by ``payments_paid_in``)."""
    return int(getattr(payment, "refunded", 0) or 0)


ORDER_COLUMNS: list[Column[Order]] = [
    Column(gettext_lazy("order number"), lambda o: o.number),
    Column(gettext_lazy("Status"), lambda o: o.get_status_display()),
    Column(gettext_lazy("created at"), lambda o: o.created_at),
    Column(gettext_lazy("paid at"), lambda o: o.paid_at),
    Column(gettext_lazy("Goods"), lambda o: yuan(o.goods_amount)),
    Column(gettext_lazy("Shipping"), lambda o: yuan(o.shipping_fee)),
    Column(gettext_lazy("Discounts"), lambda o: yuan(o.discount_amount)),
    Column(gettext_lazy("Payable"), lambda o: yuan(o.payable_amount)),
    Column(gettext_lazy("Paid"), lambda o: yuan(o.paid_amount)),
    Column(gettext_lazy("Refunded"), lambda o: yuan(o.refunded_amount)),
    Column(gettext_lazy("Net"), lambda o: yuan(o.paid_amount - o.refunded_amount)),
    Column(gettext_lazy("WeChat transaction id"), _transaction_id),
]

PAYMENT_COLUMNS: list[Column[Payment]] = [
    Column(gettext_lazy("Payment number"), lambda p: p.out_trade_no),
    Column(gettext_lazy("WeChat transaction id"), lambda p: p.transaction_id or ""),
    Column(gettext_lazy("order number"), lambda p: p.order.number),
    Column(gettext_lazy("Status"), lambda p: p.get_status_display()),
    Column(gettext_lazy("Amount (yuan)"), lambda p: yuan(p.amount)),
    Column(gettext_lazy("Amount (fen)"), lambda p: p.amount),
    Column(gettext_lazy("Refunded (yuan)"), lambda p: yuan(_refunded(p))),
    Column(gettext_lazy("Refunded (fen)"), _refunded),
    Column(gettext_lazy("created at"), lambda p: p.created_at),
    Column(gettext_lazy("paid at"), lambda p: p.paid_at),
]

REFUND_COLUMNS: list[Column[Refund]] = [
    Column(gettext_lazy("Refund number"), lambda r: r.out_refund_no),
    Column(gettext_lazy("WeChat refund id"), lambda r: r.refund_id),
    Column(gettext_lazy("order number"), lambda r: r.order.number),
    Column(gettext_lazy("Payment number"), lambda r: r.payment.out_trade_no),
    Column(gettext_lazy("WeChat transaction id"), lambda r: r.payment.transaction_id or ""),
    Column(
        gettext_lazy("after-sale number"), lambda r: r.after_sale.number if r.after_sale else ""
    ),
    Column(gettext_lazy("Status"), lambda r: r.get_status_display()),
    Column(gettext_lazy("Amount (yuan)"), lambda r: yuan(r.amount)),
    Column(gettext_lazy("Amount (fen)"), lambda r: r.amount),
    Column(gettext_lazy("Reason"), lambda r: r.reason),
    Column(gettext_lazy("Requested at"), lambda r: r.created_at),
    Column(gettext_lazy("Refunded at"), lambda r: r.succeeded_at),
]


def totals(orders: QuerySet[Order]) -> dict[str, int]:
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
    orders: QuerySet[Order], *, fmt: str, actor: Any, period: dict[str, str] | None = None
) -> HttpResponseBase:
    """The finance export of ``orders``: a row each, then a totals row."""
    summary = totals(orders)
    total_row = [
        _("Total"),
        summary["count"],
        None,
        None,
        *(
            yuan(summary[k])
            for k in ("goods", "shipping", "discounts", "payable", "paid", "refunded")
        ),
        yuan(summary["paid"] - summary["refunded"]),
        None,
    ]

    def rows() -> Any:
        yield from exports.rows_of(
            ORDER_COLUMNS, orders.prefetch_related("payments").iterator(chunk_size=1000)
        )
        yield total_row

    return exports.export(
        name="orders",
        fmt=fmt,
        header=exports.header_of(ORDER_COLUMNS),
        rows=rows(),
        actor=actor,
        permission=P.ORDERS_EXPORT,
        model=Order,
        description=_("Finance export (%(n)d orders)") % {"n": summary["count"]},
        additional={"rows": summary["count"], **(period or {})},
    )


def export_paid_orders(*, first: date, last: date, fmt: str, actor: Any) -> HttpResponseBase:
    """The finance export of the orders paid on the days [first, last]."""
    start, end = range_bounds(first, last)
    orders = Order.objects.filter(paid_at__gte=start, paid_at__lt=end).order_by("paid_at", "pk")
    return export(orders, fmt=fmt, actor=actor, period=_period(first, last))


def payments_paid_in(first: date, last: date) -> QuerySet[Payment]:
    """Payments paid on the days [first, last] (business time zone), with the
    successful refunds of each summed as ``refunded``."""
    start, end = range_bounds(first, last)
    return (
        Payment.objects.filter(paid_at__gte=start, paid_at__lt=end)
        .select_related("order")
        .annotate(
            refunded=Coalesce(
                Sum("refunds__amount", filter=Q(refunds__status=RefundStatus.SUCCESS)), 0
            )
        )
        .order_by("paid_at", "pk")
    )


def refunds_requested_in(first: date, last: date) -> QuerySet[Refund]:
    """Refunds asked of WeChat Pay on the days [first, last] (business time zone),
    processing, refunded or failed."""
    start, end = range_bounds(first, last)
    return (
        Refund.objects.filter(created_at__gte=start, created_at__lt=end)
        .select_related("order", "payment", "after_sale")
        .order_by("created_at", "pk")
    )


def _period(first: date, last: date) -> dict[str, str]:
    return {"first": first.isoformat(), "last": last.isoformat()}


def export_payments(*, first: date, last: date, fmt: str, actor: Any) -> HttpResponseBase:
    payments = payments_paid_in(first, last)
    count = payments.count()
    return exports.export(
        name="payments",
        fmt=fmt,
        header=exports.header_of(PAYMENT_COLUMNS),
        rows=exports.rows_of(PAYMENT_COLUMNS, payments.iterator(chunk_size=1000)),
        actor=actor,
        permission=P.ORDERS_EXPORT,
        model=Payment,
        description=_("Payments export, %(first)s to %(last)s (%(n)d rows)")
        % {"first": first, "last": last, "n": count},
        additional={"rows": count, **_period(first, last)},
    )


def export_refunds(*, first: date, last: date, fmt: str, actor: Any) -> HttpResponseBase:
    refunds = refunds_requested_in(first, last)
    count = refunds.count()
    return exports.export(
        name="refunds",
        fmt=fmt,
        header=exports.header_of(REFUND_COLUMNS),
        rows=exports.rows_of(REFUND_COLUMNS, refunds.iterator(chunk_size=1000)),
        actor=actor,
        permission=P.ORDERS_EXPORT,
        model=Refund,
        description=_("Refunds export, %(first)s to %(last)s (%(n)d rows)")
        % {"first": first, "last": last, "n": count},
        additional={"rows": count, **_period(first, last)},
    )
