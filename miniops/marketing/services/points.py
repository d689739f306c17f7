"""Points (an append-only ledger; the balance is derived and kept on the member's
standing by conditional updates, never below zero) and membership levels
(growth value, thresholds, periodic evaluation with history)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Sum
from django.utils.translation import gettext as _

from miniops.core import audit, events
from miniops.core.db import add_if_at_least
from miniops.core.errors import Conflict, InvalidInput, NotFound
from miniops.core.permissions import P, require_if_operator
from miniops.core.timeutils import local_date
from miniops.marketing.models import (
    GrowthEntry,
    Level,
    LevelChange,
    MemberStanding,
    PointsEntry,
    RedeemItem,
    Redemption,
)

MAX_POINTS_CHANGE = 10_000_000


def standing(member_id: int) -> MemberStanding:
    row, _created = MemberStanding.objects.get_or_create(member_id=member_id)
    return row


def _change(
    member_id: int,
    delta: int,
    reason: str,
    *,
    reference: str = "",
    note: str = "",
    expires: bool = False,
) -> PointsEntry:
    """Move points by ``delta`` (refused below zero) and write the ledger row, in
    the caller's transaction."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidInput(fields={"points": _("A whole number other than 0.")})
    if abs(delta) > MAX_POINTS_CHANGE:
        raise InvalidInput(fields={"points": _("At most %d at once.") % MAX_POINTS_CHANGE})
    standing(member_id)
    balance = add_if_at_least(MemberStanding, member_id, "points", delta, floor=0)
    if balance is None:
        raise Conflict(_("Not enough points."), code="insufficient_points")
    expires_on = (
        local_date() + timedelta(days=settings.MINIOPS_POINTS_EXPIRE_DAYS)
        if expires and delta > 0
        else None
    )
    return PointsEntry.objects.create(
        member_id=member_id,
        delta=delta,
        balance=balance,
        reason=reason,
        reference=reference[:64],
        note=note[:255],
        expires_on=expires_on,
    )


@transaction.atomic
def earn(member_id: int, points: int, reason: str, *, reference: str = "") -> PointsEntry | None:
    if points <= 0:
        return None
    entry = _change(member_id, points, reason, reference=reference, expires=True)
    events.track(
        "points_earned",
        member_id=member_id,
        properties={"points": points, "reason": reason, "reference": reference},
    )
    return entry


def spend(member_id: int, points: int, reason: str, *, reference: str = "") -> PointsEntry:
    """In the caller's transaction: refused (Conflict) when the balance is short."""
    return _change(member_id, -points, reason, reference=reference)


@transaction.atomic
def adjust(*, member_id: int, delta: int, note: str, actor: Any) -> PointsEntry:
    require_if_operator(actor, P.MARKETING_POINTS)
    note = (note or "").strip()
    if not note:
        raise InvalidInput(fields={"note": _("Say why.")})
    from miniops.members.models import Member

    if not Member.objects.filter(pk=member_id).exists():
        raise NotFound()
    entry = _change(member_id, delta, PointsEntry.Reason.ADJUSTMENT, note=note, expires=True)
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=entry,
        changes={"points": [None, delta]},
        additional={"note": note},
    )
    return entry


def sign_in_reward(streak: int) -> int:
    ladder = [int(v) for v in settings.MINIOPS_SIGN_IN_POINTS] or [0]
    return ladder[min(streak, len(ladder)) - 1]


@transaction.atomic
def sign_in(*, member: Any) -> dict[str, Any]:
    """Daily sign-in: once per local day; the streak grows on consecutive days and
    the reward climbs the ladder (MINIOPS_SIGN_IN_POINTS)."""
    today = local_date()
    standing(member.pk)
    row = MemberStanding.objects.select_for_update().get(member_id=member.pk)
    if row.last_sign_in == today:
        raise Conflict(_("Already signed in today."), code="already_signed_in")
    streak = row.sign_in_streak + 1 if row.last_sign_in == today - timedelta(days=1) else 1
    MemberStanding.objects.filter(pk=row.pk).update(sign_in_streak=streak, last_sign_in=today)
    points = sign_in_reward(streak)
    if points:
        _change(
            member.pk, points, PointsEntry.Reason.SIGN_IN, reference=today.isoformat(), expires=True
        )
    add_growth(member.pk, 1, "sign_in", reference=today.isoformat())
    events.track("sign_in", member_id=member.pk, properties={"streak": streak, "points": points})
    return {"streak": streak, "points": points, "balance": standing(member.pk).points}


