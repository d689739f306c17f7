"""Goods from the points shop: delivered through an order whose goods the points
pay; with free shipping the order is paid at once, otherwise the member pays the
shipping like any order; cancelled unpaid, stock and points come back."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from miniops.marketing.models import PointsEntry, RedeemItem, Redemption
from miniops.marketing.services import points
from miniops.marketing.tests.helpers import Buyer, balance_of, buyer, error_of, post, sku_of
from miniops.orders.models import Order, OrderStatus, Payment, ProductFreight
from miniops.orders.services.lifecycle import cancel_order
from miniops.testing import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def who() -> Buyer:
    member = buyer()
    points.earn(member.pk, 2000, PointsEntry.Reason.ADJUSTMENT)
    return member


def goods(points_needed: int = 1500, stock: int = 3, **fields: Any) -> RedeemItem:
    return RedeemItem.objects.create(
        name="保温杯", points=points_needed, sku=sku_of(price=5000), stock=stock, **fields
    )


def charge_shipping(item: RedeemItem, fee: int) -> None:
    template = factories.freight_template(first_fee=fee, additional_fee=0)
    ProductFreight.objects.create(product_id=item.sku.product_id, template=template)


def redeem(who: Buyer, item: RedeemItem, key: str | None = None, **body: Any) -> Any:
    return post(
        who.client,
        f"/api/v1/points-shop/{item.pk}/redeem",
        {"address_id": who.address_id, **body},
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def test_goods_with_free_shipping_are_an_order_paid_by_points(who: Buyer) -> None:
    # given goods for 1500 points (the shop ships for free by default)
    item = goods()
    # when the member redeems them
    answer = redeem(who, item)
    # then an order for 0.00 is paid at once, ready to ship, and the points are gone
    assert answer.status_code == 201, answer.content
    order = Order.objects.get(pk=answer.json()["id"])
    assert (order.status, order.payable_amount, order.paid_amount) == (OrderStatus.PAID, 0, 0)
    assert order.items.get().unit_price == 0
    assert not Payment.objects.filter(order=order).exists()
    assert balance_of(who.member) == 500
    assert RedeemItem.objects.get(pk=item.pk).stock == 2
    assert Redemption.objects.get(order=order).points == 1500


def test_a_retry_returns_the_same_order(who: Buyer) -> None:
    item = goods()
    first = redeem(who, item, key="k-1")
    again = redeem(who, item, key="k-1")
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert balance_of(who.member) == 500


def test_goods_with_shipping_to_pay_wait_for_the_payment(who: Buyer) -> None:
    # given a freight template charging 10.00 for this product
    item = goods()
    charge_shipping(item, 1000)
    # when redeemed
    answer = redeem(who, item)
    # then the order asks for the shipping only
    assert answer.status_code == 201, answer.content
    order = Order.objects.get(pk=answer.json()["id"])
    assert (order.status, order.payable_amount) == (OrderStatus.UNPAID, 1000)
    assert balance_of(who.member) == 500


def test_cancelling_the_unpaid_order_gives_stock_and_points_back(who: Buyer) -> None:
    item = goods()
    charge_shipping(item, 1000)
    order = Order.objects.get(pk=redeem(who, item).json()["id"])
    # when the member cancels before paying the shipping
    cancel_order(order=order, by_member=True, reason="changed_mind")
    # then everything comes back, and they may redeem again
    assert balance_of(who.member) == 2000
    assert RedeemItem.objects.get(pk=item.pk).stock == 3
    assert redeem(who, item).status_code == 201


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ({"points_needed": 5000}, "insufficient_points"),
        ({"stock": 0}, "sold_out"),
    ],
    ids=["not-enough-points", "sold-out"],
)
def test_a_refused_redemption_writes_nothing(who: Buyer, setup: dict[str, Any], code: str) -> None:
    item = goods(**setup)
    answer = redeem(who, item)
    assert answer.status_code == 409, answer.content
    assert error_of(answer)["code"] == code
    assert not Order.objects.filter(member=who.member).exists()
    assert balance_of(who.member) == 2000
    assert not Redemption.objects.exists()


def test_the_per_member_limit_holds(who: Buyer) -> None:
    item = goods(points_needed=100)
    assert redeem(who, item).status_code == 201
    second = redeem(who, item)
    assert error_of(second)["code"] == "redeem_limit_reached"
    assert Order.objects.filter(member=who.member).count() == 1


def test_goods_need_an_address_and_coupons_take_none(who: Buyer) -> None:
    item = goods()
    without = post(who.client, f"/api/v1/points-shop/{item.pk}/redeem")
    assert without.status_code == 400
    assert "address_id" in error_of(without)["fields"]
    coupon_item = factories.redeem_item(points=100)
    with_address = redeem(who, coupon_item)
    assert with_address.status_code == 400
    assert balance_of(who.member) == 2000
