"""Catalog reads: the category tree, product lists with cursor pagination, product
pages. Client-facing reads are cached (see ``cache_keys``) and invalidated by the
services on change."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet

from miniops.catalog.models import Category, Product, ProductStatus, Sku
from miniops.core import localcache, media
from miniops.core.errors import NotFound
from miniops.core.pagination import decode_cursor, encode_cursor
from miniops.core.selectors import get_system_settings

VERSION_KEY = "catalog:version"
LIST_TTL = 60
DETAIL_TTL = 600
LOCAL_TTL = 2.0


# --- cache plumbing -------------------------------------------------------------------
def catalog_version() -> int:
    """Bumped by every catalog change; part of every list and tree cache key."""

    def load() -> int:
        value = cache.get(VERSION_KEY)
        if value is None:
            cache.add(VERSION_KEY, 1, timeout=None)
            value = cache.get(VERSION_KEY, 1)
        return int(value)

    return localcache.get_or_load(VERSION_KEY, 1.0, load)


def product_key(product_id: int) -> str:
    return f"catalog:product:{product_id}"


def cached_bytes(key: str, ttl: int, build: Any) -> bytes:
    """JSON bytes from this process's memo, then the shared cache, then ``build()``."""

    def shared() -> bytes:
        value = cache.get(key)
        if value is None:
            value = orjson.dumps(build())
            cache.set(key, value, timeout=ttl)
        return bytes(value)

    return localcache.get_or_load(key, LOCAL_TTL, shared)


SELLABLE_KEY = "catalog:sellable"
#: how long a process keeps the sellable snapshot (a stock change elsewhere is seen
#: within this; the process that made it drops its copy at once)
SELLABLE_TTL = 5.0
#: the newest sellable products kept in the snapshot, newest first
SELLABLE_NEWEST = 50


def sellable_snapshot() -> tuple[dict[int, int | None], list[tuple[int, Any]]]:
    """The products that can be sold now — on sale, with an active SKU in stock — as
    ``({product id: category id}, [(product id, listed at), …])``, the list the
    ``SELLABLE_NEWEST`` newest of them (by listed time, then id, newest first; never
    listed ones left out). One query per process every ``SELLABLE_TTL`` seconds and
    catalog version, for readers that filter many candidates per request (the
    recommendation lists)."""

    def load() -> tuple[dict[int, int | None], list[tuple[int, Any]]]:
        in_stock = Sku.objects.filter(product=OuterRef("pk"), is_active=True, stock__gt=0)
        rows = list(
            Product.objects.filter(status=ProductStatus.ON_SALE)
            .filter(Exists(in_stock))
            .values_list("pk", "category_id", "listed_at")
        )
        listed = sorted(
            ((pk, at) for pk, _category, at in rows if at is not None),
            key=lambda row: (row[1], row[0]),
            reverse=True,
        )
        return {pk: category for pk, category, _at in rows}, listed[:SELLABLE_NEWEST]

    return localcache.get_or_load(f"{SELLABLE_KEY}:{catalog_version()}", SELLABLE_TTL, load)


def media_url(name: str | None) -> str | None:
    """A stored image's address as the API answers it (absolute: see core.media)."""
    return media.public_url(name)


