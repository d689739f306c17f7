"""Serving recommendations (docs/decisions, "recommender").

Every list is built in the same steps, so a cold start is never empty:

1. candidates — for a member or an anonymous visitor with history: ALS (members
   with at least ``ALS_MIN_INTERACTIONS``) and the item-kNN neighbours of their
   recent views and purchases; then trending in the categories they looked at;
   then global trending; one slot for a new product; before the first training
   run, the best sellers;
2. business filters — on sale, in stock, not excluded by an operator, not bought
   recently (consumables: not in the last ``repurchase_days``; other products:
   not bought at all in the lookback);
3. operator pins at their positions, then diversity: at most ``category_cap`` from
   one category in the top 10.

Each item carries the ``reason`` shown to the buyer ("bought together", "because
you viewed …", "trending in …") and its ``source`` (for click-through by source).
Lists are cached like the catalog reads: per process for a moment, then in the
shared cache under a key holding the catalog version and the recommendations
version (bumped by training and by every operator change).
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.core.cache import cache
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.catalog.models import Category, Product, ProductStatus, Sku
from miniops.catalog.selectors import cached_bytes, catalog_version, sellable_snapshot
from miniops.core import localcache
from miniops.core.errors import InvalidInput, NotFound
from miniops.recommendations.models import (
    ItemNeighbor,
    ModelVersion,
    NeighborKind,
    ProductScore,
    RecsSettings,
    Rule,
    RuleKind,
)

VERSION_KEY = "recs:version"
LIST_TTL = 60
MAX_LIMIT = 50
TOP = 10
SEEDS = 20
LOOKBACK_DAYS = 180
ALS_MIN_INTERACTIONS = 5
SESSION_HOURS = 24
NEW_DAYS = 30
EXPERIMENT_KEY = "recs_vs_popular"
#: the two arms of the A/B split: the recommender, and popularity only (the holdout)
TREATED = "recommendations"
CONTROL = "popular"
ARMS = (TREATED, CONTROL)

# reasons (codes in the API; ``reason_text`` is the translated sentence)
BOUGHT_TOGETHER = "bought_together"
VIEWED = "because_you_viewed"
PERSONAL = "for_you"
TRENDING_IN = "trending_in"
TRENDING = "trending"
NEW = "new"
PINNED = "pinned"


@dataclass
class Rec:
    product_id: int
    reason: str
    reason_text: str
    source: str
    score: float = 0.0
    category_id: int | None = None
    ref_product_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --- versions and cached model data ----------------------------------------------------
def recs_version() -> int:
    """Bumped by a training run and by every operator rule or settings change."""

    def load() -> int:
        value = cache.get(VERSION_KEY)
        if value is None:
            cache.add(VERSION_KEY, 1, timeout=None)
            value = cache.get(VERSION_KEY, 1)
        return int(value)

    return localcache.get_or_load(VERSION_KEY, 1.0, load)


def bump_version() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.set(VERSION_KEY, 2, timeout=None)
    localcache.forget("recs:")


def active_version() -> ModelVersion | None:
    def load() -> ModelVersion | None:
        return ModelVersion.objects.filter(is_active=True).defer("artefact").first()

    return localcache.get_or_load(f"recs:active:{recs_version()}", 5.0, load)


def settings_row() -> RecsSettings:
    def load() -> RecsSettings:
        row = RecsSettings.objects.order_by("pk").first()
        if row is None:
            row = RecsSettings()
            row._consumables = frozenset()  # type: ignore[attr-defined]
        else:
            row._consumables = frozenset(  # type: ignore[attr-defined]
                row.consumable_categories.values_list("pk", flat=True)
            )
        return row

    return localcache.get_or_load(f"recs:settings:{recs_version()}", 5.0, load)


def rules() -> tuple[dict[int, int], frozenset[int]]:
    """(pins: product id → position, exclusions)."""

    def load() -> tuple[dict[int, int], frozenset[int]]:
        pins: dict[int, int] = {}
        excluded: set[int] = set()
        for product_id, kind, position in Rule.objects.values_list(
            "product_id", "kind", "position"
        ):
            if kind == RuleKind.PIN:
                pins[product_id] = position
            else:
                excluded.add(product_id)
        return pins, frozenset(excluded)

    return localcache.get_or_load(f"recs:rules:{recs_version()}", 5.0, load)


@dataclass
class Trending:
    overall: list[tuple[int, int, float]]  # (product, category, score), best first
    by_category: dict[int, list[tuple[int, float]]]


def trending(version: ModelVersion | None) -> Trending:
    """The version's trending scores; before any training, the best sellers."""

    def load() -> Trending:
        if version is not None:
            rows = list(
                ProductScore.objects.filter(version=version)
                .order_by("-score", "product_id")
                .values_list("product_id", "category_id", "score")
            )
        else:
            rows = []
        # then the best sellers (all of them before the first training run)
        scored = {row[0] for row in rows}
        rows += [
            (pk, category_id, 0.0)
            for pk, category_id in _sellable()
            .order_by("-sales_count", "-sort_weight", "-pk")
            .values_list("pk", "category_id")[:500]
            if pk not in scored
        ]
        by_category: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for product_id, category_id, score in rows:
            by_category[category_id].append((product_id, score))
        return Trending(rows, dict(by_category))

    key = f"recs:trending:{version.pk if version else 0}:{catalog_version()}"
    return localcache.get_or_load(key, 30.0, load)


