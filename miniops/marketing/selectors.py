"""Marketing reads: what the mini-program lists, and each tool's results."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from miniops.core import localcache
from miniops.core.timeutils import days, local_date, range_bounds
from miniops.marketing.models import (
    Coupon,
    CouponStatus,
    CouponTemplate,
    FlashItem,
    FlashOrder,
    FlashSession,
    Group,
    GroupBuy,
    GroupMember,
    GroupStatus,
    Level,
    MemberStanding,
    TimedDiscount,
)
from miniops.orders.models import Order


def claimable_templates() -> list[CouponTemplate]:
    now = timezone.now()
    return list(
        CouponTemplate.objects.filter(
            Q(valid_from__isnull=True) | Q(valid_from__lte=now),
            Q(valid_until__isnull=True) | Q(valid_until__gt=now),
            issue=CouponTemplate.Issue.PUBLIC,
            is_active=True,
            level_only=False,
        ).order_by("-created_at")[:100]
    )


def standing_summary(member_id: int) -> dict[str, Any]:
    row = MemberStanding.objects.select_related("level").filter(member_id=member_id).first()
    growth = row.growth if row else 0
    levels = list(Level.objects.order_by("growth_threshold"))
    upcoming = next((lv for lv in levels if lv.growth_threshold > growth), None)
    return {
        "points": row.points if row else 0,
        "growth": growth,
        "level": row.level.name if row and row.level else None,
        "next_level": upcoming.name if upcoming else None,
        "growth_to_next": upcoming.growth_threshold - growth if upcoming else None,
        "sign_in_streak": row.sign_in_streak if row else 0,
        "signed_in_today": bool(row and row.last_sign_in == local_date()),
    }


def flash_sessions() -> list[dict[str, Any]]:
    from miniops.marketing.services.flash import remaining

    now = timezone.now()
    sessions = FlashSession.objects.filter(
        ends_at__gt=now, ended_early_at__isnull=True, starts_at__lte=now + timedelta(days=2)
    ).order_by("starts_at")[:20]
    out = []
    for session in sessions:
        items = FlashItem.objects.select_related("sku", "sku__product").filter(session=session)
        out.append(
            {
                "id": session.pk,
                "name": session.name,
                "status": session.status,
                "starts_at": session.starts_at,
                "ends_at": session.ends_at,
                "server_time": now,
                "items": [
                    {
                        "id": item.pk,
                        "sku_id": item.sku_id,
                        "product_id": item.sku.product_id,
                        "title": item.sku.product.title,
                        "flash_price": item.flash_price,
                        "original_price": item.sku.price,
                        "remaining": remaining(item),
                        "per_member_limit": item.per_member_limit,
                    }
                    for item in items
                ],
            }
        )
    return out


def running_group_buys() -> list[dict[str, Any]]:
    now = timezone.now()
    return [
        {
            "id": gb.pk,
            "name": gb.name,
            "sku_id": gb.sku_id,
            "group_price": gb.group_price,
            "original_price": gb.sku.price,
            "group_size": gb.group_size,
            "hours_to_fill": gb.hours_to_fill,
            "ends_at": gb.ends_at,
            "server_time": now,
        }
        for gb in GroupBuy.objects.select_related("sku").filter(
            starts_at__lte=now, ends_at__gt=now, ended_early_at__isnull=True
        )[:50]
    ]


# --- results ------------------------------------------------------------------------------
def _roi(gmv: int, cost: int) -> float | None:
    return round(gmv / cost, 2) if cost else None


#: ``[start, end)`` of the payment times a figure counts, or None for all time
Period = tuple[datetime, datetime] | None


def _in(moment: datetime | None, period: Period) -> bool:
    return moment is not None and (period is None or period[0] <= moment < period[1])


def coupon_stats(
    template_ids: list[int] | None = None, period: Period = None
) -> list[dict[str, Any]]:
    """Per template: issued, used, GMV of the paid orders that used it, the discount
    it cost, and ROI (GMV ÷ cost). With a ``period``, orders, GMV and cost count the
    orders paid in it; issued and used stay the template's totals."""
    templates = CouponTemplate.objects.all().order_by("-created_at")
    if template_ids is not None:
        templates = templates.filter(pk__in=template_ids)
    by_status: dict[int, dict[str, int]] = {}
    for template_id, status, n in Coupon.objects.values_list("template_id", "status").annotate(
        n=Count("id")
    ):
        by_status.setdefault(template_id, {})[status] = n
    spent_coupons = Coupon.objects.filter(status=CouponStatus.USED)
    if period is not None:
        spent_coupons = spent_coupons.filter(
            order__paid_at__gte=period[0], order__paid_at__lt=period[1]
        )
    used = spent_coupons.values("template_id").annotate(
        cost=Sum("discount"), orders=Count("order_id", distinct=True)
    )
    cost = {row["template_id"]: (row["cost"] or 0, row["orders"]) for row in used}
    gmv: dict[int, int] = {}
    for template_id, paid, refunded in spent_coupons.values_list(
        "template_id", "order__paid_amount", "order__refunded_amount"
    ):
        gmv[template_id] = gmv.get(template_id, 0) + (paid or 0) - (refunded or 0)
    out = []
    for template in templates[:500]:
        counts = by_status.get(template.pk, {})
        spent, orders = cost.get(template.pk, (0, 0))
        out.append(
            {
                "id": template.pk,
                "name": template.name,
                "status": template.status,
                "issued": template.issued_count,
                "total": template.total_quantity,
                "unused": counts.get(CouponStatus.UNUSED, 0),
                "used": counts.get(CouponStatus.USED, 0),
                "expired": counts.get(CouponStatus.EXPIRED, 0),
                "orders": orders,
                "gmv": gmv.get(template.pk, 0),
                "cost": spent,
                "roi": _roi(gmv.get(template.pk, 0), spent),
                "use_rate": round(counts.get(CouponStatus.USED, 0) / template.issued_count, 4)
                if template.issued_count
                else 0.0,
            }
        )
    return out


