"""Serving: cold start never empty, business filters, pins and exclusions,
diversity, personal lists after training."""

from __future__ import annotations

from typing import Any

import pytest

from miniops.catalog import services as catalog_services
from miniops.catalog.models import ProductStatus, StockReason
from miniops.core.errors import InvalidInput, NotFound
from miniops.members.models import BrowsingHistory
from miniops.recommendations import selectors, services
from miniops.recommendations.models import RecsSettings, Rule, RuleKind
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def shop(categories: int = 3, per_category: int = 5) -> list[Any]:
    products = []
    for c in range(categories):
        leaf = factories.category(f"类{c}")
        for _ in range(per_category):
            products.append(factories.product(category_obj=leaf, stock=50))
    return products


def test_cold_start_is_never_empty_and_only_sellable() -> None:
    products = shop()
    off = factories.product(status=ProductStatus.OFF_SHELF)
    empty = factories.product(stock=0)
    for ids in (
        selectors.home_products(member_id=None, anonymous_id=None, limit=10),
        selectors.home_products(member_id=None, anonymous_id="anon-1", limit=10),
        selectors.home_products(member_id=factories.member().pk, anonymous_id=None, limit=10),
    ):
        assert len(ids) == 10
        assert off.pk not in ids
        assert empty.pk not in ids
        assert set(ids) <= {p.pk for p in products}


def test_diversity_caps_a_category_in_the_top_ten() -> None:
    products = shop(categories=1, per_category=12) + shop(categories=4, per_category=2)
    # the big category sells best
    for p in products[:12]:
        type(p).objects.filter(pk=p.pk).update(sales_count=100)
    recs = selectors.recommend(member_id=None, anonymous_id=None, limit=20)
    per: dict[int | None, int] = {}
    for rec in recs[:10]:
        per[rec.category_id] = per.get(rec.category_id, 0) + 1
    assert max(per.values()) <= RecsSettings().category_cap
    assert len(recs) == 20  # the capped ones come after the top ten, not dropped


def test_pins_and_exclusions(operator: Any) -> None:
    products = shop()
    pinned, banned = products[-1], products[0]
    services.set_rule(actor=operator, product=pinned, kind=RuleKind.PIN, position=1)
    services.set_rule(actor=operator, product=banned, kind=RuleKind.EXCLUDE)
    recs = selectors.recommend(member_id=None, anonymous_id=None, limit=15)
    assert recs[0].product_id == pinned.pk
    assert recs[0].reason == selectors.PINNED
    assert banned.pk not in [r.product_id for r in recs]
    services.remove_rule(actor=operator, rule=Rule.objects.get(product=banned))
    assert banned.pk in selectors.home_products(member_id=None, anonymous_id=None, limit=15)


def test_sold_out_pin_is_not_shown(operator: Any) -> None:
    products = shop()
    pinned = products[3]
    services.set_rule(actor=operator, product=pinned, kind=RuleKind.PIN, position=1)
    sku = pinned.skus.first()
    catalog_services.adjust_stock(sku=sku, delta=-50, reason=StockReason.CORRECTION, actor=None)
    assert pinned.pk not in selectors.home_products(member_id=None, anonymous_id=None, limit=15)


def test_bad_input() -> None:
    shop(1, 2)
    with pytest.raises(InvalidInput):
        selectors.recommend(member_id=None, anonymous_id=None, limit=0)
    with pytest.raises(InvalidInput):
        selectors.recommend(member_id=None, anonymous_id=None, limit=51)
    with pytest.raises(NotFound):
        selectors.related_products(999999, limit=5)


def co_purchases(products: list[Any]) -> tuple[Any, Any]:
    """Twenty buyers each buy a and b together; b and c are also viewed together."""
    a, b = products[0], products[6]
    for _ in range(12):
        buyer = factories.member()
        factories.order(buyer=buyer, items=[(a.skus.first(), 1), (b.skus.first(), 1)], paid=True)
    return a, b


def test_training_gives_bought_together_and_personal_lists() -> None:
    products = shop()
    a, b = co_purchases(products)
    version = services.train(actor=None)
    assert version.is_active
    assert version.interactions >= 24
    related = selectors.related_products(a.pk, limit=5)
    assert related[0].product_id == b.pk
    assert related[0].reason == selectors.BOUGHT_TOGETHER
    assert a.title in related[0].reason_text
    # a member who only viewed a is shown b "because you viewed a"
    viewer = factories.member()
    BrowsingHistory.objects.create(member=viewer, product=a)
    recs = selectors.recommend(member_id=viewer.pk, anonymous_id=None, limit=10)
    assert recs[0].product_id == b.pk
    assert recs[0].reason in (selectors.VIEWED, selectors.BOUGHT_TOGETHER)
    assert a.title in recs[0].reason_text
    assert a.pk not in [r.product_id for r in recs]


def test_bought_products_are_left_out_unless_consumable_and_old(operator: Any) -> None:
    products = shop()
    _a, b = co_purchases(products)
    services.train(actor=None)
    buyer = factories.member()
    factories.order(buyer=buyer, items=[(b.skus.first(), 1)], paid=True)
    assert b.pk not in selectors.home_products(member_id=buyer.pk, anonymous_id=None, limit=15)
    services.update_settings(
        actor=operator,
        category_cap=3,
        repurchase_days=0,
        consumable_categories=[b.category],
        experiment_enabled=False,
    )
    assert b.pk in selectors.home_products(member_id=buyer.pk, anonymous_id=None, limit=15)


def test_popularity_arm_gets_no_personal_items(operator: Any) -> None:
    products = shop()
    a, _b = co_purchases(products)
    services.train(actor=None)
    viewer = factories.member()
    BrowsingHistory.objects.create(member=viewer, product=a)
    recs = selectors.recommend(member_id=viewer.pk, anonymous_id=None, limit=10, arm="popular")
    assert {r.source for r in recs} <= {"trending", "new", "pin"}


def test_rules_need_the_permission() -> None:
    from miniops.core.errors import Forbidden

    analyst = factories.operator_with_role("analyst")
    product = shop(1, 1)[0]
    with pytest.raises(Forbidden):
        services.set_rule(actor=analyst, product=product, kind=RuleKind.PIN)


def test_a_sell_out_leaves_the_lists_at_once_in_the_process_that_made_it(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # the on-sale-and-in-stock snapshot is kept a few seconds per process: the
    # process that changes stock drops its copy (others see it within SELLABLE_TTL)
    products = shop()
    first = selectors.home_products(member_id=None, anonymous_id=None, limit=15)
    gone = next(p for p in products if p.pk in first)
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.adjust_stock(
            sku=gone.skus.first(), delta=-50, reason=StockReason.CORRECTION, actor=None
        )
    assert gone.pk not in selectors.home_products(member_id=None, anonymous_id=None, limit=16)
