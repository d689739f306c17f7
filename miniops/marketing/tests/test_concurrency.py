"""Marketing under concurrency, on PostgreSQL with real threads.

Flash sales go through HTTP: a live server (one process, a thread per connection)
and a pool of client threads released together, each sending a member's requests
with its token. The sale that must sell exactly its stock (three times over) and
the cancellations racing new purchases use the configured Redis; for Redis down,
each test starts a redis-server of its own and kills it (the shared one is never
touched). Coupon claims race for the last coupons and one member hammers a claim;
points are spent in parallel through the services, at checkout (racing
cancellations that give them back) and in the points shop. Skipped on SQLite (one
writer)."""

from __future__ import annotations

import http.client
import json
import random
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.test import Client

from miniops.catalog.models import Sku
from miniops.core.errors import DomainError
from miniops.core.redis import get_redis
from miniops.marketing.models import (
    Coupon,
    CouponStatus,
    CouponTemplate,
    FlashItem,
    FlashOrder,
    FlashPurchase,
    PointsEntry,
)
from miniops.marketing.services import flash, points
from miniops.marketing.tests.helpers import balance_of, flash_item, ledger_sum, sku_of
from miniops.members.models import Member
from miniops.orders.models import IdempotencyRecord, Order, OrderItem, OrderStatus
from miniops.testing import factories

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]

#: HTTP clients per storm: fewer than the live server's database pool (20 connections,
#: DATABASE_POOL_MAX, waiting 10 s for one), or a slow shared machine turns waiting for
#: a row lock into PoolTimeout 500s
CLIENTS = 16

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the flash gate needs REDIS_URL")
needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs the redis-server binary"
)


# --- members' apps over HTTP ------------------------------------------------------------------
@dataclass(frozen=True)
class Shopper:
    """A member signed in to the mini-program: what its app sends with each call."""

    member_id: int
    token: str
    address_id: int


@dataclass(frozen=True)
class Shot:
    """One POST a member's app sends."""

    shopper: int  # index into the shoppers
    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    shot: Shot
    status: int
    code: str  # the shared error shape's code, "" for a success
    key: str  # the Idempotency-Key sent ("" if none)
    started: float  # time.monotonic() when the request was sent
    body: Any


def shoppers(count: int) -> list[Shopper]:
    out = []
    for _ in range(count):
        person = factories.member()
        access, _refresh = factories.member_tokens(person)
        out.append(Shopper(person.pk, access, factories.address(person).pk))
    return out


def member_row(who: Shopper) -> Member:
    return Member.objects.get(pk=who.member_id)


def code_of(status: int, body: Any) -> str:
    """The error code of an answer, checking it has the shared shape."""
    if status < 400:
        return ""
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["fields"], dict), body
    return str(body["error"]["code"])


