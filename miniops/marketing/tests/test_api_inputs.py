"""Bad input to every marketing endpoint, client and management: always a 4xx in the
shared error shape ``{"error": {"code", "message", "fields"}}``, never a 500, and
nothing half-written (no coupon, order, points, group seat or stock taken)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.utils import timezone

from miniops.catalog.models import StockLedger
from miniops.marketing.models import (
    Coupon,
    CouponStatus,
    CouponTemplate,
    FlashItem,
    Group,
    GroupMember,
    PointsEntry,
    RedeemItem,
    Redemption,
)
from miniops.marketing.services import flash, points
from miniops.marketing.tests.helpers import (
    Buyer,
    buyer,
    coupon_for,
    error_of,
    flash_item,
    pay,
    post,
    sku_of,
    stock_of,
)
from miniops.orders.models import IdempotencyRecord, Order
from miniops.testing import factories

pytestmark = pytest.mark.django_db

#: wrong types, out of range, and numbers in disguise
BAD_INTS = [0, -1, 2**31, 2**63, 1.5, "1e3", "1", True, None, "", [], {}]
BAD_PATH_IDS = ["0", "-1", "abc", "1.5", "1e3", str(2**63), "%20"]


# --- helpers ------------------------------------------------------------------------------------
def safe(who: Buyer) -> Buyer:
    """A 500 comes back as a response (to be asserted), not as an exception."""
    who.client.raise_request_exception = False
    return who


@pytest.fixture
def who() -> Buyer:
    return safe(buyer())


def assert_refused(response: Any, status: int | None = None, code: str | None = None) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content)
    if status is not None:
        assert response.status_code == status, response.content
    error = error_of(response)
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error


@dataclass
class Snapshot:
    counts: dict[str, int]

    @classmethod
    def take(cls) -> Snapshot:
        return cls(
            {
                "orders": Order.objects.count(),
                "coupons": Coupon.objects.count(),
                "locked": Coupon.objects.exclude(status=CouponStatus.UNUSED).count(),
                "issued": sum(CouponTemplate.objects.values_list("issued_count", flat=True)),
                "points": PointsEntry.objects.count(),
                "redemptions": Redemption.objects.count(),
                "redeem_stock": sum(RedeemItem.objects.values_list("stock", flat=True)),
                "groups": Group.objects.count(),
                "seats": GroupMember.objects.count(),
                "flash_sold": sum(FlashItem.objects.values_list("sold", flat=True)),
                "stock_moves": StockLedger.objects.filter(reason__startswith="order_").count(),
            }
        )


@pytest.fixture
def unchanged() -> Iterator[None]:
    """Asserts after the test that nothing marketing or orders keep was written."""
    before = Snapshot.take()
    yield
    assert Snapshot.take() == before


def keyed(who: Buyer, path: str, body: Any, key: str | None = "") -> Any:
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    return post(who.client, path, body, **headers)


# --- coupons ------------------------------------------------------------------------------------
@pytest.mark.parametrize("template_id", BAD_PATH_IDS)
def test_claiming_with_a_bad_template_id_is_refused(who: Buyer, template_id: str) -> None:
    # given a claimable coupon
    factories.coupon_template()
    before = Snapshot.take()
    # when
    response = post(who.client, f"/api/v1/coupons/{template_id}/claim")
    # then
    assert 400 <= response.status_code < 500, response.content
    assert Snapshot.take() == before


def test_claiming_an_unknown_coupon_is_404(who: Buyer, unchanged: None) -> None:
    assert_refused(post(who.client, "/api/v1/coupons/987654/claim"), 404, "not_found")


def test_claiming_without_signing_in_is_401(unchanged: None) -> None:
    template = factories.coupon_template()
    response = post(Client(raise_request_exception=False), f"/api/v1/coupons/{template.pk}/claim")
    assert_refused(response, 401, "not_authenticated")


@pytest.mark.parametrize("status", ["bogus", "USED", "", "1"])
def test_listing_my_coupons_with_a_bad_status_is_422(who: Buyer, status: str) -> None:
    response = who.client.get("/api/v1/me/coupons", {"status": status})
    assert_refused(response, 422, "validation_error")
    assert "status" in error_of(response)["fields"]


@pytest.mark.parametrize("quantity", [*BAD_INTS, 1000], ids=repr)
def test_checkout_coupons_refuses_bad_quantities(
    who: Buyer, quantity: Any, unchanged: None
) -> None:
    response = post(
        who.client,
        "/api/v1/checkout/coupons",
        {"items": [{"sku_id": sku_of().pk, "quantity": quantity}]},
    )
    assert_refused(response)
    assert any("quantity" in field for field in error_of(response)["fields"]), response.content


@pytest.mark.parametrize(
    "body",
    [
        {"items": [{"sku_id": "abc", "quantity": 1}]},
        {"items": [{"sku_id": 0, "quantity": 1}]},
        {"items": [{"sku_id": 2**63, "quantity": 1}]},
        {"items": [{"quantity": 1}]},
        {"items": "everything"},
        {"items": [{"sku_id": 1, "quantity": 1}] * 51},
        {"items": [{"sku_id": "SKU", "quantity": 1}], "address_id": "1"},
        {"items": [{"sku_id": "SKU", "quantity": 1}], "address_id": -5},
        {"items": [{"sku_id": "SKU", "quantity": 1}], "from_cart": "yes"},
        {"from_cart": True},
        {},
    ],
    ids=[
        "sku-string",
        "sku-0",
        "sku-2**63",
        "sku-missing",
        "items-string",
        "51-lines",
        "address-string",
        "address-negative",
        "from-cart-string",
        "empty-cart",
        "nothing",
    ],
)
def test_checkout_coupons_refuses_a_bad_basket(
    who: Buyer, body: dict[str, Any], unchanged: None
) -> None:
    # given ("SKU": a real SKU on sale)
    sku = sku_of()
    if isinstance(body.get("items"), list):
        body = {
            **body,
            "items": [
                {**item, "sku_id": sku.pk} if item.get("sku_id") == "SKU" else item
                for item in body["items"]
            ],
        }
    # when / then
    assert_refused(post(who.client, "/api/v1/checkout/coupons", body))


def test_checkout_coupons_for_an_unknown_sku_is_404(who: Buyer, unchanged: None) -> None:
    response = post(
        who.client, "/api/v1/checkout/coupons", {"items": [{"sku_id": 987654, "quantity": 1}]}
    )
    assert_refused(response, 404, "not_found")


# --- coupons at checkout (preview and order) ----------------------------------------------------
def checkout(who: Buyer, sku: Any, **extra: Any) -> list[Any]:
    """The same basket sent to the preview and to the order."""
    body = {"items": [{"sku_id": sku.pk, "quantity": 1}], **extra}
    return [
        post(who.client, "/api/v1/checkout/preview", body),
        keyed(who, "/api/v1/orders", {**body, "address_id": who.address_id}),
    ]


@pytest.mark.parametrize(
    "coupon_ids",
    ["abc", ["abc"], [1.5], ["1"], [True], [None], [1, 2, 3, 4, 5], {"id": 1}, 7],
    ids=repr,
)
def test_badly_typed_coupon_ids_are_422(who: Buyer, coupon_ids: Any) -> None:
    # given a basket and a coupon the member holds
    coupon_for(who, kind="fixed", value=500, min_spend=0)
    sku = sku_of(stock=10)
    before = Snapshot.take()
    # when / then
    for response in checkout(who, sku, coupon_ids=coupon_ids):
        assert_refused(response, 422, "validation_error")
    assert Snapshot.take() == before
    assert stock_of(sku) == 10


def test_an_unknown_coupon_id_is_404(who: Buyer, unchanged: None) -> None:
    for response in checkout(who, sku_of(), coupon_ids=[987654]):
        assert_refused(response, 404, "not_found")


@pytest.mark.parametrize("coupon_id", [0, -1], ids=repr)
def test_a_coupon_id_below_1_is_422(who: Buyer, coupon_id: int, unchanged: None) -> None:
    for response in checkout(who, sku_of(), coupon_ids=[coupon_id]):
        assert_refused(response, 422, "validation_error")


def test_a_coupon_id_beyond_64_bits_is_refused(who: Buyer) -> None:
    for response in checkout(who, sku_of(), coupon_ids=[2**63]):
        assert_refused(response)


def test_another_members_coupon_is_404_and_stays_theirs(who: Buyer) -> None:
    # given a coupon someone else holds
    theirs = coupon_for(factories.member(), kind="fixed", value=500, min_spend=0)
    before = Snapshot.take()
    # when / then
    for response in checkout(who, sku_of(), coupon_ids=[theirs.pk]):
        assert_refused(response, 404, "not_found")
    assert Snapshot.take() == before
    assert Coupon.objects.get(pk=theirs.pk).status == CouponStatus.UNUSED


def test_an_expired_coupon_is_409(who: Buyer) -> None:
    coupon = coupon_for(who, kind="fixed", value=500, min_spend=0)
    Coupon.objects.filter(pk=coupon.pk).update(valid_until=timezone.now())
    before = Snapshot.take()
    for response in checkout(who, sku_of(), coupon_ids=[coupon.pk]):
        assert_refused(response, 409, "coupon_expired")
    assert Snapshot.take() == before


def test_a_coupon_already_used_by_a_paid_order_is_409_and_nothing_is_half_written(
    who: Buyer,
) -> None:
    # given a coupon used by a paid order, and points to spend
    coupon = coupon_for(who, kind="fixed", value=500, min_spend=0)
    points.earn(who.pk, 1000, PointsEntry.Reason.ADJUSTMENT)
    first = keyed(
        who,
        "/api/v1/orders",
        {
            "items": [{"sku_id": sku_of().pk, "quantity": 1}],
            "address_id": who.address_id,
            "coupon_ids": [coupon.pk],
        },
    )
    pay(first.json()["id"])
    sku = sku_of(stock=10)
    before = Snapshot.take()
    # when the same coupon is used again, with points
    for response in checkout(who, sku, coupon_ids=[coupon.pk], points=300):
        # then it is refused
        assert_refused(response, 409, "coupon_not_unused")
    # and nothing of the second order exists: no order, no stock or points taken
    assert Snapshot.take() == before
    assert stock_of(sku) == 10
    assert points.points_of(who.pk) == 1000
    assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.USED


@pytest.mark.parametrize("spend", [-1, 10_000_001, 1.5, "1e3", "100", True, None], ids=repr)
def test_a_bad_points_amount_is_422(who: Buyer, spend: Any) -> None:
    points.earn(who.pk, 1000, PointsEntry.Reason.ADJUSTMENT)
    before = Snapshot.take()
    for response in checkout(who, sku_of(), points=spend):
        assert_refused(response, 422, "validation_error")
        assert "points" in error_of(response)["fields"]
    assert Snapshot.take() == before


# --- points, sign-in, the points shop ----------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/me/points"),
        ("get", "/api/v1/me/points/history"),
        ("get", "/api/v1/me/coupons"),
        ("post", "/api/v1/me/sign-in"),
        ("post", "/api/v1/checkout/coupons"),
        ("post", "/api/v1/points-shop/1/redeem"),
        ("post", "/api/v1/group-buys/1/open"),
        ("post", "/api/v1/groups/abcdef/join"),
        ("post", "/api/v1/flash-sales/items/1/buy"),
    ],
)
def test_member_endpoints_need_a_signed_in_member(method: str, path: str) -> None:
    # given a client without a token, and one with a forged token
    for client in (
        Client(raise_request_exception=False),
        Client(raise_request_exception=False, HTTP_AUTHORIZATION="Bearer forged.token.here"),
    ):
        # when
        response = client.get(path) if method == "get" else post(client, path, {})
        # then
        assert_refused(response, 401, "not_authenticated")
    assert not PointsEntry.objects.exists()


def test_signing_in_twice_a_day_is_409_and_earns_once(who: Buyer) -> None:
    assert post(who.client, "/api/v1/me/sign-in").status_code == 200
    entries = PointsEntry.objects.count()
    assert_refused(post(who.client, "/api/v1/me/sign-in"), 409, "already_signed_in")
    assert PointsEntry.objects.count() == entries


@pytest.mark.parametrize("item_id", BAD_PATH_IDS)
def test_redeeming_with_a_bad_item_id_is_refused(who: Buyer, item_id: str) -> None:
    points.earn(who.pk, 5000, PointsEntry.Reason.ADJUSTMENT)
    factories.redeem_item()
    before = Snapshot.take()
    response = post(who.client, f"/api/v1/points-shop/{item_id}/redeem")
    assert 400 <= response.status_code < 500, response.content
    assert Snapshot.take() == before


def test_redeeming_with_too_few_points_is_409_and_writes_nothing(who: Buyer) -> None:
    item = factories.redeem_item(points=1000)
    points.earn(who.pk, 999, PointsEntry.Reason.ADJUSTMENT)
    before = Snapshot.take()
    assert_refused(
        post(who.client, f"/api/v1/points-shop/{item.pk}/redeem"), 409, "insufficient_points"
    )
    assert Snapshot.take() == before


# --- flash sales -------------------------------------------------------------------------------
def buy(who: Buyer, item_id: Any, body: dict[str, Any], key: str | None = "") -> Any:
    return keyed(who, f"/api/v1/flash-sales/items/{item_id}/buy", body, key)


@pytest.mark.parametrize("quantity", [*BAD_INTS, 100], ids=repr)
def test_a_flash_purchase_with_a_bad_quantity_is_refused(who: Buyer, quantity: Any) -> None:
    # given a running flash item
    item = flash_item(stock=5, per_member_limit=2)
    before = Snapshot.take()
    # when
    response = buy(who, item.pk, {"quantity": quantity, "address_id": who.address_id})
    # then
    assert_refused(response)
    assert Snapshot.take() == before


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"address_id": "ADDRESS", "remark": "字" * 201}, ""),
        ({"address_id": "ADDRESS", "remark": 5}, ""),
        ({"address_id": "1"}, ""),
        ({"address_id": 0}, ""),
        ({}, ""),
        ({"address_id": "ADDRESS"}, None),
        ({"address_id": "ADDRESS"}, "k" * 129),
        ({"address_id": "ADDRESS", "quantity": 3}, ""),
    ],
    ids=[
        "remark-201",
        "remark-number",
        "address-string",
        "address-0",
        "address-missing",
        "no-idempotency-key",
        "key-too-long",
        "over-the-limit",
    ],
)
def test_a_bad_flash_purchase_is_refused_and_takes_nothing(
    who: Buyer, body: dict[str, Any], key: str | None
) -> None:
    # given a running flash item (2 per member)
    item = flash_item(stock=5, per_member_limit=2)
    if body.get("address_id") == "ADDRESS":
        body = {**body, "address_id": who.address_id}
    before = Snapshot.take()
    # when
    response = buy(who, item.pk, body, key)
    # then nothing is taken, in the database nor in the gate (Redis, when configured)
    assert_refused(response)
    assert Snapshot.take() == before
    assert flash.remaining(FlashItem.objects.get(pk=item.pk)) == 5


def test_a_flash_purchase_to_another_members_address_is_404(who: Buyer, unchanged: None) -> None:
    item = flash_item(stock=5)
    stranger = factories.address(factories.member())
    assert_refused(buy(who, item.pk, {"address_id": stranger.pk}), 404, "not_found")
    assert flash.remaining(FlashItem.objects.get(pk=item.pk)) == 5


@pytest.mark.parametrize("item_id", [*BAD_PATH_IDS, "987654"])
def test_a_flash_purchase_of_a_bad_or_unknown_item_is_refused(
    who: Buyer, item_id: str, unchanged: None
) -> None:
    response = buy(who, item_id, {"quantity": 1, "address_id": who.address_id})
    assert 400 <= response.status_code < 500, response.content
    if item_id == "987654":
        assert_refused(response, 404, "not_found")


# --- group buys --------------------------------------------------------------------------------
@pytest.fixture
def open_group(who: Buyer) -> str:
    """A paid leader's group of three, open for others to join."""
    leader = buyer()
    group_buy = factories.group_buy(group_size=3)
    opened = keyed(
        leader, f"/api/v1/group-buys/{group_buy.pk}/open", {"address_id": leader.address_id}
    )
    assert opened.status_code == 201, opened.content
    pay(opened.json()["id"])
    return str(opened.json()["group_code"])


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"address_id": "1"}, ""),
        ({"address_id": 0}, ""),
        ({"address_id": -1}, ""),
        ({"address_id": 2**63}, ""),
        ({"address_id": 1.5}, ""),
        ({"address_id": None}, ""),
        ({}, ""),
        ({"address_id": "ADDRESS"}, None),
        ({"address_id": "ADDRESS"}, "k" * 129),
        ({"address_id": "STRANGER"}, ""),
    ],
    ids=[
        "address-string",
        "address-0",
        "address-negative",
        "address-2**63",
        "address-float",
        "address-null",
        "address-missing",
        "no-idempotency-key",
        "key-too-long",
        "strangers-address",
    ],
)
def test_opening_or_joining_a_group_with_bad_input_is_refused_and_takes_nothing(
    who: Buyer, open_group: str, body: dict[str, Any], key: str | None
) -> None:
    # given a running group buy and an open group of it
    group = Group.objects.select_related("group_buy").get(code=open_group)
    if body.get("address_id") == "ADDRESS":
        body = {"address_id": who.address_id}
    elif body.get("address_id") == "STRANGER":
        body = {"address_id": factories.address(factories.member()).pk}
    stock = stock_of(group.group_buy.sku)
    before = Snapshot.take()
    # when the member opens a group or joins the open one
    opened = keyed(who, f"/api/v1/group-buys/{group.group_buy_id}/open", body, key)
    joined = keyed(who, f"/api/v1/groups/{open_group}/join", body, key)
    # then both are refused and nothing was written
    for response in (opened, joined):
        assert_refused(response)
    assert Snapshot.take() == before
    assert stock_of(group.group_buy.sku) == stock


