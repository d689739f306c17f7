"""The mini-program flow end to end on the simulator: order, pay, ship, receive,
return, refund — through HTTP, with the real notice verification."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from miniops.catalog.models import Sku, StockLedger
from miniops.orders.models import AfterSale, Order, OrderStatus, Payment, Refund
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def post(client: Client, path: str, body: Any = None, **headers: str) -> Any:
    return client.post(
        path, body if body is not None else {}, content_type="application/json", **headers
    )


@pytest.fixture
def buyer(django_capture_on_commit_callbacks: Any) -> dict[str, Any]:
    person = factories.member()
    access, _ = factories.member_tokens(person)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
    address = post(
        client,
        "/api/v1/me/addresses",
        {
            "recipient": "张三",
            "phone": "13800138000",
            "province": "广东",
            "city": "深圳",
            "detail": "科技园路1号",
        },
    ).json()
    return {"member": person, "client": client, "address_id": address["id"]}


def place(buyer: dict[str, Any], items: list[dict[str, int]], key: str | None = None) -> Any:
    return post(
        buyer["client"],
        "/api/v1/orders",
        {"items": items, "address_id": buyer["address_id"]},
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def test_order_pay_ship_receive_return_refund(
    buyer: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = buyer["client"]
    item = factories.product(price=5000, stock=10, skus=2)
    sku_a, sku_b = list(item.skus.order_by("id"))
    # the buyer previews and places an order
    preview = post(
        client,
        "/api/v1/checkout/preview",
        {
            "items": [{"sku_id": sku_a.pk, "quantity": 2}, {"sku_id": sku_b.pk, "quantity": 1}],
            "address_id": buyer["address_id"],
        },
    )
    assert preview.status_code == 200
    assert preview.json()["goods_amount"] == 15000
    placed = place(
        buyer, [{"sku_id": sku_a.pk, "quantity": 2}, {"sku_id": sku_b.pk, "quantity": 1}]
    )
    assert placed.status_code == 201, placed.content
    order = Order.objects.get(pk=placed.json()["id"])
    assert order.status == OrderStatus.UNPAID
    assert order.payable_amount == preview.json()["payable"]
    assert Sku.objects.get(pk=sku_a.pk).stock == 8
    # pay: wx.requestPayment parameters, then the simulator's signed notice
    params = post(client, f"/api/v1/orders/{order.pk}/pay").json()
    assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["package"].startswith("prepay_id=")
    paid = post(client, f"/api/v1/payments/simulator/orders/{order.pk}/pay")
    assert paid.json()["status"] == "paid"
    assert Payment.objects.get(order=order).status == "paid"
    # operator ships, buyer confirms
    from miniops.orders import services

    admin = factories.operator_with_role("super_admin")
    services.ship_order(
        order=Order.objects.get(pk=order.pk), carrier="SF", tracking_no="SF1234567890", actor=admin
    )
    assert (
        post(client, f"/api/v1/orders/{order.pk}/confirm-receipt").json()["status"] == "completed"
    )
    # return one unit of A
    item_a = order.items.get(sku=sku_a)
    requested = post(
        client,
        f"/api/v1/orders/{order.pk}/after-sales",
        {
            "kind": "return_refund",
            "reason": "damaged",
            "lines": [{"item_id": item_a.pk, "quantity": 1}],
        },
    )
    assert requested.status_code == 201, requested.content
    after_sale = AfterSale.objects.get(pk=requested.json()["id"])
    assert after_sale.amount == item_a.paid_share // 2
    services.approve(after_sale=after_sale, actor=admin)
    post(
        client,
        f"/api/v1/after-sales/{after_sale.pk}/return-shipment",
        {"carrier": "ZTO", "tracking_no": "ZTO998877665"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.receive_return(after_sale=AfterSale.objects.get(pk=after_sale.pk), actor=admin)
    # the simulated refund notice arrived (after commit) and was verified
    after_sale.refresh_from_db()
    assert after_sale.status == "refunded"
    refund = Refund.objects.get(after_sale=after_sale)
    assert refund.status == "success"
    order.refresh_from_db()
    assert order.refunded_amount == after_sale.amount
    assert order.status == OrderStatus.COMPLETED  # partial refund: not closed
    assert Sku.objects.get(pk=sku_a.pk).stock == 9  # restocked
    reasons = list(StockLedger.objects.filter(sku=sku_a).values_list("reason", flat=True))
    assert reasons.count("order_reserved") == 1
    assert reasons.count("return") == 1
