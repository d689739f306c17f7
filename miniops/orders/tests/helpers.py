"""Shared helpers for the orders tests: API clients, notices, snapshots."""

from __future__ import annotations

import uuid
from typing import Any

from django.test import Client

from miniops.catalog.models import Sku, StockLedger
from miniops.orders import services
from miniops.orders.models import Order, OrderEvent, Payment
from miniops.orders.providers import payment_provider
from miniops.testing import factories

NOTIFY = "/api/v1/payments/wechat/notify"


def member_client(person: Any) -> Client:
    access, _ = factories.member_tokens(person)
    return Client(HTTP_AUTHORIZATION=f"Bearer {access}")


def post(client: Client, path: str, body: Any = None, **headers: str) -> Any:
    return client.post(
        path, body if body is not None else {}, content_type="application/json", **headers
    )


def place(
    client: Client, items: list[dict[str, Any]], address_id: Any, key: str | None = None, **extra
) -> Any:
    return post(
        client,
        "/api/v1/orders",
        {"items": items, "address_id": address_id, **extra},
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def deliver(headers: dict[str, str], body: bytes, client: Client | None = None) -> Any:
    """POST a WeChat Pay notice to the notify endpoint, headers as WeChat sends them."""
    return (client or Client()).post(NOTIFY, body, content_type="application/json", headers=headers)


def provider() -> Any:
    return payment_provider.get()


def sku_with_stock(stock: int = 100, price: int = 5000, **kwargs: Any) -> Sku:
    return factories.product(price=price, stock=stock, **kwargs).skus.order_by("id").first()


def unpaid_order_with_payment(
    buyer: Any = None, items: list[tuple[Any, int]] | None = None
) -> tuple[Order, Payment]:
    """An unpaid order with an open WeChat trade in the simulator."""
    order = factories.order(buyer=buyer, items=items)
    services.start_payment(order=order)
    return Order.objects.get(pk=order.pk), Payment.objects.get(order=order)


def stock_of(sku: Any) -> int:
    return Sku.objects.values_list("stock", flat=True).get(pk=sku.pk)


def ledger_count(reference: str, reason: str, sku: Any = None) -> int:
    rows = StockLedger.objects.filter(reference=reference, reason=reason)
    if sku is not None:
        rows = rows.filter(sku_id=sku.pk)
    return rows.count()


def row(model: Any, pk: int) -> dict[str, Any]:
    """A row as stored, to compare before and after."""
    return model.objects.filter(pk=pk).values().get()


def paid_events(order: Order) -> int:
    return OrderEvent.objects.filter(order=order, to_status="paid").count()


def error_of(response: Any) -> dict[str, Any]:
    """The shared error shape; fails if the answer does not have it."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["fields"], dict)
    return dict(body["error"])
