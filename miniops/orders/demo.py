"""Six months of demo orders in every state, consistent with stock (ledger rows
per reservation, release and return), payments, refunds and product sales."""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from miniops.catalog import services as catalog_services
from miniops.catalog.models import Product, ProductStatus, Sku, StockLedger, StockReason
from miniops.core import crypto, numbers
from miniops.members.models import Address, Member
from miniops.orders.models import (
    AfterSale,
    AfterSaleKind,
    AfterSaleStatus,
    Carrier,
    FreightRule,
    FreightTemplate,
    Order,
    OrderEvent,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)

STEPS = 10
ORDERS = 8000
SHIPPING_FEE, FREE_OVER = 800, 9900


def _freight() -> FreightTemplate:
    template, created = FreightTemplate.objects.get_or_create(
        is_default=True,
        defaults={
            "name": "全国包邮满99",
            "first_fee": SHIPPING_FEE,
            "additional_fee": 0,
            "free_over": FREE_OVER,
        },
    )
    if created:
        FreightRule.objects.create(
            template=template, provinces=["新疆", "西藏"], first_fee=2000, additional_fee=500
        )
    return template


def _number(prefix: str, moment: datetime, used: set[str]) -> str:
    while True:
        number = numbers.new_number(prefix, moment=moment)
        if number not in used:
            used.add(number)
            return number


def clear() -> None:
    """Remove every order (demo installations only): they refer to members and SKUs."""
    Refund.objects.all().delete()
    AfterSale.objects.all().delete()
    Payment.objects.all().delete()
    Order.objects.all().delete()