@pytest.mark.parametrize("group_buy_id", [*BAD_PATH_IDS, "987654"])
def test_opening_a_bad_or_unknown_group_buy_is_refused(
    who: Buyer, group_buy_id: str, unchanged: None
) -> None:
    response = keyed(who, f"/api/v1/group-buys/{group_buy_id}/open", {"address_id": who.address_id})
    assert 400 <= response.status_code < 500, response.content
    if group_buy_id == "987654":
        assert_refused(response, 404, "not_found")


@pytest.mark.parametrize(
    ("code", "status"),
    # a share code is URL-safe base64: anything else is not a code at all (422)
    [("abc", 422), ("x" * 17, 422), ("NOSUCHCODE", 404), ("字字字字", 422), ("%00abcd", 400)],
    ids=["too-short", "too-long", "unknown", "cjk", "nul"],
)
def test_a_bad_or_unknown_group_code_is_refused(
    who: Buyer, code: str, status: int, unchanged: None
) -> None:
    looked = who.client.get(f"/api/v1/groups/{code}")
    joined = keyed(who, f"/api/v1/groups/{code}/join", {"address_id": who.address_id})
    for response in (looked, joined):
        assert_refused(response, status)


def test_joining_a_group_twice_is_409_and_the_second_takes_nothing(
    who: Buyer, open_group: str
) -> None:
    # given a member in the group
    first = keyed(who, f"/api/v1/groups/{open_group}/join", {"address_id": who.address_id})
    assert first.status_code == 201, first.content
    before = Snapshot.take()
    # when they join again
    again = keyed(who, f"/api/v1/groups/{open_group}/join", {"address_id": who.address_id})
    # then
    assert_refused(again, 409)
    assert Snapshot.take() == before