def flash_stats(period: Period = None) -> list[dict[str, Any]]:
    """Per session; with a ``period``, GMV and cost count the orders paid in it."""
    out = []
    for session in FlashSession.objects.order_by("-starts_at")[:100]:
        items = list(FlashItem.objects.filter(session=session).select_related("sku"))
        links = FlashOrder.objects.filter(item__session=session).select_related("order")
        paid = [link for link in links if _in(link.order.paid_at, period)]
        buyers = {link.order.member_id for link in links}
        gmv = sum(link.order.paid_amount - link.order.refunded_amount for link in paid)
        cost = sum(
            (link.item.sku.price - link.item.flash_price) * link.quantity
            for link in paid
            if link.item.sku.price > link.item.flash_price
        )
        out.append(
            {
                "id": session.pk,
                "name": session.name,
                "status": session.status,
                "starts_at": session.starts_at,
                "ends_at": session.ends_at,
                "stock": sum(item.stock for item in items),
                "sold": sum(item.sold for item in items),
                "participants": len(buyers),
                "orders": len(links),
                "paid_orders": len(paid),
                "conversion": round(len(paid) / len(links), 4) if links else 0.0,
                "gmv": gmv,
                "cost": cost,
                "roi": _roi(gmv, cost),
            }
        )
    return out


def group_stats(period: Period = None) -> list[dict[str, Any]]:
    """Per group buy; with a ``period``, GMV and cost count the orders paid in it."""
    out = []
    for gb in GroupBuy.objects.select_related("sku").order_by("-starts_at")[:100]:
        groups = Group.objects.filter(group_buy=gb).aggregate(
            total=Count("id"),
            succeeded=Count("id", filter=Q(status=GroupStatus.SUCCEEDED)),
            failed=Count("id", filter=Q(status=GroupStatus.FAILED)),
        )
        members = GroupMember.objects.filter(group__group_buy=gb).select_related("order", "group")
        paid = [m for m in members if m.paid]
        kept = [
            m
            for m in paid
            if m.group.status == GroupStatus.SUCCEEDED and _in(m.order.paid_at, period)
        ]
        gmv = sum(m.order.paid_amount - m.order.refunded_amount for m in kept)
        cost = max(0, gb.sku.price - gb.group_price) * len(kept)
        out.append(
            {
                "id": gb.pk,
                "name": gb.name,
                "status": gb.status,
                "groups": groups["total"],
                "succeeded": groups["succeeded"],
                "failed": groups["failed"],
                "participants": len({m.member_id for m in members}),
                "paid_members": len(paid),
                "conversion": round(groups["succeeded"] / groups["total"], 4)
                if groups["total"]
                else 0.0,
                "gmv": gmv,
                "cost": cost,
                "roi": _roi(gmv, cost),
            }
        )
    return out