@transaction.atomic
def seed(*, progress: Callable[[int], object]) -> None:
    _freight()
    if Order.objects.filter(pricing__demo=True).exists():
        progress(STEPS)
        return
    rng = random.Random(4)
    now = timezone.now()
    members = list(
        Member.objects.filter(openid__startswith="oDEMO")
        .order_by("registered_at", "pk")
        .only("id", "registered_at")
    )
    skus = list(
        Sku.objects.filter(is_active=True, product__status=ProductStatus.ON_SALE)
        .select_related("product")
        .order_by("id")
    )
    if not members or not skus:
        progress(STEPS)
        return
    addresses = {
        a.member_id: a
        for a in Address.objects.filter(member_id__in=[m.pk for m in members], is_default=True)
    }
    popular = sorted(skus, key=lambda s: -s.product.sales_count)[: max(50, len(skus) // 4)]
    used: set[str] = set()
    orders: list[Order] = []
    plans: list[dict[str, Any]] = []
    per_step = ORDERS // (STEPS - 3)
    for index in range(ORDERS):
        # The first member to register (``demo-1`` in the login simulator) is a
        # regular: one order in 500 is theirs, so signing in as them shows a history.
        buyer = members[0] if index % 500 == 0 else rng.choice(members)
        start = max(buyer.registered_at, now - timedelta(days=180))
        span = max(60.0, (now - start).total_seconds())
        # more orders on weekends and in the promotion week, as the members' behaviour
        created = start + timedelta(seconds=rng.random() ** 0.7 * span)
        if created > now - timedelta(minutes=5) and rng.random() < 0.9:
            created = now - timedelta(hours=rng.uniform(1, 48))
        age = now - created
        lines = []
        for sku in rng.sample(
            popular if rng.random() < 0.7 else skus, k=rng.choice([1, 1, 1, 2, 2, 3])
        ):
            lines.append((sku, rng.choice([1, 1, 1, 2])))
        goods = sum(sku.price * quantity for sku, quantity in lines)
        shipping = 0 if goods >= FREE_OVER else SHIPPING_FEE
        payable = goods + shipping
        roll = rng.random()
        if age < timedelta(minutes=25):
            status = OrderStatus.UNPAID
        elif roll < 0.11:
            status = OrderStatus.CANCELLED
        elif age < timedelta(days=2):
            status = OrderStatus.PAID if roll < 0.6 else OrderStatus.SHIPPED
        elif age < timedelta(days=10):
            status = OrderStatus.SHIPPED if roll < 0.45 else OrderStatus.COMPLETED
        else:
            status = OrderStatus.CLOSED if roll < 0.15 else OrderStatus.COMPLETED
        address = addresses.get(buyer.pk)
        paid_at: Any = (
            created + timedelta(minutes=rng.uniform(0.5, 20))
            if status not in {OrderStatus.UNPAID, OrderStatus.CANCELLED}
            else None
        )
        shipped_at: Any = (
            paid_at + timedelta(hours=rng.uniform(2, 40))
            if status in {OrderStatus.SHIPPED, OrderStatus.COMPLETED}
            or (status == OrderStatus.CLOSED and roll > 0.13)
            else None
        )
        completed_at: Any = (
            shipped_at + timedelta(days=rng.uniform(1.5, 7))
            if shipped_at and status in {OrderStatus.COMPLETED, OrderStatus.CLOSED}
            else None
        )
        if completed_at and completed_at > now:
            completed_at = None
            status = OrderStatus.SHIPPED if status == OrderStatus.COMPLETED else status
        partial_refund = status == OrderStatus.COMPLETED and rng.random() < 0.05 and len(lines) > 1
        order = Order(
            number=_number("O", created, used),
            member_id=buyer.pk,
            status=status,
            goods_amount=goods,
            shipping_fee=shipping,
            payable_amount=payable,
            paid_amount=payable if paid_at else 0,
            pricing={
                "demo": True,
                "goods_amount": goods,
                "shipping_fee": shipping,
                "payable": payable,
                "discounts": [],
            },
            recipient=address.recipient if address else "王小明",
            phone=address.phone if address else "13800000000",
            phone_index=crypto.phone_index(address.phone if address else "13800000000"),
            province=address.province if address else "广东",
            city=address.city if address else "广州",
            district=address.district if address else "",
            address_detail=address.detail if address else "天河路1号",
            created_at=created,
            expires_at=created + timedelta(minutes=30),
            paid_at=paid_at,
            cancelled_at=created + timedelta(minutes=30)
            if status == OrderStatus.CANCELLED
            else None,
            cancel_reason="timeout" if status == OrderStatus.CANCELLED else "",
            shipped_at=shipped_at,
            carrier=rng.choice(Carrier.values) if shipped_at else "",
            tracking_no=f"SF{rng.randint(10**11, 10**12 - 1)}" if shipped_at else "",
            completed_at=completed_at,
        )
        orders.append(order)
        plans.append({"lines": lines, "partial": partial_refund})
        if (index + 1) % per_step == 0:
            progress(1)
    plan_by_number = {order.number: plan for order, plan in zip(orders, plans, strict=True)}
    Order.objects.bulk_create(orders, batch_size=500)
    orders = list(Order.objects.filter(number__in=list(plan_by_number)).order_by("created_at"))
    progress(1)
    _build_rows(orders, plan_by_number, rng, now)
    progress(1)


def _build_rows(
    orders: list[Order], plans: dict[str, dict[str, Any]], rng: random.Random, now: datetime
) -> None:
    items: list[OrderItem] = []
    events: list[OrderEvent] = []
    payments: list[Payment] = []
    after_sales: list[AfterSale] = []
    refunds_later: list[tuple[str, int, str]] = []
    stock_moves: dict[int, list[tuple[Any, int, str, str]]] = defaultdict(list)
    sold: dict[int, int] = defaultdict(int)
    used: set[str] = set(Order.objects.values_list("number", flat=True))
    for order in orders:
        plan = plans[order.number]
        for sku, quantity in plan["lines"]:
            items.append(
                OrderItem(
                    order=order,
                    sku_id=sku.pk,
                    product_id=sku.product_id,
                    title=sku.product.title,
                    spec_text=" / ".join(sku.spec_values.values()),
                    image=sku.product.cover,
                    unit_price=sku.price,
                    quantity=quantity,
                    goods_amount=sku.price * quantity,
                    paid_share=sku.price * quantity,
                )
            )
            stock_moves[sku.pk].append(
                (order.created_at, -quantity, StockReason.ORDER_RESERVED, order.number)
            )
            if order.status == OrderStatus.CANCELLED:
                stock_moves[sku.pk].append(
                    (order.cancelled_at, quantity, StockReason.ORDER_RELEASED, order.number)
                )
            else:
                sold[sku.product_id] += quantity
        events.append(
            OrderEvent(
                order=order,
                kind="created",
                to_status="unpaid",
                by_member=True,
                created_at=order.created_at,
            )
        )
        if order.paid_at:
            events.append(
                OrderEvent(
                    order=order,
                    kind="status",
                    from_status="unpaid",
                    to_status="paid",
                    created_at=order.paid_at,
                )
            )
            payments.append(
                Payment(
                    order=order,
                    out_trade_no=_number("PAY", order.paid_at, used),
                    status=PaymentStatus.PAID,
                    amount=order.payable_amount,
                    prepay_id=f"wx{secrets.token_hex(14)}",
                    transaction_id=f"4200{rng.randint(10**23, 10**24 - 1)}",
                    paid_at=order.paid_at,
                    created_at=order.paid_at - timedelta(seconds=30),
                )
            )
        if order.status == OrderStatus.CANCELLED:
            events.append(
                OrderEvent(
                    order=order,
                    kind="status",
                    from_status="unpaid",
                    to_status="cancelled",
                    note="timeout",
                    created_at=order.cancelled_at or order.created_at,
                )
            )
        if order.shipped_at:
            events.append(
                OrderEvent(
                    order=order,
                    kind="status",
                    from_status="paid",
                    to_status="shipped",
                    note=f"{order.carrier} {order.tracking_no}",
                    created_at=order.shipped_at,
                )
            )
        if order.completed_at:
            events.append(
                OrderEvent(
                    order=order,
                    kind="status",
                    from_status="shipped",
                    to_status="completed",
                    by_member=True,
                    created_at=order.completed_at,
                )
            )
        if order.status == OrderStatus.CLOSED:
            refunds_later.append((order.number, order.paid_amount, "full"))
        elif plan["partial"]:
            refunds_later.append((order.number, 0, "partial"))
    OrderItem.objects.bulk_create(items, batch_size=1000)
    OrderEvent.objects.bulk_create(events, batch_size=2000)
    Payment.objects.bulk_create(payments, batch_size=1000)
    payment_of = {p.order_id: p for p in Payment.objects.filter(order__in=orders)}
    order_of = {o.number: o for o in orders}
    items_of: dict[int, list[OrderItem]] = defaultdict(list)
    for item in OrderItem.objects.filter(order__in=orders).order_by("pk"):
        items_of[item.order_id].append(item)
    refunds: list[Refund] = []
    refunded_items: list[OrderItem] = []
    refunded_orders: list[Order] = []
    for number, amount, kind in refunds_later:
        order = order_of[number]
        first_item = items_of[order.pk][0]
        settled: Any = order.completed_at or order.shipped_at or order.paid_at
        when: Any = settled + timedelta(days=rng.uniform(0.5, 3))
        when = min(when, now - timedelta(minutes=10))
        if kind == "partial":
            amount = first_item.paid_share
            lines = [{"item_id": first_item.pk, "quantity": first_item.quantity, "amount": amount}]
        else:
            lines = [
                {"item_id": i.pk, "quantity": i.quantity, "amount": i.paid_share}
                for i in items_of[order.pk]
            ]
        returned = bool(order.shipped_at)
        after_sales.append(
            AfterSale(
                number=_number("AS", when, used),
                order=order,
                member_id=order.member_id,
                kind=AfterSaleKind.RETURN_REFUND if returned else AfterSaleKind.REFUND_ONLY,
                status=AfterSaleStatus.REFUNDED,
                reason=rng.choice(["damaged", "not_as_described", "changed_mind"]),
                lines=lines,
                amount=amount,
                include_shipping=not returned,
                created_at=when,
            )
        )
        refunds.append(
            Refund(
                out_refund_no=_number("R", when, used),
                order=order,
                payment=payment_of[order.pk],
                amount=amount,
                status=RefundStatus.SUCCESS,
                refund_id=f"50{rng.randint(10**25, 10**26 - 1)}",
                succeeded_at=when,
                created_at=when,
            )
        )
        by_pk = {i.pk: i for i in items_of[order.pk]}
        for line in lines:
            item = by_pk[line["item_id"]]
            stock_moves[item.sku_id].append(
                (
                    when,
                    line["quantity"],
                    StockReason.RETURN if returned else StockReason.ORDER_RELEASED,
                    order.number,
                )
            )
            sold[item.product_id] -= line["quantity"]
            item.refunded_quantity = line["quantity"]
            item.refunded_amount = line["amount"]
            refunded_items.append(item)
        order.refunded_amount = amount
        order.closed_at = when if kind == "full" else None
        refunded_orders.append(order)
        events.append(
            OrderEvent(order=order, kind="refunded", data={"amount": amount}, created_at=when)
        )
    OrderItem.objects.bulk_update(
        refunded_items, ["refunded_quantity", "refunded_amount"], batch_size=500
    )
    Order.objects.bulk_update(refunded_orders, ["refunded_amount", "closed_at"], batch_size=500)
    AfterSale.objects.bulk_create(after_sales, batch_size=1000)
    refunds_by_order = {a.order_id: a for a in AfterSale.objects.filter(order__in=orders)}
    for refund in refunds:
        refund.after_sale = refunds_by_order.get(refund.order_id)
    Refund.objects.bulk_create(refunds, batch_size=1000)
    # Stock: open each SKU with what it had before the orders, then every move in time order,
    # so the ledger adds up to the stock the SKU has now.
    ledger: list[StockLedger] = []
    current = dict(Sku.objects.filter(pk__in=list(stock_moves)).values_list("pk", "stock"))
    StockLedger.objects.filter(
        sku_id__in=list(stock_moves), reason=StockReason.INITIAL, reference="demo"
    ).delete()
    earliest = min(o.created_at for o in orders) - timedelta(days=1)
    final_stock: dict[int, int] = {}
    for sku_id, moves in stock_moves.items():
        moves.sort()
        total, running, lowest = 0, 0, 0
        for _, delta, _, _ in moves:
            running += delta
            lowest = min(lowest, running)
        total = running
        # enough opening stock that the balance never dips below zero on the way
        opening = max(current[sku_id] - total, -lowest)
        final_stock[sku_id] = opening + total
        balance = opening
        ledger.append(
            StockLedger(
                sku_id=sku_id,
                delta=opening,
                balance=opening,
                reason=StockReason.INITIAL,
                reference="demo",
                note="opening stock",
                created_at=earliest,
            )
        )
        for when, delta, reason, reference in moves:
            balance += delta
            ledger.append(
                StockLedger(
                    sku_id=sku_id,
                    delta=delta,
                    balance=balance,
                    reason=reason,
                    reference=reference,
                    created_at=when,
                )
            )
    Sku.objects.bulk_update(
        [Sku(pk=sku_id, stock=stock) for sku_id, stock in final_stock.items()],
        ["stock"],
        batch_size=500,
    )
    StockLedger.objects.bulk_create(ledger, batch_size=2000)
    Product.objects.bulk_update(
        [Product(pk=product_id, sales_count=max(0, n)) for product_id, n in sold.items()],
        ["sales_count"],
        batch_size=500,
    )
    # Stock and sales were written around the catalog services: drop what is cached.
    catalog_services.catalog_changed()
