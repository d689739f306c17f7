"""Order reads: the member's orders, carts with current prices, console queries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from miniops.catalog.models import ProductStatus
from miniops.catalog.selectors import media_url
from miniops.core import crypto
from miniops.core.masking import mask_name, mask_phone
from miniops.core.timeutils import business_tz, local_date, now, same_hours
from miniops.orders.models import AfterSale, CartItem, Order, OrderStatus, Payment, PaymentStatus


def member_orders(member_id: int, status: str | None = None) -> QuerySet[Order]:
    orders = (
        Order.objects.filter(member_id=member_id)
        .prefetch_related("items")
        .order_by("-created_at", "-id")
    )
    return orders.filter(status=status) if status else orders


def member_order(member_id: int, order_id: int) -> Order | None:
    return (
        Order.objects.filter(member_id=member_id, pk=order_id)
        .prefetch_related("items", "events")
        .first()
    )


def cart(member_id: int) -> list[dict[str, Any]]:
    rows = []
    for item in (
        CartItem.objects.filter(member_id=member_id)
        .select_related("sku", "sku__product")
        .order_by("-updated_at")
    ):
        sku = item.sku
        on_sale = sku.is_active and sku.product.status == ProductStatus.ON_SALE
        rows.append(
            {
                "sku_id": sku.pk,
                "product_id": sku.product_id,
                "title": sku.product.title,
                "specs": sku.spec_values,
                "image": media_url(sku.product.cover),
                "quantity": item.quantity,
                "selected": item.selected,
                "price": sku.price,
                "price_when_added": item.price_when_added,
                "price_changed": sku.price != item.price_when_added,
                "available": on_sale and sku.stock >= item.quantity,
                "stock_short": on_sale and sku.stock < item.quantity,
                "on_sale": on_sale,
            }
        )
    return rows


def refund_open() -> Exists:
    """Per order: a refund-only request is open, so it cannot ship yet."""
    return Exists(
        AfterSale.objects.filter(
            order=OuterRef("pk"), kind="refund_only", status__in=["requested", "refunding"]
        )
    )


def status_counts(search: str = "") -> dict[str, int]:
    """Orders per status (of those matching ``search``); ``paid`` counts only the
    orders that can ship, ``on_hold`` the paid ones waiting on a refund request."""
    orders = search_orders(search) if search.strip() else Order.objects.all()
    orders = orders.annotate(refund_open=refund_open())
    counts = dict(
        orders.filter(refund_open=False)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    held = dict(
        orders.filter(refund_open=True)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    found = {
        status: counts.get(status, 0) + (held.get(status, 0) if status != "paid" else 0)
        for status in OrderStatus.values
    }
    found["on_hold"] = held.get("paid", 0)
    return found


#: the figures of ``today_so_far``
TODAY_FIGURES = ("orders", "paid_orders", "gmv")


def _change(current: int, base: int) -> float | None:
    return None if not base else round((current - base) / base, 4)


def today_so_far(moment: datetime | None = None) -> dict[str, Any]:
    """Orders placed, orders paid and GMV (fen) today up to ``moment`` (default
    now), against the same hours of yesterday and of the same weekday last week:
    at 05:38 a whole yesterday is no yardstick."""
    moment = moment or now()
    today = local_date(moment)
    days = {
        "today": today,
        "yesterday": today - timedelta(days=1),
        "last_week": today - timedelta(days=7),
    }
    spans = {key: same_hours(day, moment) for key, day in days.items()}
    first, last = spans["last_week"][0], spans["today"][1]
    placed = Order.objects.filter(created_at__gte=first, created_at__lt=last).aggregate(
        **{
            key: Count("id", filter=Q(created_at__gte=start, created_at__lt=end))
            for key, (start, end) in spans.items()
        }
    )
    paid = Order.objects.filter(paid_at__gte=first, paid_at__lt=last).aggregate(
        **{
            name: agg
            for key, (start, end) in spans.items()
            for name, agg in (
                (f"n_{key}", Count("id", filter=Q(paid_at__gte=start, paid_at__lt=end))),
                (f"g_{key}", Sum("paid_amount", filter=Q(paid_at__gte=start, paid_at__lt=end))),
            )
        }
    )
    figures = {
        key: {
            "orders": placed[key] or 0,
            "paid_orders": paid[f"n_{key}"] or 0,
            "gmv": paid[f"g_{key}"] or 0,
        }
        for key in spans
    }
    return {
        "until": moment.astimezone(business_tz()),
        "last_week_day": days["last_week"],
        **figures,
        "vs_yesterday": {
            m: _change(figures["today"][m], figures["yesterday"][m]) for m in TODAY_FIGURES
        },
        "vs_last_week": {
            m: _change(figures["today"][m], figures["last_week"][m]) for m in TODAY_FIGURES
        },
    }


def search_orders(query: str) -> QuerySet[Order]:
    """Order number, exact phone of the recipient or the member, nickname."""
    query = query.strip()
    orders = Order.objects.all()
    if not query:
        return orders
    condition = Q(number=query) | Q(member__nickname__icontains=query)
    digits = crypto.normalise_phone(query)
    if 7 <= len(digits) <= 13 and digits.isdigit():
        index = crypto.phone_index(query)
        condition |= Q(phone_index=index) | Q(member__phone_index=index)
    return orders.filter(condition)


def reconciliation(start: Any, end: Any) -> dict[str, Any]:
    """Paid orders against payment records in [start, end): mismatches first."""
    payments = Payment.objects.filter(
        status=PaymentStatus.PAID, paid_at__gte=start, paid_at__lt=end
    ).select_related("order")
    rows: list[dict[str, Any]] = []
    seen_orders = set()
    for payment in payments:
        order = payment.order
        seen_orders.add(order.pk)
        problems = []
        if order.status in {OrderStatus.UNPAID, OrderStatus.CANCELLED}:
            problems.append("payment_on_unpaid_order")
        if payment.amount != order.payable_amount:
            problems.append("amount_differs")
        rows.append({"order": order, "payment": payment, "problems": problems})
    paid_orders = Order.objects.filter(paid_at__gte=start, paid_at__lt=end).exclude(
        pk__in=seen_orders
    )
    for order in paid_orders:
        rows.append({"order": order, "payment": None, "problems": ["paid_order_without_payment"]})
    rows.sort(
        key=lambda row: (not row["problems"], row["order"].paid_at or row["order"].created_at)
    )
    totals = payments.aggregate(amount=Sum("amount"), count=Count("id"))
    return {
        "rows": rows,
        "payments": totals["count"] or 0,
        "amount": totals["amount"] or 0,
        "mismatches": sum(1 for row in rows if row["problems"]),
    }


def open_after_sales() -> QuerySet[AfterSale]:
    return AfterSale.objects.filter(status__in=["requested", "returned"]).select_related(
        "order", "member"
    )


def order_detail(order: Order, *, timeline: bool = False, masked: bool = False) -> dict[str, Any]:
    """An order as every API shows it (``orders.schemas.OrderOut``): the member's
    own view, or ``masked`` for operators (recipient, phone and street hidden);
    ``timeline`` adds the status history without operators' internal notes. The
    orders and marketing APIs both answer with this shape."""
    return {
        "id": order.pk,
        "number": order.number,
        "status": order.status,
        "goods_amount": order.goods_amount,
        "shipping_fee": order.shipping_fee,
        "discount_amount": order.discount_amount,
        "payable_amount": order.payable_amount,
        "paid_amount": order.paid_amount,
        "refunded_amount": order.refunded_amount,
        "recipient": mask_name(order.recipient) if masked else order.recipient,
        "phone": mask_phone(order.phone) if masked else order.phone,
        "address": f"{order.province} {order.city} {order.district} "
        + ("****" if masked else order.address_detail),
        "remark": order.remark,
        "created_at": order.created_at,
        "expires_at": order.expires_at if order.status == OrderStatus.UNPAID else None,
        "paid_at": order.paid_at,
        "shipped_at": order.shipped_at,
        "carrier": order.carrier,
        "tracking_no": order.tracking_no,
        "completed_at": order.completed_at,
        "items": [
            {
                "id": item.pk,
                "sku_id": item.sku_id,
                "product_id": item.product_id,
                "title": item.title,
                "spec_text": item.spec_text,
                "image": media_url(item.image),
                "unit_price": item.unit_price,
                "quantity": item.quantity,
                "paid_share": item.paid_share,
                "refunded_quantity": item.refunded_quantity,
            }
            for item in order.items.all()
        ],
        "timeline": [
            {
                "kind": e.kind,
                "to_status": e.to_status,
                "note": e.note if not e.actor_id else "",
                "created_at": e.created_at,
            }
            for e in order.events.all()
            if e.kind != "note"
        ]
        if timeline
        else [],
    }