def run_threads(
    workers: list[Callable[[threading.Barrier], Any]], timeout: float = 180
) -> list[Any]:
    """Run each worker in its own thread, released together by a barrier; return what
    each returned (or ``("error", repr)`` if it raised)."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(index: int, worker: Callable[[threading.Barrier], Any]) -> None:
        try:
            results[index] = worker(barrier)
        except Exception as exc:  # reported by the assertions
            results[index] = ("error", repr(exc))
        finally:
            connection.close()

    connection.close()  # give this thread's connection back to the pool first
    threads = [
        threading.Thread(target=run, args=(i, worker), daemon=True)
        for i, worker in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return results


def http_storm(
    base_url: str,
    people: list[Shopper],
    shots: list[Shot],
    *,
    threads: int,
    keyed: bool = True,
    on_answer: Callable[[Answer], None] | None = None,
) -> list[Answer]:
    """Send every shot from ``threads`` HTTP clients released together: client ``n``
    sends shots ``n``, ``n + threads``, … one after the other, so one member's shots
    run side by side in different clients. Each shot gets a new Idempotency-Key
    (``keyed``). The clients are ``http.client`` connections kept alive: light, so the
    CPU goes to the server they share a process with."""
    address = urllib.parse.urlsplit(base_url)
    host, port = str(address.hostname), int(address.port or 80)
    lanes = [shots[lane::threads] for lane in range(threads)]
    # the live server's listen queue is short: connect a few at a time before the start
    connecting = threading.Semaphore(4)

    def lane_worker(lane: list[Shot]) -> Callable[[threading.Barrier], list[Answer]]:
        def work(barrier: threading.Barrier) -> list[Answer]:
            answers = []
            client = http.client.HTTPConnection(host, port, timeout=120)
            try:
                with connecting:
                    client.request("GET", "/healthz")
                    assert client.getresponse().read() == b'{"status":"ok"}'
                barrier.wait(timeout=60)
                for shot in lane:
                    key = str(uuid.uuid4()) if keyed else ""
                    headers = {
                        "Authorization": f"Bearer {people[shot.shopper].token}",
                        "Content-Type": "application/json",
                        **({"Idempotency-Key": key} if keyed else {}),
                    }
                    started = time.monotonic()
                    client.request("POST", shot.path, json.dumps(shot.body), headers)
                    response = client.getresponse()
                    status, body = response.status, json.loads(response.read())
                    answer = Answer(shot, status, code_of(status, body), key, started, body)
                    answers.append(answer)
                    if on_answer is not None:
                        on_answer(answer)
            finally:
                client.close()
            return answers

        return work

    results = run_threads([lane_worker(lane) for lane in lanes if lane])
    errors = [r for r in results if not isinstance(r, list)]
    assert errors == [], errors[:3]
    return [answer for lane in results for answer in lane]


def flash_shots(item: FlashItem, people: list[Shopper], attempts: int, seed: int) -> list[Shot]:
    """Each member tries ``attempts`` times to buy one unit, all in random order."""
    shots = [
        Shot(
            index,
            f"/api/v1/flash-sales/items/{item.pk}/buy",
            {"quantity": 1, "address_id": who.address_id},
        )
        for index, who in enumerate(people)
        for _ in range(attempts)
    ]
    random.Random(seed).shuffle(shots)
    return shots


def outcomes(answers: list[Answer]) -> Counter[tuple[int, str]]:
    return Counter((a.status, a.code) for a in answers)


def member_of(people: list[Shopper], answer: Answer) -> int:
    return people[answer.shot.shopper].member_id


def sku_stock(sku_id: int) -> int:
    return int(Sku.objects.values_list("stock", flat=True).get(pk=sku_id))


def holdings_of(item: FlashItem) -> dict[int, int]:
    return dict(
        FlashPurchase.objects.filter(item=item, quantity__gt=0).values_list("member_id", "quantity")
    )


def gate_state(item_id: int) -> tuple[int | None, dict[int, int], set[str]]:
    """The Redis gate of an item: (units left, units held per member, request keys)."""
    client = get_redis()
    assert client is not None
    stock_key, bought_key, keys_key = flash._keys(item_id)
    left = client.get(stock_key)
    bought = {int(k): int(v) for k, v in client.hgetall(bought_key).items()}
    keys = {k.decode() for k in client.hkeys(keys_key)}
    return (None if left is None else int(left)), bought, keys


# --- a redis-server of our own, to kill -------------------------------------------------------
@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    url: str

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def quiet_redis_errors(caplog: pytest.LogCaptureFixture) -> None:
    """Each 503 while Redis is down logs a traceback or two (the request, the error
    counter, the gate): formatting a thousand of them costs more than the requests."""
    for name in ("django.request", "miniops.analytics", "miniops.marketing"):
        caplog.set_level("CRITICAL", logger=name)


@pytest.fixture
def own_redis(settings: Any) -> Iterator[RedisServer]:
    """A throw-away redis-server the product uses as its Redis (``REDIS_URL``: the
    flash gate, counters and rate limits) for this test; the cache stays where it was."""
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = RedisServer(process, f"redis://127.0.0.1:{port}/0")
    try:
        probe = redis.Redis.from_url(server.url, socket_connect_timeout=1)
        for _ in range(100):
            try:
                if probe.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("our redis-server did not start")
        probe.close()
        settings.REDIS_URL = server.url  # a new URL: get_redis() builds a client for it
        assert get_redis() is not None
        yield server
    finally:
        server.kill()


# --- 1. a flash sale through HTTP with Redis --------------------------------------------------
@needs_redis
def test_two_thousand_flash_attempts_over_http_sell_exactly_the_stock_three_times_running(
    live_server: Any,
) -> None:
    # given 200 signed-in members with an address each
    people = shoppers(200)
    for run in range(3):
        # and a fresh flash item of 100 units, at most 2 per member, its gate loaded as
        # the console does when the sale is saved
        item = flash_item(stock=100, per_member_limit=2)
        flash.reset_gate(item.pk)
        sku_before = sku_stock(item.sku_id)
        # when every member tries 10 times to buy one unit (2,000 attempts in random
        # order) from 16 HTTP clients released together
        answers = http_storm(
            live_server.url, people, flash_shots(item, people, 10, seed=run), threads=CLIENTS
        )
        # then exactly 100 orders were placed and everybody else was told why
        assert len(answers) == 2000
        seen = outcomes(answers)
        assert seen[(201, "")] == 100, (run, seen)
        assert set(seen) <= {(201, ""), (409, "sold_out"), (409, "flash_limit_reached")}, (
            run,
            seen,
        )
        won = [a for a in answers if a.status == 201]
        orders = Order.objects.filter(flash__item=item)
        assert orders.count() == 100
        assert {a.body["id"] for a in won} == set(orders.values_list("pk", flat=True))
        assert {a.body["status"] for a in won} == {OrderStatus.UNPAID}
        # and nobody holds more than the per-member limit, which some members reached
        per_member = Counter(orders.values_list("member_id", flat=True))
        assert per_member == Counter(member_of(people, a) for a in won)
        assert max(per_member.values()) == 2, per_member.most_common(3)
        assert seen[(409, "flash_limit_reached")] > 0, seen
        assert holdings_of(item) == dict(per_member)
        # and the flash stock is 0 in the database, in the SKU and in the gate
        item.refresh_from_db()
        assert (item.sold, item.stock) == (100, 100)
        linked = FlashOrder.objects.filter(item=item, released=False)
        assert linked.aggregate(n=Sum("quantity"))["n"] == 100
        assert OrderItem.objects.filter(order__in=orders).aggregate(n=Sum("quantity"))["n"] == 100
        assert sku_stock(item.sku_id) == sku_before - 100
        left, bought, keys = gate_state(item.pk)
        assert left == 0
        assert bought == dict(per_member)
        assert keys == {a.key for a in won}
        assert flash.remaining(item) == 0


@needs_redis
def test_cancellations_racing_new_flash_purchases_keep_the_gate_and_the_database_equal(
    live_server: Any,
) -> None:
    # given a flash sale of 50 units, one per member, sold out to 50 of 100 members
    people = shoppers(100)
    item = flash_item(stock=50, per_member_limit=1)
    flash.reset_gate(item.pk)
    first = http_storm(
        live_server.url, people, flash_shots(item, people, 2, seed=1), threads=CLIENTS
    )
    won = [a for a in first if a.status == 201]
    assert len(won) == 50, outcomes(first)
    # when 25 of the buyers cancel their orders while every member tries twice more
    cancels = [Shot(a.shot.shopper, f"/api/v1/orders/{a.body['id']}/cancel", {}) for a in won[:25]]
    mixed = cancels + flash_shots(item, people, 2, seed=2)
    random.Random(3).shuffle(mixed)
    second = http_storm(live_server.url, people, mixed, threads=CLIENTS)
    # then every cancel went through, and every purchase was sold or refused
    cancelled = [a for a in second if a.shot.path.endswith("/cancel")]
    assert outcomes(cancelled) == {(200, ""): 25}
    bought = [a for a in second if not a.shot.path.endswith("/cancel")]
    assert set(outcomes(bought)) <= {(201, ""), (409, "sold_out"), (409, "flash_limit_reached")}
    # and the units given back were sold again (a member whose cancel came late may
    # have found none), never more than the stock
    item.refresh_from_db()
    standing = Order.objects.filter(flash__item=item).exclude(status=OrderStatus.CANCELLED)
    new_orders = sum(1 for a in bought if a.status == 201)
    assert item.sold == standing.count() == 25 + new_orders <= 50
    # and each member holds at most one, in the database and in the gate alike
    per_member = Counter(standing.values_list("member_id", flat=True))
    assert max(per_member.values()) == 1
    assert holdings_of(item) == dict(per_member)
    left, gate_bought, keys = gate_state(item.pk)
    assert left == item.stock - item.sold
    assert gate_bought == dict(per_member)
    assert keys == {a.key for a in won + bought if a.status == 201}
    released = FlashOrder.objects.filter(item=item, released=True)
    assert set(released.values_list("order_id", flat=True)) == {a.body["id"] for a in won[:25]}


# --- 2. Redis down: fail closed ---------------------------------------------------------------
@needs_redis_server
def test_with_redis_down_flash_purchases_over_http_answer_503_and_sell_nothing(
    live_server: Any, own_redis: RedisServer, quiet_redis_errors: None
) -> None:
    # given a running flash sale of 100 units whose gate was loaded in our Redis
    people = shoppers(200)
    item = flash_item(stock=100, per_member_limit=2)
    flash.reset_gate(item.pk)
    sku_before = sku_stock(item.sku_id)
    # and Redis goes down
    own_redis.kill()
    # when 200 members try 5 times each to buy (1,000 attempts) from 16 HTTP clients
    answers = http_storm(
        live_server.url, people, flash_shots(item, people, 5, seed=3), threads=CLIENTS
    )
    # then every attempt is refused with 503 in the shared error shape, asking to retry
    assert outcomes(answers) == {(503, "flash_unavailable"): 1000}
    # and nothing was sold, reserved or even recorded
    item.refresh_from_db()
    assert item.sold == 0
    assert not Order.objects.exists()
    assert not FlashOrder.objects.exists()
    assert not FlashPurchase.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    assert sku_stock(item.sku_id) == sku_before
    # and the sale's page still shows the stock, from the database
    listing = Client().get("/api/v1/flash-sales")
    assert listing.status_code == 200
    [session] = listing.json()
    assert [(i["id"], i["remaining"]) for i in session["items"]] == [(item.pk, 100)]


@needs_redis_server
def test_killing_redis_in_the_middle_of_a_flash_sale_oversells_nothing(
    live_server: Any, own_redis: RedisServer, quiet_redis_errors: None
) -> None:
    # given a running flash sale of 100 units, at most 2 per member, gated by our Redis
    people = shoppers(200)
    item = flash_item(stock=100, per_member_limit=2)
    flash.reset_gate(item.pk)
    sku_before = sku_stock(item.sku_id)
    killed_at: list[float] = []
    lock = threading.Lock()
    sold = Counter[str]()

    def kill_after_thirty_sales(answer: Answer) -> None:
        with lock:
            sold[str(answer.status)] += 1
            if sold["201"] >= 30 and not killed_at:
                own_redis.kill()
                killed_at.append(time.monotonic())

    # when 200 members try 5 times each to buy one unit, and Redis is killed once 30
    # orders were placed
    answers = http_storm(
        live_server.url,
        people,
        flash_shots(item, people, 5, seed=5),
        threads=CLIENTS,
        on_answer=kill_after_thirty_sales,
    )
    assert killed_at, sold
    # then every answer is a sale, a refusal or 503: never a server error
    seen = outcomes(answers)
    assert set(seen) <= {
        (201, ""),
        (409, "sold_out"),
        (409, "flash_limit_reached"),
        (503, "flash_unavailable"),
    }, seen
    # and every attempt sent after the kill was refused with 503
    after = [a for a in answers if a.started > killed_at[0]]
    assert after, "the kill came after the last attempt"
    assert outcomes(after) == {(503, "flash_unavailable"): len(after)}
    # and the database guard held: orders == sold <= stock, nobody over the limit
    won = [a for a in answers if a.status == 201]
    item.refresh_from_db()
    orders = Order.objects.filter(flash__item=item)
    assert 30 <= len(won) == orders.count() == item.sold < item.stock
    assert all(a.started < killed_at[0] for a in won)
    assert {a.body["id"] for a in won} == set(orders.values_list("pk", flat=True))
    linked = FlashOrder.objects.filter(item=item, released=False)
    assert linked.aggregate(n=Sum("quantity"))["n"] == item.sold
    per_member = Counter(orders.values_list("member_id", flat=True))
    assert max(per_member.values()) <= 2
    assert holdings_of(item) == dict(per_member)
    assert sku_stock(item.sku_id) == sku_before - item.sold
    # and the sale's page falls back to the database's figure
    assert flash.remaining(item) == 100 - item.sold


@needs_redis_server
def test_a_member_retrying_many_times_while_redis_is_down_always_gets_503(
    own_redis: RedisServer,
) -> None:
    # given a running flash sale gated by our Redis, which then goes down
    item = flash_item(stock=100, per_member_limit=2)
    flash.reset_gate(item.pk)
    person = factories.member()
    address_id = factories.address(person).pk
    access, _refresh = factories.member_tokens(person)
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {access}")
    own_redis.kill()
    # when one member's app retries 60 times (rate limits count per minute: whichever
    # minute most of them fall in sees at least 30)
    statuses = []
    for _ in range(60):
        response = client.post(
            f"/api/v1/flash-sales/items/{item.pk}/buy",
            {"quantity": 1, "address_id": address_id},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        statuses.append((response.status_code, code_of(response.status_code, response.json())))
    # then nothing was sold, and every attempt was refused with 503, never a server error
    item.refresh_from_db()
    assert item.sold == 0
    assert not Order.objects.exists()
    assert Counter(statuses) == {(503, "flash_unavailable"): 60}


# --- 3. coupons -------------------------------------------------------------------------------
def coupon_claims(template: CouponTemplate, people: list[Shopper], each: int) -> list[Shot]:
    return [
        Shot(index, f"/api/v1/coupons/{template.pk}/claim", {})
        for index in range(len(people))
        for _ in range(each)
    ]


def test_five_hundred_members_claiming_one_hundred_coupons_at_once_get_exactly_one_hundred(
    live_server: Any,
) -> None:
    # given a public coupon of which 100 exist, one per member, and 500 members
    template = factories.coupon_template(total_quantity=100, per_member_limit=1)
    people = shoppers(500)
    # when all 500 claim it, from 16 HTTP clients released together
    answers = http_storm(
        live_server.url, people, coupon_claims(template, people, 1), threads=CLIENTS, keyed=False
    )
    # then exactly 100 got one and 400 were told they are gone
    assert outcomes(answers) == {(201, ""): 100, (409, "coupons_gone"): 400}
    won = [a for a in answers if a.status == 201]
    coupons = Coupon.objects.filter(template=template)
    assert coupons.count() == 100
    assert {a.body["id"] for a in won} == set(coupons.values_list("pk", flat=True))
    assert set(coupons.values_list("member_id", flat=True)) == {member_of(people, a) for a in won}
    assert set(coupons.values_list("seq", "status")) == {(1, CouponStatus.UNUSED)}
    # and the template's counter agrees
    template.refresh_from_db()
    assert template.issued_count == 100
    centre = {t["id"]: t["left"] for t in Client().get("/api/v1/coupons/center").json()}
    assert centre.get(template.pk, 0) == 0


def test_one_member_hammering_a_claim_gets_exactly_the_per_member_limit(
    live_server: Any,
) -> None:
    # given a public coupon members may hold 3 of, and plenty left
    template = factories.coupon_template(total_quantity=100, per_member_limit=3)
    people = shoppers(1)
    # when one member claims it 40 times, from 16 HTTP clients released together
    answers = http_storm(
        live_server.url, people, coupon_claims(template, people, 40), threads=CLIENTS, keyed=False
    )
    # then the member got exactly 3, and every other claim was refused
    seen = outcomes(answers)
    assert seen[(201, "")] == 3, seen
    assert set(seen) <= {(201, ""), (409, "coupon_limit_reached"), (409, "coupon_busy")}, seen
    coupons = Coupon.objects.filter(template=template, member_id=people[0].member_id)
    assert sorted(coupons.values_list("seq", flat=True)) == [1, 2, 3]
    template.refresh_from_db()
    assert template.issued_count == 3


def test_one_claim_retried_in_parallel_with_its_key_claims_one_coupon() -> None:
    # given a public coupon a member may hold 5 of
    template = factories.coupon_template(total_quantity=100, per_member_limit=5)
    person = factories.member()
    access, _refresh = factories.member_tokens(person)
    key = str(uuid.uuid4())

    def retry(barrier: threading.Barrier) -> tuple[int, Any]:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {access}", HTTP_IDEMPOTENCY_KEY=key)
        barrier.wait(timeout=30)
        response = client.post(f"/api/v1/coupons/{template.pk}/claim")
        return response.status_code, response.json()

    # when the app sends the same claim (same key) eight times at once
    answers = run_threads([retry] * 8)
    # then one coupon was claimed; every answer is it, or "the first is still running"
    coupons = Coupon.objects.filter(template=template, member=person)
    assert coupons.count() == 1, answers
    coupon_id = coupons.get().pk
    for status, body in answers:
        if status == 201:
            assert body["id"] == coupon_id
        else:
            assert (status, code_of(status, body)) == (409, "request_in_progress"), body
    assert any(status == 201 for status, _body in answers)
    # and a retry after they finished answers the coupon
    late = Client(HTTP_AUTHORIZATION=f"Bearer {access}", HTTP_IDEMPOTENCY_KEY=key).post(
        f"/api/v1/coupons/{template.pk}/claim"
    )
    assert (late.status_code, late.json()["id"]) == (201, coupon_id)
    template.refresh_from_db()
    assert template.issued_count == 1


# --- 4. points --------------------------------------------------------------------------------
def test_parallel_point_spends_never_take_a_balance_below_zero() -> None:
    # given three members holding 1,000 points each
    members = [factories.member() for _ in range(3)]
    for person in members:
        points.earn(person.pk, 1000, PointsEntry.Reason.ADJUSTMENT)

    def spender(lane: int) -> Callable[[threading.Barrier], list[str]]:
        def work(barrier: threading.Barrier) -> list[str]:
            results = []
            barrier.wait(timeout=30)
            for n in range(4):
                person = members[(lane + n) % len(members)]
                try:
                    with transaction.atomic():
                        points.spend(
                            person.pk, 70, PointsEntry.Reason.REDEEM, reference=f"t{lane}.{n}"
                        )
                    results.append("spent")
                except DomainError as exc:
                    results.append(exc.code)
            return results

        return work

    # when 15 threads released together each spend 70 points 4 times, going round the
    # members (20 spends of 70 each: 1,400 > 1,000)
    results = Counter(r for lane in run_threads([spender(n) for n in range(15)]) for r in lane)
    # then 14 spends each went through, the others were refused, and 20 points are left
    assert results == {"spent": 42, "insufficient_points": 18}, results
    for person in members:
        assert balance_of(person) == ledger_sum(person) == 20
        spent = PointsEntry.objects.filter(member=person, reason=PointsEntry.Reason.REDEEM)
        assert sorted(spent.values_list("balance", flat=True)) == list(range(20, 1000, 70))
    # and the nightly check finds no drift
    assert points.check_balances() == []


def test_checkouts_with_points_racing_cancellations_keep_balance_and_ledger_equal(
    live_server: Any,
) -> None:
    # given 5 members holding 1,000 points each, and goods of 50 yuan
    people = shoppers(5)
    for who in people:
        points.earn(who.member_id, 1000, PointsEntry.Reason.ADJUSTMENT)
    sku = sku_of(price=5000, stock=1000)

    def order_shots(each: int) -> list[Shot]:
        return [
            Shot(
                index,
                "/api/v1/orders",
                {
                    "items": [{"sku_id": sku.pk, "quantity": 1}],
                    "address_id": who.address_id,
                    "points": 150,
                },
            )
            for index, who in enumerate(people)
            for _ in range(each)
        ]

    # when each member places 12 orders at once, each paying 150 points (1,800 > 1,000)
    first = http_storm(live_server.url, people, order_shots(12), threads=CLIENTS)
    # then 6 orders each went through and the others were refused for want of points
    assert outcomes(first) == {(201, ""): 30, (409, "insufficient_points"): 30}, outcomes(first)
    for who in people:
        assert balance_of(member_row(who)) == 100
    # when every order is cancelled while the members place 12 more orders each at once
    placed = [a for a in first if a.status == 201]
    cancels = [Shot(a.shot.shopper, f"/api/v1/orders/{a.body['id']}/cancel", {}) for a in placed]
    mixed = cancels + order_shots(12)
    random.Random(9).shuffle(mixed)
    second = http_storm(live_server.url, people, mixed, threads=CLIENTS)
    # then every cancel went through and every order was placed or refused for points
    cancelled = [a for a in second if a.shot.path.endswith("/cancel")]
    assert outcomes(cancelled) == {(200, ""): 30}
    again = [a for a in second if not a.shot.path.endswith("/cancel")]
    assert set(outcomes(again)) <= {(201, ""), (409, "insufficient_points")}, outcomes(again)
    # and each balance is 1,000 less 150 per order still standing, never below zero, equal
    # to the sum of the ledger
    for index, who in enumerate(people):
        standing = sum(1 for a in again if a.status == 201 and a.shot.shopper == index)
        person = member_row(who)
        assert 0 <= balance_of(person) == ledger_sum(person) == 1000 - 150 * standing
        live = Order.objects.filter(member_id=who.member_id).exclude(status=OrderStatus.CANCELLED)
        assert live.count() == standing
    assert points.check_balances() == []


def test_members_redeeming_in_parallel_never_overdraw_points_stock_or_their_limit(
    live_server: Any,
) -> None:
    # given a points-shop coupon for 100 points, 12 in stock, at most 2 per member; 5
    # members holding 150 points (enough for 1) and 5 holding 350 (enough for 3)
    item = factories.redeem_item(
        points=100,
        stock=12,
        per_member_limit=2,
        coupon_template=factories.coupon_template(
            issue=CouponTemplate.Issue.ISSUED, per_member_limit=5, total_quantity=100
        ),
    )
    people = shoppers(10)
    held = {who.member_id: 150 if index < 5 else 350 for index, who in enumerate(people)}
    for member_id, amount in held.items():
        points.earn(member_id, amount, PointsEntry.Reason.ADJUSTMENT)
    # when each member redeems it 4 times, from 16 HTTP clients released together
    shots = [
        Shot(index, f"/api/v1/points-shop/{item.pk}/redeem", {})
        for index in range(len(people))
        for _ in range(4)
    ]
    random.Random(4).shuffle(shots)
    answers = http_storm(live_server.url, people, shots, threads=CLIENTS, keyed=False)
    # then exactly the stock was redeemed, and every refusal says why
    seen = outcomes(answers)
    assert seen[(201, "")] == 12, seen
    assert set(seen) <= {
        (201, ""),
        (409, "sold_out"),
        (409, "redeem_limit_reached"),
        (409, "insufficient_points"),
    }, seen
    item.refresh_from_db()
    assert item.stock == 0
    # and nobody redeemed beyond the limit or their points
    redeemed = Counter(member_of(people, a) for a in answers if a.status == 201)
    for member_id, amount in held.items():
        assert redeemed[member_id] <= min(2, amount // 100)
    # and each paid 100 points per redemption, the ledger agreeing to the point
    for who in people:
        person = member_row(who)
        expected = held[who.member_id] - 100 * redeemed[who.member_id]
        assert balance_of(person) == ledger_sum(person) == expected
        coupons = Coupon.objects.filter(member_id=who.member_id, source="points")
        assert coupons.count() == redeemed[who.member_id]
    assert points.check_balances() == []
