"""What marketing does when an order is placed, paid, completed, released or
refunded — inside the order's own transaction (see ``orders.hooks``)."""

from __future__ import annotations

from typing import Any

from miniops.marketing.models import CouponTemplate, GrowthEntry, PointsEntry
from miniops.marketing.services import coupons, flash, groups, points


def placed(*, order: Any, quote: Any) -> None:
    context = quote.context
    for discount in quote.discounts:  # only the discounts marketing's steps added
        kind, _sep, value = discount.reference.partition(":")
        if kind == "coupon" and value.isdigit():
            coupons.lock_for_order(int(value), order, discount.amount)
        elif kind == "points" and value.isdigit():
            points.spend(
                order.member_id,
                int(value),
                PointsEntry.Reason.CHECKOUT,
                reference=order.number,
            )
    if context.get("free_shipping_coupon"):
        coupons.lock_for_order(
            int(context["free_shipping_coupon"]), order, int(context.get("shipping_saved") or 0)
        )
    if context.get("redeem_item_id"):
        points.take_redemption(order, int(context["redeem_item_id"]))
    if context.get("flash_item_id"):
        flash.take(order, int(context["flash_item_id"]), int(context.get("flash_quantity") or 1))
    if context.get("group_buy_id"):
        groups.attach(order, int(context["group_buy_id"]), str(context.get("group_code") or ""))


def status(*, order: Any, from_: str, to: str) -> None:
    if to == "paid":
        coupons.mark_used(order)
        groups.on_paid(order)
        from miniops.orders.models import Order

        if (
            not Order.objects.filter(member_id=order.member_id, paid_at__isnull=False)
            .exclude(pk=order.pk)
            .exists()
        ):
            coupons.auto_issue(CouponTemplate.AutoRule.FIRST_ORDER, order.member_id)
    elif to == "shipped":
        groups.check_shippable(order)
    elif to == "completed":
        earned = points.purchase_points(order.member_id, order.paid_amount - order.refunded_amount)
        if earned:
            points.earn(
                order.member_id, earned, PointsEntry.Reason.PURCHASE, reference=order.number
            )
        points.add_growth(
            order.member_id,
            (order.paid_amount - order.refunded_amount) // 100,
            "purchase",
            reference=order.number,
        )


def released(*, order: Any) -> None:
    coupons.release_for_order(order)
    spent = PointsEntry.objects.filter(
        member_id=order.member_id, reason=PointsEntry.Reason.CHECKOUT, reference=order.number
    ).first()
    if (
        spent is not None
        and not PointsEntry.objects.filter(
            member_id=order.member_id,
            reason=PointsEntry.Reason.CHECKOUT_RETURN,
            reference=order.number,
        ).exists()
    ):
        points.earn(
            order.member_id,
            -spent.delta,
            PointsEntry.Reason.CHECKOUT_RETURN,
            reference=order.number,
        )
    flash.give_back(order)
    points.give_back_redemption(order)
    groups.on_released(order)


def refunded(*, order: Any, refund: Any) -> None:
    """Points and growth earned on the order are reversed in proportion to the
    refund; points spent on it come back in the same proportion; a fully refunded
    member of a forming group gives up their seat; a full refund restores or
    voids its coupons."""
    paid = max(1, order.paid_amount)
    share = min(1.0, refund.amount / paid)
    earned = PointsEntry.objects.filter(
        member_id=order.member_id, reason=PointsEntry.Reason.PURCHASE, reference=order.number
    ).first()
    if earned is not None:
        back = min(int(earned.delta * share), points.points_of(order.member_id))
        if back > 0:
            points.spend(
                order.member_id, back, PointsEntry.Reason.REFUND, reference=refund.out_refund_no
            )
    spent = PointsEntry.objects.filter(
        member_id=order.member_id, reason=PointsEntry.Reason.CHECKOUT, reference=order.number
    ).first()
    if spent is not None:
        back = int(-spent.delta * share)
        if back > 0:
            points.earn(
                order.member_id,
                back,
                PointsEntry.Reason.CHECKOUT_RETURN,
                reference=refund.out_refund_no,
            )
    grown = GrowthEntry.objects.filter(
        member_id=order.member_id, reason="purchase", reference=order.number
    ).first()
    if grown is not None:
        back = int(grown.delta * share)
        if back > 0:  # the level follows at the next evaluation
            points.add_growth(order.member_id, -back, "refund", reference=refund.out_refund_no)
    groups.on_refunded(order)
    if order.refunded_amount >= order.paid_amount:
        coupons.after_full_refund(order)


def register() -> None:
    from miniops.orders import hooks

    hooks.register("placed", placed)
    hooks.register("status", status)
    hooks.register("released", released)
    hooks.register("refunded", refunded)