def _als_model(version: ModelVersion) -> tuple[Any, dict[int, int], list[int]] | None:
    """The version's ALS model (item factors only), kept per process."""

    def load() -> tuple[Any, dict[int, int], list[int]] | None:
        blob = ModelVersion.objects.filter(pk=version.pk).values_list("artefact", flat=True).first()
        if not blob:
            return None
        import numpy as np
        from implicit.cpu.als import AlternatingLeastSquares

        data = np.load(io.BytesIO(bytes(blob)))
        params = version.params or {}
        model = AlternatingLeastSquares(
            factors=int(data["item_factors"].shape[1]),
            regularization=float(params.get("regularization", 0.05)),
            random_state=1,
        )
        model.item_factors = data["item_factors"]
        ids = [int(x) for x in data["product_ids"]]
        return model, {pid: i for i, pid in enumerate(ids)}, ids

    return localcache.get_or_load(f"recs:als:{version.pk}", 3600.0, load)


# --- the visitor's history ----------------------------------------------------------------
@dataclass
class History:
    #: (product id, "bought"|"viewed", weight), most recent first
    seeds: list[tuple[int, str, float]]
    #: product id → when it was last bought
    bought: dict[int, Any]


def history(*, member_id: int | None, anonymous_id: str | None) -> History:
    from miniops.members.models import BrowsingHistory
    from miniops.orders.models import OrderItem

    now = timezone.now()
    seeds: list[tuple[int, str, float]] = []
    bought: dict[int, Any] = {}
    if member_id:
        for product_id, paid_at in (
            OrderItem.objects.filter(
                order__member_id=member_id,
                order__paid_at__gte=now - timedelta(days=LOOKBACK_DAYS),
            )
            .order_by("-order__paid_at")
            .values_list("product_id", "order__paid_at")[:100]
        ):
            if product_id not in bought and paid_at is not None:
                bought[product_id] = paid_at
                age = (now - paid_at).days
                seeds.append((product_id, NeighborKind.BOUGHT, 5.0 / (1 + age / 30)))
        for product_id, viewed_at, views in (
            BrowsingHistory.objects.filter(member_id=member_id)
            .order_by("-viewed_at")
            .values_list("product_id", "viewed_at", "views")[:SEEDS]
        ):
            age = (now - viewed_at).days
            seeds.append((product_id, NeighborKind.VIEWED, min(views, 5) / (1 + age / 7)))
    elif anonymous_id:
        from miniops.analytics.models import Event

        seen: set[int] = set()
        for props in (
            Event.objects.filter(
                anonymous_id=anonymous_id,
                day__gte=(now - timedelta(hours=SESSION_HOURS)).date(),
                name="product_view",
            )
            .order_by("-ts")
            .values_list("properties", flat=True)[:100]
        ):
            viewed = props.get("product_id") if isinstance(props, dict) else None
            if isinstance(viewed, int) and viewed not in seen and len(seen) < SEEDS:
                seen.add(viewed)
                seeds.append((viewed, NeighborKind.VIEWED, 1.0))
    # the most recent first, each product once (a purchase outweighs a view)
    best: dict[int, tuple[int, str, float]] = {}
    for seed in seeds:
        if seed[0] not in best or best[seed[0]][2] < seed[2]:
            best[seed[0]] = seed
    return History(list(best.values())[: SEEDS * 2], bought)


