"""Small helpers shared by the catalog tests."""

from __future__ import annotations

from typing import Any

from miniops.catalog import services
from miniops.catalog.models import Product, ProductStatus, Sku


def assert_error(response: Any, status: int | None = None, code: str | None = None) -> dict:
    """The shared API error shape ``{"error": {"code", "message", "fields"}}``."""
    if status is None:
        assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    else:
        assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert isinstance(body["error"]["code"], str)
    assert body["error"]["code"]
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def draft_with_skus(specs: list[dict[str, Any]] | None, *, price: int = 1000, category: Any = None):
    """A draft product whose SKU matrix was built from ``specs``."""
    from miniops.testing import factories

    product = services.save_product(
        actor=None,
        title=f"规格商品{Product.objects.count()}",
        category=category or factories.category(),
        specs=specs or [],
    )
    services.sync_skus(product=product, actor=None, default_price=price)
    product.refresh_from_db()
    assert product.status == ProductStatus.DRAFT
    return product


def sku_by_specs(product: Product, **values: str) -> Sku:
    return product.skus.get(spec_key=services.spec_key(values))
