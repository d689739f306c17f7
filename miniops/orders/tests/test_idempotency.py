"""POST /api/v1/orders with an Idempotency-Key: one order per key, whatever the retries."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.catalog.models import StockLedger, StockReason
from miniops.orders.models import IdempotencyRecord, Order
from miniops.orders.services.idempotency import STALE_AFTER, request_hash
from miniops.orders.tests.helpers import error_of, member_client, place, post, stock_of
from miniops.testing import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer() -> dict[str, Any]:
    person = factories.member()
    return {
        "member": person,
        "client": member_client(person),
        "address_id": factories.address(person).pk,
        "sku": factories.product(price=5000, stock=10).skus.get(),
    }


def lines(buyer: dict[str, Any], quantity: int = 2) -> list[dict[str, int]]:
    return [{"sku_id": buyer["sku"].pk, "quantity": quantity}]


def test_a_replay_answers_the_same_and_creates_nothing(buyer: dict[str, Any]) -> None:
    # given a first successful order with key K
    key = str(uuid.uuid4())
    first = place(buyer["client"], lines(buyer), buyer["address_id"], key)
    assert first.status_code == 201, first.content
    # when the client retries with the same key and body (twice)
    second = place(buyer["client"], lines(buyer), buyer["address_id"], key)
    third = place(buyer["client"], lines(buyer), buyer["address_id"], key)
    # then the same answer comes back and only one order exists, stock taken once
    assert second.status_code == third.status_code == 201
    assert second.content == third.content == first.content
    assert second.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1
    assert stock_of(buyer["sku"]) == 8
    assert StockLedger.objects.filter(reason=StockReason.ORDER_RESERVED).count() == 1


def test_the_same_key_with_another_body_is_422(buyer: dict[str, Any]) -> None:
    # given a first order with key K
    key = str(uuid.uuid4())
    assert place(buyer["client"], lines(buyer), buyer["address_id"], key).status_code == 201
    # when key K comes with another quantity, and with another remark
    other_quantity = place(buyer["client"], lines(buyer, 3), buyer["address_id"], key)
    other_remark = place(buyer["client"], lines(buyer), buyer["address_id"], key, remark="快点")
    # then both are refused and nothing more is written
    for response in (other_quantity, other_remark):
        assert response.status_code == 422, response.content
        assert error_of(response)["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
    assert stock_of(buyer["sku"]) == 8


def test_a_replay_while_the_first_is_running_is_409(buyer: dict[str, Any]) -> None:
    # given the first request with key K still running (its claim is in progress)
    key = str(uuid.uuid4())
    payload = {
        "items": lines(buyer),
        "from_cart": False,
        "address_id": buyer["address_id"],
        "remark": "",
        "coupon_ids": [],
        "points": 0,
    }
    IdempotencyRecord.objects.create(
        member=buyer["member"], scope="orders.create", key=key, request_hash=request_hash(payload)
    )
    # when the client retries
    response = place(buyer["client"], lines(buyer), buyer["address_id"], key)
    # then it is told to wait, and nothing is written
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == "request_in_progress"
    assert Order.objects.count() == 0
    assert stock_of(buyer["sku"]) == 10
    assert IdempotencyRecord.objects.get(key=key).in_progress


def test_an_abandoned_claim_is_retried(buyer: dict[str, Any]) -> None:
    # given a claim for key K left behind by a worker that died long ago
    key = str(uuid.uuid4())
    payload = {
        "items": lines(buyer),
        "from_cart": False,
        "address_id": buyer["address_id"],
        "remark": "",
        "coupon_ids": [],
        "points": 0,
    }
    record = IdempotencyRecord.objects.create(
        member=buyer["member"], scope="orders.create", key=key, request_hash=request_hash(payload)
    )
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - STALE_AFTER - timedelta(seconds=5)
    )
    # when the client retries
    response = place(buyer["client"], lines(buyer), buyer["address_id"], key)
    # then the order is placed once
    assert response.status_code == 201, response.content
    assert Order.objects.count() == 1


def test_a_missing_key_is_400_and_writes_nothing(buyer: dict[str, Any]) -> None:
    # given / when an order without Idempotency-Key (and with an empty one)
    body = {"items": lines(buyer), "address_id": buyer["address_id"]}
    missing = post(buyer["client"], "/api/v1/orders", body)
    empty = post(buyer["client"], "/api/v1/orders", body, HTTP_IDEMPOTENCY_KEY="")
    # then
    for response in (missing, empty):
        assert response.status_code == 400, response.content
        error = error_of(response)
        assert error["code"] == "idempotency_key_required"
        assert "Idempotency-Key" in error["fields"]
    assert Order.objects.count() == 0
    assert stock_of(buyer["sku"]) == 10
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["k" * 129, "abc\tdef", "abc\x7fdef"])
def test_an_unusable_key_is_400(buyer: dict[str, Any], key: str) -> None:
    # given / when
    response = post(
        buyer["client"],
        "/api/v1/orders",
        {"items": lines(buyer), "address_id": buyer["address_id"]},
        HTTP_IDEMPOTENCY_KEY=key,
    )
    # then
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "invalid_input"
    assert Order.objects.count() == 0


def test_a_refused_first_attempt_is_replayed_as_the_same_409(buyer: dict[str, Any]) -> None:
    # given a first attempt refused for lack of stock
    key = str(uuid.uuid4())
    first = place(buyer["client"], lines(buyer, 11), buyer["address_id"], key)
    assert first.status_code == 409, first.content
    assert error_of(first)["code"] == "insufficient_stock"
    # when stock arrives meanwhile and the client retries with the same key
    from miniops.catalog import services as catalog_services

    catalog_services.adjust_stock(
        sku=buyer["sku"], delta=50, reason=StockReason.ADJUSTMENT, actor=None
    )
    again = place(buyer["client"], lines(buyer, 11), buyer["address_id"], key)
    # then the stored refusal is answered again, nothing is ordered
    assert again.status_code == 409
    assert again.content == first.content
    assert Order.objects.count() == 0
    assert stock_of(buyer["sku"]) == 60
    # and a new key places the order
    assert place(buyer["client"], lines(buyer, 11), buyer["address_id"]).status_code == 201


def test_keys_belong_to_their_member(buyer: dict[str, Any]) -> None:
    # given member A used key K
    key = str(uuid.uuid4())
    assert place(buyer["client"], lines(buyer), buyer["address_id"], key).status_code == 201
    # when member B uses the same key for their own order
    other = factories.member()
    response = place(
        member_client(other),
        [{"sku_id": buyer["sku"].pk, "quantity": 1}],
        factories.address(other).pk,
        key,
    )
    # then B gets their own order, not A's answer
    assert response.status_code == 201, response.content
    assert Order.objects.count() == 2
    assert Order.objects.get(pk=response.json()["id"]).member_id == other.pk


def test_a_validation_error_does_not_burn_the_key(buyer: dict[str, Any]) -> None:
    # given a first request with key K refused by the schema (quantity 0)
    key = str(uuid.uuid4())
    refused = place(buyer["client"], lines(buyer, 0), buyer["address_id"], key)
    assert refused.status_code == 422
    # when the client fixes the body and retries with K
    fixed = place(buyer["client"], lines(buyer, 1), buyer["address_id"], key)
    # then it is placed
    assert fixed.status_code == 201, fixed.content
    assert Order.objects.count() == 1
