"""The unpaid timeout (delayed task and sweeper), member cancels, payments that
arrive late, and reconciliation of trades whose notice never came."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.catalog.models import StockReason
from miniops.orders import services
from miniops.orders.models import (
    Order,
    OrderEvent,
    OrderStatus,
    Payment,
    PaymentAnomaly,
    PaymentStatus,
    Refund,
)
from miniops.orders.providers import PaymentError
from miniops.orders.tests.helpers import (
    deliver,
    ledger_count,
    member_client,
    paid_events,
    post,
    provider,
    sku_with_stock,
    stock_of,
    unpaid_order_with_payment,
)
from miniops.testing import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def sku() -> Any:
    return sku_with_stock(stock=20)


def expire(order: Order) -> Order:
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    return Order.objects.get(pk=order.pk)


def released(order: Order) -> int:
    return ledger_count(order.number, StockReason.ORDER_RELEASED)


def trade_state(payment: Payment) -> str:
    return provider().query(payment.out_trade_no).state


# --- the unpaid timeout ----------------------------------------------------------------------
def test_an_order_inside_its_time_to_pay_is_not_cancelled(sku: Any) -> None:
    # given an unpaid order that may still be paid
    order, payment = unpaid_order_with_payment(items=[(sku, 3)])
    assert order.expires_at > timezone.now()
    # when the timeout task runs early, and the sweeper runs
    cancelled = services.cancel_if_unpaid(order.pk)
    swept = services.sweep_unpaid()
    # then nothing happens
    assert cancelled is False
    assert swept == 0
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID
    assert stock_of(sku) == 17
    assert trade_state(payment) == "NOTPAY"


def test_an_expired_order_is_cancelled_and_its_stock_released_once(sku: Any) -> None:
    # given an unpaid order past its deadline, holding 3 units
    order, payment = unpaid_order_with_payment(items=[(sku, 3)])
    expire(order)
    # when the timeout runs twice (delayed task and sweeper)
    first = services.cancel_if_unpaid(order.pk)
    second = services.cancel_if_unpaid(order.pk)
    swept = services.sweep_unpaid()
    # then it is cancelled once and the 3 units come back once
    assert (first, second, swept) == (True, False, 0)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.cancel_reason == "timeout"
    assert order.cancelled_at is not None
    assert stock_of(sku) == 20
    assert released(order) == 1
    assert OrderEvent.objects.filter(order=order, to_status="cancelled").count() == 1
    # and the WeChat trade is closed on both sides
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CLOSED
    assert trade_state(payment) == "CLOSED"


def test_the_wechat_trade_is_closed_before_the_order_is_cancelled(
    sku: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an expired order with an open trade, and a record of what the order was at close
    order, payment = unpaid_order_with_payment(items=[(sku, 1)])
    expire(order)
    sim = provider()
    seen: list[tuple[str, str, int]] = []
    real_close = sim.close

    def close(out_trade_no: str) -> None:
        seen.append((out_trade_no, Order.objects.get(pk=order.pk).status, stock_of(sku)))
        real_close(out_trade_no)

    monkeypatch.setattr(sim, "close", close)
    # when the timeout runs
    assert services.cancel_if_unpaid(order.pk) is True
    # then the trade was closed while the order was still unpaid and its stock still held
    assert seen == [(payment.out_trade_no, OrderStatus.UNPAID, 19)]
    assert trade_state(payment) == "CLOSED"
    # and a buyer can no longer pay that trade
    with pytest.raises(PaymentError):
        sim.pay(payment.out_trade_no)


def test_an_order_paid_in_wechat_whose_notice_is_late_ends_paid_not_cancelled(
    sku: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given an expired order whose buyer paid in WeChat, the notice not delivered yet
    order, payment = unpaid_order_with_payment(items=[(sku, 2)])
    expire(order)
    headers, body = provider().pay(payment.out_trade_no)
    # when the timeout runs
    with django_capture_on_commit_callbacks(execute=True):
        result = services.cancel_if_unpaid(order.pk)
    # then the order is recorded as paid and keeps its stock
    assert result is False
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.paid_amount == payment.amount
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.PAID
    assert stock_of(sku) == 18
    assert released(order) == 0
    assert paid_events(order) == 1
    # when the late notice finally arrives
    response = deliver(headers, body)
    # then it is acknowledged and changes nothing
    assert response.status_code == 204
    assert paid_events(order) == 1
    assert not PaymentAnomaly.objects.exists()
    assert not Refund.objects.exists()


def test_the_sweeper_cancels_only_expired_unpaid_orders(sku: Any) -> None:
    # given an expired unpaid order, a fresh one, an expired one paid in WeChat (notice
    # lost) and a paid one whose deadline passed long ago
    expired, _ = unpaid_order_with_payment(items=[(sku, 1)])
    fresh, _ = unpaid_order_with_payment(items=[(sku, 1)])
    late, late_payment = unpaid_order_with_payment(items=[(sku, 1)])
    provider().pay(late_payment.out_trade_no)
    paid = factories.order(items=[(sku, 1)], paid=True)
    for order in (expired, late, paid):
        expire(order)
    assert stock_of(sku) == 16
    # when the sweeper runs twice
    first = services.sweep_unpaid()
    second = services.sweep_unpaid()
    # then exactly the expired unpaid order is cancelled, once
    assert (first, second) == (1, 0)
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {
        expired.pk: OrderStatus.CANCELLED,
        fresh.pk: OrderStatus.UNPAID,
        late.pk: OrderStatus.PAID,
        paid.pk: OrderStatus.PAID,
    }
    assert stock_of(sku) == 17
    assert [released(o) for o in (expired, fresh, late, paid)] == [1, 0, 0, 0]


def test_an_expired_order_that_never_opened_a_trade_is_cancelled(sku: Any) -> None:
    # given an expired order without any payment
    order = expire(factories.order(items=[(sku, 4)]))
    # when
    assert services.cancel_if_unpaid(order.pk) is True
    # then
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert stock_of(sku) == 20


def test_when_wechat_cannot_be_reached_the_order_is_not_cancelled(
    sku: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an expired order whose trade cannot be closed right now
    order, payment = unpaid_order_with_payment(items=[(sku, 2)])
    expire(order)

    def unreachable(out_trade_no: str) -> None:
        raise PaymentError("connect timeout")

    monkeypatch.setattr(provider(), "close", unreachable)
    # when the timeout runs
    result = services.cancel_if_unpaid(order.pk)
    # then it leaves the order for a later sweep (it might have been paid)
    assert result is False
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CREATED
    assert stock_of(sku) == 18
    assert released(order) == 0


def test_the_delayed_task_is_scheduled_for_the_deadline(
    sku: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a record of scheduled timeouts
    from miniops.orders import tasks

    scheduled: list[tuple[Any, Any]] = []
    monkeypatch.setattr(
        tasks.cancel_if_unpaid,
        "schedule",
        lambda args, eta: scheduled.append((args, eta)),
    )
    buyer = factories.member()
    address = factories.address(buyer)
    # when an order is placed
    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(
            member=buyer,
            items=[{"sku_id": sku.pk, "quantity": 1}],
            from_cart=False,
            address_id=address.pk,
        )
    # then its timeout is scheduled at its deadline
    assert scheduled == [((order.pk,), order.expires_at)]


# --- member cancels ---------------------------------------------------------------------------
def test_a_member_cancels_an_unpaid_order_through_the_api(sku: Any) -> None:
    # given
    buyer = factories.member()
    order, payment = unpaid_order_with_payment(buyer=buyer, items=[(sku, 5)])
    client = member_client(buyer)
    # when
    response = post(client, f"/api/v1/orders/{order.pk}/cancel")
    again = post(client, f"/api/v1/orders/{order.pk}/cancel")
    # then
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert stock_of(sku) == 20
    assert released(order) == 1
    assert trade_state(payment) == "CLOSED"
    event = OrderEvent.objects.get(order=order, to_status="cancelled")
    assert event.by_member is True


def test_a_notice_after_the_cancel_records_the_money_and_refunds_it(
    sku: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given an order cancelled while the buyer was paying: the notice comes afterwards
    order, payment = unpaid_order_with_payment(items=[(sku, 2)])
    services.cancel_order(order=order, reason="member")
    sim = provider()
    trade = sim._trade(payment.out_trade_no)
    trade["state"] = "NOTPAY"  # WeChat took the money in the instant before the close
    sim._save(payment.out_trade_no, trade)
    headers, body = sim.pay(payment.out_trade_no)
    # when the notice arrives
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(headers, body)
    # then the money is recorded, the order stays cancelled, and a refund was started
    assert response.status_code == 204, response.content
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.PAID
    assert PaymentAnomaly.objects.filter(kind="paid_after_cancel", order=order).count() == 1
    refund = Refund.objects.get(payment=payment)
    assert refund.amount == payment.amount
    assert refund.status == "success"
    assert order.paid_amount == order.refunded_amount == payment.amount
    assert paid_events(order) == 0
    # and the stock was released exactly once (by the cancel)
    assert stock_of(sku) == 20
    assert released(order) == 1
    # when the notice is delivered again
    with django_capture_on_commit_callbacks(execute=True):
        again = deliver(headers, body)
    # then nothing more happens
    assert again.status_code == 204
    assert Refund.objects.filter(payment=payment).count() == 1
    assert PaymentAnomaly.objects.filter(kind="paid_after_cancel").count() == 1


# --- reconciliation -----------------------------------------------------------------------------
def test_reconciliation_finds_a_paid_trade_whose_notice_never_came(
    sku: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a trade paid in WeChat whose notice was lost
    order, payment = unpaid_order_with_payment(items=[(sku, 2)])
    provider().pay(payment.out_trade_no)
    # when reconciliation runs
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.reconcile(older_than=timedelta(0))
    # then the order is paid, once
    assert outcome == {"paid": 1}
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.paid_amount == payment.amount
    assert payment.status == PaymentStatus.PAID
    assert payment.transaction_id == provider().query(payment.out_trade_no).transaction_id
    assert paid_events(order) == 1
    assert stock_of(sku) == 18
    # when it runs again
    assert services.reconcile(older_than=timedelta(0)) == {}
    assert paid_events(order) == 1


def test_reconciliation_leaves_fresh_and_unpaid_trades_alone(sku: Any) -> None:
    # given an unpaid trade and a trade paid a moment ago
    unpaid, unpaid_payment = unpaid_order_with_payment(items=[(sku, 1)])
    fresh, fresh_payment = unpaid_order_with_payment(items=[(sku, 1)])
    provider().pay(fresh_payment.out_trade_no)
    # when reconciliation runs with its default age (5 minutes)
    outcome = services.reconcile()
    # then nothing is touched
    assert outcome == {}
    assert Order.objects.get(pk=fresh.pk).status == OrderStatus.UNPAID
    # when it runs for every age
    outcome = services.reconcile(older_than=timedelta(0))
    # then the paid one is recorded and the unpaid one is left open
    assert outcome == {"paid": 1, "notpay": 1}
    assert Order.objects.get(pk=unpaid.pk).status == OrderStatus.UNPAID
    assert Payment.objects.get(pk=unpaid_payment.pk).status == PaymentStatus.CREATED
    assert Order.objects.get(pk=fresh.pk).status == OrderStatus.PAID


def test_reconciliation_closes_a_trade_closed_in_wechat(sku: Any) -> None:
    # given a trade WeChat closed
    order, payment = unpaid_order_with_payment(items=[(sku, 1)])
    provider().close(payment.out_trade_no)
    # when
    outcome = services.reconcile(older_than=timedelta(0))
    # then the payment is closed but the order is left to its own timeout
    assert outcome == {"closed": 1}
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CLOSED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID


def test_reconciliation_refuses_a_trade_paid_for_another_amount(sku: Any) -> None:
    # given a trade WeChat reports paid for another amount
    order, payment = unpaid_order_with_payment(items=[(sku, 1)])
    sim = provider()
    sim.pay(payment.out_trade_no)
    trade = sim._trade(payment.out_trade_no)
    trade["amount"] = payment.amount + 1
    sim._save(payment.out_trade_no, trade)
    # when
    outcome = services.reconcile(older_than=timedelta(0))
    # then the order stays unpaid and somebody will look at it
    assert list(outcome) == ["rejected: amount does not match the order"]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID
    assert PaymentAnomaly.objects.filter(kind="amount_mismatch", order=order).count() == 1


def test_paying_again_reuses_the_open_trade(sku: Any) -> None:
    # given an unpaid order with an open trade
    buyer = factories.member()
    order, payment = unpaid_order_with_payment(buyer=buyer, items=[(sku, 1)])
    # when the member asks for payment parameters twice more
    client = member_client(buyer)
    first = post(client, f"/api/v1/orders/{order.pk}/pay")
    second = post(client, f"/api/v1/orders/{order.pk}/pay")
    # then the same trade is used
    assert first.status_code == second.status_code == 200
    assert first.json()["package"] == second.json()["package"] == f"prepay_id={payment.prepay_id}"
    assert Payment.objects.filter(order=order).count() == 1


def test_paying_after_the_deadline_is_refused(sku: Any) -> None:
    # given an expired unpaid order
    buyer = factories.member()
    order = expire(factories.order(buyer=buyer, items=[(sku, 1)]))
    # when
    response = post(member_client(buyer), f"/api/v1/orders/{order.pk}/pay")
    # then
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_expired"
    assert not Payment.objects.filter(order=order).exists()
