"""After-sales and refunds: refund-only before shipping, partial refunds to the fen,
returns restocked, refund notices recorded once, refund failures surfaced."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.catalog.models import StockReason
from miniops.core.errors import Conflict, IllegalTransition, InvalidInput
from miniops.orders import pricing, services
from miniops.orders.models import (
    AfterSale,
    AfterSaleStatus,
    Order,
    OrderEvent,
    OrderItem,
    OrderStatus,
    PaymentAnomaly,
    Refund,
    RefundStatus,
)
from miniops.orders.tests.helpers import (
    deliver,
    error_of,
    ledger_count,
    member_client,
    post,
    provider,
    stock_of,
)
from miniops.testing import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Any:
    return factories.operator_with_role("customer_service")


@pytest.fixture
def shipping_800() -> Any:
    return factories.freight_template(is_default=True, first_fee=800, additional_fee=0)


@pytest.fixture
def coupon_1001(monkeypatch: pytest.MonkeyPatch) -> None:
    """A discount step (as marketing would register one): 10.01 yuan off every order."""
    monkeypatch.setattr(pricing, "_steps", list(pricing.steps()))

    def coupon(quote: pricing.Quote) -> None:
        quote.add_discount(pricing.Discount(kind="coupon", label="test", amount=1001))

    pricing.register_step(150, "test-coupon", coupon)


def request(order: Order, lines: list[tuple[OrderItem, int]], kind: str = "refund_only") -> Any:
    return services.request_after_sale(
        order=Order.objects.get(pk=order.pk),
        member=order.member,
        kind=kind,
        reason="changed_mind",
        lines=[{"item_id": item.pk, "quantity": quantity} for item, quantity in lines],
    )


def ship(order: Order) -> None:
    operator = factories.operator_with_role("ops_staff")
    services.ship_order(
        order=Order.objects.get(pk=order.pk),
        carrier="SF",
        tracking_no="SF1234567890",
        actor=operator,
    )


# --- refund-only before shipping ---------------------------------------------------------------
def test_a_full_refund_before_shipping_returns_stock_and_shipping_and_closes_the_order(
    shipping_800: Any, staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a paid order of two lines with 8.00 shipping
    product = factories.product(price=2500, stock=10, skus=2)
    sku_a, sku_b = product.skus.order_by("id")
    order = factories.order(items=[(sku_a, 2), (sku_b, 1)], paid=True)
    assert order.shipping_fee == 800
    assert order.paid_amount == 2500 * 3 + 800
    item_a, item_b = order.items.order_by("sku_id")
    # when the member asks for everything back and customer service approves
    after_sale = request(order, [(item_a, 2), (item_b, 1)])
    assert after_sale.include_shipping is True
    assert after_sale.amount == order.paid_amount
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(after_sale=after_sale, actor=staff)
    # then the stock is released, the whole payment (shipping too) refunded, the order closed
    assert (stock_of(sku_a), stock_of(sku_b)) == (10, 10)
    assert ledger_count(after_sale.number, StockReason.ORDER_RELEASED) == 2
    refund = Refund.objects.get(after_sale=after_sale)
    assert refund.status == RefundStatus.SUCCESS
    assert refund.amount == order.paid_amount
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED
    assert order.refunded_amount == order.paid_amount
    assert order.closed_at is not None
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.REFUNDED
    assert list(order.items.order_by("sku_id").values_list("refunded_quantity", flat=True)) == [
        2,
        1,
    ]
    assert OrderEvent.objects.filter(order=order, to_status="closed").count() == 1


def test_a_partial_refund_before_shipping_keeps_shipping_and_the_order_open(
    shipping_800: Any, staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a paid order of 3 units
    sku = factories.product(price=3000, stock=10).skus.get()
    order = factories.order(items=[(sku, 3)], paid=True)
    item = order.items.get()
    # when one unit is refunded
    after_sale = request(order, [(item, 1)])
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(after_sale=after_sale, actor=staff)
    # then one unit's share comes back, shipping is kept, the order still ships the rest
    assert after_sale.include_shipping is False
    assert after_sale.amount == 3000
    order.refresh_from_db()
    assert order.refunded_amount == 3000
    assert order.status == OrderStatus.PAID
    assert stock_of(sku) == 8
    assert OrderItem.objects.get(pk=item.pk).refunded_quantity == 1


def test_refunding_every_item_in_two_requests_before_shipping_closes_the_order(
    shipping_800: Any, staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a paid order of 3 units, one already refunded
    sku = factories.product(price=3000, stock=10).skus.get()
    order = factories.order(items=[(sku, 3)], paid=True)
    item = order.items.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(after_sale=request(order, [(item, 1)]), actor=staff)
    # when the other two are refunded too, before anything shipped
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(after_sale=request(order, [(item, 2)]), actor=staff)
    # then everything paid came back and the order is closed
    order.refresh_from_db()
    assert order.refunded_amount == order.paid_amount
    assert order.status == OrderStatus.CLOSED


def test_partial_refunds_follow_the_discount_allocation_to_the_fen(
    coupon_1001: None, staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given an order of 3 × 33.33 and 1 × 10.00 with 10.01 off
    sku_a = factories.product(price=3333, stock=10).skus.get()
    sku_b = factories.product(price=1000, stock=10).skus.get()
    order = factories.order(items=[(sku_a, 3), (sku_b, 1)], paid=True)
    item_a = order.items.get(sku=sku_a)
    item_b = order.items.get(sku=sku_b)
    # then the discount is spread over the lines exactly (largest remainder)
    assert order.goods_amount == 10999
    assert order.discount_amount == 1001
    assert (item_a.discount_share, item_b.discount_share) == (910, 91)
    assert (item_a.paid_share, item_b.paid_share) == (9089, 909)
    assert item_a.paid_share + item_b.paid_share == order.goods_amount - order.discount_amount
    assert order.payable_amount == order.paid_amount == 9998
    # when 1 of the 3 units is refunded
    first = request(order, [(item_a, 1)])
    assert first.amount == 9089 // 3 == 3029
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(after_sale=first, actor=staff)
    # then asking for 3 more is refused: only 2 are left
    with pytest.raises(InvalidInput) as caught:
        request(order, [(item_a, 3)])
    assert list(caught.value.fields) == ["lines.0.quantity"]
    assert "2" in str(caught.value.fields["lines.0.quantity"])
    # when the last 2 are refunded, they take the remainder
    second = request(order, [(item_a, 2)])
    assert second.amount == 9089 - 3029 == 6060
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(after_sale=second, actor=staff)
    # then the line refunded exactly what was paid for it
    item_a.refresh_from_db()
    assert item_a.refunded_quantity == 3
    assert item_a.refunded_amount == item_a.paid_share == 9089
    assert Order.objects.get(pk=order.pk).refunded_amount == 9089
    # and nothing more can be asked for on that line
    with pytest.raises(InvalidInput):
        request(order, [(item_a, 1)])


def test_an_open_request_holds_its_units(staff: Any) -> None:
    # given an open request for 2 of 3 units
    sku = factories.product(price=3000, stock=10).skus.get()
    order = factories.order(items=[(sku, 3)], paid=True)
    item = order.items.get()
    held = request(order, [(item, 2)])
    # when another request asks for 2
    with pytest.raises(InvalidInput):
        request(order, [(item, 2)])
    # then one is still possible, and it takes the remaining amount
    last = request(order, [(item, 1)])
    assert held.amount + last.amount == item.paid_share
    # when the first is withdrawn, its units are free again
    services.withdraw(after_sale=held, member=order.member)
    again = request(order, [(item, 2)])
    assert again.amount == 6000


def test_a_second_request_cannot_exceed_what_is_left_through_the_api(
    staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given an order of 3 units, 2 refunded
    sku = factories.product(price=3000, stock=10).skus.get()
    order = factories.order(items=[(sku, 3)], paid=True)
    item = order.items.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(after_sale=request(order, [(item, 2)]), actor=staff)
    # when the member asks for 2 more
    response = post(
        member_client(order.member),
        f"/api/v1/orders/{order.pk}/after-sales",
        {"kind": "refund_only", "reason": "other", "lines": [{"item_id": item.pk, "quantity": 2}]},
    )
    # then
    assert response.status_code == 400, response.content
    assert "lines.0.quantity" in error_of(response)["fields"]
    assert AfterSale.objects.filter(order=order).count() == 1


def test_refunds_can_never_exceed_the_payment() -> None:
    # given a paid order with a refund for all but 1 fen
    order = factories.order(paid=True)
    payment = order.payments.get()
    services.refund_payment(payment=payment, amount=payment.amount - 1, reason="test")
    # when 2 fen more are asked for
    with pytest.raises(Conflict) as caught:
        services.refund_payment(payment=payment, amount=2, reason="test")
    # then
    assert caught.value.code == "refund_exceeds_payment"
    assert Refund.objects.filter(payment=payment).count() == 1


def test_shipping_waits_while_a_refund_request_is_open(staff: Any) -> None:
    # given a paid order with an open refund-only request
    order = factories.order(paid=True)
    request(order, [(order.items.get(), 1)])
    # when it is shipped
    with pytest.raises(Conflict) as caught:
        ship(order)
    # then
    assert caught.value.code == "after_sale_open"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


def test_a_refund_only_after_shipping_does_not_restock(
    staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a shipped order of 2 units
    sku = factories.product(price=3000, stock=10).skus.get()
    order = factories.order(items=[(sku, 2)], paid=True)
    ship(order)
    # when one unit is refunded without a return (e.g. not received)
    after_sale = request(order, [(order.items.get(), 1)])
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(after_sale=after_sale, actor=staff)
    # then money comes back but the goods are not in the warehouse
    assert stock_of(sku) == 8
    assert Order.objects.get(pk=order.pk).refunded_amount == 3000
    assert Order.objects.get(pk=order.pk).status == OrderStatus.SHIPPED


def test_the_after_sale_period_ends(staff: Any) -> None:
    # given an order received 16 days ago
    order = factories.order(paid=True)
    ship(order)
    services.confirm_receipt(order=Order.objects.get(pk=order.pk))
    Order.objects.filter(pk=order.pk).update(completed_at=timezone.now() - timedelta(days=16))
    # when the member asks for a refund
    with pytest.raises(IllegalTransition) as caught:
        request(order, [(order.items.get(), 1)], kind="return_refund")
    # then
    assert caught.value.code == "after_sale_period_over"


# --- return and refund -------------------------------------------------------------------------
def test_return_and_refund_restocks_with_reason_return(
    staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given a shipped order of 3 units
    sku = factories.product(price=3000, stock=10).skus.get()
    order = factories.order(items=[(sku, 3)], paid=True)
    ship(order)
    item = order.items.get()
    client = member_client(order.member)
    # when the member asks to return 2 units
    response = post(
        client,
        f"/api/v1/orders/{order.pk}/after-sales",
        {
            "kind": "return_refund",
            "reason": "damaged",
            "lines": [{"item_id": item.pk, "quantity": 2}],
        },
    )
    assert response.status_code == 201, response.content
    after_sale = AfterSale.objects.get(pk=response.json()["id"])
    assert after_sale.amount == 6000
    # and customer service approves: nothing is refunded before the goods come back
    services.approve(after_sale=after_sale, actor=staff)
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.AWAITING_RETURN
    assert not Refund.objects.exists()
    assert stock_of(sku) == 7
    # and the member sends them back
    shipped = post(
        client,
        f"/api/v1/after-sales/{after_sale.pk}/return-shipment",
        {"carrier": "zto", "tracking_no": "ZTO998877665"},
    )
    assert shipped.status_code == 200, shipped.content
    assert shipped.json()["status"] == "returned"
    assert shipped.json()["return_carrier"] == "ZTO"
    # and the warehouse receives them
    with django_capture_on_commit_callbacks(execute=True):
        services.receive_return(after_sale=AfterSale.objects.get(pk=after_sale.pk), actor=staff)
    # then the goods are back in stock as a return, and the money is refunded
    assert stock_of(sku) == 9
    assert ledger_count(after_sale.number, StockReason.RETURN, sku) == 1
    assert ledger_count(after_sale.number, StockReason.ORDER_RELEASED) == 0
    assert Refund.objects.get(after_sale=after_sale).status == RefundStatus.SUCCESS
    order.refresh_from_db()
    assert order.refunded_amount == 6000
    assert order.status == OrderStatus.SHIPPED  # one unit is still with the member
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.REFUNDED


def test_a_rejected_request_refunds_nothing(staff: Any) -> None:
    # given a request
    after_sale = factories.after_sale()
    # when it is rejected without a reason, then with one
    with pytest.raises(InvalidInput):
        services.reject(after_sale=after_sale, actor=staff, note="  ")
    services.reject(after_sale=after_sale, actor=staff, note="超出范围")
    # then
    after_sale.refresh_from_db()
    assert after_sale.status == AfterSaleStatus.REJECTED
    assert after_sale.decided_by == staff
    assert not Refund.objects.exists()
    assert Order.objects.get(pk=after_sale.order_id).refunded_amount == 0


def test_an_operator_without_the_refund_permission_cannot_decide() -> None:
    # given a request and an operations staff member (no orders.refund)
    from miniops.core.errors import Forbidden

    after_sale = factories.after_sale()
    operator = factories.operator_with_role("ops_staff")
    # when / then
    with pytest.raises(Forbidden):
        services.approve(after_sale=after_sale, actor=operator)
    with pytest.raises(Forbidden):
        services.reject(after_sale=after_sale, actor=operator, note="no")
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.REQUESTED


# --- refund notices ------------------------------------------------------------------------------
@pytest.fixture
def refunding(staff: Any) -> dict[str, Any]:
    """An approved refund-only request whose WeChat refund notice has not come yet."""
    sku = factories.product(price=3000, stock=10).skus.get()
    order = factories.order(items=[(sku, 3)], paid=True)
    after_sale = request(order, [(order.items.get(), 1)])
    services.approve(after_sale=after_sale, actor=staff)  # on-commit notice not delivered
    refund = Refund.objects.get(after_sale=after_sale)
    assert refund.status == RefundStatus.PROCESSING
    return {"order": order, "after_sale": after_sale, "refund": refund, "sku": sku}


def test_a_refund_notice_replayed_changes_nothing_the_second_time(
    refunding: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    # given WeChat's signed refund notice
    refund, order = refunding["refund"], refunding["order"]
    headers, body = provider().complete_refund(refund.out_refund_no)
    # when it is delivered
    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(headers, body)
    # then the refund is recorded
    assert first.status_code == 204, first.content
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.SUCCESS
    order.refresh_from_db()
    assert order.refunded_amount == 3000
    snapshot = (
        order.refunded_amount,
        list(OrderItem.objects.filter(order=order).values("refunded_quantity", "refunded_amount")),
        OrderEvent.objects.filter(order=order).count(),
    )
    # when the same notice is delivered twice more
    with django_capture_on_commit_callbacks(execute=True):
        second = deliver(headers, body)
        third = deliver(*provider().complete_refund(refund.out_refund_no))
    # then they are acknowledged and nothing changes
    assert second.status_code == third.status_code == 204
    order.refresh_from_db()
    assert (
        order.refunded_amount,
        list(OrderItem.objects.filter(order=order).values("refunded_quantity", "refunded_amount")),
        OrderEvent.objects.filter(order=order).count(),
    ) == snapshot
    assert OrderEvent.objects.filter(order=order, kind="refunded").count() == 1
    assert AfterSale.objects.get(pk=refunding["after_sale"].pk).status == AfterSaleStatus.REFUNDED


def test_a_failed_refund_is_recorded_and_surfaced(refunding: dict[str, Any]) -> None:
    # given WeChat says the refund failed (e.g. the buyer's card was closed)
    refund, order = refunding["refund"], refunding["order"]
    headers, body = provider().complete_refund(refund.out_refund_no, status="ABNORMAL")
    # when the notice arrives, twice
    first = deliver(headers, body)
    second = deliver(headers, body)
    # then the refund is failed, nothing was refunded, and somebody will look at it
    assert first.status_code == second.status_code == 204
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.FAILED
    anomaly = PaymentAnomaly.objects.get()
    assert anomaly.kind == "refund_failed"
    assert anomaly.order_id == order.pk
    assert anomaly.out_trade_no == refund.out_refund_no
    assert Order.objects.get(pk=order.pk).refunded_amount == 0
    assert OrderItem.objects.get(order=order).refunded_quantity == 0
    # and a success reported afterwards does not resurrect it
    late = deliver(*provider().complete_refund(refund.out_refund_no))
    assert late.status_code == 204
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.FAILED
    assert Order.objects.get(pk=order.pk).refunded_amount == 0


def test_a_refund_notice_for_another_amount_is_refused(refunding: dict[str, Any]) -> None:
    # given a genuine refund notice claiming another amount
    refund = refunding["refund"]
    sim = provider()
    resource = {
        "mchid": sim.mch_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": "50000000000000000000000001",
        "refund_status": "SUCCESS",
        "amount": {"refund": refund.amount + 1, "total": 9000},
    }
    headers, body = sim.notice("REFUND.SUCCESS", resource)
    # when
    response = deliver(headers, body)
    # then
    assert response.status_code == 400
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.PROCESSING
    assert PaymentAnomaly.objects.filter(kind="refund_amount_mismatch").count() == 1
    assert Order.objects.get(pk=refunding["order"].pk).refunded_amount == 0


def test_reconciliation_completes_a_refund_whose_notice_never_came(
    refunding: dict[str, Any],
) -> None:
    # given WeChat finished the refund but its notice was lost
    refund = refunding["refund"]
    provider().complete_refund(refund.out_refund_no)
    # when reconciliation runs
    outcome = services.reconcile(older_than=timedelta(0))
    # then the refund is recorded once
    assert outcome == {"refund_refunded": 1}
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.SUCCESS
    assert Order.objects.get(pk=refunding["order"].pk).refunded_amount == 3000
    assert services.reconcile(older_than=timedelta(0)) == {}
