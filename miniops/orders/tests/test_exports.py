"""Finance exports: orders (list action and reconciliation page), payments and
refunds of a period in the business time zone, CSV and XLSX, behind
``orders.export``, audited, with formula-like text escaped and amounts kept as
numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from auditlog.models import LogEntry
from django.test import Client

from miniops.core.timeutils import local_date
from miniops.orders import services
from miniops.orders.models import Order, Payment, Refund, RefundStatus
from miniops.orders.tests.helpers import sku_with_stock
from miniops.testing import factories
from miniops.testing.exports import HOSTILE, HOSTILE_XLSX, column, csv_rows, xlsx_rows

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
LIST = "/console/orders/order/"
PAGE = "/console/orders/reconciliation/"
Console = Callable[..., Client]

# column positions (headers are translated)
O_NUMBER, O_NET, O_TRANSACTION = 0, 10, 11
P_NUMBER, P_TRANSACTION, P_ORDER, P_YUAN, P_FEN, P_REFUNDED, P_REFUNDED_FEN, P_PAID_AT = (
    0,
    1,
    2,
    4,
    5,
    6,
    7,
    9,
)
R_NUMBER, R_TRANSACTION, R_STATUS, R_YUAN, R_FEN, R_REASON = 0, 4, 6, 7, 8, 9


def at(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def paid_order(price: int = 5000, *, paid_at: datetime | None = None) -> Order:
    order = factories.order(items=[(sku_with_stock(price=price), 1)], paid=True)
    if paid_at is not None:
        Order.objects.filter(pk=order.pk).update(paid_at=paid_at)
        Payment.objects.filter(order=order).update(paid_at=paid_at)
    return order


def download(client: Client, table: str, fmt: str, first: date, last: date) -> Any:
    return client.get(
        PAGE, {"start": first.isoformat(), "end": last.isoformat(), "fmt": fmt, "table": table}
    )


def access_entries(client: Client) -> Any:
    return LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=client.operator)  # type: ignore[attr-defined]


# --- payments --------------------------------------------------------------------------------
def test_payments_of_a_period_follow_the_business_day_and_carry_yuan_and_fen(
    console_as: Console, django_capture_on_commit_callbacks: Any
) -> None:
    # given payments just inside and just outside one Shanghai day
    day = local_date() - timedelta(days=3)
    early = paid_order(1234, paid_at=at(day, 0, 5))
    late = paid_order(5000, paid_at=at(day, 23, 55))
    paid_order(700, paid_at=at(day + timedelta(days=1), 0, 5))
    paid_order(900, paid_at=at(day, 0, 0) - timedelta(minutes=5))
    # and one of the two partly refunded
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_payment(payment=late.payments.get(), amount=250, reason="partial")
    client = console_as("finance")
    # when finance downloads the day's payments
    rows = csv_rows(download(client, "payments", "csv", day, day))
    sheet = xlsx_rows(download(client, "payments", "xlsx", day, day))
    # then only that day's two, in the order they were paid
    assert column(rows, P_ORDER) == [early.number, late.number]
    assert column(rows, P_NUMBER) == [p.payments.get().out_trade_no for p in (early, late)]
    # with yuan to two decimals, the exact fen, and what was refunded
    assert column(rows, P_YUAN) == ["12.34", "50.00"]
    assert column(rows, P_FEN) == ["1234", "5000"]
    assert column(rows, P_REFUNDED) == ["0.00", "2.50"]
    assert column(rows, P_REFUNDED_FEN) == ["0", "250"]
    assert column(rows, P_PAID_AT) == [f"{day} 00:05:00", f"{day} 23:55:00"]
    # and the XLSX holds numbers, not text
    assert column(sheet, P_YUAN) == [12.34, 50]
    assert column(sheet, P_FEN) == [1234, 5000]
    assert column(sheet, P_PAID_AT) == [
        datetime.combine(day, time(0, 5)),
        datetime.combine(day, time(23, 55)),
    ]
    # and each download is in the audit log with its period
    entries = access_entries(client).order_by("pk")
    assert [e.additional_data for e in entries] == [
        {"export": fmt, "rows": 2, "first": day.isoformat(), "last": day.isoformat()}
        for fmt in ("csv", "xlsx")
    ]
    assert {e.content_type.model for e in entries} == {"payment"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_hostile_transaction_id_is_escaped_in_the_payments_and_orders_exports(
    console_as: Console, fmt: str
) -> None:
    # given payments whose WeChat transaction ids a spreadsheet would run
    day = local_date()
    orders = [paid_order(paid_at=at(day, 10, n)) for n in range(len(HOSTILE))]
    for order, value in zip(orders, HOSTILE, strict=True):
        Payment.objects.filter(order=order).update(transaction_id=value)
    expected = list((HOSTILE_XLSX if fmt == "xlsx" else HOSTILE).values())
    read = xlsx_rows if fmt == "xlsx" else csv_rows
    client = console_as("finance")
    # when finance downloads the payments, the orders of the day, and the selected orders
    payments = read(download(client, "payments", fmt, day, day))
    paid = read(download(client, "orders", fmt, day, day))
    selected = read(
        client.post(LIST, {"action": f"export_{fmt}", "_selected_action": [o.pk for o in orders]})
    )
    # then every file holds them as text behind an apostrophe
    assert column(payments, P_TRANSACTION) == expected
    assert column(paid, O_TRANSACTION)[:-1] == expected  # the last row is the totals
    assert sorted(column(selected, O_TRANSACTION)[:-1]) == sorted(expected)


def test_the_orders_totals_row_keeps_numbers_in_xlsx(console_as: Console) -> None:
    # given two paid orders of the day
    day = local_date()
    paid_order(1234, paid_at=at(day, 9, 0))
    paid_order(1000, paid_at=at(day, 9, 30))
    client = console_as("finance")
    # when exported as XLSX from the reconciliation page
    rows = xlsx_rows(download(client, "orders", "xlsx", day, day))
    # then the totals row counts and sums as numbers
    total = rows[-1]
    assert total[1] == 2
    assert column(rows, O_NET) == [12.34, 10, 22.34]
    # and the audit row names the period
    assert access_entries(client).get().additional_data == {
        "export": "xlsx",
        "rows": 2,
        "first": day.isoformat(),
        "last": day.isoformat(),
    }


# --- refunds ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_refunds_of_a_period_with_hostile_reasons_are_escaped(
    console_as: Console, django_capture_on_commit_callbacks: Any, fmt: str
) -> None:
    # given refunds asked today with reasons a spreadsheet would run
    orders = [paid_order(1000) for _ in HOSTILE]
    with django_capture_on_commit_callbacks(execute=True):
        refunds = [
            services.refund_payment(payment=order.payments.get(), amount=150, reason=value)
            for order, value in zip(orders, HOSTILE, strict=True)
        ]
    # and an older one outside the period
    old = factories.refund()
    Refund.objects.filter(pk=old.pk).update(created_at=at(local_date() - timedelta(days=2), 12, 0))
    client = console_as("finance")
    read = xlsx_rows if fmt == "xlsx" else csv_rows
    # when finance downloads today's refunds
    rows = read(download(client, "refunds", fmt, local_date(), local_date()))
    # then only today's, each reason escaped, with status and amounts
    assert column(rows, R_NUMBER) == [r.out_refund_no for r in refunds]
    assert column(rows, R_REASON) == list((HOSTILE_XLSX if fmt == "xlsx" else HOSTILE).values())
    assert column(rows, R_TRANSACTION) == [o.payments.get().transaction_id for o in orders]
    assert set(Refund.objects.filter(pk__in=[r.pk for r in refunds]).values_list("status")) == {
        (RefundStatus.SUCCESS,)
    }
    if fmt == "xlsx":
        assert column(rows, R_YUAN) == [1.5] * len(HOSTILE)
        assert column(rows, R_FEN) == [150] * len(HOSTILE)
    else:
        assert column(rows, R_YUAN) == ["1.50"] * len(HOSTILE)
        assert column(rows, R_FEN) == ["150"] * len(HOSTILE)
    entry = access_entries(client).get()
    assert entry.content_type.model == "refund"
    assert entry.additional_data["rows"] == len(HOSTILE)


# --- who may ---------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["ops_staff", "analyst", "customer_service"])
@pytest.mark.parametrize("table", ["orders", "payments", "refunds"])
def test_only_orders_export_may_download(console_as: Console, role: str, table: str) -> None:
    paid_order()
    client = console_as(role)
    response = download(client, table, "csv", local_date(), local_date())
    assert response.status_code == 403
    assert "Content-Disposition" not in response
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()


def test_the_page_offers_each_table_as_csv_and_xlsx_for_the_period(console_as: Console) -> None:
    day = local_date()
    page = console_as("finance").get(
        PAGE, {"start": day.isoformat(), "end": day.isoformat(), "fmt": "html"}
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="reconciliation-downloads"' in html
    for table in ("orders", "payments", "refunds"):
        for fmt in ("csv", "xlsx"):
            assert f"table={table}&amp;fmt={fmt}" in html
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()


def test_an_unknown_table_is_a_400_not_a_file(console_as: Console) -> None:
    day = local_date().isoformat()
    response = console_as("finance").get(
        PAGE, {"start": day, "end": day, "fmt": "csv", "table": "members"}
    )
    assert response.status_code == 400
    assert "Content-Disposition" not in response
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()
