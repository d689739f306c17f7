"""Time-limited discounts: on the product page with the price before and the end for
a countdown, only inside their window, ended early on request; and which special
price wins at checkout when flash sale, group buy, time-limited discount and member
level meet (docs/decisions/0011: flash, then group, then time-limited, then member
level — one special price per line — then coupons and points on top)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from miniops.catalog.models import Sku
from miniops.core import localcache
from miniops.core.errors import Forbidden, IllegalTransition, InvalidInput
from miniops.marketing.models import MemberStanding, TimedDiscount
from miniops.marketing.services import discounts, points
from miniops.marketing.tests.helpers import (
    Buyer,
    buyer,
    flash_buy,
    flash_item,
    place_order,
    post,
    preview,
)
from miniops.orders.models import Order
from miniops.testing import factories

pytestmark = pytest.mark.django_db


# --- helpers ------------------------------------------------------------------------------------
def product_page(product_id: int) -> dict[str, Any]:
    response = Client().get(f"/api/v1/products/{product_id}")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def sku_prices(page: dict[str, Any]) -> dict[int, tuple[int, int | None]]:
    """sku id -> (price, promotion_price) as the product page shows them."""
    return {sku["id"]: (sku["price"], sku.get("promotion_price")) for sku in page["skus"]}


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def a_while_later() -> None:
    """The product page memoises which products have a discount for two seconds."""
    localcache.forget()


def unit_price(response: Any) -> int:
    assert response.status_code == 200, response.content
    return int(response.json()["lines"][0]["unit_price"])


def placed(response: Any) -> Order:
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


def price_source(order: Order) -> str:
    return str(order.pricing["lines"][0]["price_source"])


def two_sku_product(price: int = 5000) -> tuple[Any, Sku, Sku]:
    product = factories.product(price=price, stock=50, skus=2)
    first, second = product.skus.order_by("id")
    return product, first, second


def with_member_level(who: Buyer, percent: int) -> None:
    level = factories.level(name=f"{percent}%", discount_percent=percent)
    points.standing(who.pk)
    MemberStanding.objects.filter(member_id=who.pk).update(level=level)


@pytest.fixture
def who() -> Buyer:
    return buyer()


# --- on the product page -----------------------------------------------------------------------
def test_a_running_discount_shows_on_the_product_page_with_a_countdown() -> None:
    # given 20 % off a product of two SKUs at 50.00, ending in 3 hours
    product, first, second = two_sku_product()
    ends = timezone.now() + timedelta(hours=3)
    discount = factories.timed_discount(product=product, percent_off=20, ends_at=ends)
    # when a buyer opens the product page
    page = product_page(product.pk)
    # then each SKU keeps its price and carries the promotion price
    assert sku_prices(page) == {first.pk: (5000, 4000), second.pk: (5000, 4000)}
    # and the promotion says what it is and when it ends, with the server's time
    promotion = page["promotion"]
    assert (promotion["kind"], promotion["name"]) == ("timed", discount.name)
    assert parse(promotion["ends_at"]) == ends
    server_time = parse(promotion["server_time"])
    assert server_time < parse(promotion["ends_at"])
    assert abs(server_time - timezone.now()) < timedelta(minutes=5)


def test_a_product_without_a_discount_has_no_promotion() -> None:
    product = factories.product(price=5000)
    page = product_page(product.pk)
    assert page.get("promotion") is None
    assert all(sku.get("promotion_price") is None for sku in page["skus"])


def test_a_sku_discount_covers_that_sku_and_wins_over_the_products() -> None:
    # given 20 % off the product and a fixed 30.00 for its first SKU
    product, first, second = two_sku_product()
    factories.timed_discount(product=product, percent_off=20)
    factories.timed_discount(product=None, sku=first, percent_off=None, price=3000)
    # when / then the page and the checkout agree: 30.00 for the first, 40.00 for the second
    assert sku_prices(product_page(product.pk)) == {first.pk: (5000, 3000), second.pk: (5000, 4000)}
    who = buyer()
    assert unit_price(preview(who, [(first, 1)])) == 3000
    assert unit_price(preview(who, [(second, 1)])) == 4000


def test_a_sku_only_discount_leaves_the_other_skus_at_their_price() -> None:
    product, first, second = two_sku_product()
    factories.timed_discount(product=None, sku=second, percent_off=None, price=3500)
    assert sku_prices(product_page(product.pk)) == {first.pk: (5000, None), second.pk: (5000, 3500)}


def test_of_two_overlapping_discounts_the_latest_started_applies_everywhere() -> None:
    # given two product discounts running at once, the 30 % one started later
    product = factories.product(price=5000)
    sku = product.skus.get()
    now = timezone.now()
    factories.timed_discount(product=product, percent_off=10, starts_at=now - timedelta(hours=2))
    factories.timed_discount(product=product, percent_off=30, starts_at=now - timedelta(hours=1))
    # when / then the page and checkout both use 30 %
    assert sku_prices(product_page(product.pk))[sku.pk] == (5000, 3500)
    assert unit_price(preview(buyer(), [(sku, 1)])) == 3500


@pytest.mark.parametrize(
    ("list_price", "percent", "expected"),
    [(4999, 20, 4000), (5000, 33, 3350), (100, 99, 1), (1, 50, 1)],
)
def test_percent_off_is_rounded_in_the_buyers_favour_and_never_below_one_fen(
    list_price: int, percent: int, expected: int
) -> None:
    # given
    product = factories.product(price=list_price)
    factories.timed_discount(product=product, percent_off=percent)
    # when / then the page and the checkout show the same price
    sku = product.skus.get()
    assert sku_prices(product_page(product.pk))[sku.pk][1] == expected
    assert unit_price(preview(buyer(), [(sku, 1)])) == expected


# --- the window --------------------------------------------------------------------------------
def test_a_discount_applies_only_from_its_start(who: Buyer) -> None:
    # given a discount starting in an hour
    product = factories.product(price=5000)
    sku = product.skus.get()
    now = timezone.now()
    discount = factories.timed_discount(
        product=product, starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=5)
    )
    assert discount.status == "upcoming"
    # when the page and the checkout are asked before it starts
    # then neither shows the discount
    assert product_page(product.pk).get("promotion") is None
    assert unit_price(preview(who, [(sku, 1)])) == 5000
    # when its start has passed
    TimedDiscount.objects.filter(pk=discount.pk).update(starts_at=now - timedelta(seconds=1))
    a_while_later()
    # then both show it
    assert sku_prices(product_page(product.pk))[sku.pk] == (5000, 4000)
    assert unit_price(preview(who, [(sku, 1)])) == 4000
    assert TimedDiscount.objects.get(pk=discount.pk).status == "running"


def test_a_discount_stops_at_its_end(who: Buyer) -> None:
    # given a running discount
    product = factories.product(price=5000)
    sku = product.skus.get()
    discount = factories.timed_discount(product=product)
    assert unit_price(preview(who, [(sku, 1)])) == 4000
    # when its end has passed
    TimedDiscount.objects.filter(pk=discount.pk).update(ends_at=timezone.now())
    a_while_later()
    # then the list price is back on the page and at checkout
    assert product_page(product.pk).get("promotion") is None
    assert unit_price(preview(who, [(sku, 1)])) == 5000
    assert TimedDiscount.objects.get(pk=discount.pk).status == "ended"


def test_an_order_placed_in_the_window_keeps_its_price_after_the_end(who: Buyer) -> None:
    # given an order placed at the discounted price
    product = factories.product(price=5000)
    discount = factories.timed_discount(product=product)
    order = placed(place_order(who, [(product.skus.get(), 2)]))
    # when the discount ends
    TimedDiscount.objects.filter(pk=discount.pk).update(ends_at=timezone.now())
    # then the order still costs what the buyer saw
    order.refresh_from_db()
    assert (order.goods_amount, order.payable_amount) == (8000, 8000)
    assert price_source(order) == "timed"


def test_ending_early_stops_the_discount_at_once(who: Buyer) -> None:
    # given a running discount
    product = factories.product(price=5000)
    sku = product.skus.get()
    discount = factories.timed_discount(product=product)
    assert product_page(product.pk)["promotion"] is not None
    # when the operations manager ends it
    ended = discounts.end_early(
        discount=discount, actor=factories.operator_with_role("ops_manager")
    )
    # then it is ended and neither the page nor the checkout applies it
    assert ended.status == "ended"
    assert ended.ended_early_at is not None
    assert product_page(product.pk).get("promotion") is None
    assert unit_price(preview(who, [(sku, 1)])) == 5000
    # and it cannot be ended twice
    with pytest.raises(IllegalTransition):
        discounts.end_early(discount=ended, actor=None)


def test_ending_early_needs_marketing_manage() -> None:
    discount = factories.timed_discount()
    for role in ("customer_service", "finance", "analyst"):
        with pytest.raises(Forbidden):
            discounts.end_early(discount=discount, actor=factories.operator_with_role(role))
    assert TimedDiscount.objects.get(pk=discount.pk).ended_early_at is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"product": None, "sku": None}, "product"),
        ({"sku": "SKU"}, "product"),
        ({"percent_off": None, "price": None}, "percent_off"),
        ({"percent_off": 20, "price": 100, "product": None, "sku": "SKU"}, "percent_off"),
        ({"percent_off": 0}, "percent_off"),
        ({"percent_off": 100}, "percent_off"),
        ({"percent_off": None, "price": 3000}, "price"),
        ({"percent_off": None, "price": 0, "product": None, "sku": "SKU"}, "price"),
        ({"percent_off": None, "price": 5000, "product": None, "sku": "SKU"}, "price"),
        ({"ends_before_start": True}, "ends_at"),
    ],
    ids=[
        "no-target",
        "two-targets",
        "no-amount",
        "two-amounts",
        "0%",
        "100%",
        "price-for-a-product",
        "price-0",
        "price-not-below",
        "ends-before-start",
    ],
)
def test_discount_rules(fields: dict[str, Any], field: str) -> None:
    # given a 50.00 product and a discount with one rule broken
    product = factories.product(price=5000)
    now = timezone.now()
    data: dict[str, Any] = {
        "name": "限时",
        "product": product,
        "sku": None,
        "percent_off": 20,
        "price": None,
        "starts_at": now,
        "ends_at": now + timedelta(days=1),
    }
    if fields.pop("ends_before_start", False):
        data["ends_at"] = now - timedelta(hours=1)
    data.update(fields)
    if data["sku"] == "SKU":
        data["sku"] = product.skus.get()
    # when / then
    with pytest.raises(InvalidInput) as refused:
        discounts.validate(TimedDiscount(**data))
    assert field in refused.value.fields


# --- priority at checkout ----------------------------------------------------------------------
def test_a_time_limited_price_wins_over_the_member_price_and_they_never_stack(
    who: Buyer,
) -> None:
    # given a member with 10 % off everything, and 20 % off one product for a while
    with_member_level(who, 10)
    discounted = factories.product(price=5000)
    factories.timed_discount(product=discounted, percent_off=20)
    plain = factories.product(price=5000)
    # when they buy both
    order = placed(place_order(who, [(discounted.skus.get(), 1), (plain.skus.get(), 1)]))
    # then the discounted product is 40.00 (not 36.00), the other 45.00 (member price)
    lines = {line["product_id"]: line for line in order.pricing["lines"]}
    assert (lines[discounted.pk]["unit_price"], lines[discounted.pk]["price_source"]) == (
        4000,
        "timed",
    )
    assert (lines[plain.pk]["unit_price"], lines[plain.pk]["price_source"]) == (4500, "member")
    assert order.goods_amount == 8500


def test_the_first_special_price_applies_even_when_a_later_one_is_lower(who: Buyer) -> None:
    # given 5 % off for a while, and a member level with 30 % off
    with_member_level(who, 30)
    product = factories.product(price=5000)
    factories.timed_discount(product=product, percent_off=5)
    # when the member buys it
    order = placed(place_order(who, [(product.skus.get(), 1)]))
    # then the time-limited price (earlier in the order of precedence) applies
    assert (order.goods_amount, price_source(order)) == (4750, "timed")


def open_group(who: Buyer, group_buy_id: int) -> Any:
    return post(
        who.client,
        f"/api/v1/group-buys/{group_buy_id}/open",
        {"address_id": who.address_id},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def test_the_group_price_wins_over_time_limited_and_member_prices(who: Buyer) -> None:
    # given a group buy at 39.90 on a SKU that is also 50 % off for a while, and a member level
    group_buy = factories.group_buy(group_price=3990)
    factories.timed_discount(product=group_buy.sku.product, percent_off=50)
    with_member_level(who, 10)
    # when the member opens a group
    order = placed(open_group(who, group_buy.pk))
    # then the group price applies, alone
    assert (order.goods_amount, price_source(order)) == (3990, "group")
    # and the same SKU bought outside the group gets the time-limited price
    assert unit_price(preview(who, [(group_buy.sku, 1)])) == 2500


def test_the_flash_price_wins_over_time_limited_and_member_prices(who: Buyer) -> None:
    # given a flash item at 9.90 on a SKU also 20 % off for a while, and a member level
    item = flash_item(stock=5, price=990)
    factories.timed_discount(product=item.sku.product, percent_off=20)
    with_member_level(who, 10)
    # when the member buys it in the flash sale
    order = placed(flash_buy(who, item))
    # then the flash price applies, alone
    assert (order.goods_amount, price_source(order)) == (990, "flash")
    # and a normal checkout of the same SKU gets the time-limited price, not the flash one
    assert unit_price(preview(who, [(item.sku, 1)])) == 4000


def test_coupons_and_points_apply_on_top_of_the_special_price(who: Buyer) -> None:
    # given 20 % off (50.00 -> 40.00), a 满40减5 coupon, and 1000 points
    product = factories.product(price=5000)
    factories.timed_discount(product=product, percent_off=20)
    template = factories.coupon_template(kind="threshold", value=500, min_spend=4000)
    coupon = factories.member_coupon(template=template, member=who.member)
    points.earn(who.pk, 1000, "adjustment")
    # when the member orders with both
    order = placed(place_order(who, [(product.skus.get(), 1)], coupon_ids=[coupon.pk], points=1000))
    # then the coupon counts the discounted goods, points at most half of what is left
    assert order.goods_amount == 4000
    assert [(d["kind"], d["amount"]) for d in order.pricing["discounts"]] == [
        ("coupon", 500),
        ("points", 1000),
    ]
    assert order.payable_amount == 4000 - 500 - 1000


def test_a_coupon_threshold_counts_the_discounted_price_not_the_list_price(who: Buyer) -> None:
    # given 满45减5 and a 50.00 product at 40.00 for a while
    product = factories.product(price=5000)
    factories.timed_discount(product=product, percent_off=20)
    template = factories.coupon_template(kind="threshold", value=500, min_spend=4500)
    coupon = factories.member_coupon(template=template, member=who.member)
    # when / then the threshold is not reached
    response = preview(who, [(product.skus.get(), 1)], coupon_ids=[coupon.pk])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "coupon_min_spend"