def first_review_reward(*, member_id: int, reference: str) -> PointsEntry | None:
    """Points for a member's first review (the reviews module calls it)."""
    if PointsEntry.objects.filter(member_id=member_id, reason=PointsEntry.Reason.REVIEW).exists():
        return None
    return earn(
        member_id, settings.MINIOPS_REVIEW_POINTS, PointsEntry.Reason.REVIEW, reference=reference
    )


def purchase_points(member_id: int, paid_fen: int) -> int:
    """Points for ``paid_fen`` paid: MINIOPS_POINTS_PER_YUAN per whole yuan, times
    the member's level multiplier."""
    row = MemberStanding.objects.select_related("level").filter(member_id=member_id).first()
    multiplier = row.level.points_multiplier if row is not None and row.level is not None else 1
    return int(paid_fen // 100 * settings.MINIOPS_POINTS_PER_YUAN * multiplier)


def expire_points(today: date | None = None) -> int:
    """Earned points past their day that were not spent expire (first in, first out:
    what was spent is taken from the oldest earnings). Returns how many expired."""
    today = today or local_date()
    expired_total = 0
    member_ids = (
        PointsEntry.objects.filter(expires_on__lt=today, delta__gt=0)
        .values_list("member_id", flat=True)
        .distinct()
    )
    for member_id in member_ids:
        with transaction.atomic():
            row = MemberStanding.objects.select_for_update().filter(member_id=member_id).first()
            if row is None or row.points <= 0:
                continue
            earned_due = (
                PointsEntry.objects.filter(
                    member_id=member_id, delta__gt=0, expires_on__lt=today
                ).aggregate(n=Sum("delta"))["n"]
                or 0
            )
            taken = -(
                PointsEntry.objects.filter(member_id=member_id, delta__lt=0).aggregate(
                    n=Sum("delta")
                )["n"]
                or 0
            )
            due = min(row.points, max(0, earned_due - taken))
            if due > 0:
                _change(member_id, -due, PointsEntry.Reason.EXPIRY, reference=today.isoformat())
                expired_total += due
    return expired_total


def check_balances(*, fix: bool = False) -> list[tuple[int, int, int]]:
    """Members whose cached balance differs from the sum of their ledger:
    [(member_id, cached, ledger)]. A first pass compares without locks; each
    suspect is then re-checked with its balance row locked, so a spend committing
    meanwhile is never reported (or "fixed") as drift. ``fix`` writes the
    ledger's figure."""
    ledger = dict(
        PointsEntry.objects.values("member_id")
        .annotate(n=Sum("delta"))
        .values_list("member_id", "n")
    )
    cached_all = dict(MemberStanding.objects.values_list("member_id", "points"))
    suspects = sorted(
        member_id
        for member_id in set(ledger) | set(cached_all)
        if int(ledger.get(member_id) or 0) != cached_all.get(member_id, 0)
    )
    wrong = []
    for member_id in suspects:
        with transaction.atomic():
            standing(member_id)
            row = MemberStanding.objects.select_for_update().get(member_id=member_id)
            actual = (
                PointsEntry.objects.filter(member_id=member_id).aggregate(n=Sum("delta"))["n"] or 0
            )
            if actual == row.points:
                continue
            wrong.append((member_id, row.points, actual))
            if fix:
                MemberStanding.objects.filter(member_id=member_id).update(points=actual)
    return wrong


# --- the points shop ---------------------------------------------------------------------
@transaction.atomic
def redeem(*, item_id: int, member: Any) -> Redemption:
    from miniops.marketing.services import coupons

    item = (
        RedeemItem.objects.select_related("coupon_template")
        .filter(pk=item_id, is_active=True)
        .first()
    )
    if item is None:
        raise NotFound(_("No such item."))
    template = item.coupon_template
    if template is None:
        raise InvalidInput(
            _("Goods are delivered: choose a delivery address."),
            fields={"address_id": _("Choose a delivery address.")},
        )
    if template.status == "ended":
        raise Conflict(_("This coupon can no longer be redeemed."), code="redeem_ended")
    redemption = _take(item.pk, member.pk, reference=f"redeem:{item.pk}")
    redemption.coupon = coupons._give(template, member.pk, source="points")
    redemption.save(update_fields=["coupon"])
    return redemption


def redeem_goods(*, item_id: int, member: Any, address_id: int) -> Any:
    """Goods from the points shop: an order for the SKU at price 0 (the points pay;
    the shipping, if any, is paid like any order's). With nothing to pay the order
    is paid at once and goes to fulfilment. The points, the item's stock and the
    member's limit are taken in the order's transaction (``take_redemption``) and
    come back if the order is cancelled unpaid. Returns the order."""
    from miniops.orders.services import place_order, settle_free_order

    item = RedeemItem.objects.filter(pk=item_id, is_active=True).first()
    if item is None:
        raise NotFound(_("No such item."))
    if item.sku_id is None:
        raise InvalidInput(fields={"address_id": _("A coupon needs no address.")})
    with transaction.atomic():
        order = place_order(
            member=member,
            items=[{"sku_id": item.sku_id, "quantity": 1}],
            from_cart=False,
            address_id=address_id,
            context={"redeem_item_id": item.pk},
        )
        if order.payable_amount == 0:
            order = settle_free_order(order=order)
    return order


def take_redemption(order: Any, item_id: int) -> Redemption:
    """Goods, in the order's transaction (see ``_take``)."""
    return _take(item_id, order.member_id, reference=order.number, order=order)


def _take(item_id: int, member_id: int, *, reference: str, order: Any = None) -> Redemption:
    """One unit of a points-shop item for a member, in the caller's transaction:
    the member's limit (goods orders cancelled unpaid do not count), the item's
    stock and the points."""
    item = RedeemItem.objects.select_for_update().get(pk=item_id)
    live = Redemption.objects.filter(item=item, member_id=member_id).exclude(
        order__status="cancelled"
    )
    if live.count() >= item.per_member_limit:
        raise Conflict(_("You have redeemed this already."), code="redeem_limit_reached")
    if not RedeemItem.objects.filter(pk=item.pk, stock__gte=1).update(stock=F("stock") - 1):
        raise Conflict(_("Sold out."), code="sold_out")
    spend(member_id, item.points, PointsEntry.Reason.REDEEM, reference=reference)
    seq = (
        Redemption.objects.filter(item=item, member_id=member_id).aggregate(n=Max("seq"))["n"] or 0
    ) + 1
    return Redemption.objects.create(
        item=item, member_id=member_id, seq=seq, points=item.points, order=order
    )


def give_back_redemption(order: Any) -> None:
    """The goods order was cancelled unpaid: stock and points come back."""
    redemption = Redemption.objects.filter(order=order).first()
    if redemption is None:
        return
    returned = PointsEntry.objects.filter(
        member_id=order.member_id,
        reason=PointsEntry.Reason.CHECKOUT_RETURN,
        reference=f"redeem:{order.number}",
    ).exists()
    if returned:
        return
    RedeemItem.objects.filter(pk=redemption.item_id).update(stock=F("stock") + 1)
    earn(
        order.member_id,
        redemption.points,
        PointsEntry.Reason.CHECKOUT_RETURN,
        reference=f"redeem:{order.number}",
    )


# --- growth and levels -------------------------------------------------------------------
def add_growth(member_id: int, delta: int, reason: str, *, reference: str = "") -> None:
    if not delta:
        return
    standing(member_id)
    MemberStanding.objects.filter(member_id=member_id).update(growth=F("growth") + delta)
    GrowthEntry.objects.create(member_id=member_id, delta=delta, reason=reason, reference=reference)


def level_for(growth: int, levels: list[Level]) -> Level | None:
    reached = [level for level in levels if growth >= level.growth_threshold]
    return reached[-1] if reached else None


def evaluate_levels(member_ids: list[int] | None = None) -> int:
    """Move members to the level their growth value reaches (up or down), with
    history; returns how many changed. Level-up coupons are issued."""
    from miniops.marketing.services import coupons

    levels = list(Level.objects.order_by("growth_threshold", "rank"))
    rows = MemberStanding.objects.all()
    if member_ids is not None:
        rows = rows.filter(member_id__in=member_ids)
    changed = 0
    # Read first, write after: a cursor held open while writing upgrades a read
    # snapshot to a write on SQLite, which fails if anyone wrote meanwhile.
    for row in list(rows.only("member_id", "growth", "level_id")):
        target = level_for(row.growth, levels)
        if (target.pk if target else None) == row.level_id:
            continue
        with transaction.atomic():
            MemberStanding.objects.filter(pk=row.pk).update(level=target)
            LevelChange.objects.create(
                member_id=row.member_id,
                from_level_id=row.level_id,
                to_level=target,
                growth=row.growth,
            )
            previous_rank = next((lv.rank for lv in levels if lv.pk == row.level_id), -1)
            if target is not None and target.rank > previous_rank:
                coupons.auto_issue("level_up", row.member_id, level_id=target.pk)
            events.track(
                "level_changed",
                member_id=row.member_id,
                properties={"from": row.level_id, "to": target.pk if target else None},
            )
        changed += 1
    return changed


def points_of(member_id: int) -> int:
    row = (
        MemberStanding.objects.filter(member_id=member_id).values_list("points", flat=True).first()
    )
    return int(row or 0)