# --- the management API ------------------------------------------------------------------------
def manage_client(role: str, permissions: list[str] | None = None) -> Client:
    _token, raw = factories.api_token(factories.operator_with_role(role), permissions)
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {raw}")


RESULTS = ["/api/v1/manage/marketing/coupons", "/api/v1/manage/marketing/flash-sales"]
RESULTS.append("/api/v1/manage/marketing/group-buys")


@pytest.mark.parametrize("path", RESULTS)
def test_results_need_a_token_with_marketing_view(path: str) -> None:
    # given tokens: none, forged, without marketing.view, and an analyst's
    factories.coupon_template()
    anonymous = Client(raise_request_exception=False)
    forged = Client(raise_request_exception=False, HTTP_AUTHORIZATION="Bearer mo_abc_forged")
    tech = manage_client("tech_staff")
    narrowed = manage_client("analyst", ["analytics.view"])
    # when / then
    assert_refused(anonymous.get(path), 401)
    assert_refused(forged.get(path), 401)
    assert_refused(tech.get(path), 403, "permission_denied")
    assert_refused(narrowed.get(path), 403, "permission_denied")
    assert manage_client("analyst").get(path).status_code == 200


@pytest.fixture
def manager() -> Client:
    return manage_client("ops_manager")


def adjust(client: Client, member_id: Any, body: Any) -> Any:
    return post(client, f"/api/v1/manage/marketing/members/{member_id}/points", body)


