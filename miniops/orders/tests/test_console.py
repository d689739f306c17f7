"""Order pages in the console (list, detail, finance export, reconciliation, ship,
bulk ship, after-sale decisions) by role, and the analytics events of the order flow."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client

from miniops.core import events
from miniops.core.money import fen_to_yuan
from miniops.core.timeutils import local_date
from miniops.orders import services
from miniops.orders.models import AfterSale, AfterSaleStatus, Order, OrderStatus, Payment, Refund
from miniops.orders.tests.helpers import (
    deliver,
    provider,
    sku_with_stock,
    stock_of,
    unpaid_order_with_payment,
)
from miniops.testing import factories

pytestmark = pytest.mark.django_db

LIST = "/console/orders/order/"


def csv_rows(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def ship_dialog(client: Client, order: Order, **fields: str) -> Any:
    return client.post(
        f"/console/orders/order/{order.pk}/ship/",
        {"_form_submitted": "on", "carrier": "SF", "tracking_no": "SF1234567890", **fields},
    )


def bulk_ship(client: Client, text: str) -> Any:
    upload = SimpleUploadedFile("ship.csv", text.encode(), content_type="text/csv")
    return client.post("/console/orders/bulk-ship/", {"file": upload})


def reconciliation(client: Client) -> Any:
    today = local_date()
    return client.get(
        "/console/orders/reconciliation/",
        {"start": str(today - timedelta(days=1)), "end": str(today), "fmt": "html"},
    )


# --- finance ---------------------------------------------------------------------------------
def test_finance_sees_the_order_list_with_status_counts(console_as: Callable[..., Client]) -> None:
    # given two paid orders and one unpaid
    paid = [factories.order(paid=True) for _ in range(2)]
    unpaid = factories.order()
    client = console_as("finance")
    # when
    response = client.get(LIST)
    # then the tabs count each status
    assert response.status_code == 200
    tabs = {tab["value"]: tab["count"] for tab in response.context["status_tabs"]}
    assert tabs[""] == 3
    assert tabs["paid"] == 2
    assert tabs["unpaid"] == 1
    assert tabs["cancelled"] == 0
    page = response.content.decode()
    assert 'id="status-tabs"' in page
    assert re.search(r'data-status="paid">[^<]*<span class="text-sm">\(2\)</span>', page)
    for order in [*paid, unpaid]:
        assert order.number in page
    # when the paid tab is chosen
    filtered = client.get(LIST, {"status__exact": "paid"}).content.decode()
    # then only paid orders are listed
    assert all(order.number in filtered for order in paid)
    assert unpaid.number not in filtered


def test_notes_the_system_wrote_read_in_the_console_language(
    console_as: Callable[..., Client],
) -> None:
    # given an order cancelled because it was not paid in time, and a note typed by hand
    order = factories.order()
    services.cancel_order(order=order, reason="timeout")
    order.events.create(kind="note", note="客户来电")
    client = console_as("finance")
    # when its page is read in Chinese (the shop's default language)
    page = client.get(f"/console/orders/order/{order.pk}/change/").content.decode()
    timeline = page[page.index('id="order-timeline"') :].split("</ol>")[0]
    # then the system's note is in words, the typed one as typed
    assert "超时未支付" in timeline
    assert "timeout" not in timeline
    assert "客户来电" in timeline


def test_finance_opens_an_order_page_with_masked_delivery(
    console_as: Callable[..., Client],
) -> None:
    # given
    order = factories.order(paid=True)
    client = console_as("finance")
    # when
    response = client.get(f"/console/orders/order/{order.pk}/change/")
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="order-detail"' in page
    assert order.number in page
    assert order.items.get().title in page
    assert "138****8000" in page
    assert "13800138000" not in page
    assert "科技园路1号" not in page


def test_the_finance_export_has_one_row_per_order_and_a_totals_row(
    console_as: Callable[..., Client], django_capture_on_commit_callbacks: Any
) -> None:
    # given two paid orders, one partly refunded
    sku = sku_with_stock(stock=20, price=1234)
    first = factories.order(items=[(sku, 2)], paid=True)
    second = factories.order(items=[(sku, 1)], paid=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_payment(payment=second.payments.get(), amount=100, reason="test")
    client = console_as("finance")
    # when finance exports them
    response = client.post(
        LIST, {"action": "export_csv", "_selected_action": [first.pk, second.pk]}
    )
    # then a CSV with a row per order and a totals row comes back
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    rows = csv_rows(response)
    assert len(rows) == 1 + 2 + 1
    assert [rows[1][0], rows[2][0]] == [first.number, second.number]
    total = rows[-1]
    assert total[1] == "2"
    assert total[4] == fen_to_yuan(1234 * 3)  # goods
    assert total[8] == fen_to_yuan(1234 * 3)  # paid
    assert total[9] == fen_to_yuan(100)  # refunded
    assert total[10] == fen_to_yuan(1234 * 3 - 100)  # net
    transaction_ids = {row[11] for row in rows[1:3]}
    assert transaction_ids == set(
        Payment.objects.filter(order__in=[first, second]).values_list("transaction_id", flat=True)
    )
    # and the export is audited
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS, actor=client.operator)
    assert entry.additional_data == {"export": "csv", "rows": 2}


def test_the_reconciliation_page_highlights_a_mismatch(console_as: Callable[..., Client]) -> None:
    # given two paid orders, one whose payment record differs from what the order asked
    good = factories.order(paid=True)
    bad = factories.order(paid=True)
    Payment.objects.filter(order=bad).update(amount=bad.payable_amount + 1)
    client = console_as("finance")
    # when
    response = reconciliation(client)
    # then the mismatch is counted and its row highlighted, the other is not
    assert response.status_code == 200
    report = response.context["report"]
    assert report["payments"] == 2
    assert report["mismatches"] == 1
    page = response.content.decode()
    rows = re.findall(r"<tr class=\"[^\"]*\"\s*(data-mismatch=\"1\")?>(.*?)</tr>", page, re.S)
    flagged = [body for mark, body in rows if mark]
    clean = [body for mark, body in rows if not mark and "<td" in body]
    assert len(flagged) == 1
    assert bad.number in flagged[0]
    assert "amount_differs" in flagged[0]
    assert any(good.number in body for body in clean)
    assert page.index(bad.number) < page.index(good.number)  # mismatches first


def test_the_reconciliation_page_flags_a_payment_on_a_cancelled_order(
    console_as: Callable[..., Client], django_capture_on_commit_callbacks: Any
) -> None:
    # given an order cancelled, then paid (the stray payment was recorded)
    order, payment = unpaid_order_with_payment()
    services.cancel_order(order=order)
    sim = provider()
    trade = sim._trade(payment.out_trade_no)
    trade["state"] = "NOTPAY"
    sim._save(payment.out_trade_no, trade)
    deliver(*sim.pay(payment.out_trade_no))
    # when
    response = reconciliation(console_as("finance"))
    # then
    assert response.context["report"]["mismatches"] == 1
    assert "payment_on_unpaid_order" in response.content.decode()


def test_a_bad_reconciliation_range_is_400(console_as: Callable[..., Client]) -> None:
    # given / when the end is before the start
    response = console_as("finance").get(
        "/console/orders/reconciliation/", {"start": "2026-02-01", "end": "2026-01-01"}
    )
    # then
    assert response.status_code == 400


# --- operations staff --------------------------------------------------------------------------
def test_ops_staff_ships_through_the_dialog(console_as: Callable[..., Client]) -> None:
    # given a paid order
    order = factories.order(paid=True)
    client = console_as("ops_staff")
    # when
    response = ship_dialog(client, order, carrier="ZTO", tracking_no="ZTO1234567890")
    # then
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    assert (order.carrier, order.tracking_no) == ("ZTO", "ZTO1234567890")
    assert order.shipped_at is not None
    event = order.events.get(to_status="shipped")
    assert event.actor == client.operator
    assert LogEntry.objects.filter(actor=client.operator, object_pk=str(order.pk)).exists()


def test_shipping_an_unpaid_order_in_the_console_is_only_a_message(
    console_as: Callable[..., Client],
) -> None:
    # given an unpaid order
    order = factories.order()
    client = console_as("ops_staff")
    # when
    response = ship_dialog(client, order)
    # then the refusal is an error message on the order page and nothing changed
    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID
    page = client.get(response["Location"])
    levels = [message.level_tag for message in page.context["messages"]]
    assert levels == ["error"]


@pytest.mark.parametrize("tracking_no", ["short", "has space 123", "x" * 41])
def test_the_ship_dialog_checks_the_tracking_number(
    console_as: Callable[..., Client], tracking_no: str
) -> None:
    # given
    order = factories.order(paid=True)
    # when
    ship_dialog(console_as("ops_staff"), order, tracking_no=tracking_no)
    # then
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


def test_bulk_ship_reports_each_row(console_as: Callable[..., Client]) -> None:
    # given a CSV with a header, one good row and one bad row
    good = factories.order(paid=True)
    unpaid = factories.order()
    text = (
        "order_number,carrier,tracking_no\n"
        f"{good.number},sf,SF1234567890\n"
        f"{unpaid.number},SF,SF0987654321\n"
    )
    # when
    response = bulk_ship(console_as("ops_staff"), text)
    # then one is shipped and the other's row is reported
    assert response.status_code == 200
    result = response.context["result"]
    assert result.shipped == 1
    assert [row for row, _ in result.errors] == [3]
    page = response.content.decode()
    section = page[page.index('id="bulk-ship-result"') :]
    shown = re.search(r"<p>([^<]*)</p>", section)
    assert shown is not None
    assert re.findall(r"\d+", shown.group(1)) == ["1"]  # "1 order(s) shipped." in any language
    assert '<td class="pr-4">3</td>' in section
    assert Order.objects.get(pk=good.pk).status == OrderStatus.SHIPPED
    assert Order.objects.get(pk=good.pk).carrier == "SF"
    assert Order.objects.get(pk=unpaid.pk).status == OrderStatus.UNPAID


def test_bulk_ship_reports_malformed_rows_and_unknown_orders(
    console_as: Callable[..., Client],
) -> None:
    # given
    good = factories.order(paid=True)
    text = (
        f"{good.number},SF,SF1234567890\n"
        "O2611250000000000000,SF,SF1111111111\n"
        "only,two\n"
        f"{good.number},XX,SF1234567890\n"
    )
    # when
    result = bulk_ship(console_as("ops_staff"), text).context["result"]
    # then
    assert result.shipped == 1
    assert [row for row, _ in result.errors] == [2, 3, 4]


# --- customer service ---------------------------------------------------------------------------
def test_customer_service_approves_an_after_sale(
    console_as: Callable[..., Client], django_capture_on_commit_callbacks: Any
) -> None:
    # given a refund request
    after_sale = factories.after_sale()
    client = console_as("customer_service")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/console/orders/aftersale/{after_sale.pk}/approve/",
            {"_form_submitted": "on", "note": "同意"},
        )
    # then
    assert response.status_code == 302
    after_sale.refresh_from_db()
    assert after_sale.status == AfterSaleStatus.REFUNDED
    assert after_sale.decided_by == client.operator
    assert after_sale.decision_note == "同意"
    assert Refund.objects.get(after_sale=after_sale).status == "success"


# --- analyst: read only ---------------------------------------------------------------------------
def test_the_analyst_reads_but_cannot_act(console_as: Callable[..., Client]) -> None:
    # given
    order = factories.order(paid=True)
    after_sale = factories.after_sale()
    client = console_as("analyst")
    # when / then reading works
    assert client.get(LIST).status_code == 200
    assert client.get(f"/console/orders/order/{order.pk}/change/").status_code == 200
    # and every action is refused
    assert ship_dialog(client, order).status_code == 403
    assert bulk_ship(client, f"{order.number},SF,SF1234567890\n").status_code == 403
    approve = client.post(
        f"/console/orders/aftersale/{after_sale.pk}/approve/", {"_form_submitted": "on"}
    )
    assert approve.status_code == 403
    assert reconciliation(client).status_code == 403
    assert (
        client.post(
            f"/console/orders/order/{order.pk}/cancel/", {"_form_submitted": "on", "reason": "x"}
        ).status_code
        == 403
    )
    exported = client.post(LIST, {"action": "export_csv", "_selected_action": [order.pk]})
    assert "Content-Disposition" not in exported
    # and nothing changed
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.REQUESTED
    assert not LogEntry.objects.filter(actor=client.operator).exists()


def test_ops_staff_cannot_decide_after_sales_nor_export(console_as: Callable[..., Client]) -> None:
    # given
    after_sale = factories.after_sale()
    client = console_as("ops_staff")
    # when / then
    approve = client.post(
        f"/console/orders/aftersale/{after_sale.pk}/approve/", {"_form_submitted": "on"}
    )
    assert approve.status_code == 403
    assert reconciliation(client).status_code == 403
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.REQUESTED


# --- analytics events ----------------------------------------------------------------------------
@pytest.fixture
def sink() -> Iterator[list[events.ServerEvent]]:
    received: list[events.ServerEvent] = []

    def capture(batch: list[events.ServerEvent]) -> None:
        received.extend(batch)

    events.register_sink(capture)
    yield received
    events.unregister_sink(capture)


def test_the_order_flow_emits_its_events_after_commit(
    sink: list[events.ServerEvent], django_capture_on_commit_callbacks: Any
) -> None:
    # given a buyer and a SKU
    sku = sku_with_stock(stock=10, price=2000)
    buyer = factories.member()
    address = factories.address(buyer)
    operator = factories.operator_with_role("super_admin")

    def place() -> Order:
        return services.place_order(
            member=buyer,
            items=[{"sku_id": sku.pk, "quantity": 1}],
            from_cart=False,
            address_id=address.pk,
        )

    # when an order is placed, nothing is delivered before the commit
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = place()
    assert [e.name for e in sink] == []
    for callback in callbacks:
        callback()
    # then order_created arrives after it
    assert "order_created" in [e.name for e in sink]
    created = next(e for e in sink if e.name == "order_created")
    assert created.member_id == buyer.pk
    assert created.properties["order_id"] == order.pk
    assert created.properties["amount"] == order.payable_amount
    # when it is paid, shipped, and one unit refunded; and another order is cancelled
    with django_capture_on_commit_callbacks(execute=True):
        services.simulate_payment(order=order)
    with django_capture_on_commit_callbacks(execute=True):
        services.ship_order(
            order=Order.objects.get(pk=order.pk),
            carrier="SF",
            tracking_no="SF1234567890",
            actor=operator,
        )
    with django_capture_on_commit_callbacks(execute=True):
        after_sale = services.request_after_sale(
            order=order,
            member=buyer,
            kind="refund_only",
            reason="not_received",
            lines=[{"item_id": order.items.get().pk, "quantity": 1}],
        )
        services.approve(after_sale=after_sale, actor=operator)
    with django_capture_on_commit_callbacks(execute=True):
        other = place()
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_order(order=other, by_member=True)
    # then every business fact was emitted once, for the right order
    names = [e.name for e in sink]
    for name in ("order_created", "order_paid", "order_shipped", "refund_completed"):
        assert [e.properties["order_id"] for e in sink if e.name == name][:1] == [order.pk], name
    assert names.count("order_created") == 2
    assert names.count("order_paid") == 1
    assert names.count("order_shipped") == 1
    assert names.count("refund_completed") == 1
    assert [e.properties["order_id"] for e in sink if e.name == "order_cancelled"] == [other.pk]
    refund = next(e for e in sink if e.name == "refund_completed")
    assert refund.properties["amount"] == after_sale.amount == 2000


def test_a_rolled_back_order_emits_nothing(
    sink: list[events.ServerEvent], django_capture_on_commit_callbacks: Any
) -> None:
    # given
    sku = sku_with_stock(stock=5)
    buyer = factories.member()
    address = factories.address(buyer)

    def place_then_roll_back() -> None:
        with transaction.atomic():
            services.place_order(
                member=buyer,
                items=[{"sku_id": sku.pk, "quantity": 2}],
                from_cart=False,
                address_id=address.pk,
            )
            raise RuntimeError("rolled back")

    # when an order is placed inside a transaction that is then rolled back
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        place_then_roll_back()
    # then no event was emitted and no stock taken
    assert sink == []
    assert not Order.objects.exists()
    assert stock_of(sku) == 5


def test_the_to_ship_tab_lists_only_orders_that_can_ship(
    console_as: Callable[..., Client],
) -> None:
    # given two paid orders, one of them with an open refund request
    ready, held = factories.order(paid=True), factories.order(paid=True)
    from miniops.orders.models import AfterSale

    AfterSale.objects.create(
        order=held,
        member=held.member,
        number="AS-HOLD-1",
        kind="refund_only",
        status="requested",
        reason="changed_mind",
        amount=100,
    )
    client = console_as("ops_staff")
    # when the "paid, to ship" tab is opened
    response = client.get(LIST + "?status__exact=paid")
    page = response.content.decode()
    # then it lists only the order that can ship, and the one on hold has its tab
    assert ready.number in page
    assert held.number not in page
    tabs = {t["value"]: t["count"] for t in response.context["status_tabs"]}
    assert tabs["paid"] == 1
    assert tabs["paid_on_hold"] == 1
    on_hold = client.get(LIST + "?status__exact=paid&hold=1").content.decode()
    assert held.number in on_hold
    assert ready.number not in on_hold
    # and the counts follow the search
    searched = client.get(LIST + f"?q={ready.number}")
    tabs = {t["value"]: t["count"] for t in searched.context["status_tabs"]}
    assert tabs[""] == 1
