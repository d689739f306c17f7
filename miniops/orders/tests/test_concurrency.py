"""Concurrency on PostgreSQL with real threads: duplicate notices, a stampede on
one SKU, and payments racing cancellations. Skipped on SQLite (one writer)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import Client

from miniops.catalog.models import Product, StockLedger, StockReason
from miniops.core.errors import DomainError
from miniops.orders import services
from miniops.orders.models import (
    Order,
    OrderEvent,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentAnomaly,
    PaymentStatus,
    Refund,
)
from miniops.orders.providers import PaymentError
from miniops.orders.tests.helpers import (
    deliver,
    provider,
    sku_with_stock,
    stock_of,
    unpaid_order_with_payment,
)
from miniops.testing import factories

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]


def run_threads(
    workers: list[Callable[[threading.Barrier], Any]], timeout: float = 60
) -> list[Any]:
    """Run each worker in its own thread, released together by a barrier; return
    what each returned (or ``("error", repr)`` if it raised)."""
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


# --- a. the same notice ten times at once -------------------------------------------------------
def test_ten_deliveries_of_the_same_notice_pay_once() -> None:
    # given an unpaid order with an open trade, and WeChat's notice for it
    sku = sku_with_stock(stock=10)
    order, payment = unpaid_order_with_payment(items=[(sku, 2)])
    headers, body = provider().pay(payment.out_trade_no)
    product_id = sku.product_id

    def deliver_once(barrier: threading.Barrier) -> int:
        client = Client()
        barrier.wait(timeout=30)
        return int(deliver(headers, body, client).status_code)

    # when the notice is delivered ten times at the same moment
    statuses = run_threads([deliver_once] * 10)
    # then every delivery is acknowledged and the order was paid exactly once
    assert all(isinstance(s, int) and 200 <= s < 300 for s in statuses), statuses
    assert OrderEvent.objects.filter(order=order, to_status="paid").count() == 1
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert payment.status == PaymentStatus.PAID
    assert order.paid_amount == payment.amount == order.payable_amount
    assert Product.objects.values_list("sales_count", flat=True).get(pk=product_id) == 2
    assert not PaymentAnomaly.objects.exists()


# --- b. two hundred buyers, fifty units -----------------------------------------------------------
def test_two_hundred_buyers_for_fifty_units_never_oversell() -> None:
    # given a SKU holding 50 and 200 members with an address each
    sku = sku_with_stock(stock=50)
    buyers = []
    for _ in range(200):
        person = factories.member()
        buyers.append((person, factories.address(person).pk))

    def attempt(person: Any, address_id: int) -> Callable[[threading.Barrier], Any]:
        def work(barrier: threading.Barrier) -> Any:
            barrier.wait(timeout=30)
            try:
                services.place_order(
                    member=person,
                    items=[{"sku_id": sku.pk, "quantity": 1}],
                    from_cart=False,
                    address_id=address_id,
                )
            except DomainError as exc:
                return (exc.status, exc.code)
            return (201, "ok")

        return work

    # when all 200 order one unit at the same moment
    outcomes = run_threads([attempt(person, address_id) for person, address_id in buyers])
    # then exactly 50 orders exist, the stock is 0, and everybody else was told why
    assert Counter(outcomes) == {(201, "ok"): 50, (409, "insufficient_stock"): 150}, Counter(
        outcomes
    )
    assert Order.objects.count() == 50
    assert OrderItem.objects.aggregate(n=Sum("quantity"))["n"] == 50
    assert stock_of(sku) == 0
    reserved = StockLedger.objects.filter(sku=sku, reason=StockReason.ORDER_RESERVED)
    assert reserved.count() == 50
    assert sorted(reserved.values_list("balance", flat=True)) == list(range(50))
    assert set(reserved.values_list("reference", flat=True)) == set(
        Order.objects.values_list("number", flat=True)
    )


# --- c. paying while cancelling -------------------------------------------------------------------
INITIAL_STOCK = 1000
EXPECTED = {"204", "trade_closed", "cancelled", "already_paid", "illegal_transition"}


def race_payments_and_cancels(
    *, pairs: int, races: int, in_flight: Callable[[int], bool]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``pairs`` buyers, each with a SKU of their own and ``races`` unpaid orders with an
    open trade. For each order a payer thread and a canceller thread are released
    together: the payer has the buyer pay in WeChat and delivers the notice (or, when
    ``in_flight(index)``, delivers a notice WeChat had already signed for a payment taken
    in the instant before the close), the canceller calls ``services.cancel_order``."""
    setups = []
    for _ in range(pairs):
        person = factories.member()
        setups.append(
            {
                "member": person,
                "address_id": factories.address(person).pk,
                "sku": sku_with_stock(stock=INITIAL_STOCK),
                "orders": [],
            }
        )
    outcomes: list[dict[str, Any]] = []
    lock = threading.Lock()

    def record(order_id: int, side: str, result: str) -> None:
        with lock:
            outcomes.append({"order": order_id, "side": side, "result": result})

    def payer(setup: dict[str, Any], pair: threading.Barrier) -> Callable[[threading.Barrier], Any]:
        def work(start: threading.Barrier) -> str:
            # the buyer places its orders (in parallel with the other buyers)
            rng = random.Random(setup["sku"].pk)
            for _ in range(races):
                order = services.place_order(
                    member=setup["member"],
                    items=[{"sku_id": setup["sku"].pk, "quantity": rng.randint(1, 3)}],
                    from_cart=False,
                    address_id=setup["address_id"],
                )
                services.start_payment(order=order)
                setup["orders"].append(order.pk)
            start.wait(timeout=60)
            client = Client()
            sim = provider()
            for index, order_id in enumerate(setup["orders"]):
                payment = Payment.objects.get(order_id=order_id)
                notice = None
                if in_flight(index):
                    notice = sim.pay(payment.out_trade_no)
                    trade = sim._trade(payment.out_trade_no)
                    trade["state"] = "NOTPAY"  # the close will not see the payment
                    sim._save(payment.out_trade_no, trade)
                pair.wait(timeout=30)
                try:
                    notice = notice or sim.pay(payment.out_trade_no)
                except PaymentError:
                    record(order_id, "pay", "trade_closed")  # closed first: nothing to deliver
                    continue
                try:
                    result = str(deliver(*notice, client=client).status_code)
                except Exception as exc:  # reported by the assertions
                    result = f"error {exc!r}"
                record(order_id, "pay", result)
            return "done"

        return work

    def canceller(
        setup: dict[str, Any], pair: threading.Barrier
    ) -> Callable[[threading.Barrier], Any]:
        def work(start: threading.Barrier) -> str:
            start.wait(timeout=60)
            for order_id in list(setup["orders"]):
                order = Order.objects.get(pk=order_id)
                pair.wait(timeout=30)
                try:
                    services.cancel_order(order=order, reason="race")
                    result = "cancelled"
                except DomainError as exc:
                    result = exc.code
                except Exception as exc:  # reported by the assertions
                    result = f"error {exc!r}"
                record(order_id, "cancel", result)
            return "done"

        return work

    workers = []
    for setup in setups:
        pair = threading.Barrier(2)
        workers += [payer(setup, pair), canceller(setup, pair)]
    results = run_threads(workers, timeout=120)
    assert results == ["done"] * len(workers), [r for r in results if r != "done"]
    return setups, outcomes


