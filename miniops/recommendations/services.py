"""Recommendation writes: training a version, operator pins and exclusions, the
serving settings."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from miniops.catalog.models import Category, Product
from miniops.core.errors import InvalidInput, NotFound
from miniops.core.permissions import P, require, require_if_operator
from miniops.recommendations import selectors, training
from miniops.recommendations.models import (
    ItemNeighbor,
    ModelVersion,
    NeighborKind,
    ProductScore,
    RecsSettings,
    Rule,
    RuleKind,
)

logger = logging.getLogger("miniops.recommendations")

LOOKBACK_DAYS = 365
VIEW_LOOKBACK_DAYS = 90
TRENDING_DAYS = 7
KEEP_VERSIONS = 5
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


@dataclass
class Interactions:
    """One row per (user, product, kind): user keys are strings ("m:12", "a:…")."""

    users: list[str]
    products: list[int]
    kinds: list[str]  # "view" | "cart" | "purchase"
    weights: list[float]
    ages_days: list[float]


def load_interactions(now: Any = None) -> Interactions:
    """Paid order lines, browsing history and the analytics product views and cart
    adds (member or anonymous id), deduplicated per (user, product, kind, day)."""
    from miniops.analytics.models import Event, VisitorAlias
    from miniops.members.models import BrowsingHistory
    from miniops.orders.models import OrderItem

    now = now or timezone.now()
    seen: set[tuple[str, int, str, Any]] = set()
    out = Interactions([], [], [], [], [])

    def add(user: str, product: int, kind: str, at: Any, weight: float | None = None) -> None:
        key = (user, product, kind, at.date())
        if key in seen:
            return
        seen.add(key)
        out.users.append(user)
        out.products.append(product)
        out.kinds.append(kind)
        out.weights.append(WEIGHTS[kind] if weight is None else weight)
        out.ages_days.append(max(0.0, (now - at).total_seconds() / 86400))

    for member_id, product_id, paid_at in (
        OrderItem.objects.filter(order__paid_at__gte=now - timedelta(days=LOOKBACK_DAYS))
        .values_list("order__member_id", "product_id", "order__paid_at")
        .iterator(chunk_size=5000)
    ):
        add(f"m:{member_id}", product_id, "purchase", paid_at)
    for member_id, product_id, viewed_at, views in (
        BrowsingHistory.objects.filter(viewed_at__gte=now - timedelta(days=VIEW_LOOKBACK_DAYS))
        .values_list("member_id", "product_id", "viewed_at", "views")
        .iterator(chunk_size=5000)
    ):
        add(f"m:{member_id}", product_id, "view", viewed_at, float(min(views, 5)))
    aliases = dict(VisitorAlias.objects.values_list("anonymous_id", "member_id"))
    for name, event_member, anonymous_id, props, ts in (
        Event.objects.filter(
            name__in=("product_view", "add_to_cart"),
            day__gte=(now - timedelta(days=VIEW_LOOKBACK_DAYS)).date(),
        )
        .values_list("name", "member_id", "anonymous_id", "properties", "ts")
        .iterator(chunk_size=5000)
    ):
        viewed = props.get("product_id") if isinstance(props, dict) else None
        if not isinstance(viewed, int) or isinstance(viewed, bool):
            continue
        member = event_member or aliases.get(anonymous_id)
        user = f"m:{member}" if member else f"a:{anonymous_id}"
        if user == "a:":
            continue
        add(user, viewed, "view" if name == "product_view" else "cart", ts)
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(*, actor: Any = None, now: Any = None) -> ModelVersion:
    """Fit item-kNN (bought together, viewed together), ALS and trending on the
    shop's interactions and make the result the active version."""
    require_if_operator(actor, P.RECOMMENDATIONS_MANAGE)
    started = time.perf_counter()
    now = now or timezone.now()
    data = load_interactions(now)
    valid = set(Product.objects.filter(pk__in=set(data.products)).values_list("pk", flat=True))
    category_of = dict(Product.objects.filter(pk__in=valid).values_list("pk", "category_id"))
    rows = [i for i, p in enumerate(data.products) if p in valid]
    user_ids = sorted({data.users[i] for i in rows})
    product_ids = sorted({data.products[i] for i in rows})
    uindex = {u: i for i, u in enumerate(user_ids)}
    pindex = {p: i for i, p in enumerate(product_ids)}
    shape = (len(user_ids), len(product_ids))
    users = np.array([uindex[data.users[i]] for i in rows], dtype=np.int32)
    items = np.array([pindex[data.products[i]] for i in rows], dtype=np.int32)
    weights = np.array([data.weights[i] for i in rows], dtype=np.float32)
    kinds = np.array([data.kinds[i] for i in rows])
    ages = np.array([data.ages_days[i] for i in rows], dtype=np.float32)

    neighbor_rows: list[ItemNeighbor] = []
    artefact = b""
    params: dict[str, Any] = {
        "neighbors": training.NEIGHBORS,
        "bm25": {"K1": training.BM25_K1, "B": training.BM25_B},
    }
    if len(rows):
        for kind, mask in (
            (NeighborKind.BOUGHT, kinds == "purchase"),
            (NeighborKind.VIEWED, kinds != "purchase"),
        ):
            if not mask.any():
                continue
            m = training.matrix(users[mask], items[mask], np.ones(mask.sum()), shape)
            model = training.fit_knn(m)
            for item, neighbor, score, rank in training.top_neighbors(model):
                neighbor_rows.append(
                    ItemNeighbor(
                        product_id=product_ids[item],
                        neighbor_id=product_ids[neighbor],
                        kind=kind,
                        score=score,
                        rank=rank,
                    )
                )
        if shape[0] >= 10 and shape[1] >= 10:
            combined = training.matrix(users, items, weights, shape)
            factors = min(training.ALS_FACTORS, max(4, shape[1] // 4))
            als = training.fit_als(combined, factors=factors)
            artefact = training.AlsArtefact(
                np.asarray(als.item_factors), np.array(product_ids, dtype=np.int64)
            ).dumps()
            params["als"] = {
                "factors": factors,
                "iterations": training.ALS_ITERATIONS,
                "regularization": training.ALS_REGULARIZATION,
                "alpha": training.ALS_ALPHA,
            }
            params["regularization"] = training.ALS_REGULARIZATION
    recent = ages <= TRENDING_DAYS
    scores = training.decayed_scores(items[recent], weights[recent], ages[recent])
    elapsed = time.perf_counter() - started
    params["peak_rss_mb"] = round(_peak_rss_mb(), 1)

    with transaction.atomic():
        version = ModelVersion.objects.create(
            trained_at=now,
            interactions=len(rows),
            members=shape[0],
            products=shape[1],
            seconds=round(elapsed, 3),
            params=params,
            artefact=artefact,
        )
        for row in neighbor_rows:
            row.version = version
        ItemNeighbor.objects.bulk_create(neighbor_rows, batch_size=2000)
        ProductScore.objects.bulk_create(
            [
                ProductScore(
                    version=version,
                    product_id=product_ids[item],
                    category_id=category_of[product_ids[item]],
                    score=score,
                )
                for item, score in scores.items()
            ],
            batch_size=2000,
        )
        ModelVersion.objects.filter(is_active=True).update(is_active=False)
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True)
        version.is_active = True
        old = list(
            ModelVersion.objects.order_by("-trained_at", "-pk").values_list("pk", flat=True)[
                KEEP_VERSIONS:
            ]
        )
        if old:
            ModelVersion.objects.filter(pk__in=old).delete()
        _changed()
    logger.info(
        "recommendations v%s: %s interactions, %s members, %s products, %.1fs",
        version.pk,
        version.interactions,
        version.members,
        version.products,
        elapsed,
    )
    return version


def _changed() -> None:
    """Drop the cached lists now and again after commit (a reader between the two
    may have cached the old rules under the new version)."""
    selectors.bump_version()
    transaction.on_commit(selectors.bump_version)


# --- operator rules ----------------------------------------------------------------------------
def _product(product_id: Any) -> Product:
    if isinstance(product_id, Product):
        return product_id
    try:
        return Product.objects.get(pk=int(product_id))
    except (Product.DoesNotExist, TypeError, ValueError) as exc:
        raise NotFound() from exc


def set_rule(*, actor: Any, product: Any, kind: str, position: int = 1, note: str = "") -> Rule:
    """Pin a product (shown at ``position`` on every list while sellable) or
    exclude it; one rule per product, replaced when set again."""
    require(actor, P.RECOMMENDATIONS_MANAGE)
    if kind not in RuleKind.values:
        raise InvalidInput(fields={"kind": "Pin or exclude."})
    if not 1 <= int(position) <= selectors.TOP:
        raise InvalidInput(fields={"position": f"Between 1 and {selectors.TOP}."})
    target = _product(product)
    with transaction.atomic():
        rule = Rule.objects.select_for_update().filter(product=target).first()
        if rule is None:
            rule = Rule(product=target, created_by=actor)
        rule.kind = kind
        rule.position = int(position)
        rule.note = note[:200]
        rule.save()
        _changed()
    return rule


def remove_rule(*, actor: Any, rule: Rule) -> None:
    require(actor, P.RECOMMENDATIONS_MANAGE)
    with transaction.atomic():
        Rule.objects.filter(pk=rule.pk).delete()
        _changed()


def update_settings(
    *,
    actor: Any,
    category_cap: int,
    repurchase_days: int,
    consumable_categories: Iterable[Category],
    experiment_enabled: bool,
) -> RecsSettings:
    require(actor, P.RECOMMENDATIONS_MANAGE)
    if not 1 <= category_cap <= selectors.TOP:
        raise InvalidInput(fields={"category_cap": f"Between 1 and {selectors.TOP}."})
    if not 0 <= repurchase_days <= 365:
        raise InvalidInput(fields={"repurchase_days": "Between 0 and 365."})
    with transaction.atomic():
        row = RecsSettings.objects.select_for_update().order_by("pk").first() or RecsSettings()
        row.category_cap = category_cap
        row.repurchase_days = repurchase_days
        row.experiment_enabled = experiment_enabled
        row.save()
        row.consumable_categories.set(list(consumable_categories))
        _changed()
    return row
