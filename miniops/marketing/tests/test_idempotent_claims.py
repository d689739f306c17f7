"""Claiming a coupon and redeeming points take an ``Idempotency-Key`` as placing
an order does (DESIGN.md: writes a client may retry): a retry after a lost answer
answers the first result again instead of claiming or spending twice."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from miniops.marketing.models import Coupon, CouponTemplate, PointsEntry, Redemption
from miniops.marketing.services import points
from miniops.marketing.tests.helpers import Buyer, balance_of, buyer, error_of, post, sku_of
from miniops.orders.models import IdempotencyRecord, Order
from miniops.testing import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def who() -> Buyer:
    return buyer()


def claim(who: Buyer, template: CouponTemplate, key: str | None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return post(who.client, f"/api/v1/coupons/{template.pk}/claim", **headers)


def redeem(who: Buyer, item_id: int, key: str | None, body: dict[str, Any] | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return post(who.client, f"/api/v1/points-shop/{item_id}/redeem", body, **headers)


# --- coupon claim ---------------------------------------------------------------------------
def test_a_retried_claim_answers_the_first_coupon_and_claims_nothing_more(who: Buyer) -> None:
    # given a coupon a member may hold one of
    template = factories.coupon_template(per_member_limit=1, total_quantity=10)
    key = str(uuid.uuid4())
    # when the claim is sent, and sent again with the same key (the answer was lost)
    first = claim(who, template, key)
    again = claim(who, template, key)
    # then both answers are the first one: one coupon, not a 409 for the limit
    assert first.status_code == 201, first.content
    assert again.status_code == 201, again.content
    assert again.json() == first.json()
    assert Coupon.objects.filter(template=template).count() == 1
    template.refresh_from_db()
    assert template.issued_count == 1


def test_a_claim_without_a_key_still_works(who: Buyer) -> None:
    # given a coupon a member may hold two of; when claimed twice without a key
    template = factories.coupon_template(per_member_limit=2, total_quantity=10)
    answers = [claim(who, template, None) for _ in range(3)]
    # then each claim is a claim: two coupons, and the limit for the third
    assert [a.status_code for a in answers] == [201, 201, 409]
    assert error_of(answers[2])["code"] == "coupon_limit_reached"
    assert Coupon.objects.filter(template=template).count() == 2
    assert not IdempotencyRecord.objects.exists()


def test_the_same_key_for_another_coupon_is_422_and_claims_nothing(who: Buyer) -> None:
    # given a claim made with a key
    first, second = factories.coupon_template(), factories.coupon_template()
    key = str(uuid.uuid4())
    assert claim(who, first, key).status_code == 201
    # when the same key is sent to claim another coupon
    response = claim(who, second, key)
    # then it is refused as a reused key, and the second coupon is not claimed
    assert response.status_code == 422, response.content
    assert error_of(response)["code"] == "idempotency_key_reused"
    assert not Coupon.objects.filter(template=second).exists()


def test_a_refused_claim_is_replayed_as_the_same_refusal(who: Buyer) -> None:
    # given a coupon with none left, claimed with a key
    template = factories.coupon_template(total_quantity=0)
    key = str(uuid.uuid4())
    first = claim(who, template, key)
    assert first.status_code == 409, first.content
    # when more are added and the claim is retried with the same key
    CouponTemplate.objects.filter(pk=template.pk).update(total_quantity=5)
    again = claim(who, template, key)
    # then the retry gets the first answer: a new claim needs a new key
    assert again.status_code == 409
    assert again.json() == first.json()
    assert claim(who, template, str(uuid.uuid4())).status_code == 201


def test_keys_are_per_member(who: Buyer) -> None:
    # given another member who claimed with the same key
    template = factories.coupon_template(total_quantity=10)
    other = buyer()
    key = str(uuid.uuid4())
    assert claim(other, template, key).status_code == 201
    # when this member claims with that key, then they get their own coupon
    mine = claim(who, template, key)
    assert mine.status_code == 201, mine.content
    assert Coupon.objects.get(pk=mine.json()["id"]).member_id == who.pk


# --- points redemption ------------------------------------------------------------------------
def test_a_retried_coupon_redemption_spends_the_points_once(who: Buyer) -> None:
    # given 1500 points and a coupon for 1000 points
    points.earn(who.pk, 1500, PointsEntry.Reason.ADJUSTMENT)
    item = factories.redeem_item(points=1000, stock=5, per_member_limit=3)
    key = str(uuid.uuid4())
    # when the redemption is sent twice with the same key
    first = redeem(who, item.pk, key)
    again = redeem(who, item.pk, key)
    # then one redemption, one coupon, the points spent once, one unit gone
    assert first.status_code == 201, first.content
    assert again.json() == first.json()
    assert Redemption.objects.filter(item=item).count() == 1
    assert balance_of(who.member) == 500
    item.refresh_from_db()
    assert item.stock == 4


def test_a_coupon_redemption_without_a_key_still_works(who: Buyer) -> None:
    points.earn(who.pk, 1500, PointsEntry.Reason.ADJUSTMENT)
    template = factories.coupon_template(per_member_limit=3)
    item = factories.redeem_item(coupon_template=template, points=500, stock=5, per_member_limit=3)
    assert [redeem(who, item.pk, None).status_code for _ in range(2)] == [201, 201]
    assert balance_of(who.member) == 500


def test_goods_need_a_key_and_a_retry_places_one_order(who: Buyer) -> None:
    # given points and goods in the points shop
    points.earn(who.pk, 2000, PointsEntry.Reason.ADJUSTMENT)
    item = factories.redeem_item(
        name="帆布袋", coupon_template=None, sku=sku_of(price=3000), points=800
    )
    body = {"address_id": who.address_id}
    # when sent without a key, then it is refused before anything is taken
    missing = redeem(who, item.pk, None, body)
    assert missing.status_code == 400, missing.content
    assert error_of(missing)["code"] == "idempotency_key_required"
    assert balance_of(who.member) == 2000
    # when sent twice with a key, then one order and the points spent once
    key = str(uuid.uuid4())
    first = redeem(who, item.pk, key, body)
    again = redeem(who, item.pk, key, body)
    assert first.status_code == 201, first.content
    assert again.json() == first.json()
    assert Order.objects.filter(member=who.member).count() == 1
    assert balance_of(who.member) == 1200


def test_the_same_key_with_another_address_is_422(who: Buyer) -> None:
    points.earn(who.pk, 2000, PointsEntry.Reason.ADJUSTMENT)
    item = factories.redeem_item(
        name="帆布袋", coupon_template=None, sku=sku_of(price=3000), points=800
    )
    elsewhere = factories.address(who.member, detail="软件园二期")
    key = str(uuid.uuid4())
    assert redeem(who, item.pk, key, {"address_id": who.address_id}).status_code == 201
    response = redeem(who, item.pk, key, {"address_id": elsewhere.pk})
    assert response.status_code == 422, response.content
    assert error_of(response)["code"] == "idempotency_key_reused"
    assert Order.objects.filter(member=who.member).count() == 1
