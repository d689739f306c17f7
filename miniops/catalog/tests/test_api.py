"""The client catalog API: /api/v1/categories, /api/v1/products, /api/v1/products/{id}."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.test import Client
from django.utils import timezone

from miniops.catalog import services
from miniops.catalog.models import Category, Product, ProductStatus, StockReason
from miniops.catalog.tests.helpers import assert_error
from miniops.testing import factories

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products"


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content[:500]
    return [item["id"] for item in response.json()["items"]]


def walk(client: Client, **params: Any) -> list[int]:
    """Follow next_cursor to the end; return every id in order."""
    seen: list[int] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(PRODUCTS, query)
        assert response.status_code == 200, response.content[:500]
        body = response.json()
        assert len(body["items"]) <= params.get("limit", 20)
        seen.extend(item["id"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def cursor_of(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- categories --------------------------------------------------------------------------
def test_category_tree_nests_children_and_hides_hidden_branches(client: Client) -> None:
    # given
    root = services.save_category(actor=None, name="服装", sort=2)
    men = services.save_category(actor=None, name="男装", parent=root)
    services.save_category(actor=None, name="T恤", parent=men)
    hidden = services.save_category(actor=None, name="隐藏", parent=root, is_active=False)
    services.save_category(actor=None, name="隐藏的子类", parent=hidden)
    first = services.save_category(actor=None, name="数码", sort=1)
    # when
    response = client.get("/api/v1/categories")
    # then
    assert response.status_code == 200
    items = response.json()["items"]
    assert [node["name"] for node in items] == ["数码", "服装"]
    assert items[0] == {"id": first.pk, "name": "数码", "level": 1, "icon": None, "children": []}
    clothes = items[1]
    assert [c["name"] for c in clothes["children"]] == ["男装"]
    assert clothes["children"][0]["level"] == 2
    assert [(c["name"], c["level"]) for c in clothes["children"][0]["children"]] == [("T恤", 3)]
    assert "隐藏" not in response.content.decode()


# --- lists -------------------------------------------------------------------------------
def test_only_products_on_sale_are_listed(client: Client) -> None:
    # given
    on_sale = factories.product(status=ProductStatus.ON_SALE)
    factories.product(status=ProductStatus.DRAFT)
    factories.product(status=ProductStatus.OFF_SHELF)
    # when
    response = client.get(PRODUCTS)
    # then
    assert ids(response) == [on_sale.pk]
    item = response.json()["items"][0]
    assert item == {
        "id": on_sale.pk,
        "title": on_sale.title,
        "subtitle": "",
        "cover": None,
        "price": 9900,
        "sales": 0,
        "category_id": on_sale.category_id,
    }
    assert response.json()["next_cursor"] is None


def test_category_filter_includes_every_level_below(client: Client) -> None:
    # given 服装 > 男装 > T恤, and another root
    root = factories.category("服装")
    men = factories.category("男装", parent=root)
    tees = factories.category("T恤", parent=men)
    other = factories.category("数码")
    in_root = factories.product(category_obj=root)
    in_men = factories.product(category_obj=men)
    in_tees = factories.product(category_obj=tees)
    factories.product(category_obj=other)
    factories.product(category_obj=tees, status=ProductStatus.DRAFT)
    # when / then
    assert set(ids(client.get(PRODUCTS, {"category": root.pk}))) == {
        in_root.pk,
        in_men.pk,
        in_tees.pk,
    }
    assert set(ids(client.get(PRODUCTS, {"category": men.pk}))) == {in_men.pk, in_tees.pk}
    assert ids(client.get(PRODUCTS, {"category": tees.pk})) == [in_tees.pk]
    # an unknown category is an empty list, not an error
    assert ids(client.get(PRODUCTS, {"category": 999_999})) == []


def test_keyword_searches_title_and_subtitle(client: Client) -> None:
    # given
    by_title = factories.product(title="Cotton Tee")
    by_subtitle = factories.product(title="夏季短袖")
    Product.objects.filter(pk=by_subtitle.pk).update(subtitle="100% cotton 纯棉")
    factories.product(title="Wool Coat")
    hidden = factories.product(title="cotton draft", status=ProductStatus.DRAFT)
    # when / then
    assert set(ids(client.get(PRODUCTS, {"q": "cotton"}))) == {by_title.pk, by_subtitle.pk}
    assert set(ids(client.get(PRODUCTS, {"q": "  COTTON  "}))) == {by_title.pk, by_subtitle.pk}
    assert ids(client.get(PRODUCTS, {"q": "纯棉"})) == [by_subtitle.pk]
    assert ids(client.get(PRODUCTS, {"q": "nothing-like-this"})) == []
    assert hidden.pk not in ids(client.get(PRODUCTS, {"q": "draft"}))
    # wildcard characters are literal
    assert ids(client.get(PRODUCTS, {"q": "%"})) == [by_subtitle.pk]
    assert ids(client.get(PRODUCTS, {"q": "_"})) == []


def test_price_range_is_in_fen_and_inclusive(client: Client) -> None:
    # given
    cheap = factories.product(price=990)
    middle = factories.product(price=1990)
    dear = factories.product(price=2990)
    # when / then
    assert set(ids(client.get(PRODUCTS, {"min_price": 1990}))) == {middle.pk, dear.pk}
    assert set(ids(client.get(PRODUCTS, {"max_price": 1990}))) == {cheap.pk, middle.pk}
    assert ids(client.get(PRODUCTS, {"min_price": 1000, "max_price": 2000})) == [middle.pk]
    assert ids(client.get(PRODUCTS, {"min_price": 1990, "max_price": 1990})) == [middle.pk]
    assert ids(client.get(PRODUCTS, {"min_price": 3000, "max_price": 1000})) == []
    assert set(ids(client.get(PRODUCTS, {"min_price": 0}))) == {cheap.pk, middle.pk, dear.pk}


@pytest.fixture
def shelf() -> list[Product]:
    """25 products on sale with many ties in every sort field, plus some not on sale."""
    start = timezone.now() - timedelta(days=3)
    products = []
    for i in range(25):
        product = factories.product(price=1000 + (i % 4) * 100)
        Product.objects.filter(pk=product.pk).update(
            sort_weight=i % 3,
            sales_count=(i * 7) % 5,
            listed_at=start + timedelta(hours=i // 4),
        )
        products.append(product)
    factories.product(status=ProductStatus.DRAFT, price=1)
    factories.product(status=ProductStatus.OFF_SHELF, price=1)
    return list(Product.objects.filter(pk__in=[p.pk for p in products]))


SORT_KEYS = {
    "default": lambda p: (-p.sort_weight, -p.pk),
    "sales": lambda p: (-p.sales_count, -p.pk),
    "price": lambda p: (p.min_price, p.pk),
    "-price": lambda p: (-p.min_price, -p.pk),
    "newest": lambda p: (-p.listed_at.timestamp(), -p.pk),
}


@pytest.mark.parametrize("sort", list(SORT_KEYS))
def test_every_sort_walks_every_item_exactly_once(
    client: Client, shelf: list[Product], sort: str
) -> None:
    # given 25 products, limit 7: four pages
    expected = [p.pk for p in sorted(shelf, key=SORT_KEYS[sort])]
    # when
    seen = walk(client, sort=sort, limit=7)
    # then
    assert len(seen) == 25
    assert len(set(seen)) == 25
    assert seen == expected


def test_the_default_sort_is_the_sort_weight(client: Client, shelf: list[Product]) -> None:
    assert walk(client, limit=50) == walk(client, sort="default", limit=7)


def test_a_full_last_page_has_no_next_cursor(client: Client) -> None:
    for _ in range(4):
        factories.product()
    first = client.get(PRODUCTS, {"limit": 2}).json()
    assert first["next_cursor"]
    second = client.get(PRODUCTS, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None


def test_pagination_combines_with_filters(client: Client, shelf: list[Product]) -> None:
    expected = [p.pk for p in sorted(shelf, key=SORT_KEYS["price"]) if 1100 <= p.min_price <= 1200]
    assert walk(client, sort="price", min_price=1100, max_price=1200, limit=3) == expected


# --- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "51"},
        {"limit": "-1"},
        {"limit": "abc"},
        {"limit": "1.5"},
        {"min_price": "-1"},
        {"max_price": "-1"},
        {"min_price": "abc"},
        {"max_price": str(10**12)},
        {"category": "abc"},
        {"category": "0"},
        {"category": "-3"},
        {"category": str(2**63)},  # past every 64-bit id
        {"sort": "bogus"},
        {"sort": "min_price"},
        {"q": "x" * 51},
        {"cursor": "x" * 201},
    ],
)
def test_bad_list_parameters_are_422_in_the_shared_shape(client: Client, query: dict) -> None:
    factories.product()
    error = assert_error(client.get(PRODUCTS, query), 422, "validation_error")
    assert set(error["fields"]) == set(query)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "%%%",
        "e30",  # {} as base64
        cursor_of(b"not json"),
        cursor_of({"value": 1, "pk": 2}),
        cursor_of([1, 2, 3]),
        cursor_of([1]),
        cursor_of(["a", "b"]),
        cursor_of([1, "2"]),
        cursor_of([1, 2.5]),
        cursor_of([[1], 2]),
        cursor_of([{"a": 1}, 2]),
        cursor_of(7),
        cursor_of("ab"),
        cursor_of(None),
        cursor_of(b"[1, 99999999999999999999999]"),
        "中文",
    ],
)
def test_bad_cursors_are_400_in_the_shared_shape(client: Client, cursor: str) -> None:
    factories.product()
    error = assert_error(client.get(PRODUCTS, {"cursor": cursor}), 400, "invalid_input")
    assert "cursor" in error["fields"]


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("default", "abc"),
        ("default", None),
        ("price", "x"),
        ("sales", None),
        ("newest", "abc"),
        ("newest", "2024-13-45T00:00:00"),
        ("newest", 5),
    ],
)
def test_a_well_formed_cursor_with_a_wrong_value_is_a_4xx(
    client: Client, sort: str, value: Any
) -> None:
    # given a cursor that decodes but whose value does not fit the sort column
    factories.product()
    # when
    response = client.get(PRODUCTS, {"sort": sort, "cursor": cursor_of([value, 1])})
    # then
    assert_error(response)


def test_a_keyword_with_nul_is_refused(client: Client) -> None:
    factories.product(title="a")
    response = client.get(f"{PRODUCTS}?q=a%00b")
    assert_error(response, 400, "malformed_request")


def test_a_blank_keyword_lists_everything(client: Client) -> None:
    product = factories.product()
    assert ids(client.get(PRODUCTS, {"q": "   "})) == [product.pk]


# --- product pages -----------------------------------------------------------------------
@pytest.fixture
def threshold() -> int:
    settings_row = factories.system_settings()
    settings_row.low_stock_threshold = 5
    settings_row.save()
    return 5


def test_product_page(client: Client, threshold: int) -> None:
    # given four SKUs with 0, 3, 5 (= threshold) and 6 in stock
    brand = factories.brand("优品")
    product = factories.product(skus=4, stock=0, price=1500)
    services.save_product(
        actor=None,
        product=product,
        title=product.title,
        subtitle="副标题",
        category=product.category,
        brand=brand,
        description='<p>好</p><img src="a.png" onerror="x()">',
    )
    skus = list(product.skus.order_by("id"))
    for sku, stock in zip(skus, [0, 3, 5, 6], strict=True):
        if stock:
            services.adjust_stock(sku=sku, delta=stock, reason=StockReason.INITIAL, actor=None)
    # when
    response = client.get(f"{PRODUCTS}/{product.pk}")
    # then
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["id"] == product.pk
    assert body["subtitle"] == "副标题"
    assert body["brand"] == {"id": brand.pk, "name": "优品"}
    assert body["category"] == {"id": product.category_id, "name": product.category.name}
    assert "onerror" not in body["description"]
    assert body["price"] == 1500
    assert body["spec_options"] == [{"name": "颜色", "values": ["色0", "色1", "色2", "色3"]}]
    assert [(s["id"], s["stock_state"], s["stock"]) for s in body["skus"]] == [
        (skus[0].pk, "sold_out", None),
        (skus[1].pk, "low", 3),
        (skus[2].pk, "low", 5),
        (skus[3].pk, "in_stock", None),
    ]
    assert body["skus"][0]["specs"] == {"颜色": "色0"}
    assert body["sold_out"] is False


def test_a_product_with_no_stock_is_sold_out(client: Client, threshold: int) -> None:
    product = factories.product(skus=2, stock=0)
    body = client.get(f"{PRODUCTS}/{product.pk}").json()
    assert body["sold_out"] is True
    assert {s["stock_state"] for s in body["skus"]} == {"sold_out"}


def test_inactive_skus_are_not_shown(client: Client) -> None:
    product = factories.product(skus=2)
    hidden = product.skus.order_by("id").last()
    services.update_sku(sku=hidden, actor=None, is_active=False)
    body = client.get(f"{PRODUCTS}/{product.pk}").json()
    assert [s["id"] for s in body["skus"]] == [product.skus.order_by("id").first().pk]


@pytest.mark.parametrize("status", [ProductStatus.DRAFT, ProductStatus.OFF_SHELF])
def test_products_not_on_sale_are_404(client: Client, status: str) -> None:
    product = factories.product(status=status)
    assert_error(client.get(f"{PRODUCTS}/{product.pk}"), 404, "not_found")


def test_an_unknown_product_is_404(client: Client) -> None:
    factories.product()
    assert_error(client.get(f"{PRODUCTS}/987654321"), 404, "not_found")
    assert_error(client.get(f"{PRODUCTS}/{2**63 - 1}"), 404, "not_found")


@pytest.mark.parametrize("product_id", ["0", "-1", str(2**63), str(10**30), "abc", "1.5"])
def test_product_ids_out_of_range_are_4xx_not_500(client: Client, product_id: str) -> None:
    # ids outside 1..2**63-1 are refused by the path's declared bounds (422, see docs/api.md);
    # non-numeric ones either fail validation or match no route (404)
    response = client.get(f"{PRODUCTS}/{product_id}")
    error = assert_error(response)
    assert response.status_code in (404, 422)
    if product_id in ("0", "-1", str(2**63), str(10**30)):
        assert response.status_code == 422
        assert error["code"] == "validation_error"


def test_the_category_of_a_deleted_branch_is_gone_from_the_tree(client: Client) -> None:
    leaf = services.save_category(actor=None, name="临时")
    services.delete_category(category=leaf, actor=None)
    assert client.get("/api/v1/categories").json()["items"] == []
    assert not Category.objects.exists()
