"""Fixture rows written straight to the tables (fast, any moment in the past)."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from django.utils import timezone

from miniops.members.models import Member
from miniops.orders.models import Order, OrderItem, OrderStatus

_numbers = itertools.count(1)


def member(**fields: Any) -> Member:
    n = next(_numbers)
    fields.setdefault("openid", f"oSEG{n:08d}{timezone.now().timestamp():.0f}")
    fields.setdefault("nickname", f"会员{n}")
    return Member.objects.create(**fields)


def paid_order(
    buyer: Member,
    *,
    amount: int,
    at: datetime,
    product: Any = None,
    refunded: int = 0,
) -> Order:
    order = Order.objects.create(
        number=f"SEG{next(_numbers):012d}",
        member=buyer,
        status=OrderStatus.CLOSED if refunded else OrderStatus.COMPLETED,
        goods_amount=amount,
        payable_amount=amount,
        paid_amount=amount,
        refunded_amount=refunded,
        recipient="张三",
        phone="13800138000",
        province="广东",
        city="深圳",
        address_detail="科技园路1号",
        created_at=at,
        paid_at=at,
    )
    if product is not None:
        sku = product.skus.first()
        OrderItem.objects.create(
            order=order,
            sku=sku,
            product=product,
            title=product.title[:120] if hasattr(product, "title") else "p",
            unit_price=amount,
            quantity=1,
            goods_amount=amount,
            paid_share=amount,
        )
    return order