# --- candidates -------------------------------------------------------------------------------
def _sellable() -> Any:
    in_stock = Sku.objects.filter(product=OuterRef("pk"), is_active=True, stock__gt=0)
    return Product.objects.filter(status=ProductStatus.ON_SALE).filter(Exists(in_stock))


def _titles(ids: set[int]) -> dict[int, str]:
    return dict(Product.objects.filter(pk__in=ids).values_list("pk", "title"))


def _category_names(ids: set[int]) -> dict[int, str]:
    return dict(Category.objects.filter(pk__in=ids).values_list("pk", "name"))


def _knn(version: ModelVersion, seeds: list[tuple[int, str, float]]) -> dict[int, Rec]:
    weight = {pid: w for pid, _kind, w in seeds}
    out: dict[int, Rec] = {}
    contributions: dict[int, tuple[float, int, str]] = {}
    rows = ItemNeighbor.objects.filter(version=version, product_id__in=list(weight)).values_list(
        "product_id", "neighbor_id", "kind", "score"
    )
    for product_id, neighbor_id, kind, score in rows:
        value = weight[product_id] * score * (1.0 if kind == NeighborKind.BOUGHT else 0.6)
        rec = out.get(neighbor_id)
        if rec is None:
            rec = out[neighbor_id] = Rec(neighbor_id, "", "", "item_knn")
        rec.score += value
        best = contributions.get(neighbor_id)
        if best is None or best[0] < value:
            contributions[neighbor_id] = (value, product_id, kind)
    for neighbor_id, (_value, product_id, kind) in contributions.items():
        out[neighbor_id].ref_product_id = product_id
        out[neighbor_id].reason = BOUGHT_TOGETHER if kind == NeighborKind.BOUGHT else VIEWED
    return out


def _als(version: ModelVersion, seeds: list[tuple[int, str, float]]) -> dict[int, Rec]:
    loaded = _als_model(version)
    if loaded is None:
        return {}
    model, index, ids = loaded
    rows = [(index[pid], w) for pid, _kind, w in seeds if pid in index]
    if len(rows) < ALS_MIN_INTERACTIONS:
        return {}
    import numpy as np
    import scipy.sparse as sp

    user = sp.csr_matrix(
        (
            np.array([w for _i, w in rows], dtype=np.float32),
            (np.zeros(len(rows), dtype=np.int32), np.array([i for i, _w in rows])),
        ),
        shape=(1, len(ids)),
    )
    found, scores = model.recommend(0, user, N=60, recalculate_user=True)
    return {
        ids[int(i)]: Rec(ids[int(i)], PERSONAL, "", "als", score=float(s))
        for i, s in zip(found, scores, strict=False)
    }


def _reason_text(rec: Rec, titles: dict[int, str], categories: dict[int, str]) -> str:
    ref = titles.get(rec.ref_product_id or 0, "")
    if rec.reason == BOUGHT_TOGETHER:
        return _("Often bought together with %(title)s") % {"title": ref}
    if rec.reason == VIEWED:
        return _("Because you viewed %(title)s") % {"title": ref}
    if rec.reason == PERSONAL:
        return _("Picked for you from your purchases and views")
    if rec.reason == TRENDING_IN:
        return _("Trending in %(category)s") % {
            "category": categories.get(rec.category_id or 0, "")
        }
    if rec.reason == NEW:
        return _("New arrival")
    if rec.reason == PINNED:
        return _("Recommended by the shop")
    return _("Trending now")


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(fields={"limit": f"Between 1 and {MAX_LIMIT}."})


def arm_for(*, member_id: int | None, anonymous_id: str | None) -> str:
    """The A/B arm of this visitor: everyone gets recommendations unless the split is
    on; then ``holdout_pct`` percent of them — chosen by a stable hash of the member
    or anonymous id (``core.experiments.in_holdout``, the holdout the push campaigns
    use) — get popularity only."""
    conf = settings_row()
    if not conf.experiment_enabled:
        return TREATED
    return arm_of_unit(_unit(member_id=member_id, anonymous_id=anonymous_id), conf.holdout_pct)


def _unit(*, member_id: int | None, anonymous_id: str | None) -> str:
    return f"m:{member_id}" if member_id else f"a:{anonymous_id or ''}"


