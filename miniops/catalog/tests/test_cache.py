"""Client answers are cached (shared cache plus a per-process memo); a change made
through a service is visible in the next answer once its transaction commits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from miniops.catalog import services
from miniops.catalog.models import Category, Product, ProductStatus, Sku, StockReason
from miniops.catalog.tests.helpers import assert_error
from miniops.testing import factories

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products"


def detail(client: Client, product: Product) -> dict[str, Any]:
    response = client.get(f"{PRODUCTS}/{product.pk}")
    assert response.status_code == 200, response.content[:300]
    return response.json()


def listing(client: Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get(PRODUCTS, params)
    assert response.status_code == 200, response.content[:300]
    return response.json()["items"]


@pytest.fixture
def threshold() -> int:
    row = factories.system_settings()
    row.low_stock_threshold = 5
    row.save()
    return 5


def test_answers_are_cached_until_a_service_reports_a_change(
    client: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # given answers already served
    product = factories.product(title="旧标题")
    assert detail(client, product)["title"] == "旧标题"
    assert listing(client)[0]["title"] == "旧标题"
    # when the row changes behind the services' back
    Product.objects.filter(pk=product.pk).update(title="偷改")
    # then the cached answers stay
    assert detail(client, product)["title"] == "旧标题"
    assert listing(client)[0]["title"] == "旧标题"
    # when the same kind of change goes through the service
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.save_product(
            actor=None, product=product, title="新标题", category=product.category
        )
    # then
    assert callbacks
    assert detail(client, product)["title"] == "新标题"
    assert listing(client)[0]["title"] == "新标题"


def test_a_price_change_is_seen_in_the_page_and_the_list(
    client: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # given
    cheap = factories.product(price=1000)
    product = factories.product(price=2000)
    assert detail(client, product)["skus"][0]["price"] == 2000
    assert [i["id"] for i in listing(client, sort="price")] == [cheap.pk, product.pk]
    assert listing(client, max_price=600) == []
    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.update_sku(sku=product.skus.get(), actor=None, price=500)
    # then
    page = detail(client, product)
    assert (page["price"], page["skus"][0]["price"]) == (500, 500)
    assert [i["id"] for i in listing(client, sort="price")] == [product.pk, cheap.pk]
    assert [i["price"] for i in listing(client, sort="price")] == [500, 1000]
    assert [i["id"] for i in listing(client, max_price=600)] == [product.pk]


def test_a_status_change_is_seen_in_the_page_and_the_list(
    client: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # given
    product = factories.product()
    assert detail(client, product)["id"] == product.pk
    assert [i["id"] for i in listing(client)] == [product.pk]
    # when delisted
    with django_capture_on_commit_callbacks(execute=True):
        services.change_status(product=product, to=ProductStatus.OFF_SHELF, actor=None)
    # then
    assert_error(client.get(f"{PRODUCTS}/{product.pk}"), 404, "not_found")
    assert listing(client) == []
    # when listed again
    with django_capture_on_commit_callbacks(execute=True):
        services.change_status(product=product, to=ProductStatus.ON_SALE, actor=None)
    # then
    assert detail(client, product)["id"] == product.pk
    assert [i["id"] for i in listing(client)] == [product.pk]


def test_a_newly_listed_product_appears(
    client: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # given a list already served and a draft
    listed = factories.product()
    draft = factories.product(status=ProductStatus.DRAFT)
    assert [i["id"] for i in listing(client)] == [listed.pk]
    assert_error(client.get(f"{PRODUCTS}/{draft.pk}"), 404)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.change_status(product=draft, to=ProductStatus.ON_SALE, actor=None)
    # then (a 404 was never cached)
    assert {i["id"] for i in listing(client)} == {listed.pk, draft.pk}
    assert detail(client, draft)["id"] == draft.pk


def test_a_stock_change_is_seen_in_the_page(
    client: Client, threshold: int, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # given
    product = factories.product(stock=20)
    sku = product.skus.get()
    assert (
        detail(client, product)["skus"][0]["stock_state"],
        detail(client, product)["sold_out"],
    ) == (
        "in_stock",
        False,
    )
    # when stock runs low
    with django_capture_on_commit_callbacks(execute=True):
        services.adjust_stock(sku=sku, delta=-18, reason=StockReason.ORDER_RESERVED, actor=None)
    # then
    line = detail(client, product)["skus"][0]
    assert (line["stock_state"], line["stock"]) == ("low", 2)
    # when it runs out
    with django_capture_on_commit_callbacks(execute=True):
        services.set_stock(sku=sku, quantity=0, reason=StockReason.CORRECTION, actor=None)
    # then
    page = detail(client, product)
    assert (page["skus"][0]["stock_state"], page["skus"][0]["stock"]) == ("sold_out", None)
    assert page["sold_out"] is True


def test_a_matrix_change_is_seen_in_the_page(
    client: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # given
    product = factories.product(skus=2)
    assert len(detail(client, product)["skus"]) == 2
    # when a colour is added
    with django_capture_on_commit_callbacks(execute=True):
        saved = services.save_product(
            actor=None,
            product=product,
            title=product.title,
            category=product.category,
            specs=[{"name": "颜色", "values": ["色0", "色1", "新色"]}],
        )
        services.sync_skus(product=saved, actor=None, default_price=100)
    # then
    page = detail(client, product)
    assert len(page["skus"]) == 3
    assert page["price"] == 100
    assert page["spec_options"] == [{"name": "颜色", "values": ["色0", "色1", "新色"]}]
    assert Sku.objects.filter(product=product).count() == 3


def test_a_category_change_is_seen_in_the_tree(
    client: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # given
    category = services.save_category(actor=None, name="旧名")
    assert client.get("/api/v1/categories").json()["items"][0]["name"] == "旧名"
    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.save_category(actor=None, category=category, name="新名")
    # then
    assert client.get("/api/v1/categories").json()["items"][0]["name"] == "新名"
    # when hidden
    with django_capture_on_commit_callbacks(execute=True):
        services.save_category(actor=None, category=category, name="新名", is_active=False)
    # then
    assert client.get("/api/v1/categories").json()["items"] == []
    assert Category.objects.count() == 1
