"""Recommendation writes: training a version, operator pins and exclusions, the
serving settings."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import orjson
from django.db import transaction
from django.utils import timezone

from miniops.catalog.models import Category, Product
from miniops.core.errors import InvalidInput, NotFound
from miniops.core.permissions import P, require, require_if_operator
from miniops.recommendations import selectors, training
from miniops.recommendations.interactions import Interactions, load_interactions
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

TRENDING_DAYS = 7
KEEP_VERSIONS = 5


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(
    *,
    actor: Any = None,
    now: Any = None,
    data: Interactions | None = None,
    als_iterations: int = training.ALS_ITERATIONS,
) -> ModelVersion:
    """Fit item-kNN (bought together, viewed together), ALS and trending on the
    shop's interactions and make the result the active version. ``data``: the
    interactions already loaded at ``now`` (the nightly run and the demo share
    one load between training and evaluation)."""
    require_if_operator(actor, P.RECOMMENDATIONS_MANAGE)
    started = time.perf_counter()
    now = now or timezone.now()
    data = data if data is not None else load_interactions(now)
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
            als = training.fit_als(combined, factors=factors, iterations=als_iterations)
            artefact = training.AlsArtefact(
                np.asarray(als.item_factors), np.array(product_ids, dtype=np.int64)
            ).dumps()
            params["als"] = {
                "factors": factors,
                "iterations": als_iterations,
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


def evaluate(
    *,
    actor: Any = None,
    test_days: int = 14,
    data: Interactions | None = None,
    als_iterations: int = training.ALS_ITERATIONS,
) -> dict[str, Any]:
    """The offline evaluation on the shop's own data (the last ``test_days`` as
    test, full catalogue), kept on the active version for the console. ``data``:
    the interactions already loaded for training."""
    require_if_operator(actor, P.RECOMMENDATIONS_MANAGE)
    from miniops.recommendations import evaluation

    split, info = evaluation.shop_split(test_days=test_days, data=data)
    figures: dict[str, Any] = {"info": info, "models": {}}
    if split.test:
        factors = min(training.ALS_FACTORS, max(4, split.n_items // 4))
        figures["models"] = evaluation.compare(
            split, als_factors=factors, als_iterations=als_iterations
        )
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().filter(is_active=True).first()
        if version is not None:
            version.params = {**version.params, "evaluation": figures}
            version.save(update_fields=["params"])
    return figures


def train_and_evaluate(
    *, actor: Any = None, als_iterations: int = training.ALS_ITERATIONS
) -> ModelVersion:
    """``train`` then ``evaluate`` on one load of the interactions (the nightly
    job, the demo)."""
    require_if_operator(actor, P.RECOMMENDATIONS_MANAGE)
    now = timezone.now()
    data = load_interactions(now)
    version = train(actor=actor, now=now, data=data, als_iterations=als_iterations)
    evaluate(actor=actor, data=data, als_iterations=als_iterations)
    return version


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
    holdout_pct: int | None = None,
) -> RecsSettings:
    """``holdout_pct`` (1–90, unchanged when None): the percent of visitors who get
    popularity only while the A/B split is on."""
    require(actor, P.RECOMMENDATIONS_MANAGE)
    if not 1 <= category_cap <= selectors.TOP:
        raise InvalidInput(fields={"category_cap": f"Between 1 and {selectors.TOP}."})
    if not 0 <= repurchase_days <= 365:
        raise InvalidInput(fields={"repurchase_days": "Between 0 and 365."})
    if holdout_pct is not None and (
        isinstance(holdout_pct, bool)
        or not isinstance(holdout_pct, int)
        or not 1 <= holdout_pct <= 90
    ):
        raise InvalidInput(fields={"holdout_pct": "Between 1 and 90."})
    with transaction.atomic():
        row = RecsSettings.objects.select_for_update().order_by("pk").first() or RecsSettings()
        row.category_cap = category_cap
        row.repurchase_days = repurchase_days
        row.experiment_enabled = experiment_enabled
        if holdout_pct is not None:
            row.holdout_pct = holdout_pct
        row.save()
        row.consumable_categories.set(list(consumable_categories))
        _changed()
    return row


# --- impressions ---------------------------------------------------------------------------------
IMPRESSION_EVENT = "recs_impression"
CLICK_EVENT = "recs_click"


def record_impression(
    *,
    surface: str,
    body: bytes,
    member_id: int | None,
    anonymous_id: str | None,
    arm: str,
    product_id: int | None = None,
) -> str:
    """What a list showed — products in order (the position is the index + 1), the
    source of each, the arm and the model version — as a ``recs_impression``
    analytics event (written in batches by the analytics buffer, not on the
    request). Its id is the ``impression_id`` the client sends back with a
    ``recs_click`` event, so click-through can be measured per arm, source and
    position (``selectors.impression_report``)."""
    from miniops.core import events

    items = orjson.loads(body).get("items", [])
    version = selectors.active_version()
    event = events.track(
        IMPRESSION_EVENT,
        member_id=member_id,
        properties={
            "surface": surface,
            "arm": arm,
            "model_version": version.pk if version else None,
            "anonymous_id": (anonymous_id or "")[:64],
            "product_id": product_id,
            "items": [int(item["id"]) for item in items],
            "sources": [str(item.get("source", "")) for item in items],
        },
    )
    return str(event.id)
