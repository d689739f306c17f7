"""Coupons at checkout: each kind and scope priced to the fen and spread over the
lines, the best suggested first, stacking rules, whose and when, one coupon per
order, and what happens to the coupon with its order (cancel, timeout, paid,
refunded) — and the per-template results."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.catalog.models import StockLedger
from miniops.marketing import pricing
from miniops.marketing.models import Coupon, CouponStatus, CouponTemplate, PointsEntry
from miniops.marketing.selectors import coupon_stats
from miniops.marketing.services import points
from miniops.marketing.tests.helpers import (
    Buyer,
    balance_of,
    buyer,
    coupon_for,
    error_of,
    pay,
    place_order,
    post,
    preview,
    refund_fully,
    sku_of,
    stock_of,
    suggestions,
)
from miniops.orders import services as order_services
from miniops.orders.models import Order, OrderStatus
from miniops.testing import factories

pytestmark = pytest.mark.django_db

Kind = CouponTemplate.Kind
Scope = CouponTemplate.Scope


@pytest.fixture
def shipping_800() -> Any:
    return factories.freight_template(is_default=True, first_fee=800, additional_fee=0)


@pytest.fixture
def who() -> Buyer:
    return buyer()


def status_of(coupon: Coupon) -> str:
    return str(Coupon.objects.values_list("status", flat=True).get(pk=coupon.pk))


def lines_of(response: Any) -> list[tuple[int, int, int]]:
    """(unit_price, goods_amount, discount_share) of each line of a preview."""
    return [
        (li["unit_price"], li["goods_amount"], li["discount_share"])
        for li in response.json()["lines"]
    ]


def assert_nothing_written(who: Buyer, skus: list[Any], stocks: list[int]) -> None:
    assert not Order.objects.filter(member=who.member).exists()
    assert [stock_of(sku) for sku in skus] == stocks
    assert not StockLedger.objects.filter(reason="order_reserved").exists()


# --- each kind --------------------------------------------------------------------------------
def test_a_fixed_coupon_takes_its_amount_off_spread_over_the_lines_to_the_fen(who: Buyer) -> None:
    # given two lines (2 × 33.33 and 1 × 12.34) and a 10.00 coupon
    sku_a, sku_b = sku_of(price=3333), sku_of(price=1234)
    coupon = coupon_for(who, kind=Kind.FIXED, value=1000, min_spend=0)
    basket = [(sku_a, 2), (sku_b, 1)]
    # when the member previews with it
    response = preview(who, basket, coupon_ids=[coupon.pk])
    # then 10.00 comes off, split 8.44 / 1.56 by the largest remainder
    assert response.status_code == 200, response.content
    quote = response.json()
    assert quote["goods_amount"] == 7900
    assert quote["discounts"] == [{"kind": "coupon", "label": coupon.template.name, "amount": 1000}]
    assert quote["payable"] == 6900
    assert lines_of(response) == [(3333, 6666, 844), (1234, 1234, 156)]
    # when the order is placed with it
    placed = place_order(who, basket, coupon_ids=[coupon.pk])
    # then the order records the same amounts, each line's share paying exactly
    assert placed.status_code == 201, placed.content
    order = Order.objects.get(pk=placed.json()["id"])
    assert (order.goods_amount, order.discount_amount, order.payable_amount) == (7900, 1000, 6900)
    shares = dict(order.items.values_list("sku_id", "paid_share"))
    assert shares == {sku_a.pk: 6666 - 844, sku_b.pk: 1234 - 156}
    assert dict(order.items.values_list("sku_id", "discount_share")) == {
        sku_a.pk: 844,
        sku_b.pk: 156,
    }
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id, coupon.discount) == (
        CouponStatus.LOCKED,
        order.pk,
        1000,
    )


@pytest.mark.parametrize(
    ("goods", "expected"),
    [(5000, 750), (9999, 1499), (10000, 1500), (20000, 1500)],
    ids=["15%", "15%-floored", "at-cap", "capped"],
)
def test_a_percent_coupon_takes_its_percent_up_to_the_cap(
    who: Buyer, goods: int, expected: int
) -> None:
    # given 15 % off, at most 15.00
    sku = sku_of(price=goods)
    coupon = coupon_for(who, kind=Kind.PERCENT, value=15, max_discount=1500, min_spend=0)
    # when
    response = preview(who, [(sku, 1)], coupon_ids=[coupon.pk])
    # then
    assert response.status_code == 200, response.content
    assert response.json()["discount_amount"] == expected
    assert response.json()["payable"] == goods - expected


def test_a_threshold_coupon_needs_the_threshold(who: Buyer) -> None:
    # given 满100减10
    coupon = coupon_for(who, kind=Kind.THRESHOLD, value=1000, min_spend=10000)
    short, enough = sku_of(price=9999), sku_of(price=10000)
    # when the basket is one fen short
    refused = preview(who, [(short, 1)], coupon_ids=[coupon.pk])
    # then the coupon does not apply
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "coupon_min_spend"
    assert error_of(refused)["fields"] == {"coupon_ids": coupon.pk}
    # when it reaches the threshold
    accepted = preview(who, [(enough, 1)], coupon_ids=[coupon.pk])
    # then 10.00 comes off
    assert accepted.status_code == 200
    assert accepted.json()["payable"] == 9000


def test_a_fixed_coupon_with_a_minimum_spend_needs_it(who: Buyer) -> None:
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=3000)
    assert preview(who, [(sku_of(price=2999), 1)], coupon_ids=[coupon.pk]).status_code == 409
    assert preview(who, [(sku_of(price=3000), 1)], coupon_ids=[coupon.pk]).json()["payable"] == 2500


def test_a_coupon_never_takes_more_than_the_goods(who: Buyer) -> None:
    coupon = coupon_for(who, kind=Kind.FIXED, value=5000, min_spend=0)
    response = preview(who, [(sku_of(price=1200), 1)], coupon_ids=[coupon.pk])
    assert response.json()["discount_amount"] == 1200
    assert response.json()["payable"] == 0


def test_a_free_shipping_coupon_removes_the_fee(who: Buyer, shipping_800: Any) -> None:
    # given 8.00 shipping and a free-shipping coupon
    sku = sku_of(price=5000)
    coupon = coupon_for(who, kind=Kind.FREE_SHIPPING, value=0, min_spend=0)
    assert preview(who, [(sku, 1)]).json()["shipping_fee"] == 800
    # when it is used
    response = preview(who, [(sku, 1)], coupon_ids=[coupon.pk])
    # then shipping is free and the goods keep their price
    quote = response.json()
    assert (quote["shipping_fee"], quote["discount_amount"], quote["payable"]) == (0, 0, 5000)
    # and the order locks the coupon
    placed = place_order(who, [(sku, 1)], coupon_ids=[coupon.pk])
    assert placed.json()["payable_amount"] == 5000
    assert placed.json()["shipping_fee"] == 0
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id) == (CouponStatus.LOCKED, placed.json()["id"])


def test_a_free_shipping_coupon_records_the_fee_it_saved(who: Buyer, shipping_800: Any) -> None:
    # given 8.00 shipping and a free-shipping coupon
    coupon = coupon_for(who, kind=Kind.FREE_SHIPPING, value=0, min_spend=0)
    # when an order uses it and is paid
    placed = place_order(who, [(sku_of(price=5000), 1)], coupon_ids=[coupon.pk])
    pay(placed.json()["id"])
    # then the coupon records the 8.00 it saved, and the results count it as its cost
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.USED
    row = next(r for r in coupon_stats() if r["id"] == coupon.template_id)
    assert (row["used"], row["gmv"]) == (1, 5000)
    assert coupon.discount == 800
    assert row["cost"] == 800


def test_a_free_shipping_coupon_with_a_minimum_spend_needs_it(
    who: Buyer, shipping_800: Any
) -> None:
    coupon = coupon_for(who, kind=Kind.FREE_SHIPPING, value=0, min_spend=9900)
    refused = preview(who, [(sku_of(price=5000), 1)], coupon_ids=[coupon.pk])
    assert refused.status_code == 409
    assert error_of(refused)["code"] == "coupon_min_spend"
    assert preview(who, [(sku_of(price=9900), 1)], coupon_ids=[coupon.pk]).json()["payable"] == 9900


# --- scope ------------------------------------------------------------------------------------
@pytest.fixture
def tree() -> dict[str, Any]:
    """服装 > 上衣 (a sub-category), and 食品 elsewhere: one product in each."""
    clothes = factories.category("服装")
    tops = factories.category("上衣", parent=clothes)
    food = factories.category("食品")
    return {
        "clothes": clothes,
        "tops": tops,
        "shirt": factories.product(price=6000, category_obj=tops),
        "coat": factories.product(price=4000, category_obj=clothes),
        "snack": factories.product(price=5000, category_obj=food),
    }


def test_a_category_coupon_covers_its_sub_categories_and_nothing_else(
    who: Buyer, tree: dict[str, Any]
) -> None:
    # given 10 % off 服装 (the shirt is in its sub-category 上衣)
    template = factories.coupon_template(
        kind=Kind.PERCENT, value=10, min_spend=0, scope=Scope.CATEGORIES
    )
    template.categories.set([tree["clothes"]])
    coupon = factories.member_coupon(template=template, member=who.member)
    basket = [(p.skus.get(), 1) for p in (tree["shirt"], tree["coat"], tree["snack"])]
    # when the basket holds the shirt, the coat and a snack
    response = preview(who, basket, coupon_ids=[coupon.pk])
    # then 10 % of the shirt and the coat comes off, not of the snack
    assert response.status_code == 200, response.content
    assert response.json()["discount_amount"] == (6000 + 4000) // 10


def test_a_category_coupon_counts_only_eligible_goods_towards_the_minimum_spend(
    who: Buyer, tree: dict[str, Any]
) -> None:
    # given 满100减10 on 服装, and 60.00 of clothes plus 50.00 of snacks
    template = factories.coupon_template(scope=Scope.CATEGORIES)
    template.categories.set([tree["tops"]])
    coupon = factories.member_coupon(template=template, member=who.member)
    basket = [(tree["shirt"].skus.get(), 1), (tree["snack"].skus.get(), 1)]
    # when
    response = preview(who, basket, coupon_ids=[coupon.pk])
    # then the threshold is not reached
    assert response.status_code == 409
    assert error_of(response)["code"] == "coupon_min_spend"


def test_a_product_coupon_with_an_exclusion_covers_only_the_listed_products_left(
    who: Buyer, tree: dict[str, Any]
) -> None:
    # given 20 % off the shirt and the coat, the coat excluded
    template = factories.coupon_template(
        kind=Kind.PERCENT, value=20, min_spend=0, scope=Scope.PRODUCTS
    )
    template.products.set([tree["shirt"], tree["coat"]])
    template.excluded_products.set([tree["coat"]])
    coupon = factories.member_coupon(template=template, member=who.member)
    basket = [(p.skus.get(), 1) for p in (tree["shirt"], tree["coat"], tree["snack"])]
    # when
    response = preview(who, basket, coupon_ids=[coupon.pk])
    # then only the shirt is discounted
    assert response.json()["discount_amount"] == 6000 * 20 // 100


def test_a_coupon_for_everything_still_honours_its_exclusions(
    who: Buyer, tree: dict[str, Any]
) -> None:
    template = factories.coupon_template(kind=Kind.PERCENT, value=10, min_spend=0)
    template.excluded_products.set([tree["snack"]])
    coupon = factories.member_coupon(template=template, member=who.member)
    basket = [(tree["shirt"].skus.get(), 1), (tree["snack"].skus.get(), 1)]
    assert preview(who, basket, coupon_ids=[coupon.pk]).json()["discount_amount"] == 600


def test_a_coupon_for_other_products_does_not_apply(who: Buyer, tree: dict[str, Any]) -> None:
    template = factories.coupon_template(
        kind=Kind.FIXED, value=100, min_spend=0, scope=Scope.PRODUCTS
    )
    template.products.set([tree["snack"]])
    coupon = factories.member_coupon(template=template, member=who.member)
    response = preview(who, [(tree["shirt"].skus.get(), 1)], coupon_ids=[coupon.pk])
    assert response.status_code == 409
    assert error_of(response)["code"] == "coupon_min_spend"


# --- suggestions ------------------------------------------------------------------------------
def test_checkout_suggests_the_members_applicable_coupons_best_first(
    who: Buyer, shipping_800: Any, tree: dict[str, Any]
) -> None:
    # given a basket of 120.00 (+ 8.00 shipping) and coupons of every kind
    sku = sku_of(price=12000)
    fixed = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    percent = coupon_for(who, kind=Kind.PERCENT, value=20, max_discount=3000, min_spend=0)
    threshold = coupon_for(who, kind=Kind.THRESHOLD, value=1500, min_spend=10000)
    free = coupon_for(who, kind=Kind.FREE_SHIPPING, value=0, min_spend=0)
    # and coupons that must not be offered: too high a threshold, other products, expired,
    # already used, someone else's
    coupon_for(who, kind=Kind.THRESHOLD, value=3000, min_spend=20000)
    other = factories.coupon_template(kind=Kind.FIXED, value=900, min_spend=0, scope=Scope.PRODUCTS)
    other.products.set([tree["snack"]])
    factories.member_coupon(template=other, member=who.member)
    expired = coupon_for(who, kind=Kind.FIXED, value=999, min_spend=0)
    Coupon.objects.filter(pk=expired.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    used = coupon_for(who, kind=Kind.FIXED, value=998, min_spend=0)
    Coupon.objects.filter(pk=used.pk).update(status=CouponStatus.USED)
    coupon_for(factories.member(), kind=Kind.FIXED, value=997, min_spend=0)
    # when the member asks which coupons apply
    response = suggestions(who, [(sku, 1)])
    # then the four that apply come back, the largest saving first
    assert response.status_code == 200, response.content
    offered = [(c["coupon_id"], c["kind"], c["discount"]) for c in response.json()]
    assert offered == [
        (percent.pk, Kind.PERCENT, 2400),
        (threshold.pk, Kind.THRESHOLD, 1500),
        (free.pk, Kind.FREE_SHIPPING, 800),
        (fixed.pk, Kind.FIXED, 500),
    ]
    # and the best one, sent as coupon_ids, is what the preview applies
    best = preview(who, [(sku, 1)], coupon_ids=[offered[0][0]])
    assert best.json()["payable"] == 12000 - 2400 + 800


def test_a_free_shipping_coupon_below_its_minimum_spend_is_not_suggested(
    who: Buyer, shipping_800: Any
) -> None:
    # given a free-shipping coupon from 99.00, and a 50.00 basket
    coupon_for(who, kind=Kind.FREE_SHIPPING, value=0, min_spend=9900)
    sku = sku_of(price=5000)
    # when
    offered = suggestions(who, [(sku, 1)]).json()
    # then nothing is offered that the preview would refuse
    assert offered == []


# --- stacking and whose -----------------------------------------------------------------------
def test_coupons_of_different_kinds_stack(who: Buyer, shipping_800: Any) -> None:
    # given 满100减10, 5 % off and free shipping
    threshold = coupon_for(who, kind=Kind.THRESHOLD, value=1000, min_spend=10000)
    percent = coupon_for(who, kind=Kind.PERCENT, value=5, min_spend=0)
    free = coupon_for(who, kind=Kind.FREE_SHIPPING, value=0, min_spend=0)
    sku = sku_of(price=12000)
    # when all three are used
    response = preview(who, [(sku, 1)], coupon_ids=[threshold.pk, percent.pk, free.pk])
    # then each applies once
    quote = response.json()
    assert [d["amount"] for d in quote["discounts"]] == [1000, 600]
    assert (quote["shipping_fee"], quote["payable"]) == (0, 12000 - 1600)


@pytest.mark.parametrize("kind", [Kind.FIXED, Kind.PERCENT, Kind.THRESHOLD, Kind.FREE_SHIPPING])
def test_two_coupons_of_the_same_kind_are_refused_and_nothing_is_written(
    who: Buyer, kind: str, shipping_800: Any
) -> None:
    # given two coupons of the same kind
    value = {Kind.PERCENT: 10, Kind.FREE_SHIPPING: 0}.get(kind, 500)
    min_spend = 1000 if kind == Kind.THRESHOLD else 0
    first = coupon_for(who, kind=kind, value=value, min_spend=min_spend)
    second = coupon_for(who, kind=kind, value=value, min_spend=min_spend)
    sku = sku_of(price=20000, stock=10)
    # when both are sent with the preview and the order
    refused_preview = preview(who, [(sku, 1)], coupon_ids=[first.pk, second.pk])
    refused_order = place_order(who, [(sku, 1)], coupon_ids=[first.pk, second.pk])
    # then both are refused as bad input
    for response in (refused_preview, refused_order):
        assert response.status_code == 400, response.content
        assert "coupon_ids" in error_of(response)["fields"]
    assert_nothing_written(who, [sku], [10])
    assert {status_of(first), status_of(second)} == {CouponStatus.UNUSED}


def test_the_same_coupon_listed_twice_counts_once(who: Buyer) -> None:
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    response = preview(who, [(sku_of(price=5000), 1)], coupon_ids=[coupon.pk, coupon.pk])
    assert response.status_code == 200
    assert response.json()["discount_amount"] == 500


def test_another_members_coupon_is_404_and_nothing_is_written(who: Buyer) -> None:
    # given a coupon someone else holds
    theirs = coupon_for(factories.member(), kind=Kind.FIXED, value=500, min_spend=0)
    sku = sku_of(stock=10)
    # when this member uses it
    for response in (
        preview(who, [(sku, 1)], coupon_ids=[theirs.pk]),
        place_order(who, [(sku, 1)], coupon_ids=[theirs.pk]),
        suggestions(who, [(sku, 1)]),
    ):
        # then it is not found (and not suggested)
        if response.request["PATH_INFO"].endswith("/checkout/coupons"):
            assert response.json() == []
            continue
        assert response.status_code == 404, response.content
        assert error_of(response)["code"] == "not_found"
    assert_nothing_written(who, [sku], [10])
    assert status_of(theirs) == CouponStatus.UNUSED


def test_an_unknown_coupon_is_404(who: Buyer) -> None:
    response = place_order(who, [(sku_of(), 1)], coupon_ids=[99_999_999])
    assert response.status_code == 404
    assert error_of(response)["fields"] == {"coupon_ids": 99_999_999}


def test_an_expired_coupon_is_409_and_nothing_is_written(who: Buyer) -> None:
    # given a coupon that ended a second ago
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    Coupon.objects.filter(pk=coupon.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    sku = sku_of(stock=10)
    # when it is used
    for response in (
        preview(who, [(sku, 1)], coupon_ids=[coupon.pk]),
        place_order(who, [(sku, 1)], coupon_ids=[coupon.pk]),
    ):
        # then
        assert response.status_code == 409, response.content
        assert error_of(response)["code"] == "coupon_expired"
    assert_nothing_written(who, [sku], [10])


def test_a_coupon_not_valid_yet_cannot_be_used(who: Buyer) -> None:
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    Coupon.objects.filter(pk=coupon.pk).update(valid_from=timezone.now() + timedelta(hours=1))
    response = preview(who, [(sku_of(), 1)], coupon_ids=[coupon.pk])
    assert response.status_code == 409


def test_the_same_coupon_on_a_second_order_is_refused_and_nothing_is_half_written(
    who: Buyer,
) -> None:
    # given a member with points and a coupon used by an unpaid order
    points.earn(who.pk, 1000, PointsEntry.Reason.ADJUSTMENT)
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    first_sku, second_sku = sku_of(stock=10), sku_of(stock=10)
    first = place_order(who, [(first_sku, 1)], coupon_ids=[coupon.pk])
    assert first.status_code == 201
    entries = PointsEntry.objects.count()
    # when a second order uses the same coupon and some points
    second = place_order(who, [(second_sku, 2)], coupon_ids=[coupon.pk], points=300)
    # then it is refused and nothing of it exists: no order, stock and points unchanged
    assert second.status_code == 409, second.content
    assert error_of(second)["code"] == "coupon_not_unused"
    assert Order.objects.filter(member=who.member).count() == 1
    assert stock_of(second_sku) == 10
    assert balance_of(who.member) == 1000
    assert PointsEntry.objects.count() == entries
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id) == (CouponStatus.LOCKED, first.json()["id"])


def test_a_coupon_taken_by_a_concurrent_order_rolls_the_whole_order_back(
    who: Buyer, shipping_800: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a free-shipping coupon an unpaid order already holds, and points to spend
    points.earn(who.pk, 1000, PointsEntry.Reason.ADJUSTMENT)
    coupon = coupon_for(who, kind=Kind.FREE_SHIPPING, value=0, min_spend=0)
    assert place_order(who, [(sku_of(), 1)], coupon_ids=[coupon.pk]).status_code == 201
    sku = sku_of(stock=10)
    # and the race window: pricing saw the coupon unused a moment before the other order
    # locked it (the lock in the order's transaction is the final word)
    monkeypatch.setattr(pricing, "usable", lambda coupon, member_id, rank: None)
    # when a second order spends points and uses the coupon
    response = place_order(who, [(sku, 1)], coupon_ids=[coupon.pk], points=200)
    # then the lock refuses it and the points already taken in that transaction come back
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == "coupon_not_unused"
    assert Order.objects.filter(member=who.member).count() == 1
    assert stock_of(sku) == 10
    assert balance_of(who.member) == 1000
    assert not PointsEntry.objects.filter(reason=PointsEntry.Reason.CHECKOUT).exists()


# --- with the order's life --------------------------------------------------------------------
def placed_with(who: Buyer, coupon: Coupon, price: int = 5000) -> Order:
    response = place_order(who, [(sku_of(price=price), 1)], coupon_ids=[coupon.pk])
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


def test_cancelling_the_unpaid_order_gives_the_coupon_back(who: Buyer) -> None:
    # given an unpaid order using a coupon
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    order = placed_with(who, coupon)
    # when the member cancels it
    response = post(who.client, f"/api/v1/orders/{order.pk}/cancel")
    # then the coupon is usable again
    assert response.status_code == 200, response.content
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id, coupon.discount) == (CouponStatus.UNUSED, None, 0)
    assert preview(who, [(sku_of(), 1)], coupon_ids=[coupon.pk]).status_code == 200


def test_the_unpaid_timeout_gives_the_coupon_back(who: Buyer) -> None:
    # given an unpaid order using a coupon, past its time to pay
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    order = placed_with(who, coupon)
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # when the timeout runs
    assert order_services.cancel_if_unpaid(order.pk) is True
    # then
    assert status_of(coupon) == CouponStatus.UNUSED


def test_a_coupon_whose_time_ran_out_while_locked_comes_back_expired(who: Buyer) -> None:
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    order = placed_with(who, coupon)
    Coupon.objects.filter(pk=coupon.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    order_services.cancel_order(order=order, by_member=True, reason="member")
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id) == (CouponStatus.EXPIRED, None)


def test_paying_the_order_uses_the_coupon(who: Buyer) -> None:
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    order = pay(placed_with(who, coupon))
    assert order.status == OrderStatus.PAID
    assert order.paid_amount == 4500
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id, coupon.discount) == (CouponStatus.USED, order.pk, 500)
    assert coupon.used_at is not None
    # and a used coupon cannot be used again
    again = preview(who, [(sku_of(), 1)], coupon_ids=[coupon.pk])
    assert again.status_code == 409
    assert error_of(again)["code"] == "coupon_not_unused"


def test_a_full_refund_restores_a_coupon_that_says_so(
    who: Buyer, django_capture_on_commit_callbacks: Any
) -> None:
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0, restore_on_refund=True)
    order = pay(placed_with(who, coupon))
    refund_fully(order, django_capture_on_commit_callbacks)
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id, coupon.used_at) == (CouponStatus.UNUSED, None, None)
    assert preview(who, [(sku_of(), 1)], coupon_ids=[coupon.pk]).status_code == 200


def test_a_full_refund_voids_a_coupon_that_is_not_restored(
    who: Buyer, django_capture_on_commit_callbacks: Any
) -> None:
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0, restore_on_refund=False)
    order = pay(placed_with(who, coupon))
    refund_fully(order, django_capture_on_commit_callbacks)
    assert status_of(coupon) == CouponStatus.VOIDED


def test_a_partial_refund_keeps_the_coupon_used(
    who: Buyer, django_capture_on_commit_callbacks: Any
) -> None:
    # given a paid order of two units using a coupon
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    placed = place_order(who, [(sku_of(price=3000), 2)], coupon_ids=[coupon.pk])
    order = pay(placed.json()["id"])
    item = order.items.get()
    # when one unit is refunded
    after_sale = order_services.request_after_sale(
        order=order,
        member=who.member,
        kind="refund_only",
        reason="changed_mind",
        lines=[{"item_id": item.pk, "quantity": 1}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        order_services.approve(
            after_sale=after_sale, actor=factories.operator_with_role("customer_service")
        )
    # then half of what was paid for the line came back and the coupon stays used
    order.refresh_from_db()
    assert order.refunded_amount == (6000 - 500) // 2
    assert status_of(coupon) == CouponStatus.USED


def test_coupons_already_held_stay_valid_after_the_campaign_is_stopped(
    who: Buyer, console_as: Any
) -> None:
    # given a member holding a coupon
    coupon = coupon_for(who, kind=Kind.FIXED, value=500, min_spend=0)
    # when the operator stops the campaign from the console ("no more claims; coupons
    # already held stay valid")
    console = console_as("ops_staff")
    stopped = console.post(
        f"/console/marketing/coupontemplate/{coupon.template_id}/end/", {"_form_submitted": "on"}
    )
    assert stopped.status_code == 302
    assert not CouponTemplate.objects.get(pk=coupon.template_id).is_active
    # then new claims are refused but the held coupon still applies
    assert post(buyer().client, f"/api/v1/coupons/{coupon.template_id}/claim").status_code == 409
    response = preview(who, [(sku_of(), 1)], coupon_ids=[coupon.pk])
    assert response.status_code == 200, response.content
    assert response.json()["discount_amount"] == 500


# --- results ----------------------------------------------------------------------------------
def test_coupon_stats_are_exact_on_a_small_dataset(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a template issued to five members:
    template = factories.coupon_template(
        kind=Kind.FIXED, value=1000, min_spend=0, total_quantity=50
    )
    other = factories.coupon_template(kind=Kind.FIXED, value=300, min_spend=0)
    members = [buyer() for _ in range(5)]
    held = [factories.member_coupon(template=template, member=m.member) for m in members]
    CouponTemplate.objects.filter(pk=template.pk).update(issued_count=5)
    # two used on paid orders (paid 40.00 and 2 × 35.00 - 10.00 = 60.00), the second
    # partly refunded (15.00 back)
    first = pay(placed_with(members[0], held[0], price=5000))
    second_placed = place_order(members[1], [(sku_of(price=3500), 2)], coupon_ids=[held[1].pk])
    second = pay(second_placed.json()["id"])
    assert (first.paid_amount, second.paid_amount) == (4000, 6000)
    after_sale = order_services.request_after_sale(
        order=second,
        member=members[1].member,
        kind="refund_only",
        reason="changed_mind",
        lines=[{"item_id": second.items.get().pk, "quantity": 1}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        order_services.approve(
            after_sale=after_sale, actor=factories.operator_with_role("customer_service")
        )
    assert Order.objects.get(pk=second.pk).refunded_amount == 3000
    # one in an unpaid order, one expired, one unused
    placed_with(members[2], held[2])
    Coupon.objects.filter(pk=held[3].pk).update(status=CouponStatus.EXPIRED)
    # and another template used once (it must not leak into the first's figures)
    other_coupon = factories.member_coupon(template=other, member=members[4].member)
    CouponTemplate.objects.filter(pk=other.pk).update(issued_count=1)
    pay(placed_with(members[4], other_coupon, price=2000))
    # when the results are read
    stats = {row["id"]: row for row in coupon_stats()}
    # then
    row = stats[template.pk]
    assert row["issued"] == 5
    assert row["total"] == 50
    assert row["used"] == 2
    assert row["unused"] == 1
    assert row["expired"] == 1
    assert row["orders"] == 2
    assert row["gmv"] == 4000 + 6000 - 3000
    assert row["cost"] == 2000
    assert row["roi"] == 3.5
    assert row["use_rate"] == 0.4
    assert (stats[other.pk]["used"], stats[other.pk]["gmv"], stats[other.pk]["cost"]) == (
        1,
        1700,
        300,
    )
    assert stats[other.pk]["roi"] == round(1700 / 300, 2)