def arm_of_unit(unit: str, holdout_pct: int) -> str:
    from miniops.core import experiments

    return CONTROL if experiments.in_holdout(EXPERIMENT_KEY, unit, holdout_pct) else TREATED


def recommend(
    *,
    member_id: int | None,
    anonymous_id: str | None,
    limit: int,
    arm: str | None = None,
    context_product_id: int | None = None,
) -> list[Rec]:
    """The list for a member, an anonymous visitor, or (``context_product_id``)
    the related products of a product page. Never empty while anything is on sale
    and in stock."""
    _check_limit(limit)
    version = active_version()
    conf = settings_row()
    pins, excluded = rules()
    arm = arm or arm_for(member_id=member_id, anonymous_id=anonymous_id)
    now = timezone.now()

    if context_product_id is not None:
        category = (
            Product.objects.filter(pk=context_product_id)
            .values_list("category_id", flat=True)
            .first()
        )
        if category is None:
            raise NotFound()
        past = History([(context_product_id, NeighborKind.BOUGHT, 1.0)], {})
        seeds = past.seeds
        seed_categories = [category]
    else:
        past = history(member_id=member_id, anonymous_id=anonymous_id)
        seeds = past.seeds if arm == "recommendations" else []
        seed_categories = []

    # 1. candidates, best first per source
    ordered: list[Rec] = []
    if version is not None and seeds:
        if context_product_id is None:
            ordered.extend(sorted(_als(version, seeds).values(), key=lambda r: -r.score))
        knn = _knn(version, seeds)
        ordered.extend(sorted(knn.values(), key=lambda r: (-r.score, r.product_id)))
    board = trending(version)
    if seeds and not seed_categories:
        category_of = dict(
            Product.objects.filter(pk__in=[s[0] for s in seeds]).values_list("pk", "category_id")
        )
        for pid, _kind, _w in seeds:
            if category_of.get(pid) and category_of[pid] not in seed_categories:
                seed_categories.append(category_of[pid])
    for category_id in seed_categories[:3]:
        for product_id, score in board.by_category.get(category_id, [])[:20]:
            ordered.append(
                Rec(product_id, TRENDING_IN, "", "category_trending", score, category_id)
            )
    # on sale and in stock (one snapshot per process for a few seconds: a list is
    # cached a minute anyway), and the newest of those
    sellable, newest_listed = sellable_snapshot()
    new_since = now - timedelta(days=NEW_DAYS)
    newest = [pk for pk, listed_at in newest_listed if listed_at >= new_since][:3]
    overall = [
        Rec(product_id, TRENDING_IN, "", "trending", score, category_id)
        for product_id, category_id, score in board.overall[:200]
    ]

    # 2. filters
    consumables: frozenset[int] = getattr(conf, "_consumables", frozenset())
    seen_viewed = {s[0] for s in past.seeds if s[1] == NeighborKind.VIEWED}
    # what they are looking at already (what they bought: the repurchase rule below)
    seed_ids = seen_viewed if context_product_id is None else {context_product_id}
    pool_ids = (
        {r.product_id for r in ordered}
        | {r.product_id for r in overall}
        | set(newest)
        | set(pins)
        | seen_viewed
    )
    info = {pk: sellable[pk] for pk in pool_ids if pk in sellable}
    repurchase = now - timedelta(days=conf.repurchase_days)

    def allowed(product_id: int) -> bool:
        if product_id not in info or product_id in excluded:
            return False
        if context_product_id is not None and product_id == context_product_id:
            return False
        bought_at = past.bought.get(product_id)
        return not (
            bought_at is not None
            and (info[product_id] not in consumables or bought_at >= repurchase)
        )

    chosen: list[Rec] = []
    taken: set[int] = set()

    def take(rec: Rec) -> None:
        if rec.product_id in taken or not allowed(rec.product_id):
            return
        if rec.product_id in seed_ids:
            return
        rec.category_id = info[rec.product_id]
        taken.add(rec.product_id)
        chosen.append(rec)

    for rec in ordered:
        take(rec)
    if newest and len(chosen) >= 3:
        # the exploration slot: a new product at the fourth place
        first_new = next((p for p in newest if p not in taken and allowed(p)), None)
        if first_new is not None:
            rec = Rec(first_new, NEW, "", "new")
            rec.category_id = info[first_new]
            taken.add(first_new)
            chosen.insert(3, rec)
    for rec in overall:
        take(rec)
    for product_id in newest:
        take(Rec(product_id, NEW, "", "new"))
    if not chosen and seeds:
        # nothing else left: what they looked at is better than nothing
        for pid in sorted(seen_viewed):
            if allowed(pid):
                rec = Rec(pid, VIEWED, "", "history", ref_product_id=pid)
                rec.category_id = info[pid]
                chosen.append(rec)

    # 3. diversity in the top 10, then pins at their places
    cap = max(1, conf.category_cap)
    top: list[Rec] = []
    rest: list[Rec] = []
    per_category: dict[int | None, int] = defaultdict(int)
    for rec in chosen:
        if len(top) < TOP and per_category[rec.category_id] < cap:
            top.append(rec)
            per_category[rec.category_id] += 1
        else:
            rest.append(rec)
    result = top + rest
    for product_id, position in sorted(pins.items(), key=lambda item: item[1]):
        if product_id in info and product_id not in excluded and product_id != context_product_id:
            result = [r for r in result if r.product_id != product_id]
            rec = Rec(product_id, PINNED, "", "pin", category_id=info[product_id])
            result.insert(min(position, len(result) + 1) - 1, rec)
    result = result[:limit]

    titles = _titles({r.ref_product_id for r in result if r.ref_product_id})
    names = _category_names({r.category_id for r in result if r.category_id})
    for rec in result:
        if rec.reason in ("", TRENDING) and rec.category_id:
            rec.reason = TRENDING_IN
        rec.reason_text = _reason_text(rec, titles, names)
        if rec.reason == TRENDING_IN:
            rec.extra["category"] = names.get(rec.category_id or 0, "")
        if rec.ref_product_id:
            rec.extra["product"] = titles.get(rec.ref_product_id, "")
    return result


