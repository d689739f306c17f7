"""Client API: the category tree, product lists and product pages (public, cached)."""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from miniops.accounts.apiauth import requires
from miniops.accounts.context import token_operator
from miniops.catalog import hooks, selectors, services
from miniops.catalog.models import Product, Sku
from miniops.core.apiauth import member_or_public, public
from miniops.core.openapi import errors
from miniops.core.pagination import Pagination
from miniops.core.permissions import P
from miniops.core.schemas import ID, ID_MAX, Id, StrictIn

router = Router(tags=["catalog"])


class CategoryNode(Schema):
    id: int
    name: str
    level: int
    icon: str | None
    children: list["CategoryNode"]


class CategoryTreeOut(Schema):
    items: list[CategoryNode]


class ProductCard(Schema):
    id: int
    title: str
    subtitle: str
    cover: str | None
    price: int = Field(description="lowest SKU price, fen")
    sales: int
    category_id: int


class ProductPageOut(Schema):
    items: list[ProductCard]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class ProductQuery(Schema):
    category: int | None = Field(None, ge=1, le=ID_MAX, description="includes sub-categories")
    q: str = Field("", max_length=50, description="keyword in title or subtitle")
    min_price: int | None = Field(None, ge=0, le=10**11, description="fen")
    max_price: int | None = Field(None, ge=0, le=10**11, description="fen")
    sort: Literal["default", "sales", "price", "-price", "newest"] = "default"
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(20, ge=1, le=50)


class NamedRef(Schema):
    id: int
    name: str


class SpecOption(Schema):
    name: str
    values: list[str]


class SkuOut(Schema):
    id: int
    code: str
    specs: dict[str, str]
    price: int
    original_price: int
    stock_state: Literal["in_stock", "low", "sold_out"]
    stock: int | None = Field(description="exact count only when low")
    promotion_price: int | None = Field(None, description="while a promotion runs")


class PromotionOut(Schema):
    kind: str = Field(description="timed (a time-limited discount)")
    name: str
    ends_at: datetime
    server_time: datetime = Field(description="for the countdown")


class ProductOut(Schema):
    id: int
    title: str
    subtitle: str
    description: str
    category: NamedRef
    brand: NamedRef | None
    images: list[str | None]
    cover: str | None
    price: int
    sales: int
    spec_options: list[SpecOption]
    skus: list[SkuOut]
    sold_out: bool
    promotion: PromotionOut | None = None


def _json(body: bytes) -> HttpResponse:
    return HttpResponse(body, content_type="application/json")


@router.get("/categories", response=CategoryTreeOut, auth=public(), summary="Category tree")
def categories(request: HttpRequest) -> HttpResponse:
    return _json(selectors.category_tree_bytes())


@router.get("/products", response=ProductPageOut, auth=public(), summary="Products on sale")
def products(request: HttpRequest, query: Query[ProductQuery]) -> HttpResponse:
    """Cursor-paginated; only products on sale. Answers are cached a minute and
    dropped when the catalog changes."""
    keyword = query.q.strip()
    return _json(
        selectors.product_page_bytes(
            category_id=query.category,
            keyword=keyword,
            min_price=query.min_price,
            max_price=query.max_price,
            sort=query.sort,
            cursor=query.cursor,
            limit=query.limit,
        )
    )


@router.get(
    "/products/{product_id}", response=ProductOut, auth=member_or_public(), summary="Product page"
)
def product(request: HttpRequest, product_id: int = ID) -> HttpResponse:
    body = selectors.product_page_response(product_id)
    member_id = getattr(getattr(request, "auth", None), "member_id", None)
    if member_id:
        hooks.run("viewed", member_id=member_id, product_id=product_id)
    return _json(body)


# --- management API ---------------------------------------------------------------------------
manage_router = Router(tags=["management: catalog"])


class ManageSkuOut(Schema):
    id: int
    code: str
    spec_values: dict[str, str]
    price: int
    original_price: int
    stock: int
    is_active: bool


class ManageProductOut(Schema):
    id: int
    title: str
    status: str
    category_id: int
    brand_id: int | None
    min_price: int
    sales_count: int
    skus: list[ManageSkuOut]


class StockAdjustIn(StrictIn):
    delta: int = Field(..., ge=-10_000_000, le=10_000_000)
    reason: Literal["adjustment", "correction", "return", "import"] = "adjustment"
    note: str = Field("", max_length=255)


class StockOut(Schema):
    sku_id: int
    stock: int


class StatusIn(StrictIn):
    status: Literal["draft", "on_sale", "off_shelf"]


class ManageProductFilter(Schema):
    status: Literal["draft", "on_sale", "off_shelf"] | None = None
    category: Id | None = None
    q: str = Field("", max_length=50)


@manage_router.get("/products", response=list[ManageProductOut], auth=requires(P.CATALOG_VIEW))
@paginate(Pagination)
def manage_products(request: HttpRequest, filters: Query[ManageProductFilter]) -> Any:
    products = Product.objects.prefetch_related("skus").order_by("-id")
    if filters.status:
        products = products.filter(status=filters.status)
    if filters.category:
        products = products.filter(category_id__in=selectors.descendant_ids(filters.category))
    if filters.q:
        products = products.filter(title__icontains=filters.q)
    return products


@manage_router.get(
    "/products/{product_id}", response=ManageProductOut, auth=requires(P.CATALOG_VIEW)
)
def manage_product(request: HttpRequest, product_id: int = ID) -> Any:
    return get_object_or_404(Product.objects.prefetch_related("skus"), pk=product_id)


@manage_router.post(
    "/products/{product_id}/status",
    response={200: ManageProductOut, **errors(409)},
    auth=requires(P.CATALOG_MANAGE),
)
def manage_product_status(request: HttpRequest, payload: StatusIn, product_id: int = ID) -> Any:
    product = get_object_or_404(Product, pk=product_id)
    services.change_status(product=product, to=payload.status, actor=token_operator(request))
    return Product.objects.prefetch_related("skus").get(pk=product_id)


@manage_router.post(
    "/skus/{sku_id}/stock",
    response={200: StockOut, **errors(409)},
    auth=requires(P.CATALOG_MANAGE_STOCK),
)
def manage_adjust_stock(
    request: HttpRequest, payload: StockAdjustIn, sku_id: int = ID
) -> dict[str, int]:
    """Add or remove stock; refused (409) if it would go below zero."""
    sku = get_object_or_404(Sku, pk=sku_id)
    stock = services.adjust_stock(
        sku=sku,
        delta=payload.delta,
        reason=payload.reason,
        actor=token_operator(request),
        note=payload.note,
    )
    return {"sku_id": sku.pk, "stock": stock}