#: what each results table's drill-down follows from an order to its campaign
TOOLS = ("coupons", "flash", "groups")


def campaign_orders(table: str, object_id: int | None, first: date, last: date) -> QuerySet[Any]:
    """The paid orders behind a results figure: those that used a coupon of the
    template, bought in the flash session or joined the group buy (and kept it), paid
    between ``first`` and ``last``; ``object_id`` None means every campaign of the tool."""
    start, end = range_bounds(first, last)
    links: QuerySet[Any]
    if table == "coupons":
        links = Coupon.objects.filter(status=CouponStatus.USED)
        if object_id is not None:
            links = links.filter(template_id=object_id)
    elif table == "flash":
        links = FlashOrder.objects.all()
        if object_id is not None:
            links = links.filter(item__session_id=object_id)
    elif table == "groups":
        links = GroupMember.objects.filter(paid=True, group__status=GroupStatus.SUCCEEDED)
        if object_id is not None:
            links = links.filter(group__group_buy_id=object_id)
    else:
        raise ValueError(table)
    return Order.objects.filter(
        pk__in=links.values_list("order_id", flat=True), paid_at__gte=start, paid_at__lt=end
    ).order_by("-paid_at", "-id")


def campaign_daily(first: date, last: date) -> list[dict[str, Any]]:
    """Per day of the period: the orders paid that used a coupon, a flash sale or a
    group buy, and their GMV (paid minus refunded), each order counted once."""
    ids: set[int] = set()
    for table in TOOLS:
        ids |= set(campaign_orders(table, None, first, last).values_list("pk", flat=True))
    per_day: dict[date, list[int]] = {}
    for paid_at, paid, refunded in Order.objects.filter(pk__in=ids).values_list(
        "paid_at", "paid_amount", "refunded_amount"
    ):
        row = per_day.setdefault(local_date(paid_at), [0, 0])
        row[0] += 1
        row[1] += (paid or 0) - (refunded or 0)
    return [
        {"day": day, "orders": per_day.get(day, [0, 0])[0], "gmv": per_day.get(day, [0, 0])[1]}
        for day in days(first, last)
    ]


# --- the catalog's product page ---------------------------------------------------------------
def _discounted_products() -> set[int]:
    def load() -> set[int]:
        now = timezone.now()
        active = TimedDiscount.objects.filter(
            starts_at__lte=now, ends_at__gt=now, ended_early_at__isnull=True
        )
        return set(active.filter(product__isnull=False).values_list("product_id", flat=True)) | set(
            active.filter(sku__isnull=False).values_list("sku__product_id", flat=True)
        )

    return localcache.get_or_load("marketing:discounted-products", 2.0, load)


def price_overlay(product_id: int) -> dict[str, Any] | None:
    """A running time-limited discount for the product page, or None."""
    if product_id not in _discounted_products():
        return None
    from miniops.catalog.models import Sku
    from miniops.marketing.pricing import active_discounts, discounted_price

    skus = list(
        Sku.objects.filter(product_id=product_id, is_active=True).values_list("pk", "price")
    )
    discounts = active_discounts([pk for pk, _p in skus], [product_id])
    if not discounts:
        return None
    prices = {}
    for sku_id, price in skus:
        match = next((d for d in discounts if d.sku_id == sku_id), None) or next(
            (d for d in discounts if d.sku_id is None), None
        )
        if match is not None:
            prices[sku_id] = discounted_price(match, price)
    first = discounts[0]
    return {
        "promotion": {
            "kind": "timed",
            "name": first.name,
            "ends_at": min(d.ends_at for d in discounts).isoformat(),
            "server_time": timezone.now().isoformat(),
        },
        "prices": prices,
    }