def home_products(*, member_id: int | None, anonymous_id: str | None, limit: int) -> list[int]:
    """Product ids for a home-page block (the CMS): personal when there is a model
    and history, otherwise trending; on sale and in stock; never empty while the
    shop sells anything."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    return [
        rec.product_id
        for rec in recommend(member_id=member_id, anonymous_id=anonymous_id, limit=limit)
    ]


def related_products(product_id: int, *, limit: int) -> list[Rec]:
    return recommend(member_id=None, anonymous_id=None, limit=limit, context_product_id=product_id)


# --- API bodies (cached) -------------------------------------------------------------------
def _cards(recs: list[Rec]) -> list[dict[str, Any]]:
    from miniops.catalog.selectors import media_url

    rows = {
        row["id"]: row
        for row in Product.objects.filter(pk__in=[r.product_id for r in recs]).values(
            "id", "title", "subtitle", "cover", "min_price", "sales_count", "category_id"
        )
    }
    return [
        {
            "id": rec.product_id,
            "title": rows[rec.product_id]["title"],
            "subtitle": rows[rec.product_id]["subtitle"],
            "cover": media_url(rows[rec.product_id]["cover"]),
            "price": rows[rec.product_id]["min_price"],
            "sales": rows[rec.product_id]["sales_count"],
            "category_id": rows[rec.product_id]["category_id"],
            "reason": rec.reason,
            "reason_text": rec.reason_text,
            "source": rec.source,
        }
        for rec in recs
        if rec.product_id in rows
    ]


def _key(*parts: Any) -> str:
    from django.utils.translation import get_language

    digest = hashlib.blake2b(
        orjson.dumps([*parts, get_language() or ""]), digest_size=12
    ).hexdigest()
    return f"recs:list:{catalog_version()}:{recs_version()}:{digest}"


def with_impression(body: bytes, impression_id: str) -> bytes:
    """The cached answer with this request's impression id (no re-encoding)."""
    return body[:-1] + b',"impression_id":"' + impression_id.encode() + b'"}'


def recommendations_bytes(*, member_id: int | None, anonymous_id: str | None, limit: int) -> bytes:
    _check_limit(limit)
    arm = arm_for(member_id=member_id, anonymous_id=anonymous_id)

    def build() -> dict[str, Any]:
        recs = recommend(member_id=member_id, anonymous_id=anonymous_id, limit=limit, arm=arm)
        return {"items": _cards(recs), "arm": arm}

    return cached_bytes(_key("me", member_id, anonymous_id, limit, arm), LIST_TTL, build)


def related_bytes(product_id: int, *, limit: int) -> bytes:
    _check_limit(limit)

    def build() -> dict[str, Any]:
        return {"items": _cards(related_products(product_id, limit=limit))}

    return cached_bytes(_key("related", product_id, limit), LIST_TTL, build)


