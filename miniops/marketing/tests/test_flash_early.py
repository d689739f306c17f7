"""Sold-out flash purchases answered early (``FlashSoldOutMiddleware`` and
``flash.sold_out_early``): the same answers as the API, with none of them lost —
retries of purchases that went through, bad tokens and bad bodies still get
their own answers, and units given back are on sale again. Needs Redis (the
embedded default has no early path: the database is the gate)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from miniops.core.redis import get_redis
from miniops.marketing.models import FlashItem
from miniops.marketing.services import flash
from miniops.marketing.tests.helpers import buyer, error_of, flash_buy, flash_item, flash_sold
from miniops.orders.models import Order, OrderStatus
from miniops.orders.services.lifecycle import cancel_order

pytestmark = pytest.mark.django_db
with_redis = pytest.mark.skipif(get_redis() is None, reason="the early answer needs the Redis gate")
without_redis = pytest.mark.skipif(get_redis() is not None, reason="the embedded path")


@pytest.fixture
def sold_out() -> tuple[FlashItem, Any]:
    """An item whose one unit the first buyer took; returns (item, that buyer)."""
    item = flash_item(stock=1)
    first = buyer()
    bought = flash_buy(first, item, key="first-buyer-key")
    assert bought.status_code == 201, bought.content
    return item, first


@with_redis
def test_a_sold_out_attempt_is_409_without_a_query(sold_out: tuple[FlashItem, Any]) -> None:
    item, _first = sold_out
    late = buyer()
    # given the gate has said "sold out" once in this process
    assert error_of(flash_buy(late, item))["code"] == "sold_out"
    # when the member tries again (their session check now cached, like any app's)
    with CaptureQueriesContext(connection) as queries:
        answer = flash_buy(late, item)
    # then it is the API's answer, from memory
    assert answer.status_code == 409
    assert answer.json() == {
        "error": {"code": "sold_out", "message": answer.json()["error"]["message"], "fields": {}}
    }
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert flash_sold(item) == 1


@with_redis
def test_a_retry_of_a_purchase_that_went_through_gets_its_order(
    sold_out: tuple[FlashItem, Any],
) -> None:
    item, first = sold_out
    assert flash_buy(buyer(), item).status_code == 409  # sold out is now remembered
    # when the first buyer's app retries the same request
    retried = flash_buy(first, item, key="first-buyer-key")
    # then it gets the order it made, not "sold out"
    assert retried.status_code == 201, retried.content
    assert Order.objects.filter(member=first.member).count() == 1
    assert retried.json()["id"] == Order.objects.get(member=first.member).pk


@with_redis
def test_the_holder_trying_again_gets_the_limit_answer(sold_out: tuple[FlashItem, Any]) -> None:
    item, first = sold_out
    assert flash_buy(buyer(), item).status_code == 409
    # when the holder tries with a new key, then the limit is what stops them
    assert error_of(flash_buy(first, item))["code"] == "flash_limit_reached"


@with_redis
@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"token": "Bearer not-a-token"}, 401, "not_authenticated"),
        ({"quantity": 0}, 422, "validation_error"),
        ({"quantity": "1"}, 422, "validation_error"),
        ({"quantity": 2}, 400, "invalid_input"),  # above the per-member limit of 1
        ({"key": ""}, 400, "idempotency_key_required"),
        ({"address_id": -1}, 422, "validation_error"),
    ],
    ids=repr,
)
def test_other_mistakes_keep_their_own_answers(
    sold_out: tuple[FlashItem, Any], change: dict[str, Any], status: int, code: str
) -> None:
    item, _first = sold_out
    assert flash_buy(buyer(), item).status_code == 409
    late = buyer()
    if "token" in change:
        late.client.defaults["HTTP_AUTHORIZATION"] = change["token"]
    extra = {k: v for k, v in change.items() if k in ("address_id",)}
    if "address_id" in extra:
        late.address_id = extra["address_id"]
    answer = flash_buy(late, item, quantity=change.get("quantity", 1), key=change.get("key"))
    assert answer.status_code == status, answer.content
    assert error_of(answer)["code"] == code


@with_redis
def test_units_given_back_are_on_sale_again_at_once(
    sold_out: tuple[FlashItem, Any], django_capture_on_commit_callbacks: Any
) -> None:
    item, first = sold_out
    late = buyer()
    assert flash_buy(late, item).status_code == 409
    # when the first buyer cancels the unpaid order (the unit goes back)
    order = Order.objects.get(member=first.member)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_order(order=order, by_member=True, reason="changed_mind")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    # then the unit is for sale again in this process straight away
    again = flash_buy(late, item)
    assert again.status_code == 201, again.content
    assert flash_sold(item) == 1


@with_redis
def test_redis_down_is_not_answered_early(
    sold_out: tuple[FlashItem, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    item, _first = sold_out
    flash.localcache.forget(flash._sold_out_key(item.pk))

    class Down:
        def register_script(self, source: str) -> Any:
            def fail(**kwargs: Any) -> Any:
                raise ConnectionError("Redis is down")

            return fail

    monkeypatch.setattr(flash, "get_redis", lambda: Down())
    # then the API answers (503, fail closed), not the early path
    answer = flash_buy(buyer(), item)
    assert answer.status_code == 503
    assert error_of(answer)["code"] == "flash_unavailable"


@without_redis
def test_without_redis_sold_out_is_one_read_and_writes_nothing(
    sold_out: tuple[FlashItem, Any],
) -> None:
    item, first = sold_out
    late = buyer()
    flash_buy(late, item)  # the member's session check is cached from here on
    # when a member holding none tries
    with CaptureQueriesContext(connection) as queries:
        answer = flash_buy(late, item, key="late-key")
    # then one query answers, and nothing is written (no order, no key kept)
    assert error_of(answer)["code"] == "sold_out"
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert not Order.objects.filter(member=late.member).exists()
    # and the holder's retry still gets the order it made
    retried = flash_buy(first, item, key="first-buyer-key")
    assert retried.status_code == 201, retried.content
    assert retried.json()["id"] == Order.objects.get(member=first.member).pk


def test_an_oversize_body_is_a_4xx_never_a_500(sold_out: tuple[FlashItem, Any]) -> None:
    # given the item is sold out (and, with Redis, remembered as such)
    item, _first = sold_out
    late = buyer()
    flash_buy(late, item)
    late.client.raise_request_exception = False
    # when a member sends a 2 MB body
    answer = late.client.post(
        f"/api/v1/flash-sales/items/{item.pk}/buy",
        b'{"quantity": 1, "address_id": 1, "remark": "' + b"x" * 2_000_000 + b'"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="big-body",
    )
    # then it is refused in the shared shape, never a 500
    assert 400 <= answer.status_code < 500, answer.content[:200]
    assert "error" in answer.json()
