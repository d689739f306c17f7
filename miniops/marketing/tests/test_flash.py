"""Flash sales through the client API: the listing with the server's time, the
sale's window, the per-member limit, selling out (from the Redis gate without a
query when Redis is configured; from the database's conditional update on the
embedded default), the time to pay and what an expired or cancelled order gives
back, and bad input. Runs on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from miniops.catalog.models import Sku
from miniops.core.redis import get_redis
from miniops.marketing.models import FlashItem, FlashOrder, FlashPurchase, FlashSession
from miniops.marketing.services import flash
from miniops.marketing.tests.helpers import (
    Buyer,
    buyer,
    error_of,
    flash_buy,
    flash_item,
    flash_sold,
    pay,
    post,
)
from miniops.orders import services as order_services
from miniops.orders import tasks
from miniops.orders.models import IdempotencyRecord, Order, OrderStatus

pytestmark = pytest.mark.django_db

gated = pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis gate needs REDIS_URL")


def sale(**fields: Any) -> FlashItem:
    """A flash item whose gate is loaded, as the console does when a sale is saved."""
    item = flash_item(**fields)
    flash.reset_gate(item.pk)
    return item


def redis_gated() -> bool:
    return get_redis() is not None


def sku_stock(item: FlashItem) -> int:
    return int(Sku.objects.values_list("stock", flat=True).get(pk=item.sku_id))


def held_by(item: FlashItem, who: Buyer) -> int:
    row = FlashPurchase.objects.filter(item=item, member_id=who.pk).first()
    return row.quantity if row is not None else 0


def gate_left(item: FlashItem) -> int | None:
    """Units left in the Redis gate (None on the embedded default or if not loaded)."""
    client = get_redis()
    if client is None:
        return None
    value = client.get(flash._keys(item.pk)[0])
    return None if value is None else int(value)


def snapshot(item: FlashItem) -> dict[str, Any]:
    """Everything a purchase could have written."""
    return {
        "sold": flash_sold(item),
        "sku_stock": sku_stock(item),
        "orders": Order.objects.count(),
        "flash_orders": FlashOrder.objects.count(),
        "held": list(
            FlashPurchase.objects.filter(quantity__gt=0).values_list("member_id", "quantity")
        ),
        "gate": gate_left(item),
    }


def listing() -> list[dict[str, Any]]:
    response = Client().get("/api/v1/flash-sales")
    assert response.status_code == 200, response.content
    return list(response.json())


def expire(order_id: int) -> None:
    Order.objects.filter(pk=order_id).update(expires_at=timezone.now() - timedelta(seconds=1))


# --- the listing ------------------------------------------------------------------------------
def test_the_listing_shows_running_and_upcoming_sessions_with_the_server_time() -> None:
    # given a running sale, one starting in an hour, one that ended, one ended early
    # and one three days away
    running = sale(stock=8, price=990, per_member_limit=2)
    upcoming = sale(stock=5, starts_in_minutes=60)
    ended = sale(starts_in_minutes=-200)
    stopped = sale()
    flash.end_early(session=stopped.session, actor=None)
    far = sale(starts_in_minutes=3 * 24 * 60)
    # when the mini-program asks for the flash sales
    before = timezone.now()
    sessions = listing()
    after = timezone.now()
    # then it gets the running and the upcoming one, soonest first, each with its status
    # and the server's time for the countdown
    assert [(s["id"], s["status"]) for s in sessions] == [
        (running.session_id, "running"),
        (upcoming.session_id, "upcoming"),
    ]
    for session in sessions:
        server_time = datetime.fromisoformat(session["server_time"])
        assert before <= server_time <= after
    # and the items with their flash price, the catalog price and what is left
    [item] = sessions[0]["items"]
    assert item == {
        "id": running.pk,
        "sku_id": running.sku_id,
        "product_id": running.sku.product_id,
        "title": running.sku.product.title,
        "flash_price": 990,
        "original_price": 5000,
        "remaining": 8,
        "per_member_limit": 2,
    }
    assert sessions[1]["items"][0]["remaining"] == 5
    # and the sessions left out are ended (or not soon)
    assert FlashSession.objects.get(pk=ended.session_id).status == "ended"
    assert FlashSession.objects.get(pk=stopped.session_id).status == "ended"
    assert FlashSession.objects.get(pk=far.session_id).status == "upcoming"


def test_the_listing_counts_down_what_is_left_as_members_buy() -> None:
    # given a running sale of 3 units
    item = sale(stock=3)
    # when a member buys one
    response = flash_buy(buyer(), item)
    # then 2 are left on the listing
    assert response.status_code == 201, response.content
    assert listing()[0]["items"][0]["remaining"] == 2


# --- the window -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("starts_in_minutes", "code"),
    [(30, "flash_not_started"), (-200, "flash_ended")],
    ids=["before-the-start", "after-the-end"],
)
def test_buying_outside_the_window_is_refused_and_writes_nothing(
    starts_in_minutes: int, code: str
) -> None:
    # given a sale that has not started, or has ended
    item = sale(stock=5, starts_in_minutes=starts_in_minutes)
    before = snapshot(item)
    # when a member tries to buy
    response = flash_buy(buyer(), item)
    # then it is refused with the reason, and nothing is written
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == code
    assert snapshot(item) == before
    assert not IdempotencyRecord.objects.exists()


def test_a_sale_ended_early_refuses_further_purchases() -> None:
    # given a running sale in which a member has bought
    item = sale(stock=5)
    assert flash_buy(buyer(), item).status_code == 201
    # when the shop ends it early
    flash.end_early(session=item.session, actor=None)
    # then the next purchase is refused and nothing more is sold
    response = flash_buy(buyer(), item)
    assert response.status_code == 409
    assert error_of(response)["code"] == "flash_ended"
    assert flash_sold(item) == 1


# --- the per-member limit ---------------------------------------------------------------------
def test_a_member_buys_up_to_the_limit_and_no_more() -> None:
    # given a sale allowing 2 per member
    item = sale(stock=10, per_member_limit=2)
    who, other = buyer(), buyer()
    # when the member buys one, then one more, then one more again
    answers = [flash_buy(who, item) for _ in range(3)]
    # then the third is refused at the limit
    assert [a.status_code for a in answers] == [201, 201, 409]
    assert error_of(answers[2])["code"] == "flash_limit_reached"
    assert held_by(item, who) == 2
    assert flash_sold(item) == 2
    # and 3 at once is refused outright, even for a member who holds none
    too_many = flash_buy(other, item, quantity=3)
    assert too_many.status_code == 400
    assert error_of(too_many)["code"] == "invalid_input"
    assert "quantity" in error_of(too_many)["fields"]
    # while 2 at once is fine
    assert flash_buy(other, item, quantity=2).status_code == 201
    assert held_by(item, other) == 2
    assert flash_sold(item) == 4
    if redis_gated():
        assert gate_left(item) == 6


def test_the_order_is_at_the_flash_price_and_only_the_flash_order() -> None:
    # given a flash price of 9.90 yuan on goods listed at 50 yuan
    item = sale(stock=5, price=990, per_member_limit=2)
    who = buyer()
    # when the member buys 2 in the sale, and the same goods at checkout
    bought = flash_buy(who, item, quantity=2)
    normal = post(
        who.client,
        "/api/v1/orders",
        {"items": [{"sku_id": item.sku_id, "quantity": 1}], "address_id": who.address_id},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    # then the flash order costs the flash price and the other the catalog price
    assert bought.status_code == 201, bought.content
    assert bought.json()["goods_amount"] == 2 * 990
    assert normal.status_code == 201, normal.content
    assert normal.json()["goods_amount"] == 5000
    assert flash_sold(item) == 2
    assert FlashOrder.objects.get().order_id == bought.json()["id"]


def test_a_retried_purchase_gets_the_same_order_and_takes_one_unit() -> None:
    # given a running sale
    item = sale(stock=5)
    who = buyer()
    key = str(uuid.uuid4())
    # when the app sends the purchase twice with the same Idempotency-Key
    first = flash_buy(who, item, key=key)
    second = flash_buy(who, item, key=key)
    # then both answers are the same order and one unit was sold
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Order.objects.count() == 1
    assert flash_sold(item) == 1
    if redis_gated():
        assert gate_left(item) == 4


def test_the_same_idempotency_key_for_a_different_purchase_is_refused() -> None:
    # given a member who bought one unit (limit 2) with a key
    item = sale(stock=5, per_member_limit=2)
    who = buyer()
    key = str(uuid.uuid4())
    assert flash_buy(who, item, key=key).status_code == 201
    # when the app sends the same key for 2 units
    response = flash_buy(who, item, quantity=2, key=key)
    # then it is refused, and nothing more is sold or taken from the gate
    assert response.status_code == 422, response.content
    assert error_of(response)["code"] == "idempotency_key_reused"
    assert flash_sold(item) == 1
    assert held_by(item, who) == 1
    if redis_gated():
        assert gate_left(item) == 4


def test_goods_running_out_in_the_catalog_refuse_the_purchase_and_keep_the_flash_unit() -> None:
    # given a flash item of 5 units whose SKU has no stock left in the catalog
    item = sale(stock=5)
    Sku.objects.filter(pk=item.sku_id).update(stock=0)
    who = buyer()
    # when a member buys
    response = flash_buy(who, item)
    # then it is refused for want of stock, and the flash unit was not taken
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == "insufficient_stock"
    assert flash_sold(item) == 0
    assert held_by(item, who) == 0
    if redis_gated():
        assert gate_left(item) == 5


# --- selling out ------------------------------------------------------------------------------
def test_the_last_unit_goes_to_one_member_and_the_next_is_told_sold_out() -> None:
    # given a sale of one unit
    item = sale(stock=1)
    first, second = buyer(), buyer()
    # when two members buy it one after the other
    won = flash_buy(first, item)
    lost = flash_buy(second, item)
    # then the second is told it is sold out (by the Redis gate, or on the embedded
    # default by the database's conditional update)
    assert won.status_code == 201
    assert lost.status_code == 409
    assert error_of(lost)["code"] == "sold_out"
    assert flash_sold(item) == 1
    assert Order.objects.filter(member=second.member).count() == 0
    assert held_by(item, second) == 0


@gated
def test_a_sold_out_answer_from_the_redis_gate_costs_no_database_query() -> None:
    # given a sale whose one unit is gone, and a second member whose app is signed in
    # (its session checked once, as every app does on start)
    item = sale(stock=1)
    first, second = buyer(), buyer()
    assert flash_buy(first, item).status_code == 201
    assert second.client.get("/api/v1/me/points").status_code == 200
    flash.item_view(item.pk)  # the item as every request sees it (a 2-second memo)
    # when the second member tries to buy
    with CaptureQueriesContext(connection) as queries:
        response = flash_buy(second, item)
    # then the gate answers sold out without a single query
    assert response.status_code == 409
    assert error_of(response)["code"] == "sold_out"
    assert [q["sql"] for q in queries.captured_queries] == []


# --- the time to pay, expiry and cancellation -------------------------------------------------
def test_a_flash_order_must_be_paid_within_five_minutes_by_default() -> None:
    # given a sale with the default time to pay, and one allowing 2 minutes
    default = sale(stock=5)
    short = sale(stock=5, pay_minutes=2)
    who = buyer()
    # when a member buys in each
    orders = [Order.objects.get(pk=flash_buy(who, item).json()["id"]) for item in (default, short)]
    # then the orders expire 5 and 2 minutes after they were placed
    assert [(o.expires_at or o.created_at) - o.created_at for o in orders] == [
        timedelta(minutes=5),
        timedelta(minutes=2),
    ]


def test_an_unpaid_flash_order_that_times_out_gives_its_unit_back(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a sale of 2 units, one per member
    item = sale(stock=2)
    who = buyer()
    scheduled_before = {task.id for task in HUEY.scheduled()}
    # when a member buys one
    with django_capture_on_commit_callbacks(execute=True):
        response = flash_buy(who, item)
    order = Order.objects.get(pk=response.json()["id"])
    stock_before = sku_stock(item)
    # then its timeout task is scheduled for the deadline, 5 minutes on
    [timeout] = [t for t in HUEY.scheduled() if t.id not in scheduled_before]
    assert (timeout.name, timeout.args) == ("cancel_if_unpaid", (order.pk,))
    assert order.expires_at is not None
    assert timeout.eta == order.expires_at.astimezone(UTC).replace(tzinfo=None)
    assert order.expires_at - order.created_at == timedelta(minutes=5)
    # when the task runs before the deadline (a clock running ahead)
    tasks.cancel_if_unpaid.call_local(order.pk)
    # then nothing happens
    assert Order.objects.get(pk=order.pk).status == OrderStatus.UNPAID
    assert flash_sold(item) == 1
    # when the deadline has passed and the task runs
    expire(order.pk)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.cancel_if_unpaid.call_local(order.pk)
    # then the order is cancelled and its unit is back in the sale, the SKU and the gate
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert flash_sold(item) == 0
    assert held_by(item, who) == 0
    assert FlashOrder.objects.get(order_id=order.pk).released is True
    assert sku_stock(item) == stock_before + 1
    if redis_gated():
        assert gate_left(item) == 2
    # and the member may buy again: the limit was given back too
    again = flash_buy(who, item)
    assert again.status_code == 201, again.content
    assert flash_sold(item) == 1
    # and the sweeper catching up later gives nothing back twice
    with django_capture_on_commit_callbacks(execute=True):
        assert order_services.sweep_unpaid() == 0
    assert flash_sold(item) == 1


def test_the_sweeper_gives_back_the_units_of_flash_orders_whose_task_was_lost(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given two flash orders past their deadline whose timeout tasks never ran
    item = sale(stock=3)
    first, second = buyer(), buyer()
    order_ids = [flash_buy(who, item).json()["id"] for who in (first, second)]
    for order_id in order_ids:
        expire(order_id)
    # when the sweeper runs
    with django_capture_on_commit_callbacks(execute=True):
        swept = order_services.sweep_unpaid()
    # then both are cancelled and all 3 units are for sale again
    assert swept == 2
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.CANCELLED}
    assert flash_sold(item) == 0
    assert held_by(item, first) == held_by(item, second) == 0
    if redis_gated():
        assert gate_left(item) == 3


def test_a_paid_flash_order_is_kept_when_its_time_to_pay_has_passed() -> None:
    # given a flash order paid within its time
    item = sale(stock=2)
    order_id = flash_buy(buyer(), item).json()["id"]
    pay(order_id)
    # when the deadline passes and the sweeper runs
    expire(order_id)
    assert order_services.sweep_unpaid() == 0
    # then the unit stays sold
    assert Order.objects.get(pk=order_id).status == OrderStatus.PAID
    assert flash_sold(item) == 1
    assert FlashOrder.objects.get(order_id=order_id).released is False


def test_a_cancelled_flash_order_gives_back_the_unit_and_the_members_limit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given a sale of one unit, one per member, bought by a member
    item = sale(stock=1)
    who, other = buyer(), buyer()
    order_id = flash_buy(who, item).json()["id"]
    assert error_of(flash_buy(other, item))["code"] == "sold_out"
    assert error_of(flash_buy(who, item))["code"] in {"flash_limit_reached", "sold_out"}
    # when the member cancels the unpaid order
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = post(who.client, f"/api/v1/orders/{order_id}/cancel")
    # then the unit is back for everyone
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == OrderStatus.CANCELLED
    assert flash_sold(item) == 0
    assert held_by(item, who) == 0
    if redis_gated():
        assert gate_left(item) == 1
    # and the member may buy it again
    again = flash_buy(who, item)
    assert again.status_code == 201, again.content
    assert flash_sold(item) == 1
    assert held_by(item, who) == 1


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 0},
        {"quantity": -1},
        {"quantity": 2**31},
        {"quantity": 2**63},
        {"quantity": 1.5},
        {"quantity": "1e3"},
        {"quantity": "1"},
        {"quantity": True},
        {"quantity": None},
        {"quantity": [1]},
        {"address_id": None},
        {"address_id": "1"},
        {"address_id": 0},
        {"address_id": 2**63},
        {"remark": "x" * 201},
    ],
    ids=lambda body: repr(body)[:40],
)
def test_bad_purchase_input_is_refused_in_the_shared_shape_and_writes_nothing(
    body: dict[str, Any],
) -> None:
    # given a running sale allowing 2 per member
    item = sale(stock=5, per_member_limit=2)
    who = buyer()
    before = snapshot(item)
    # when the app sends a bad field
    response = flash_buy(who, item, **body)
    # then it is refused with a 4xx in the shared shape, and nothing is written
    assert 400 <= response.status_code < 500, response.content
    error = error_of(response)
    assert error["fields"], error
    assert snapshot(item) == before
    assert not IdempotencyRecord.objects.exists()


def test_a_missing_address_is_refused() -> None:
    item = sale(stock=5)
    who = buyer()
    before = snapshot(item)
    response = post(
        who.client,
        f"/api/v1/flash-sales/items/{item.pk}/buy",
        {"quantity": 1},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 422, response.content
    assert "address_id" in error_of(response)["fields"]
    assert snapshot(item) == before


def test_a_missing_quantity_means_one() -> None:
    # given a running sale
    item = sale(stock=5)
    who = buyer()
    # when the app leaves the quantity out
    response = post(
        who.client,
        f"/api/v1/flash-sales/items/{item.pk}/buy",
        {"address_id": who.address_id},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    # then one unit is bought (the documented default)
    assert response.status_code == 201, response.content
    assert flash_sold(item) == 1


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"", 400), (b"{", 400), (b"[]", 422), (b'"1"', 422), (b"null", 422)],
    ids=["empty", "broken", "list", "string", "null"],
)
def test_a_body_that_is_not_a_json_object_is_refused(raw: bytes, status: int) -> None:
    item = sale(stock=5)
    who = buyer()
    before = snapshot(item)
    response = who.client.post(
        f"/api/v1/flash-sales/items/{item.pk}/buy",
        raw,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert 400 <= response.status_code < 500, response.content
    error_of(response)
    assert snapshot(item) == before


@pytest.mark.parametrize(
    ("item_id", "status", "code"),
    [
        (987654, 404, "not_found"),
        (0, 422, "validation_error"),
        (-1, 422, "validation_error"),
        (2**63, 422, "validation_error"),
        ("abc", 422, "validation_error"),
    ],
)
def test_an_unknown_or_malformed_item_id_is_refused(item_id: Any, status: int, code: str) -> None:
    item = sale(stock=5)
    who = buyer()
    before = snapshot(item)
    response = post(
        who.client,
        f"/api/v1/flash-sales/items/{item_id}/buy",
        {"quantity": 1, "address_id": who.address_id},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == status, response.content
    assert error_of(response)["code"] == code
    assert snapshot(item) == before


@pytest.mark.parametrize(
    ("key", "code"),
    [("", "idempotency_key_required"), ("k" * 129, "invalid_input")],
    ids=["missing", "too-long"],
)
def test_a_purchase_needs_a_sound_idempotency_key(key: str, code: str) -> None:
    item = sale(stock=5)
    who = buyer()
    before = snapshot(item)
    response = flash_buy(who, item, key=key)
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == code
    assert snapshot(item) == before
    assert not IdempotencyRecord.objects.exists()


def test_an_address_of_another_member_is_refused_and_the_unit_stays_in_the_sale() -> None:
    # given a sale of one unit, and someone else's address
    item = sale(stock=1)
    who, other = buyer(), buyer()
    before = snapshot(item)
    # when a member buys with the other member's address
    response = flash_buy(who, item, address_id=other.address_id)
    # then it is refused as if the address did not exist, and the unit (in the database
    # and the gate) is still for sale
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"
    assert "address_id" in error_of(response)["fields"]
    assert snapshot(item) == before
    assert flash_buy(other, item).status_code == 201


def test_buying_needs_a_signed_in_member() -> None:
    item = sale(stock=5)
    response = post(
        Client(),
        f"/api/v1/flash-sales/items/{item.pk}/buy",
        {"quantity": 1, "address_id": 1},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert flash_sold(item) == 0


def test_a_blocked_member_cannot_buy_and_the_unit_stays_in_the_sale() -> None:
    # given a sale of one unit and a member who was blocked after signing in
    item = sale(stock=1)
    who = buyer()
    type(who.member).objects.filter(pk=who.pk).update(status="blocked")
    before = snapshot(item)
    # when the member tries to buy
    response = flash_buy(who, item)
    # then it is refused, and the unit is still for sale
    assert 400 <= response.status_code < 500, response.content
    error_of(response)
    assert snapshot(item) == before
    assert flash_buy(buyer(), item).status_code == 201


# --- the gate loading while purchases arrive --------------------------------------------------
@gated
def test_a_gate_loaded_after_a_redis_restart_knows_every_holding() -> None:
    # given a sale of 3 units, two of them bought, then Redis restarted (the gate gone)
    item = flash_item(stock=3)
    first, second, third = buyer(), buyer(), buyer()
    assert flash_buy(first, item).status_code == 201
    assert flash_buy(second, item).status_code == 201
    client = get_redis()
    assert client is not None
    client.delete(*flash._keys(item.pk))
    # when the next purchase loads the gate again (stock and holdings in one script,
    # so no purchase can land between the two)
    assert flash_buy(third, item).status_code == 201
    # then the gate knows what the database knows
    assert gate_left(item) == 0
    assert error_of(flash_buy(first, item))["code"] == "flash_limit_reached"
    assert flash_sold(item) == 3
    # and loading again never overwrites a running gate
    flash.load_gate(item.pk)
    assert gate_left(item) == 0