@pytest.fixture
def audited_points() -> Iterator[None]:
    """Asserts that no points adjustment was written or audited."""
    yield
    assert not PointsEntry.objects.filter(reason=PointsEntry.Reason.ADJUSTMENT).exists()
    assert not LogEntry.objects.filter(changes__has_key="points").exists()


@pytest.mark.parametrize("delta", [*BAD_INTS[2:], 10_000_001, -10_000_001], ids=repr)
def test_an_adjustment_with_a_bad_delta_is_422(
    who: Buyer, manager: Client, delta: Any, audited_points: None
) -> None:
    response = adjust(manager, who.pk, {"delta": delta, "note": "补偿"})
    assert_refused(response, 422, "validation_error")
    assert "delta" in error_of(response)["fields"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"delta": 0, "note": "补偿"}, 400),
        ({"delta": 10}, 422),
        ({"note": "补偿"}, 422),
        ({"delta": 10, "note": ""}, 422),
        ({"delta": 10, "note": "   "}, 400),
        ({"delta": 10, "note": "x" * 256}, 422),
        ({"delta": 10, "note": 123}, 422),
        ({"delta": 10, "note": "a\x00b"}, 400),
        ([], 422),
        ("not json", 400),
    ],
    ids=[
        "delta-0",
        "no-note",
        "no-delta",
        "empty-note",
        "blank-note",
        "note-256",
        "note-number",
        "note-nul",
        "list",
        "string",
    ],
)
def test_an_adjustment_with_a_bad_body_is_refused(
    who: Buyer, manager: Client, body: Any, status: int, audited_points: None
) -> None:
    assert_refused(adjust(manager, who.pk, body), status)


