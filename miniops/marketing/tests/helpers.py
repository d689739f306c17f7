"""Shared helpers for the marketing tests: buyers with an API client, checkout and
flash-sale calls, paying, shipping, completing and refunding through the simulator."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from miniops.marketing.models import (
    Coupon,
    CouponTemplate,
    FlashItem,
    FlashSession,
    MemberStanding,
    PointsEntry,
)
from miniops.orders import services as order_services
from miniops.orders.models import Order, OrderStatus, Refund
from miniops.orders.tests.helpers import error_of, member_client, post, stock_of
from miniops.testing import factories

__all__ = [
    "Buyer",
    "balance_of",
    "buyer",
    "complete",
    "coupon_for",
    "error_of",
    "flash_buy",
    "flash_item",
    "ledger_sum",
    "order_body",
    "pay",
    "place_order",
    "post",
    "preview",
    "refund_fully",
    "ship",
    "stock_of",
]


@dataclass
class Buyer:
    """A member signed in to the mini-program, with a delivery address."""

    member: Any
    client: Client
    address_id: int

    @property
    def pk(self) -> int:
        return int(self.member.pk)


def buyer(**fields: Any) -> Buyer:
    person = factories.member(**fields)
    return Buyer(person, member_client(person), factories.address(person).pk)


def sku_of(price: int = 5000, stock: int = 100, **kwargs: Any) -> Any:
    return factories.product(price=price, stock=stock, **kwargs).skus.order_by("id").first()


# --- checkout ---------------------------------------------------------------------------------
def order_body(
    who: Buyer, items: list[tuple[Any, int]], *, address: bool = True, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "items": [{"sku_id": sku.pk, "quantity": quantity} for sku, quantity in items],
        **extra,
    }
    if address:
        body["address_id"] = who.address_id
    return body


def preview(who: Buyer, items: list[tuple[Any, int]], **extra: Any) -> Any:
    return post(who.client, "/api/v1/checkout/preview", order_body(who, items, **extra))


def suggestions(who: Buyer, items: list[tuple[Any, int]], **extra: Any) -> Any:
    return post(who.client, "/api/v1/checkout/coupons", order_body(who, items, **extra))


def place_order(
    who: Buyer, items: list[tuple[Any, int]], key: str | None = None, **extra: Any
) -> Any:
    return post(
        who.client,
        "/api/v1/orders",
        order_body(who, items, **extra),
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def coupon_for(who: Buyer | Any, **template_fields: Any) -> Coupon:
    """A coupon held by ``who`` (a Buyer or a member) of a new template."""
    member = who.member if isinstance(who, Buyer) else who
    template = factories.coupon_template(**template_fields)
    return factories.member_coupon(template=template, member=member)


# --- an order's life --------------------------------------------------------------------------
def pay(order: Order | int) -> Order:
    """The buyer pays in the simulator; WeChat's signed notice is verified and recorded."""
    order = Order.objects.get(pk=order if isinstance(order, int) else order.pk)
    order_services.simulate_payment(order=order)
    return Order.objects.get(pk=order.pk)


def ship(order: Order) -> Order:
    operator = factories.operator_with_role("ops_staff")
    order_services.ship_order(
        order=Order.objects.get(pk=order.pk),
        carrier="SF",
        tracking_no="SF1234567890",
        actor=operator,
    )
    return Order.objects.get(pk=order.pk)


def complete(order: Order) -> Order:
    """Ship a paid order and have the member confirm receipt."""
    shipped = ship(order)
    order_services.confirm_receipt(order=shipped)
    return Order.objects.get(pk=order.pk)


def refund_fully(order: Order, capture: Callable[..., Any]) -> Order:
    """Customer service refunds everything; the simulator's refund notice is delivered
    after commit (``capture`` is pytest-django's ``django_capture_on_commit_callbacks``)."""
    order = Order.objects.get(pk=order.pk)
    staff = factories.operator_with_role("customer_service")
    after_sale = order_services.request_after_sale(
        order=order,
        member=order.member,
        kind="refund_only",
        reason="changed_mind",
        lines=[{"item_id": item.pk, "quantity": item.quantity} for item in order.items.all()],
    )
    with capture(execute=True):
        order_services.approve(after_sale=after_sale, actor=staff)
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.CLOSED, order.status
    assert Refund.objects.filter(order=order, status="success").exists()
    return order


# --- points -----------------------------------------------------------------------------------
def balance_of(member: Any) -> int:
    pk = member.pk
    return int(
        MemberStanding.objects.filter(member_id=pk).values_list("points", flat=True).first() or 0
    )


def ledger_sum(member: Any) -> int:
    return int(PointsEntry.objects.filter(member_id=member.pk).aggregate(n=Sum("delta"))["n"] or 0)


# --- flash sales ------------------------------------------------------------------------------
def flash_item(
    *,
    stock: int = 10,
    price: int = 990,
    per_member_limit: int = 1,
    starts_in_minutes: int = -5,
    **session_fields: Any,
) -> FlashItem:
    session: FlashSession = factories.flash_session(
        stock=stock, price=price, starts_in_minutes=starts_in_minutes, **session_fields
    )
    item = session.items.get()
    if per_member_limit != 1:
        FlashItem.objects.filter(pk=item.pk).update(per_member_limit=per_member_limit)
        item.refresh_from_db()
    return item


def flash_buy(
    who: Buyer, item: FlashItem | int, quantity: Any = 1, key: str | None = None, **extra: Any
) -> Any:
    item_id = item if isinstance(item, int) else item.pk
    body = {"quantity": quantity, "address_id": who.address_id, **extra}
    headers = {} if key == "" else {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    return post(who.client, f"/api/v1/flash-sales/items/{item_id}/buy", body, **headers)


def flash_sold(item: FlashItem) -> int:
    return int(FlashItem.objects.values_list("sold", flat=True).get(pk=item.pk))


# --- time -------------------------------------------------------------------------------------
def later(**delta: Any) -> Any:
    return timezone.now() + timedelta(**delta)


@contextmanager
def no_error_logs() -> Iterator[None]:
    yield


def template(**fields: Any) -> CouponTemplate:
    return factories.coupon_template(**fields)