# --- categories --------------------------------------------------------------------------
def category_tree() -> list[dict[str, Any]]:
    nodes = list(
        Category.objects.filter(is_active=True)
        .order_by("level", "sort", "id")
        .values("id", "name", "parent_id", "level", "sort", "icon")
    )
    by_id: dict[int, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for node in nodes:
        item = {
            "id": node["id"],
            "name": node["name"],
            "level": node["level"],
            "icon": media_url(node["icon"]),
            "children": [],
        }
        by_id[node["id"]] = item
        parent = by_id.get(node["parent_id"]) if node["parent_id"] else None
        if node["parent_id"] is None:
            roots.append(item)
        elif parent is not None:  # children of hidden categories stay hidden
            parent["children"].append(item)
    return roots


def category_tree_bytes() -> bytes:
    return cached_bytes(
        f"catalog:tree:{catalog_version()}", LIST_TTL, lambda: {"items": category_tree()}
    )


def descendant_ids(category_id: int) -> list[int]:
    """The category and every category below it (three levels at most)."""
    ids = [category_id]
    frontier = [category_id]
    for _ in range(3):
        frontier = list(
            Category.objects.filter(parent_id__in=frontier).values_list("id", flat=True)
        )
        if not frontier:
            break
        ids.extend(frontier)
    return ids


# --- product lists -------------------------------------------------------------------------
SORTS: dict[str, tuple[str, bool]] = {
    # name: (field, descending)
    "default": ("sort_weight", True),
    "sales": ("sales_count", True),
    "price": ("min_price", False),
    "-price": ("min_price", True),
    "newest": ("listed_at", True),
}


def on_sale() -> QuerySet[Product]:
    return Product.objects.filter(status=ProductStatus.ON_SALE)


def product_page(
    *,
    category_id: int | None = None,
    keyword: str = "",
    min_price: int | None = None,
    max_price: int | None = None,
    sort: str = "default",
    cursor: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    field, descending = SORTS[sort]
    products = on_sale()
    if category_id is not None:
        products = products.filter(category_id__in=descendant_ids(category_id))
    if keyword:
        products = products.filter(Q(title__icontains=keyword) | Q(subtitle__icontains=keyword))
    if min_price is not None:
        products = products.filter(min_price__gte=min_price)
    if max_price is not None:
        products = products.filter(min_price__lte=max_price)
    if field == "listed_at":
        products = products.exclude(listed_at__isnull=True)
    if cursor:
        value, pk = decode_cursor(cursor, "time" if field == "listed_at" else "int")
        if descending:
            products = products.filter(
                Q(**{f"{field}__lt": value}) | Q(**{field: value, "pk__lt": pk})
            )
        else:
            products = products.filter(
                Q(**{f"{field}__gt": value}) | Q(**{field: value, "pk__gt": pk})
            )
    order = [f"-{field}", "-pk"] if descending else [field, "pk"]
    rows = list(
        products.order_by(*order).values(
            "id", "title", "subtitle", "cover", "min_price", "sales_count", "category_id", field
        )[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "id": row["id"],
            "title": row["title"],
            "subtitle": row["subtitle"],
            "cover": media_url(row["cover"]),
            "price": row["min_price"],
            "sales": row["sales_count"],
            "category_id": row["category_id"],
        }
        for row in rows
    ]
    next_cursor = encode_cursor(rows[-1][field], rows[-1]["id"]) if more and rows else None
    return {"items": items, "next_cursor": next_cursor}


def product_page_bytes(**params: Any) -> bytes:
    digest = hashlib.blake2b(
        orjson.dumps(params, option=orjson.OPT_SORT_KEYS), digest_size=12
    ).hexdigest()
    key = f"catalog:list:{catalog_version()}:{digest}"
    return cached_bytes(key, LIST_TTL, lambda: product_page(**params))


# --- product pages -------------------------------------------------------------------------
def stock_state(stock: int, threshold: int) -> str:
    if stock <= 0:
        return "sold_out"
    if stock <= threshold:
        return "low"
    return "in_stock"


def product_detail(product_id: int) -> dict[str, Any]:
    try:
        product = (
            on_sale()
            .select_related("category", "brand")
            .prefetch_related("images")
            .get(pk=product_id)
        )
    except Product.DoesNotExist as exc:
        raise NotFound() from exc
    threshold = get_system_settings().low_stock_threshold
    skus = list(product.skus.filter(is_active=True).order_by("id"))
    options: dict[str, list[str]] = {}
    for spec in product.specs or []:
        options[spec["name"]] = list(spec["values"])
    return {
        "id": product.pk,
        "title": product.title,
        "subtitle": product.subtitle,
        "description": product.description,
        "category": {"id": product.category_id, "name": product.category.name},
        "brand": {"id": product.brand_id, "name": product.brand.name} if product.brand else None,
        "images": [media_url(image.image.name) for image in product.images.all()],
        "cover": media_url(product.cover),
        "price": product.min_price,
        "sales": product.sales_count,
        "spec_options": [{"name": name, "values": values} for name, values in options.items()],
        "skus": [
            {
                "id": sku.pk,
                "code": sku.code,
                "specs": sku.spec_values,
                "price": sku.price,
                "original_price": sku.original_price,
                "stock_state": stock_state(sku.stock, threshold),
                # exact numbers only when they help the buyer decide ("only 3 left")
                "stock": sku.stock if 0 < sku.stock <= threshold else None,
            }
            for sku in skus
        ],
        "sold_out": all(sku.stock <= 0 for sku in skus),
    }


def product_detail_bytes(product_id: int) -> bytes:
    return cached_bytes(product_key(product_id), DETAIL_TTL, lambda: product_detail(product_id))


#: Other apps' live prices on the product page (marketing: time-limited discounts).
#: ``fn(product_id)`` answers None (the usual case, kept cheap) or
#: ``{"promotion": {...}, "prices": {sku_id: price}}``.
PriceOverlay = Callable[[int], dict[str, Any] | None]
_overlays: list[PriceOverlay] = []


def register_price_overlay(fn: PriceOverlay) -> None:
    if fn not in _overlays:
        _overlays.append(fn)


def product_page_response(product_id: int) -> bytes:
    """The cached product page, with a live promotion laid over it when one runs:
    each SKU then carries ``promotion_price`` next to its ``price``."""
    body = product_detail_bytes(product_id)
    for overlay in _overlays:
        extra = overlay(product_id)
        if extra:
            data = orjson.loads(body)
            data["promotion"] = extra["promotion"]
            prices = extra.get("prices", {})
            for sku in data["skus"]:
                if sku["id"] in prices:
                    sku["promotion_price"] = prices[sku["id"]]
            return orjson.dumps(data)
    return body


# --- operator views ---------------------------------------------------------------------------
def low_stock_skus(limit: int = 20) -> list[Sku]:
    threshold = get_system_settings().low_stock_threshold
    return list(
        Sku.objects.filter(
            is_active=True, stock__lte=threshold, product__status=ProductStatus.ON_SALE
        )
        .select_related("product")
        .order_by("stock", "id")[:limit]
    )


def skus_by_ids(ids: Iterable[int]) -> dict[int, Sku]:
    return {sku.pk: sku for sku in Sku.objects.filter(pk__in=list(ids)).select_related("product")}


def sale_warnings(product: Product) -> list[str]:
    """What an operator should know before putting ``product`` on sale: no
    picture to show, SKUs with no weight (freight by weight charges nothing)."""
    return sale_warnings_for([product]).get(product.pk, [])


def sale_warnings_for(products: Iterable[Product]) -> dict[int, list[str]]:
    """``sale_warnings`` of many products at once (two queries): product id → its
    warnings, for those that have any."""
    from django.utils.translation import gettext as _

    from miniops.catalog.models import ProductImage

    chosen = list(products)
    ids = [p.pk for p in chosen]
    pictured: set[int] = set()
    weightless: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):  # within any database's parameter limit
        part = ids[start : start + 500]
        pictured.update(
            ProductImage.objects.filter(product_id__in=part).values_list("product_id", flat=True)
        )
        rows = (
            Sku.objects.filter(product_id__in=part, is_active=True, weight_g=0)
            .order_by("id")
            .values_list("product_id", "code")
        )
        for product_id, code in rows:
            weightless.setdefault(product_id, []).append(code)
    out: dict[int, list[str]] = {}
    for product in chosen:
        warnings = []
        if not product.cover and product.pk not in pictured:
            warnings.append(_("It has no image."))
        if product.pk in weightless:
            warnings.append(_("These SKUs weigh 0 g: %s.") % ", ".join(weightless[product.pk]))
        if warnings:
            out[product.pk] = warnings
    return out