@pytest.mark.parametrize("member_id", [*BAD_PATH_IDS, "987654"])
def test_an_adjustment_for_a_bad_or_unknown_member_is_refused(
    manager: Client, member_id: str, audited_points: None
) -> None:
    response = adjust(manager, member_id, {"delta": 10, "note": "补偿"})
    assert 400 <= response.status_code < 500, response.content
    if member_id == "987654":
        assert_refused(response, 404, "not_found")


def test_an_adjustment_below_zero_is_409(who: Buyer, manager: Client) -> None:
    points.earn(who.pk, 50, PointsEntry.Reason.SIGN_IN)
    assert_refused(adjust(manager, who.pk, {"delta": -51, "note": "扣回"}), 409)
    assert points.points_of(who.pk) == 50
    assert not PointsEntry.objects.filter(reason=PointsEntry.Reason.ADJUSTMENT).exists()


def test_an_adjustment_needs_marketing_points(who: Buyer, audited_points: None) -> None:
    # given tokens of roles that see marketing but may not change points
    for role in ("ops_staff", "analyst", "finance"):
        # when / then
        assert_refused(
            adjust(manage_client(role), who.pk, {"delta": 10, "note": "补偿"}),
            403,
            "permission_denied",
        )


def test_a_sound_adjustment_is_written_once_and_audited(who: Buyer, manager: Client) -> None:
    # given / when
    response = adjust(manager, who.pk, {"delta": 120, "note": "客服补偿"})
    # then
    assert response.status_code == 200, response.content
    assert response.json() == {"balance": 120, "delta": 120}
    entry = PointsEntry.objects.get(reason=PointsEntry.Reason.ADJUSTMENT)
    assert LogEntry.objects.filter(object_pk=str(entry.pk), changes__has_key="points").count() == 1
    assert not IdempotencyRecord.objects.exists()
