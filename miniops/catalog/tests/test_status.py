"""The product state machine (draft -> on sale -> off shelf), its conditional update,
bulk listing, and the scheduled listing and delisting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from miniops.catalog import services
from miniops.catalog.models import Product, ProductStatus, Sku
from miniops.catalog.tests.helpers import draft_with_skus
from miniops.core.errors import Conflict, Forbidden, IllegalTransition, InvalidInput
from miniops.testing import factories

pytestmark = pytest.mark.django_db

DRAFT, ON_SALE, OFF_SHELF = ProductStatus.DRAFT, ProductStatus.ON_SALE, ProductStatus.OFF_SHELF


def status_of(product: Product) -> str:
    return Product.objects.values_list("status", flat=True).get(pk=product.pk)


# --- going on sale -----------------------------------------------------------------------------
def test_a_draft_with_a_priced_sku_goes_on_sale() -> None:
    # given
    product = draft_with_skus([{"name": "颜色", "values": ["红"]}], price=100)
    before = timezone.now()
    # when
    returned = services.change_status(product=product, to=ON_SALE, actor=None)
    # then
    assert returned.status == ON_SALE
    stored = Product.objects.get(pk=product.pk)
    assert stored.status == ON_SALE
    assert stored.listed_at is not None
    assert stored.listed_at >= before


def test_a_draft_without_skus_cannot_go_on_sale() -> None:
    # given
    product = services.save_product(actor=None, title="空", category=factories.category())
    # when / then
    with pytest.raises(Conflict) as caught:
        services.change_status(product=product, to=ON_SALE, actor=None)
    assert not isinstance(caught.value, IllegalTransition)
    assert status_of(product) == DRAFT


def test_a_draft_with_only_inactive_skus_cannot_go_on_sale() -> None:
    product = draft_with_skus(None, price=100)
    services.update_sku(sku=product.skus.get(), actor=None, is_active=False)
    with pytest.raises(Conflict):
        services.change_status(product=product, to=ON_SALE, actor=None)
    assert status_of(product) == DRAFT


def test_a_draft_with_an_unpriced_sku_cannot_go_on_sale() -> None:
    # given one priced and one unpriced active SKU
    product = draft_with_skus([{"name": "颜色", "values": ["红", "蓝"]}], price=0)
    first = product.skus.order_by("id").first()
    services.update_sku(sku=first, actor=None, price=100)
    # when / then
    with pytest.raises(Conflict):
        services.change_status(product=product, to=ON_SALE, actor=None)
    assert status_of(product) == DRAFT
    assert Product.objects.get(pk=product.pk).listed_at is None


def test_an_unpriced_sku_that_is_not_sold_does_not_block() -> None:
    product = draft_with_skus([{"name": "颜色", "values": ["红", "蓝"]}], price=0)
    first, second = product.skus.order_by("id")
    services.update_sku(sku=first, actor=None, price=100)
    services.update_sku(sku=second, actor=None, is_active=False)
    services.change_status(product=product, to=ON_SALE, actor=None)
    assert status_of(product) == ON_SALE


# --- the transition table ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "to"),
    [
        (DRAFT, DRAFT),
        (DRAFT, OFF_SHELF),
        (ON_SALE, DRAFT),
        (ON_SALE, ON_SALE),
        (OFF_SHELF, OFF_SHELF),
    ],
)
def test_illegal_transitions_are_refused(start: str, to: str) -> None:
    # given
    product = factories.product(status=start)
    before = Product.objects.values("status", "listed_at").get(pk=product.pk)
    # when / then
    with pytest.raises(IllegalTransition) as caught:
        services.change_status(product=product, to=to, actor=None)
    assert caught.value.code == "illegal_transition"
    assert caught.value.status == 409
    assert Product.objects.values("status", "listed_at").get(pk=product.pk) == before
    assert product.status == start


@pytest.mark.parametrize(
    ("start", "to"),
    [(ON_SALE, OFF_SHELF), (OFF_SHELF, ON_SALE), (OFF_SHELF, DRAFT)],
)
def test_legal_transitions(start: str, to: str) -> None:
    product = factories.product(status=start)
    services.change_status(product=product, to=to, actor=None)
    assert status_of(product) == to
    assert product.status == to


def test_an_unknown_status_is_invalid_input() -> None:
    product = factories.product(status=DRAFT)
    with pytest.raises(InvalidInput) as caught:
        services.change_status(product=product, to="deleted", actor=None)
    assert "status" in caught.value.fields
    assert status_of(product) == DRAFT


def test_listing_again_keeps_the_first_listing_time() -> None:
    # given a product listed, then delisted
    product = factories.product(status=ON_SALE)
    first_listed = product.listed_at
    assert first_listed is not None
    services.change_status(product=product, to=OFF_SHELF, actor=None)
    # when
    services.change_status(product=product, to=ON_SALE, actor=None)
    # then
    assert Product.objects.get(pk=product.pk).listed_at == first_listed


# --- the conditional update --------------------------------------------------------------
def test_a_change_made_meanwhile_wins_over_a_stale_copy() -> None:
    # given an operator's copy loaded as a draft
    product = factories.product(status=DRAFT)
    stale = Product.objects.get(pk=product.pk)
    # and another operator lists it meanwhile (a direct change of the row)
    Product.objects.filter(pk=product.pk).update(status=ON_SALE)
    # when the first operator lists it from the stale copy
    with pytest.raises(IllegalTransition) as caught:
        services.change_status(product=stale, to=ON_SALE, actor=None)
    # then the row is untouched and the copy not updated
    assert caught.value.code == "illegal_transition"
    stored = Product.objects.get(pk=product.pk)
    assert stored.status == ON_SALE
    assert stored.listed_at is None
    assert stale.status == DRAFT


def test_a_stale_delist_does_not_undo_a_newer_state() -> None:
    # given a copy loaded while on sale
    product = factories.product(status=ON_SALE)
    stale = Product.objects.get(pk=product.pk)
    # and the product taken off shelf and back to draft meanwhile
    services.change_status(product=product, to=OFF_SHELF, actor=None)
    services.change_status(product=product, to=DRAFT, actor=None)
    # when
    with pytest.raises(IllegalTransition):
        services.change_status(product=stale, to=OFF_SHELF, actor=None)
    # then
    assert status_of(product) == DRAFT


# --- bulk ------------------------------------------------------------------------------------
def test_bulk_listing_reports_each_failure_on_its_own() -> None:
    # given two listable drafts, one without a price, one already on sale
    good = [factories.product(status=DRAFT) for _ in range(2)]
    unpriced = factories.product(status=DRAFT, price=0)
    listed = factories.product(status=ON_SALE)
    # when
    done, failures = services.bulk_change_status(
        products=Product.objects.order_by("id"), to=ON_SALE, actor=None, anyway=True
    )
    # then
    assert done == 2
    assert len(failures) == 2
    assert all(status_of(p) == ON_SALE for p in good)
    assert status_of(unpriced) == DRAFT
    assert status_of(listed) == ON_SALE


def test_bulk_listing_refuses_products_with_warnings_unless_anyway() -> None:
    # given a draft with an image and weight, and one with neither (the factory's)
    fine = factories.product(status=DRAFT)
    Product.objects.filter(pk=fine.pk).update(cover="catalog/products/cover.png")
    fine.skus.update(weight_g=200)
    bare = factories.product(status=DRAFT)
    code = bare.skus.get().code
    # when listed without “anyway”
    done, failures = services.bulk_change_status(
        products=Product.objects.order_by("id"), to=ON_SALE, actor=None
    )
    # then the ready one is on sale, the other refused with what it lacks
    assert done == 1
    assert status_of(fine) == ON_SALE
    assert status_of(bare) == DRAFT
    assert len(failures) == 1
    assert bare.title in failures[0]
    assert code in failures[0]
    # when listed anyway
    done, failures = services.bulk_change_status(
        products=Product.objects.filter(pk=bare.pk), to=ON_SALE, actor=None, anyway=True
    )
    assert (done, failures) == (1, [])
    assert status_of(bare) == ON_SALE


def test_bulk_listing_needs_the_manage_permission() -> None:
    draft = factories.product(status=DRAFT)
    analyst = factories.operator_with_role("analyst")
    with pytest.raises(Forbidden):
        services.bulk_change_status(
            products=Product.objects.all(), to=ON_SALE, actor=analyst, anyway=True
        )
    assert status_of(draft) == DRAFT


# --- schedules -----------------------------------------------------------------------------
def test_apply_schedules_lists_and_delists_due_products() -> None:
    # given
    now = timezone.now()
    past, future = now - timedelta(minutes=5), now + timedelta(hours=1)
    due_draft = factories.product(status=DRAFT)
    due_off_shelf = factories.product(status=OFF_SHELF)
    not_yet = factories.product(status=DRAFT)
    unpriced = factories.product(status=DRAFT, price=0)
    expired_window = factories.product(status=DRAFT)
    to_delist = factories.product(status=ON_SALE)
    stays_on_sale = factories.product(status=ON_SALE)
    Product.objects.filter(pk__in=[due_draft.pk, due_off_shelf.pk, unpriced.pk]).update(
        publish_at=past
    )
    Product.objects.filter(pk=not_yet.pk).update(publish_at=future)
    Product.objects.filter(pk=expired_window.pk).update(
        publish_at=past - timedelta(hours=1), unpublish_at=past
    )
    Product.objects.filter(pk=to_delist.pk).update(unpublish_at=past)
    Product.objects.filter(pk=stays_on_sale.pk).update(unpublish_at=future)
    # when
    result = services.apply_schedules(now=now)
    # then
    assert result == {"listed": 2, "delisted": 1}
    assert status_of(due_draft) == ON_SALE
    assert status_of(due_off_shelf) == ON_SALE
    assert status_of(not_yet) == DRAFT
    assert status_of(unpriced) == DRAFT
    assert status_of(expired_window) == DRAFT
    assert status_of(to_delist) == OFF_SHELF
    assert status_of(stays_on_sale) == ON_SALE
    delisted = Product.objects.get(pk=to_delist.pk)
    assert (delisted.publish_at, delisted.unpublish_at) == (None, None)


def test_apply_schedules_uses_the_clock_by_default() -> None:
    product = factories.product(status=DRAFT)
    Product.objects.filter(pk=product.pk).update(publish_at=timezone.now() - timedelta(seconds=1))
    assert services.apply_schedules() == {"listed": 1, "delisted": 0}
    assert status_of(product) == ON_SALE
    # a second run has nothing to do
    assert services.apply_schedules() == {"listed": 0, "delisted": 0}


def test_a_product_with_a_window_goes_on_and_off() -> None:
    # given a sale window
    start = timezone.now() + timedelta(hours=1)
    product = factories.product(status=DRAFT)
    services.save_product(
        actor=None,
        product=product,
        title=product.title,
        category=product.category,
        publish_at=start,
        unpublish_at=start + timedelta(hours=2),
    )
    # when / then
    assert services.apply_schedules(now=start - timedelta(minutes=1)) == {
        "listed": 0,
        "delisted": 0,
    }
    assert services.apply_schedules(now=start + timedelta(minutes=1))["listed"] == 1
    assert status_of(product) == ON_SALE
    assert services.apply_schedules(now=start + timedelta(hours=3))["delisted"] == 1
    assert status_of(product) == OFF_SHELF


def test_a_manual_delist_after_a_scheduled_listing_sticks() -> None:
    # given a product put on sale by its schedule
    now = timezone.now()
    product = factories.product(status=DRAFT)
    Product.objects.filter(pk=product.pk).update(publish_at=now - timedelta(minutes=5))
    services.apply_schedules(now=now)
    assert status_of(product) == ON_SALE
    # and then taken off shelf by an operator (a recall, say)
    services.change_status(
        product=Product.objects.get(pk=product.pk), to=OFF_SHELF, actor=None, reason="recall"
    )
    # when the schedule runs again a minute later
    services.apply_schedules(now=now + timedelta(minutes=1))
    # then the product stays off shelf
    assert status_of(product) == OFF_SHELF


def test_status_changes_do_not_touch_skus() -> None:
    product = factories.product(status=ON_SALE, skus=2)
    before = list(Sku.objects.order_by("id").values("price", "stock", "is_active"))
    services.change_status(product=product, to=OFF_SHELF, actor=None)
    assert list(Sku.objects.order_by("id").values("price", "stock", "is_active")) == before