def explain(member_id: int, *, limit: int = 10) -> list[dict[str, Any]]:
    """For the console: what the member would be recommended and why."""
    recs = recommend(member_id=member_id, anonymous_id=None, limit=limit, arm="recommendations")
    cards = {c["id"]: c for c in _cards(recs)}
    return [
        {**asdict(rec), "title": cards[rec.product_id]["title"]}
        for rec in recs
        if rec.product_id in cards
    ]


# --- online effect -------------------------------------------------------------------------------
def _window(period: tuple[datetime, datetime] | None, days: int) -> tuple[datetime, datetime]:
    if period is not None:
        return period
    now = timezone.now()
    return now - timedelta(days=days), now + timedelta(seconds=1)


POSITION_BANDS = ("1-3", "4-10", "11+")
#: the order sources are listed in (the order a list is built in)
SOURCES = ("pin", "als", "item_knn", "category_trending", "trending", "new", "history")
#: how long after the end of the period a click on one of its lists still counts
CLICK_GRACE = timedelta(days=1)


def impression_report(
    *,
    period: tuple[datetime, datetime] | None = None,
    days: int = 30,
    limit: int = 200_000,
) -> dict[str, Any]:
    """Click-through of the lists shown in ``period`` ([start, end) aware times;
    default the last ``days``), at most ``limit`` impressions, the newest: per A/B
    arm, per source and per position band. An impression is one list; CTR = clicks
    ÷ products shown. A click is the client's ``recs_click`` event naming the
    impression and the product, within a day of the period's end; clicks on a
    product the impression did not show, or repeated, are ignored."""
    from miniops.analytics.models import Event

    since, until = _window(period, days)
    shown: dict[str, dict[int, tuple[int, str, str]]] = {}
    arm_of: dict[str, str] = {}
    for uuid, props in (
        Event.objects.filter(name="recs_impression", ts__gte=since, ts__lt=until)
        .order_by("-ts")
        .values_list("uuid", "properties")[:limit]
    ):
        if not isinstance(props, dict):
            continue
        items = props.get("items")
        kinds = props.get("sources")
        items = items if isinstance(items, list) else []
        kinds = kinds if isinstance(kinds, list) else []
        arm = str(props.get("arm") or "")
        listed: dict[int, tuple[int, str, str]] = {}
        for pos, pid in enumerate(items):
            if isinstance(pid, int) and not isinstance(pid, bool) and pid not in listed:
                listed[pid] = (pos + 1, str(kinds[pos]) if pos < len(kinds) else "", arm)
        shown[str(uuid)] = listed
        arm_of[str(uuid)] = arm
    empty = {"impressions": 0, "shown": 0, "clicks": 0}
    arms: dict[str, dict[str, int]] = defaultdict(lambda: dict(empty))
    sources: dict[str, dict[str, int]] = defaultdict(lambda: dict(empty))
    bands: dict[str, dict[str, int]] = defaultdict(lambda: dict(empty))

    def band(position: int) -> str:
        return "1-3" if position <= 3 else "4-10" if position <= 10 else "11+"

    for impression_id, items in shown.items():
        arms[arm_of[impression_id]]["impressions"] += 1
        for position, source, arm in items.values():
            sources[source]["shown"] += 1
            bands[band(position)]["shown"] += 1
            arms[arm]["shown"] += 1
        # an impression counts once in each source and band it showed
        for source in {source for _p, source, _a in items.values()}:
            sources[source]["impressions"] += 1
        for name in {band(position) for position, _s, _a in items.values()}:
            bands[name]["impressions"] += 1
    clicked: set[tuple[str, int]] = set()
    for props in Event.objects.filter(
        name="recs_click", ts__gte=since, ts__lt=until + CLICK_GRACE
    ).values_list("properties", flat=True):
        if not isinstance(props, dict):
            continue
        impression = str(props.get("impression_id") or "")
        try:
            product = int(props.get("product_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            continue
        hit = shown.get(impression, {}).get(product)
        if hit is None or (impression, product) in clicked:
            continue  # unknown impression, a product it did not show, or a repeat
        clicked.add((impression, product))
        position, source, arm = hit
        sources[source]["clicks"] += 1
        bands[band(position)]["clicks"] += 1
        arms[arm]["clicks"] += 1

    def rows(
        groups: dict[str, dict[str, int]], order: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        def place(key: str) -> tuple[int, str]:
            return (order.index(key) if key in order else len(order), key)

        return [
            {**groups[key], "key": key, "ctr": ctr(groups[key])}
            for key in sorted(groups, key=place)
        ]

    def ctr(g: dict[str, int]) -> float | None:
        return g["clicks"] / g["shown"] if g["shown"] else None

    return {
        "start": since,
        "end": until,
        "impressions": len(shown),
        "arms": rows(arms),
        "sources": rows(sources, SOURCES),
        "positions": rows(bands, POSITION_BANDS),
    }


#: how long after a member's first exposure their orders count for the A/B report
AB_WINDOW_DAYS = 7


def ab_report(
    *,
    period: tuple[datetime, datetime] | None = None,
    days: int = 30,
    window_days: int = AB_WINDOW_DAYS,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The online effect of the recommender against popularity only (the holdout).

    A unit is a member shown at least one list in ``period`` (a ``recs_impression``
    event with a member; default the last ``days``), in the arm that list was built
    for at their **first** exposure — intention to treat: a member moved to the other
    arm later (``holdout_pct`` changed) stays in their first arm and is counted in
    ``moved``. Outcomes over ``window_days`` from that first exposure (cut at now for
    recent exposures, the same for both arms): converted (paid an order), orders and
    GMV (paid minus refunded, fen). Incremental conversion is the difference of the
    two rates with the Wald interval, incremental GMV per member the difference of
    means with Welch's interval (``core.experiments``); the total is that times the
    treated group's size."""
    from django.db.models.fields.json import KT

    from miniops.analytics.models import Event
    from miniops.core import experiments
    from miniops.orders.models import Order

    since, until = _window(period, days)
    window = timedelta(days=window_days)
    first: dict[int, tuple[datetime, str]] = {}
    moved: set[int] = set()
    for member_id, ts, arm in (
        Event.objects.filter(
            name="recs_impression", ts__gte=since, ts__lt=until, member_id__isnull=False
        )
        .annotate(arm=KT("properties__arm"))
        .order_by("ts", "pk")
        .values_list("member_id", "ts", "arm")
    ):
        if arm not in ARMS or member_id is None:
            continue
        seen = first.get(member_id)
        if seen is None:
            first[member_id] = (ts, arm)
        elif seen[1] != arm:
            moved.add(member_id)
    outcome: dict[int, list[int]] = {}  # member → [orders, gmv]
    if first:
        for member_id, paid_at, paid, refunded in (
            Order.objects.filter(paid_at__gte=since, paid_at__lt=until + window)
            .exclude(member_id__isnull=True)
            .values_list("member_id", "paid_at", "paid_amount", "refunded_amount")
            .iterator(chunk_size=5000)
        ):
            seen = first.get(member_id) if member_id is not None else None
            if seen is None or paid_at is None or not seen[0] <= paid_at < seen[0] + window:
                continue
            row = outcome.setdefault(member_id, [0, 0])
            row[0] += 1
            row[1] += int(paid or 0) - int(refunded or 0)
    groups = {arm: {"units": 0, "converted": 0, "orders": 0, "gmv": 0} for arm in ARMS}
    values: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for member_id, (_ts, arm) in first.items():
        orders, gmv = outcome.get(member_id, (0, 0))
        group = groups[arm]
        group["units"] += 1
        group["converted"] += 1 if orders else 0
        group["orders"] += orders
        group["gmv"] += gmv
        values[arm].append(float(gmv))
    treated, control = groups[TREATED], groups[CONTROL]
    conversion = experiments.proportion_uplift(
        treated["converted"],
        treated["units"],
        control["converted"],
        control["units"],
        confidence=confidence,
    )
    gmv_uplift = experiments.uplift(values[TREATED], values[CONTROL], confidence=confidence)
    measurable = treated["units"] > 1 and control["units"] > 1
    conf = settings_row()
    return {
        "enabled": conf.experiment_enabled,
        "holdout_pct": conf.holdout_pct,
        "start": since,
        "end": until,
        "window_days": window_days,
        "groups": groups,
        "moved": len(moved),
        "measurable": measurable,
        "conversion": conversion,
        "gmv": gmv_uplift,
        "incremental_gmv": gmv_uplift.diff * treated["units"] if measurable else None,
    }
