"""CMS reads: the mini-program's home page, banners and articles.

Cached like the catalog (decision 0007): what operators arrange (sections,
banners, recent articles) is kept under ``cms:version``, which every CMS service
bumps after commit, in the shared cache and a 2 s per-process memo; the process
that made a change drops its memo at once. Per request only the schedule and the
audience are checked against that cached layout, and the live parts (flash sale,
group buys, recommendations) come from their own apps' selectors behind a 2 s memo.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from django.core.cache import cache
from django.utils import timezone

from miniops.cms import audience
from miniops.cms.models import Article, Banner, HomeSection, SectionKind
from miniops.core import localcache, media
from miniops.core.errors import NotFound
from miniops.core.pagination import decode_cursor, encode_cursor

VERSION_KEY = "cms:version"
LOCAL_TTL = 2.0
SHARED_TTL = 300
#: recent published articles kept with the layout (an article list section shows
#: at most 50)
LAYOUT_ARTICLES = 50

#: The mini-program's pages a banner may link to, with what operators read.
PAGES: dict[str, str] = {
    "/pages/index/index": "Home",
    "/pages/category/index": "Categories",
    "/pages/cart/index": "Cart",
    "/pages/member/index": "Me",
    "/pages/coupons/index": "Coupon centre",
    "/pages/points/index": "Points shop",
    "/pages/flash/index": "Flash sales",
    "/pages/groups/index": "Group buys",
    "/pages/articles/index": "Articles",
    "/pages/orders/index": "My orders",
    "/pages/sign-in/index": "Daily sign-in",
}


# --- cache plumbing -------------------------------------------------------------------
def cms_version() -> int:
    def load() -> int:
        value = cache.get(VERSION_KEY)
        if value is None:
            cache.add(VERSION_KEY, 1, timeout=None)
            value = cache.get(VERSION_KEY, 1)
        return int(value)

    return localcache.get_or_load(VERSION_KEY, 1.0, load)


def _cached(key: str, build: Callable[[], Any], ttl: int = SHARED_TTL) -> Any:
    def shared() -> Any:
        value = cache.get(key)
        if value is None:
            value = orjson.dumps(build())
            cache.set(key, value, timeout=ttl)
        return orjson.loads(value)

    return localcache.get_or_load(key, LOCAL_TTL, shared)


def _memo(key: str, build: Callable[[], Any]) -> Any:
    return localcache.get_or_load(key, LOCAL_TTL, build)


def _ts(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def _live(row: dict[str, Any], now: float) -> bool:
    start, end = row.get("_start"), row.get("_end")
    return (start is None or start <= now) and (end is None or now < end)


# --- the cached layout ------------------------------------------------------------------
def link_of(kind: str, ref: str) -> dict[str, str] | None:
    return {"kind": kind, "ref": ref} if kind else None


def _banner_row(banner: Banner) -> dict[str, Any]:
    return {
        "id": banner.pk,
        "title": banner.title,
        "image": media.public_url(banner.image.name if banner.image else None),
        "link": link_of(banner.link_kind, banner.link_ref),
        "_start": _ts(banner.starts_at),
        "_end": _ts(banner.ends_at),
    }


def _article_card(article: Article) -> dict[str, Any]:
    return {
        "id": article.pk,
        "title": article.title,
        "summary": article.summary,
        "cover": media.public_url(article.cover.name if article.cover else None),
        "published_at": article.published_at,
    }


def build_layout() -> dict[str, Any]:
    """Everything operators arranged that may show now or later (not what ended)."""
    now = timezone.now()
    sections = [
        {
            "id": s.pk,
            "kind": s.kind,
            "title": s.title,
            "limit": s.limit,
            "audience": s.audience,
            "_start": _ts(s.starts_at),
            "_end": _ts(s.ends_at),
        }
        for s in HomeSection.objects.filter(is_active=True).order_by("position", "id")
        if s.ends_at is None or s.ends_at > now
    ]
    banners = [
        _banner_row(b)
        for b in Banner.objects.filter(is_active=True).order_by("sort", "id")
        if b.ends_at is None or b.ends_at > now
    ][:200]
    articles = [
        _article_card(a)
        for a in Article.objects.filter(status=Article.Status.PUBLISHED).order_by(
            "-published_at", "-id"
        )[:LAYOUT_ARTICLES]
    ]
    return {"sections": sections, "banners": banners, "articles": articles}


def layout() -> dict[str, Any]:
    return _cached(f"cms:layout:{cms_version()}", build_layout)


# --- live parts -------------------------------------------------------------------------------
def product_cards(ids: list[int]) -> list[dict[str, Any]]:
    """Cards of the products on sale among ``ids``, in that order (each card kept
    2 s per process: the same products show on many members' pages)."""
    from miniops.catalog.selectors import on_sale

    cards: dict[int, dict[str, Any] | None] = {}
    missing = []
    for pk in ids:
        hit = localcache.get(f"cms:card:{pk}")
        if hit is None:
            missing.append(pk)
        else:
            cards[pk] = hit or None
    if missing:
        rows = {
            row["id"]: row
            for row in on_sale()
            .filter(pk__in=missing)
            .values("id", "title", "subtitle", "cover", "min_price", "sales_count")
        }
        for pk in missing:
            row = rows.get(pk)
            card = (
                {
                    "id": row["id"],
                    "title": row["title"],
                    "subtitle": row["subtitle"],
                    "cover": media.public_url(row["cover"]),
                    "price": row["min_price"],
                    "sales": row["sales_count"],
                }
                if row is not None
                else None
            )
            localcache.put(f"cms:card:{pk}", LOCAL_TTL, card or {})  # {}: not on sale
            cards[pk] = card
    return [card for pk in ids if (card := cards.get(pk))]


def best_sellers(limit: int) -> list[int]:
    from miniops.catalog.selectors import on_sale

    return list(on_sale().order_by("-sales_count", "-id").values_list("id", flat=True)[:limit])


#: How long one visitor's recommended ids are kept (the shared cache): picks come
#: from a trained model that changes in batches, and computing them is the most
#: expensive part of a member's home page.
RECOMMENDED_TTL = 120


def recommended_ids(*, member_id: int | None, anonymous_id: str, limit: int) -> list[int]:
    """From the recommendations app, kept per visitor for ``RECOMMENDED_TTL``
    seconds; the catalog's best sellers when it fails (the home page still
    answers, and the failure is not kept)."""
    from miniops.recommendations.selectors import home_products

    key = f"cms:rec:{member_id or ''}:{anonymous_id}:{limit}"

    def shared() -> list[int] | None:
        ids = cache.get(key)
        if ids is None:
            try:
                ids = list(
                    home_products(
                        member_id=member_id, anonymous_id=anonymous_id or None, limit=limit
                    )
                )[:limit]
            except Exception:
                logging.getLogger("miniops.cms").exception("home_products failed")
                return None
            cache.set(key, ids, timeout=RECOMMENDED_TTL)
        return list(ids)

    picked = localcache.get(key)
    if picked is None:
        picked = shared()
        if picked is not None:
            localcache.put(key, LOCAL_TTL, picked)
    if picked is not None:
        return picked
    return _memo(f"cms:live:best:{limit}", lambda: best_sellers(limit))


def _flash(limit: int) -> dict[str, Any]:
    from miniops.marketing.selectors import flash_sessions

    def build() -> dict[str, Any]:
        sessions = flash_sessions()
        running = [s for s in sessions if s["status"] == "running"]
        if not sessions:
            return {"session": None, "items": []}
        session = (running or sessions)[0]
        covers = {
            c["id"]: c["cover"] for c in product_cards([i["product_id"] for i in session["items"]])
        }
        items = [{**item, "cover": covers.get(item["product_id"])} for item in session["items"]]
        head = {k: session[k] for k in ("id", "name", "status", "starts_at", "ends_at")}
        return {"session": head, "items": items}

    data = _memo("cms:live:flash", build)
    return {"session": data["session"], "items": data["items"][:limit]}


def _group_buys(limit: int) -> list[dict[str, Any]]:
    from miniops.catalog.models import Sku
    from miniops.marketing.selectors import running_group_buys

    def build() -> list[dict[str, Any]]:
        rows = running_group_buys()
        products = dict(
            Sku.objects.filter(pk__in=[r["sku_id"] for r in rows]).values_list("pk", "product_id")
        )
        cards = {c["id"]: c for c in product_cards(list(set(products.values())))}
        out = []
        for row in rows:
            card = cards.get(products.get(row["sku_id"], 0))
            if card is None:  # the product is off the shelf
                continue
            out.append(
                {
                    **{k: v for k, v in row.items() if k != "server_time"},
                    "product_id": card["id"],
                    "title": card["title"],
                    "cover": card["cover"],
                }
            )
        return out

    return _memo("cms:live:groups", build)[:limit]


def _categories(limit: int) -> list[dict[str, Any]]:
    from miniops.catalog.selectors import category_tree_bytes

    roots = orjson.loads(category_tree_bytes())["items"]
    return [{"id": c["id"], "name": c["name"], "icon": c["icon"]} for c in roots[:limit]]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _section_items(
    section: dict[str, Any],
    data: dict[str, Any],
    now: float,
    *,
    member_id: int | None,
    anonymous_id: str,
) -> dict[str, Any]:
    kind, limit = section["kind"], section["limit"]
    extra: dict[str, Any] = {}
    items: list[dict[str, Any]]
    if kind == SectionKind.BANNERS:
        items = [_public(b) for b in data["banners"] if _live(b, now)][:limit]
    elif kind == SectionKind.FLASH_SALE:
        flash = _flash(limit)
        items, extra = flash["items"], {"session": flash["session"]}
    elif kind == SectionKind.GROUP_BUYS:
        items = _group_buys(limit)
    elif kind == SectionKind.RECOMMENDED:
        items = product_cards(
            recommended_ids(member_id=member_id, anonymous_id=anonymous_id, limit=limit)
        )
    elif kind == SectionKind.CATEGORY_GRID:
        items = _categories(limit)
    else:
        items = data["articles"][:limit]
    return {
        "id": section["id"],
        "kind": kind,
        "title": section["title"],
        "items": items,
        **extra,
    }


def _in_audience(key: str, member_id: int | None) -> bool:
    if not key:
        return True
    if member_id is None:
        return False
    return bool(_memo(f"cms:aud:{key}:{member_id}", lambda: audience.contains(key, member_id)))


def visible_sections(
    *, member_id: int | None, now: datetime | None = None, data: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The sections of the layout shown at ``now`` to ``member_id`` (None: an
    anonymous visitor, who sees only untargeted sections)."""
    data = data if data is not None else layout()
    at = (now or timezone.now()).timestamp()
    return [s for s in data["sections"] if _live(s, at) and _in_audience(s["audience"], member_id)]


def home(
    *, member_id: int | None = None, anonymous_id: str = "", now: datetime | None = None
) -> dict[str, Any]:
    """The home page as ``member_id`` (or an anonymous visitor) sees it at ``now``."""
    moment = now or timezone.now()
    data = layout()
    at = moment.timestamp()
    sections = [
        _section_items(s, data, at, member_id=member_id, anonymous_id=anonymous_id)
        for s in visible_sections(member_id=member_id, now=moment, data=data)
    ]
    return {"version": cms_version(), "server_time": moment, "sections": sections}


def home_bytes(*, member_id: int | None, anonymous_id: str = "") -> bytes:
    if member_id is None and not anonymous_id:
        # Everyone anonymous sees the same page: one answer per process per 2 s.
        return _memo(f"cms:home:anon:{cms_version()}", lambda: orjson.dumps(home()))
    return orjson.dumps(home(member_id=member_id, anonymous_id=anonymous_id))


# --- banners and articles ------------------------------------------------------------
def banners(now: datetime | None = None) -> list[dict[str, Any]]:
    at = (now or timezone.now()).timestamp()
    return [_public(b) for b in layout()["banners"] if _live(b, at)]


def banners_bytes() -> bytes:
    return orjson.dumps({"items": banners()})


def article_page(*, cursor: str | None = None, limit: int = 20) -> dict[str, Any]:
    from django.db.models import Q

    articles = Article.objects.filter(status=Article.Status.PUBLISHED, published_at__isnull=False)
    if cursor:
        moment, pk = decode_cursor(cursor, "time")
        articles = articles.filter(Q(published_at__lt=moment) | Q(published_at=moment, pk__lt=pk))
    rows = list(articles.order_by("-published_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return {
        "items": [_article_card(a) for a in rows],
        "next_cursor": encode_cursor(last.published_at, last.pk) if more and last else None,
    }


def article_page_bytes(*, cursor: str | None, limit: int) -> bytes:
    import hashlib

    digest = hashlib.blake2b((cursor or "").encode(), digest_size=12).hexdigest()
    key = f"cms:articles:{cms_version()}:{limit}:{digest}"
    return orjson.dumps(_cached(key, lambda: article_page(cursor=cursor, limit=limit)))


def article_detail(article_id: int) -> dict[str, Any]:
    article = Article.objects.filter(pk=article_id, status=Article.Status.PUBLISHED).first()
    if article is None:
        raise NotFound()
    return {**_article_card(article), "body": article.body}


def article_detail_bytes(article_id: int) -> bytes:
    key = f"cms:article:{cms_version()}:{article_id}"
    return orjson.dumps(_cached(key, lambda: article_detail(article_id)))
