"""The state machines: every move not declared in ``miniops.orders.states`` is
refused (IllegalTransition, answered 409 ``illegal_transition``) and changes nothing."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from miniops.catalog.models import Sku
from miniops.core.errors import IllegalTransition
from miniops.orders import services, states
from miniops.orders.models import (
    AfterSale,
    AfterSaleStatus,
    Order,
    OrderEvent,
    OrderStatus,
    Payment,
    PaymentStatus,
    RefundStatus,
)
from miniops.orders.services.common import transition
from miniops.orders.tests.helpers import error_of, member_client, post, row, stock_of
from miniops.testing import factories

pytestmark = pytest.mark.django_db

ORDER_STATUSES = list(OrderStatus.values)
ILLEGAL_ORDER_MOVES = [
    (current, target)
    for current, target in itertools.product(ORDER_STATUSES, ORDER_STATUSES)
    if target not in states.ORDER[current]
]
LEGAL_ORDER_MOVES = [
    (current, target) for current in ORDER_STATUSES for target in sorted(states.ORDER[current])
]


def test_the_order_machine_declares_every_status() -> None:
    # given / when / then: no status is missing, no target is unknown
    assert set(states.ORDER) == set(OrderStatus.values)
    assert all(targets <= set(OrderStatus.values) for targets in states.ORDER.values())
    # the terminal statuses really are terminal
    assert states.ORDER[OrderStatus.CANCELLED] == set()
    assert states.ORDER[OrderStatus.CLOSED] == set()
    assert len(ILLEGAL_ORDER_MOVES) == 36 - len(LEGAL_ORDER_MOVES)


def order_in(status: str) -> Order:
    order = factories.order()
    Order.objects.filter(pk=order.pk).update(status=status)
    return Order.objects.get(pk=order.pk)


@pytest.mark.parametrize(("current", "target"), ILLEGAL_ORDER_MOVES)
def test_every_undeclared_order_move_raises_and_changes_nothing(current: str, target: str) -> None:
    # given an order in `current`
    order = order_in(current)
    before = row(Order, order.pk)
    events_before = OrderEvent.objects.filter(order=order).count()
    # when the move to `target` is attempted
    with pytest.raises(IllegalTransition) as caught, transaction.atomic():
        transition(order, target, note="should not happen")
    # then it is refused as an illegal transition and the row is untouched
    assert caught.value.code == "illegal_transition"
    assert caught.value.status == 409
    assert row(Order, order.pk) == before
    assert order.status == current
    assert OrderEvent.objects.filter(order=order).count() == events_before


@pytest.mark.parametrize(("current", "target"), LEGAL_ORDER_MOVES)
def test_every_declared_order_move_is_performed_once(current: str, target: str) -> None:
    # given an order in `current`
    order = order_in(current)
    # when the declared move is made
    with transaction.atomic():
        transition(order, target)
    # then it is stored and written to the timeline
    assert Order.objects.get(pk=order.pk).status == target
    event = OrderEvent.objects.filter(order=order, kind="status").get()
    assert (event.from_status, event.to_status) == (current, target)


def test_a_move_from_a_stale_copy_is_refused() -> None:
    # given two copies of an unpaid order, one of them moved to paid
    order = order_in(OrderStatus.UNPAID)
    stale = Order.objects.get(pk=order.pk)
    with transaction.atomic():
        transition(order, OrderStatus.PAID)
    before = row(Order, order.pk)
    # when the stale copy (still "unpaid") is cancelled
    with pytest.raises(IllegalTransition), transaction.atomic():
        transition(stale, OrderStatus.CANCELLED)
    # then the conditional update found nothing to change
    assert row(Order, order.pk) == before
    assert not OrderEvent.objects.filter(order=order, to_status="cancelled").exists()


@pytest.mark.parametrize(
    ("machine", "values"),
    [
        (states.ORDER, OrderStatus.values),
        (states.PAYMENT, PaymentStatus.values),
        (states.AFTER_SALE, AfterSaleStatus.values),
        (states.REFUND, RefundStatus.values),
    ],
    ids=["order", "payment", "after_sale", "refund"],
)
def test_check_refuses_exactly_the_undeclared_moves(machine: Any, values: list[str]) -> None:
    # given every pair of statuses of the machine
    for current, target in itertools.product(values, values):
        # when / then
        if target in machine[current]:
            states.check(machine, current, target)
            assert states.can(machine, current, target)
        else:
            with pytest.raises(IllegalTransition):
                states.check(machine, current, target)
            assert not states.can(machine, current, target)


# --- through the API ---------------------------------------------------------------------
@pytest.fixture
def buyer() -> dict[str, Any]:
    person = factories.member()
    return {"member": person, "client": member_client(person)}


def assert_illegal(response: Any) -> None:
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == "illegal_transition"


def manage_client(role: str) -> Client:
    operator = factories.operator_with_role(role)
    _, token = factories.api_token(operator)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_shipping_an_unpaid_order_is_409(buyer: dict[str, Any]) -> None:
    # given an unpaid order
    order = factories.order(buyer=buyer["member"])
    before = row(Order, order.pk)
    # when an operator ships it through the management API
    response = post(
        manage_client("ops_staff"),
        f"/api/v1/manage/orders/{order.pk}/ship",
        {"carrier": "SF", "tracking_no": "SF1234567890"},
    )
    # then
    assert_illegal(response)
    assert row(Order, order.pk) == before


def test_shipping_a_shipped_order_again_is_409() -> None:
    # given a shipped order
    order = factories.order(paid=True)
    operator = factories.operator_with_role("ops_staff")
    services.ship_order(order=order, carrier="SF", tracking_no="SF1234567890", actor=operator)
    before = row(Order, order.pk)
    # when it is shipped again with another tracking number
    response = post(
        manage_client("ops_staff"),
        f"/api/v1/manage/orders/{order.pk}/ship",
        {"carrier": "ZTO", "tracking_no": "ZTO0000000001"},
    )
    # then
    assert_illegal(response)
    assert row(Order, order.pk) == before


def test_cancelling_a_paid_order_is_409_and_keeps_the_stock(buyer: dict[str, Any]) -> None:
    # given a paid order
    sku = factories.product(stock=10).skus.get()
    order = factories.order(buyer=buyer["member"], items=[(sku, 2)], paid=True)
    before = row(Order, order.pk)
    # when the member cancels it
    response = post(buyer["client"], f"/api/v1/orders/{order.pk}/cancel")
    # then
    assert_illegal(response)
    assert row(Order, order.pk) == before
    assert stock_of(sku) == 8
    assert Payment.objects.get(order=order).status == PaymentStatus.PAID


def test_cancelling_a_cancelled_order_is_409(buyer: dict[str, Any]) -> None:
    # given a cancelled order
    sku = factories.product(stock=10).skus.get()
    order = factories.order(buyer=buyer["member"], items=[(sku, 2)])
    services.cancel_order(order=order, by_member=True)
    # when it is cancelled again
    response = post(buyer["client"], f"/api/v1/orders/{order.pk}/cancel")
    # then nothing is released twice
    assert_illegal(response)
    assert stock_of(sku) == 10


def test_confirming_receipt_of_a_paid_unshipped_order_is_409(buyer: dict[str, Any]) -> None:
    # given a paid order not shipped yet
    order = factories.order(buyer=buyer["member"], paid=True)
    before = row(Order, order.pk)
    # when the member confirms receipt
    response = post(buyer["client"], f"/api/v1/orders/{order.pk}/confirm-receipt")
    # then
    assert_illegal(response)
    assert row(Order, order.pk) == before


def test_confirming_receipt_of_an_unpaid_order_is_409(buyer: dict[str, Any]) -> None:
    # given
    order = factories.order(buyer=buyer["member"])
    # when
    response = post(buyer["client"], f"/api/v1/orders/{order.pk}/confirm-receipt")
    # then
    assert_illegal(response)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID


def test_paying_a_cancelled_order_is_409_and_opens_no_trade(buyer: dict[str, Any]) -> None:
    # given a cancelled order
    order = factories.order(buyer=buyer["member"])
    services.cancel_order(order=order, by_member=True)
    # when the member asks for payment parameters
    response = post(buyer["client"], f"/api/v1/orders/{order.pk}/pay")
    # then
    assert_illegal(response)
    assert not Payment.objects.filter(order=order).exists()


def test_paying_a_paid_order_again_is_409(buyer: dict[str, Any]) -> None:
    # given
    order = factories.order(buyer=buyer["member"], paid=True)
    # when
    response = post(buyer["client"], f"/api/v1/orders/{order.pk}/pay")
    # then
    assert_illegal(response)
    assert Payment.objects.filter(order=order).count() == 1


def test_an_after_sale_on_an_unpaid_order_is_409(buyer: dict[str, Any]) -> None:
    # given an unpaid order
    order = factories.order(buyer=buyer["member"])
    item = order.items.get()
    # when the member asks for a refund
    response = post(
        buyer["client"],
        f"/api/v1/orders/{order.pk}/after-sales",
        {"kind": "refund_only", "reason": "other", "lines": [{"item_id": item.pk, "quantity": 1}]},
    )
    # then
    assert_illegal(response)
    assert not AfterSale.objects.exists()


def test_a_return_before_shipping_is_409(buyer: dict[str, Any]) -> None:
    # given a paid order not shipped
    order = factories.order(buyer=buyer["member"], paid=True)
    item = order.items.get()
    # when the member asks to return goods they never got
    response = post(
        buyer["client"],
        f"/api/v1/orders/{order.pk}/after-sales",
        {
            "kind": "return_refund",
            "reason": "other",
            "lines": [{"item_id": item.pk, "quantity": 1}],
        },
    )
    # then
    assert_illegal(response)
    assert not AfterSale.objects.exists()


def test_approving_a_rejected_after_sale_is_409() -> None:
    # given a rejected request
    after_sale = factories.after_sale()
    operator = factories.operator_with_role("customer_service")
    services.reject(after_sale=after_sale, actor=operator, note="照片不清楚")
    before = row(AfterSale, after_sale.pk)
    # when it is approved afterwards
    response = post(
        manage_client("customer_service"),
        f"/api/v1/manage/after-sales/{after_sale.pk}/approve",
        {"note": ""},
    )
    # then
    assert_illegal(response)
    assert row(AfterSale, after_sale.pk) == before
    assert not after_sale.refunds.exists()


def test_rejecting_an_approved_after_sale_is_409() -> None:
    # given an approved return (awaiting the goods)
    after_sale = factories.after_sale()
    Order.objects.filter(pk=after_sale.order_id).update(status=OrderStatus.SHIPPED)
    AfterSale.objects.filter(pk=after_sale.pk).update(kind="return_refund")
    after_sale = AfterSale.objects.get(pk=after_sale.pk)
    operator = factories.operator_with_role("customer_service")
    services.approve(after_sale=after_sale, actor=operator)
    # when
    response = post(
        manage_client("customer_service"),
        f"/api/v1/manage/after-sales/{after_sale.pk}/reject",
        {"note": "太晚了"},
    )
    # then
    assert_illegal(response)
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.AWAITING_RETURN


def shipped_return_request() -> AfterSale:
    order = factories.order(paid=True)
    operator = factories.operator_with_role("ops_staff")
    services.ship_order(order=order, carrier="SF", tracking_no="SF1234567890", actor=operator)
    return services.request_after_sale(
        order=Order.objects.get(pk=order.pk),
        member=order.member,
        kind="return_refund",
        reason="damaged",
        lines=[{"item_id": order.items.get().pk, "quantity": 1}],
    )


def test_receiving_goods_of_an_approved_return_not_yet_sent_back_is_409() -> None:
    # given an approved return the member has not shipped back
    after_sale = shipped_return_request()
    services.approve(after_sale=after_sale, actor=factories.operator_with_role("finance"))
    sku_id = after_sale.order.items.get().sku_id
    stock = Sku.objects.get(pk=sku_id).stock
    # when the warehouse says it received the goods
    response = post(
        manage_client("customer_service"),
        f"/api/v1/manage/after-sales/{after_sale.pk}/receive-return",
    )
    # then nothing is restocked or refunded
    assert_illegal(response)
    assert Sku.objects.get(pk=sku_id).stock == stock
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.AWAITING_RETURN
    assert not after_sale.refunds.exists()


def test_receiving_goods_of_an_unapproved_return_request_is_409() -> None:
    # given a return request nobody approved and the member never shipped back
    after_sale = shipped_return_request()
    sku_id = after_sale.order.items.get().sku_id
    stock = Sku.objects.get(pk=sku_id).stock
    # when the warehouse says it received the goods
    response = post(
        manage_client("customer_service"),
        f"/api/v1/manage/after-sales/{after_sale.pk}/receive-return",
    )
    # then nothing is restocked or refunded
    assert_illegal(response)
    assert Sku.objects.get(pk=sku_id).stock == stock
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.REQUESTED
    assert not after_sale.refunds.exists()


def test_withdrawing_a_refunded_after_sale_is_409(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a refunded request
    after_sale = factories.after_sale()
    operator = factories.operator_with_role("customer_service")
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(after_sale=after_sale, actor=operator)
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.REFUNDED
    # when the member withdraws it
    response = post(
        member_client(after_sale.member), f"/api/v1/after-sales/{after_sale.pk}/withdraw"
    )
    # then
    assert_illegal(response)
    assert AfterSale.objects.get(pk=after_sale.pk).status == AfterSaleStatus.REFUNDED