def test_payments_racing_cancellations_never_pay_and_cancel_the_same_order() -> None:
    # when, for 1,000 orders, a notice and a cancel arrive at the same moment (every other
    # notice was signed by WeChat before the close could see it)
    setups, outcomes = race_payments_and_cancels(
        pairs=10, races=100, in_flight=lambda index: index % 2 == 1
    )
    order_ids = [order_id for setup in setups for order_id in setup["orders"]]
    assert len(order_ids) == 1000
    # then each side got an expected answer (no deadlock, no server error)
    unexpected = [o for o in outcomes if o["result"] not in EXPECTED]
    assert unexpected == [], Counter(o["result"][:60] for o in unexpected)
    # and every order ended either paid (stock kept) or cancelled (stock released once)
    orders = {o.pk: o for o in Order.objects.filter(pk__in=order_ids)}
    payments = {p.order_id: p for p in Payment.objects.filter(order_id__in=order_ids)}
    moves = Counter(
        OrderEvent.objects.filter(order_id__in=order_ids, kind="status").values_list(
            "order_id", "to_status"
        )
    )
    released = Counter(
        StockLedger.objects.filter(reason=StockReason.ORDER_RELEASED).values_list(
            "reference", flat=True
        )
    )
    reserved = Counter(
        StockLedger.objects.filter(reason=StockReason.ORDER_RESERVED).values_list(
            "reference", flat=True
        )
    )
    stray = set(
        PaymentAnomaly.objects.filter(kind="paid_after_cancel").values_list("order_id", flat=True)
    )
    refunded = set(Refund.objects.values_list("order_id", flat=True))
    tally: Counter[str] = Counter()
    for order_id in order_ids:
        order, payment = orders[order_id], payments[order_id]
        paid_moves, cancel_moves = moves[(order_id, "paid")], moves[(order_id, "cancelled")]
        assert not (paid_moves and cancel_moves), order.number
        assert reserved[order.number] == 1, order.number
        if order.status == OrderStatus.PAID:
            assert (paid_moves, cancel_moves) == (1, 0), order.number
            assert released[order.number] == 0, order.number
            assert payment.status == PaymentStatus.PAID
            assert order.paid_amount == payment.amount == order.payable_amount
            assert order_id not in stray
            tally["paid"] += 1
        else:
            assert order.status == OrderStatus.CANCELLED, (order.number, order.status)
            assert (paid_moves, cancel_moves) == (0, 1), order.number
            assert released[order.number] == 1, order.number  # one item per order
            if payment.status == PaymentStatus.PAID:
                # the notice came after the cancel: recorded, flagged, refund started
                assert order_id in stray, order.number
                assert order_id in refunded, order.number
                assert order.paid_amount == payment.amount
                tally["paid_after_cancel"] += 1
            else:
                assert payment.status == PaymentStatus.CLOSED, order.number
                assert order_id not in stray
                assert order_id not in refunded
                assert order.paid_amount == 0
                tally["cancelled"] += 1
    # and each SKU holds its initial stock less what the orders still standing hold
    for setup in setups:
        kept = (
            OrderItem.objects.filter(order_id__in=setup["orders"])
            .exclude(order__status=OrderStatus.CANCELLED)
            .aggregate(n=Sum("quantity"))["n"]
            or 0
        )
        assert stock_of(setup["sku"]) == INITIAL_STOCK - kept
    # and every in-flight notice was recorded (paid, or paid after the cancel and refunded)
    for setup in setups:
        for index, order_id in enumerate(setup["orders"]):
            if index % 2 == 1:
                assert payments[order_id].status == PaymentStatus.PAID, orders[order_id].number
    # and both sides won some races (the races really happened)
    assert tally["paid"] > 0, tally
    assert tally["cancelled"] + tally["paid_after_cancel"] > 0, tally


