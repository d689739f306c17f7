"""Marketing's steps in the one pricing pipeline (``orders.pricing``).

Precedence, enforced by the step order and by each price step touching only
lines still at their catalog price:

    10  flash sale      the flash price, for the flash item being bought
    20  group buy       the group price, for the group item being bought
    30  time-limited    the window's price or % off, product or SKU
    40  member level    the level's member-price % off
        — a line gets at most one special price: the first step above that applies
   110  coupons         at most one coupon of each kind; threshold / fixed / percent
                        on eligible goods, free shipping after the shipping step
   150  points          points → fen at MINIOPS_POINTS_VALUE_FEN, at most
                        MINIOPS_POINTS_MAX_PERCENT % of what is left to pay for goods
   200  shipping        (orders) freight templates
   210  free shipping   a free-shipping coupon or a level with free shipping

The steps read what the buyer chose from ``quote.context``: ``flash_item_id``,
``group_buy_id``, ``coupon_ids`` and ``points``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core.errors import Conflict, InvalidInput, NotFound
from miniops.marketing.models import (
    Coupon,
    CouponStatus,
    CouponTemplate,
    FlashItem,
    GroupBuy,
    MemberStanding,
    RedeemItem,
    TimedDiscount,
)
from miniops.orders.pricing import Discount, Line, Quote, register_step


def _catalog_priced(line: Line) -> bool:
    return line.price_source == "catalog"


# --- price steps ----------------------------------------------------------------------------
def points_shop_step(quote: Quote) -> None:
    """Goods redeemed in the points shop: the line is free (the points pay)."""
    item_id = quote.context.get("redeem_item_id")
    if not item_id:
        return
    item = RedeemItem.objects.filter(pk=item_id, is_active=True, sku__isnull=False).first()
    if item is None:
        raise NotFound(_("No such item."))
    for line in quote.lines:
        if line.sku_id == item.sku_id:
            line.unit_price, line.price_source = 0, "points_shop"


def flash_step(quote: Quote) -> None:
    item_id = quote.context.get("flash_item_id")
    if not item_id:
        return
    item = FlashItem.objects.select_related("session").filter(pk=item_id).first()
    if item is None:
        raise NotFound(_("No such flash-sale item."))
    for line in quote.lines:
        if line.sku_id == item.sku_id:
            line.unit_price, line.price_source = item.flash_price, "flash"


def group_step(quote: Quote) -> None:
    group_buy_id = quote.context.get("group_buy_id")
    if not group_buy_id:
        return
    group_buy = GroupBuy.objects.filter(pk=group_buy_id).first()
    if group_buy is None:
        raise NotFound(_("No such group buy."))
    for line in quote.lines:
        if line.sku_id == group_buy.sku_id and _catalog_priced(line):
            line.unit_price, line.price_source = group_buy.group_price, "group"


def active_discounts(sku_ids: list[int], product_ids: list[int]) -> list[TimedDiscount]:
    now = timezone.now()
    return list(
        TimedDiscount.objects.filter(
            Q(sku_id__in=sku_ids) | Q(product_id__in=product_ids),
            starts_at__lte=now,
            ends_at__gt=now,
            ended_early_at__isnull=True,
        ).order_by("-starts_at", "-pk")
    )


def discounted_price(discount: TimedDiscount, list_price: int) -> int:
    if discount.price is not None:
        return min(list_price, discount.price)
    percent = discount.percent_off or 0
    return max(1, list_price - list_price * percent // 100)


def timed_step(quote: Quote) -> None:
    lines = [line for line in quote.lines if _catalog_priced(line)]
    if not lines:
        return
    discounts = active_discounts(
        [line.sku_id for line in lines], [line.product_id for line in lines]
    )
    for line in lines:
        # a SKU's own discount wins over its product's
        match = next((d for d in discounts if d.sku_id == line.sku_id), None) or next(
            (d for d in discounts if d.sku_id is None and d.product_id == line.product_id), None
        )
        if match is not None:
            line.unit_price, line.price_source = discounted_price(match, line.list_price), "timed"


def standing_of(member_id: int | None) -> MemberStanding | None:
    if member_id is None:
        return None
    return MemberStanding.objects.select_related("level").filter(member_id=member_id).first()


def level_step(quote: Quote) -> None:
    standing = standing_of(quote.member_id)
    quote.context["_standing"] = standing
    if standing is None or standing.level is None or not standing.level.discount_percent:
        return
    percent = standing.level.discount_percent
    for line in quote.lines:
        if _catalog_priced(line):
            line.unit_price = max(1, line.list_price - line.list_price * percent // 100)
            line.price_source = "member"


# --- coupons ---------------------------------------------------------------------------------
def eligible_amount(template: CouponTemplate, quote: Quote) -> int:
    """The goods of the quote the coupon may discount."""
    if template.scope == CouponTemplate.Scope.ALL:
        allowed = None
    elif template.scope == CouponTemplate.Scope.PRODUCTS:
        allowed = set(template.products.values_list("pk", flat=True))
    else:
        from miniops.catalog.models import Category, Product

        roots = list(template.categories.values_list("pk", flat=True))
        categories = set(roots)
        frontier = roots
        while frontier:
            frontier = list(
                Category.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)
            )
            categories |= set(frontier)
        allowed = set(
            Product.objects.filter(
                pk__in=[line.product_id for line in quote.lines], category_id__in=categories
            ).values_list("pk", flat=True)
        )
    excluded = set(template.excluded_products.values_list("pk", flat=True))
    return sum(
        line.goods_amount
        for line in quote.lines
        if (allowed is None or line.product_id in allowed) and line.product_id not in excluded
    )


def coupon_discount(coupon: Coupon, quote: Quote) -> int:
    """What ``coupon`` takes off this quote (0 when it does not apply)."""
    template = coupon.template
    if template.kind == CouponTemplate.Kind.FREE_SHIPPING:
        return 0
    base = eligible_amount(template, quote)
    if base <= 0 or base < template.min_spend:
        return 0
    if template.kind == CouponTemplate.Kind.PERCENT:
        amount = base * template.value // 100
        if template.max_discount:
            amount = min(amount, template.max_discount)
    else:
        amount = template.value
    return min(amount, base)


def usable(coupon: Coupon, member_id: int | None, level_rank: int | None) -> str | None:
    """Why ``coupon`` cannot be used now, or None."""
    now = timezone.now()
    template = coupon.template
    if coupon.member_id != member_id:
        return "not_yours"
    if coupon.status != CouponStatus.UNUSED:
        return "not_unused"
    if coupon.valid_from > now or (coupon.valid_until and coupon.valid_until <= now):
        return "expired"
    # A stopped template (is_active False) claims and issues no more, but coupons
    # already held stay valid until their own end: the console says so.
    if (
        template.level_only
        and template.auto_level is not None
        and (level_rank is None or level_rank < template.auto_level.rank)
    ):
        return "level"
    return None


def coupon_step(quote: Quote) -> None:
    ids = quote.context.get("coupon_ids") or []
    if not ids:
        return
    coupons = {
        c.pk: c
        for c in Coupon.objects.select_related("template", "template__auto_level").filter(
            pk__in=ids
        )
    }
    standing = quote.context.get("_standing")
    rank = standing.level.rank if standing is not None and standing.level is not None else None
    kinds: set[str] = set()
    for coupon_id in ids:
        coupon = coupons.get(coupon_id)
        if coupon is None or coupon.member_id != quote.member_id:
            raise NotFound(_("No such coupon."), fields={"coupon_ids": coupon_id})
        reason = usable(coupon, quote.member_id, rank)
        if reason is not None:
            raise Conflict(
                _("This coupon cannot be used now."),
                code=f"coupon_{reason}",
                fields={"coupon_ids": coupon_id},
            )
        kind = coupon.template.kind
        if kind in kinds:
            raise InvalidInput(
                fields={"coupon_ids": _("At most one coupon of each kind per order.")}
            )
        kinds.add(kind)
        if kind == CouponTemplate.Kind.FREE_SHIPPING:
            if (
                coupon.template.min_spend
                and eligible_amount(coupon.template, quote) < coupon.template.min_spend
            ):
                raise Conflict(
                    _("This order does not reach the coupon's minimum spend."),
                    code="coupon_min_spend",
                    fields={"coupon_ids": coupon_id},
                )
            quote.context["free_shipping_coupon"] = coupon.pk
            continue
        amount = coupon_discount(coupon, quote)
        if amount <= 0:
            raise Conflict(
                _("This order does not reach the coupon's minimum spend."),
                code="coupon_min_spend",
                fields={"coupon_ids": coupon_id},
            )
        quote.add_discount(
            Discount(
                kind="coupon",
                label=coupon.template.name,
                amount=amount,
                reference=f"coupon:{coupon.pk}",
            )
        )


# --- points and free shipping ----------------------------------------------------------------
def points_value(points: int) -> int:
    return points * settings.MINIOPS_POINTS_VALUE_FEN


def points_step(quote: Quote) -> None:
    points = quote.context.get("points") or 0
    if not points:
        return
    standing = quote.context.get("_standing")
    balance = standing.points if standing is not None else 0
    if points > balance:
        raise Conflict(
            _("Not enough points."), code="insufficient_points", fields={"points": balance}
        )
    room = (quote.goods_amount - quote.discount_amount) * settings.MINIOPS_POINTS_MAX_PERCENT // 100
    usable_points = min(points, room // settings.MINIOPS_POINTS_VALUE_FEN)
    if usable_points <= 0:
        return
    quote.add_discount(
        Discount(
            kind="points",
            label=_("%d points") % usable_points,
            amount=points_value(usable_points),
            reference=f"points:{usable_points}",
        )
    )


def free_shipping_step(quote: Quote) -> None:
    standing = quote.context.get("_standing")
    level_free = (
        standing is not None and standing.level is not None and standing.level.free_shipping
    )
    wanted = bool(quote.context.get("free_shipping_coupon")) or level_free
    if wanted and quote.shipping_fee and quote.deliverable:
        quote.context["shipping_saved"] = quote.shipping_fee  # the coupon's cost
        quote.shipping_fee = 0
        quote.shipping_note = _("Free shipping")


def suggest_coupons(quote: Quote) -> list[dict[str, Any]]:
    """The member's coupons that apply to this quote, best first (for checkout)."""
    if quote.member_id is None:
        return []
    standing = quote.context.get("_standing")
    rank = standing.level.rank if standing is not None and standing.level is not None else None
    out = []
    for coupon in Coupon.objects.select_related("template", "template__auto_level").filter(
        member_id=quote.member_id, status=CouponStatus.UNUSED
    ):
        if usable(coupon, quote.member_id, rank) is not None:
            continue
        if coupon.template.kind == CouponTemplate.Kind.FREE_SHIPPING:
            reaches = eligible_amount(coupon.template, quote) >= coupon.template.min_spend
            amount = quote.shipping_fee if reaches else 0
        else:
            amount = coupon_discount(coupon, quote)
        if amount > 0:
            out.append(
                {
                    "coupon_id": coupon.pk,
                    "name": coupon.template.name,
                    "kind": coupon.template.kind,
                    "discount": amount,
                    "valid_until": coupon.valid_until,
                }
            )
    return sorted(out, key=lambda c: (-c["discount"], c["valid_until"] or timezone.now()))


def register() -> None:
    register_step(5, "points_shop", points_shop_step)
    register_step(10, "flash", flash_step)
    register_step(20, "group", group_step)
    register_step(30, "timed_discount", timed_step)
    register_step(40, "member_level", level_step)
    register_step(110, "coupons", coupon_step)
    register_step(150, "points", points_step)
    register_step(210, "free_shipping", free_shipping_step)
