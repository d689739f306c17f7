"""Stock changes only through the services, each with a ledger row, never below zero
(also under concurrency, and even for writes that bypass the services)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from miniops.catalog import services
from miniops.catalog.models import Sku, StockLedger, StockReason
from miniops.core.errors import Conflict, InvalidInput
from miniops.testing import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def sku() -> Sku:
    """A SKU with no stock and no ledger rows."""
    product = factories.product(status="draft", stock=0)
    return product.skus.get()


def stock_of(sku: Sku) -> int:
    return Sku.objects.values_list("stock", flat=True).get(pk=sku.pk)


def test_adjust_stock_writes_a_ledger_row(sku: Sku) -> None:
    # given
    actor = factories.operator_with_role("ops_staff")
    # when
    balance = services.adjust_stock(
        sku=sku,
        delta=12,
        reason=StockReason.ADJUSTMENT,
        actor=actor,
        reference="PO-1",
        note="到货",
    )
    # then
    assert balance == 12
    assert sku.stock == 12
    assert stock_of(sku) == 12
    row = StockLedger.objects.get()
    assert (row.sku_id, row.delta, row.balance, row.reason) == (sku.pk, 12, 12, "adjustment")
    assert (row.actor_id, row.reference, row.note) == (actor.pk, "PO-1", "到货")


def test_every_change_is_a_row_and_the_stock_is_their_sum(sku: Sku) -> None:
    # given / when
    for delta, reason in [
        (10, StockReason.INITIAL),
        (-3, StockReason.ORDER_RESERVED),
        (2, StockReason.ORDER_RELEASED),
        (-9, StockReason.CORRECTION),
    ]:
        services.adjust_stock(sku=sku, delta=delta, reason=reason, actor=None)
    # then
    rows = list(StockLedger.objects.order_by("id").values_list("delta", "balance", "actor_id"))
    assert rows == [(10, 10, None), (-3, 7, None), (2, 9, None), (-9, 0, None)]
    assert stock_of(sku) == 0 == sum(delta for delta, _, _ in rows)


def test_removing_more_than_there_is_is_refused(sku: Sku) -> None:
    # given
    services.adjust_stock(sku=sku, delta=3, reason=StockReason.INITIAL, actor=None)
    # when / then
    with pytest.raises(Conflict) as caught:
        services.adjust_stock(sku=sku, delta=-4, reason=StockReason.ORDER_RESERVED, actor=None)
    assert caught.value.code == "insufficient_stock"
    assert caught.value.status == 409
    assert stock_of(sku) == 3
    assert StockLedger.objects.count() == 1


def test_removing_everything_is_allowed(sku: Sku) -> None:
    services.adjust_stock(sku=sku, delta=3, reason=StockReason.INITIAL, actor=None)
    assert services.adjust_stock(sku=sku, delta=-3, reason=StockReason.CORRECTION, actor=None) == 0
    assert stock_of(sku) == 0


def test_removing_from_an_empty_sku_is_refused(sku: Sku) -> None:
    with pytest.raises(Conflict) as caught:
        services.adjust_stock(sku=sku, delta=-1, reason=StockReason.ORDER_RESERVED, actor=None)
    assert caught.value.code == "insufficient_stock"
    assert stock_of(sku) == 0
    assert not StockLedger.objects.exists()


@pytest.mark.parametrize(
    "delta",
    [0, True, False, 1.0, -1.0, "5", None, services.MAX_STOCK + 1, -(services.MAX_STOCK + 1)],
)
def test_invalid_deltas_are_refused(sku: Sku, delta: Any) -> None:
    # given
    services.adjust_stock(sku=sku, delta=5, reason=StockReason.INITIAL, actor=None)
    # when / then
    with pytest.raises(InvalidInput) as caught:
        services.adjust_stock(sku=sku, delta=delta, reason=StockReason.ADJUSTMENT, actor=None)
    assert "delta" in caught.value.fields
    assert stock_of(sku) == 5
    assert StockLedger.objects.count() == 1


def test_the_largest_delta_is_accepted(sku: Sku) -> None:
    assert (
        services.adjust_stock(
            sku=sku, delta=services.MAX_STOCK, reason=StockReason.INITIAL, actor=None
        )
        == services.MAX_STOCK
    )


def test_stock_cannot_grow_beyond_the_maximum(sku: Sku) -> None:
    # given a full SKU
    services.adjust_stock(sku=sku, delta=services.MAX_STOCK, reason=StockReason.INITIAL, actor=None)
    # when / then one more is refused and the increment rolled back
    with pytest.raises(InvalidInput):
        services.adjust_stock(sku=sku, delta=1, reason=StockReason.RETURN, actor=None)
    assert stock_of(sku) == services.MAX_STOCK
    assert StockLedger.objects.count() == 1


@pytest.mark.parametrize("reason", ["", "gift", "ADJUSTMENT", None])
def test_unknown_reasons_are_refused(sku: Sku, reason: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        services.adjust_stock(sku=sku, delta=1, reason=reason, actor=None)
    assert "reason" in caught.value.fields
    assert stock_of(sku) == 0
    assert not StockLedger.objects.exists()


def test_long_reference_and_note_are_cut_to_the_column(sku: Sku) -> None:
    services.adjust_stock(
        sku=sku,
        delta=1,
        reason=StockReason.ADJUSTMENT,
        actor=None,
        reference="r" * 100,
        note="n" * 300,
    )
    row = StockLedger.objects.get()
    assert (len(row.reference), len(row.note)) == (64, 255)


def test_set_stock_records_the_difference(sku: Sku) -> None:
    # given
    services.adjust_stock(sku=sku, delta=8, reason=StockReason.INITIAL, actor=None)
    # when
    assert services.set_stock(sku=sku, quantity=5, reason=StockReason.CORRECTION, actor=None) == 5
    assert services.set_stock(sku=sku, quantity=5, reason=StockReason.CORRECTION, actor=None) == 5
    assert services.set_stock(sku=sku, quantity=11, reason=StockReason.IMPORT, actor=None) == 11
    # then no row for "no change"
    assert list(StockLedger.objects.order_by("id").values_list("delta", "balance", "reason")) == [
        (8, 8, "initial"),
        (-3, 5, "correction"),
        (6, 11, "import"),
    ]


@pytest.mark.parametrize("quantity", [-1, True, 2.0, "3", services.MAX_STOCK + 1])
def test_set_stock_refuses_bad_quantities(sku: Sku, quantity: Any) -> None:
    with pytest.raises(InvalidInput):
        services.set_stock(sku=sku, quantity=quantity, reason=StockReason.CORRECTION, actor=None)
    assert stock_of(sku) == 0
    assert not StockLedger.objects.exists()


@pytest.mark.parametrize("value", [-1, -100])
def test_the_database_refuses_negative_stock_even_around_the_services(sku: Sku, value: int) -> None:
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        Sku.objects.filter(pk=sku.pk).update(stock=value)
    assert stock_of(sku) == 0


def test_the_database_refuses_a_negative_price(sku: Sku) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Sku.objects.filter(pk=sku.pk).update(price=-1)


def test_a_stale_copy_does_not_hide_a_shortage(sku: Sku) -> None:
    # given two copies of a SKU holding 1
    services.adjust_stock(sku=sku, delta=1, reason=StockReason.INITIAL, actor=None)
    first, second = Sku.objects.get(pk=sku.pk), Sku.objects.get(pk=sku.pk)
    # when both take one
    services.adjust_stock(sku=first, delta=-1, reason=StockReason.ORDER_RESERVED, actor=None)
    # then the second is refused although its copy says 1
    assert second.stock == 1
    with pytest.raises(Conflict):
        services.adjust_stock(sku=second, delta=-1, reason=StockReason.ORDER_RESERVED, actor=None)
    assert stock_of(sku) == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_removals_never_oversell() -> None:
    # given a SKU holding 10
    product = factories.product(status="on_sale", stock=10)
    target = product.skus.get()
    assert stock_of(target) == 10
    threads_count = 20
    barrier = threading.Barrier(threads_count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def remove_one() -> None:
        try:
            copy = Sku(pk=target.pk, product_id=target.product_id, stock=10)
            barrier.wait(timeout=30)
            try:
                services.adjust_stock(
                    sku=copy, delta=-1, reason=StockReason.ORDER_RESERVED, actor=None
                )
                outcome = "ok"
            except Conflict as exc:
                outcome = exc.code
            except Exception as exc:  # reported in the assertion below
                outcome = f"error: {exc!r}"
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    # when 20 buyers take one at once (this thread gives its connection back to the pool first)
    connection.close()
    threads = [threading.Thread(target=remove_one) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then exactly 10 win and the stock ends at zero
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(outcomes) == ["insufficient_stock"] * 10 + ["ok"] * 10, outcomes
    assert stock_of(target) == 0
    removals = StockLedger.objects.filter(sku=target, delta__lt=0)
    assert removals.count() == 10
    assert sorted(removals.values_list("balance", flat=True)) == list(range(10))
    assert set(removals.values_list("delta", flat=True)) == {-1}