def test_a_notice_and_a_cancel_at_the_same_moment_never_deadlock() -> None:
    # when, for 100 orders, a notice signed before the close and a cancel arrive together
    setups, outcomes = race_payments_and_cancels(pairs=5, races=20, in_flight=lambda index: True)
    # then every notice is answered (204) and every cancel either happens or is refused
    # with a domain error, never a server error
    unexpected = [o for o in outcomes if o["result"] not in EXPECTED]
    assert unexpected == [], Counter(o["result"][:60] for o in unexpected)
    # and every payment was recorded: the order is paid, or cancelled and its refund started
    order_ids = [order_id for setup in setups for order_id in setup["orders"]]
    assert Payment.objects.filter(order_id__in=order_ids, status=PaymentStatus.PAID).count() == 100
    cancelled = set(
        Order.objects.filter(pk__in=order_ids, status=OrderStatus.CANCELLED).values_list(
            "pk", flat=True
        )
    )
    assert cancelled == set(
        PaymentAnomaly.objects.filter(kind="paid_after_cancel").values_list("order_id", flat=True)
    )
    assert cancelled <= set(Refund.objects.values_list("order_id", flat=True))


# --- d. two people settling one anomaly at once ------------------------------------------------
def test_two_finance_operators_resolving_one_anomaly_record_one_resolution() -> None:
    from auditlog.models import LogEntry

    # given an open anomaly and two finance operators
    anomaly = factories.payment_anomaly()
    people = [factories.operator_with_role("finance") for _ in range(2)]

    def resolve(person: Any) -> Callable[[threading.Barrier], Any]:
        def work(barrier: threading.Barrier) -> Any:
            barrier.wait(timeout=30)
            try:
                services.resolve_anomaly(anomaly=anomaly, note=f"by {person.pk}", actor=person)
            except DomainError as exc:
                return exc.code
            return "resolved"

        return work

    # when both confirm at the same moment
    results = run_threads([resolve(p) for p in people])
    # then exactly one resolution stands, with one audit row naming its author
    assert sorted(results) == ["already_resolved", "resolved"], results
    anomaly.refresh_from_db()
    assert anomaly.resolution_note == f"by {anomaly.resolved_by_id}"
    [row] = LogEntry.objects.get_for_object(anomaly)
    assert row.actor_id == anomaly.resolved_by_id
