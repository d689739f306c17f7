"""Attribution of members and orders to a sharer, and the rewards that follow.

* A **registration** is attributed from the touches the new member had: the
  share code they signed in with, the share visits of their anonymous id within
  the window, and the legacy ``referrer_id`` of the login. First or last touch
  decides (``ShareRules.model``).
* An **order** is attributed when it is placed, from the member's share visits
  within the window (and their registration's share); with *new members only*,
  only members who registered through a share are attributed.
* **Rewards** follow only what the invitee does — registering, or completing a
  first order — never the share itself (WeChat has had no share callback since
  2018 and forbids rewarding shares). Each is a ``Reward`` ledger row, one per
  (trigger, invitee, level), frozen until ``due_at`` and granted then by
  ``release_due``; a refund takes back points in proportion to the amount
  refunded (a coupon only when the whole order is refunded), before or after payment.
* **Anti-abuse** runs before a reward row is written: a blocked reward is still a
  row (state skipped, status blocked, ``reason``), so operators see why.

The member's ``referrer`` field is kept as the outcome of a registration's
attribution: set to the sharer when it counts, cleared when it was blocked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from miniops.core import audit, experiments, ledger
from miniops.core.errors import InvalidInput
from miniops.core.ledger import LedgerState
from miniops.core.permissions import P, require_if_operator
from miniops.members.models import Member
from miniops.sharing.models import (
    Attribution,
    AttributionModel,
    OrderAttribution,
    Reward,
    RewardKind,
    RewardStatus,
    RewardTrigger,
    ShareLink,
    ShareRules,
    ShareVisit,
)
from miniops.sharing.services import visits as share_visits
from miniops.sharing.services.links import CODE, device_hash, ip_hash

logger = logging.getLogger("miniops.sharing")

MAX_LEVELS = 2
#: how far up a referral chain the loop check walks
CHAIN_LIMIT = 20


class Block:
    """Why a reward or an attribution does not count."""

    SELF = "self_referral"
    SELF_DEVICE = "self_device"
    SELF_OPENID = "self_openid"
    SELF_PHONE = "self_phone"
    LOOP = "loop"
    VELOCITY_DEVICE = "velocity_device"
    VELOCITY_IP = "velocity_ip"
    TOO_MANY_LEVELS = "too_many_levels"
    SHARER_BLOCKED = "sharer_blocked"
    ATTRIBUTION_BLOCKED = "attribution_blocked"


BLOCK_LABELS = {
    Block.SELF: gettext_lazy("Self-referral: the same member"),
    Block.SELF_DEVICE: gettext_lazy("Self-referral: the sharer's own device"),
    Block.SELF_OPENID: gettext_lazy("Self-referral: the same WeChat user"),
    Block.SELF_PHONE: gettext_lazy("Self-referral: the same phone number"),
    Block.LOOP: gettext_lazy("Loop: the invitee invited the sharer"),
    Block.VELOCITY_DEVICE: gettext_lazy("Too many registrations from one device"),
    Block.VELOCITY_IP: gettext_lazy("Too many registrations from one IP address"),
    Block.TOO_MANY_LEVELS: gettext_lazy("More than two levels"),
    Block.SHARER_BLOCKED: gettext_lazy("The sharer is blocked"),
    Block.ATTRIBUTION_BLOCKED: gettext_lazy("The invitee's attribution was blocked"),
    # not blocks, but reasons a reward shows once its order was refunded
    "refunded": gettext_lazy("The order was refunded"),
    "partly_refunded": gettext_lazy(
        "Part of the order was refunded: points taken back in proportion"
    ),
}


# --- the rules ---------------------------------------------------------------------------------
def rules() -> ShareRules:
    row = ShareRules.objects.filter(pk=1).first()
    if row is None:
        row, _created = ShareRules.objects.get_or_create(
            pk=1, defaults={"registration_points": settings.MINIOPS_REFERRAL_POINTS}
        )
    return row


RULE_FIELDS = (
    "model",
    "window_days",
    "new_members_only",
    "reward_registration",
    "reward_first_order",
    "reward_kind",
    "registration_points",
    "first_order_points",
    "second_level_points",
    "coupon_template",
    "levels",
    "freeze_days",
    "velocity_max",
    "velocity_hours",
    "experiment",
)


@transaction.atomic
def update_rules(*, actor: Any, **values: Any) -> ShareRules:
    require_if_operator(actor, P.SHARING_MANAGE)
    row = ShareRules.objects.select_for_update().get(pk=rules().pk)
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise InvalidInput(fields={name: _("Not a rule.") for name in sorted(unknown)})
    errors: dict[str, Any] = {}
    if "model" in values and values["model"] not in AttributionModel.values:
        errors["model"] = _("First touch or last touch.")
    if "reward_kind" in values and values["reward_kind"] not in RewardKind.values:
        errors["reward_kind"] = _("Points or a coupon.")
    if "levels" in values and values["levels"] not in (1, 2):
        errors["levels"] = _("1 or 2; never more.")
    if "window_days" in values and not 1 <= int(values["window_days"]) <= 90:
        errors["window_days"] = _("Between 1 and 90 days.")
    if "freeze_days" in values and not 0 <= int(values["freeze_days"]) <= 90:
        errors["freeze_days"] = _("Between 0 and 90 days.")
    kind = values.get("reward_kind", row.reward_kind)
    template = values.get("coupon_template", row.coupon_template)
    if kind == RewardKind.COUPON and template is None:
        errors["coupon_template"] = _("Choose the coupon to give.")
    if errors:
        raise InvalidInput(fields=errors)
    for name, value in values.items():
        setattr(row, name, value)
    with audit.acting_as(actor):
        row.save()  # audited by django-auditlog (ShareRules is registered)
    return row


# --- anti-abuse ---------------------------------------------------------------------------------
def _chain(member_id: int | None, limit: int = CHAIN_LIMIT) -> list[int]:
    """The member's referrers, nearest first (stops at a loop or the limit)."""
    chain: list[int] = []
    current = member_id
    while current is not None and len(chain) < limit:
        current = Member.objects.filter(pk=current).values_list("referrer_id", flat=True).first()
        if current is None or current in chain:
            break
        chain.append(current)
    return chain


def self_referral(invitee: Member, sharer: Member, *, device: str, link: ShareLink | None) -> str:
    if invitee.pk == sharer.pk:
        return Block.SELF
    if invitee.openid == sharer.openid or (invitee.unionid and invitee.unionid == sharer.unionid):
        return Block.SELF_OPENID
    if invitee.phone_index and invitee.phone_index == sharer.phone_index:
        return Block.SELF_PHONE
    if device and link is not None and link.device_hash == device:
        return Block.SELF_DEVICE
    if device and ShareLink.objects.filter(sharer=sharer, device_hash=device).exists():
        return Block.SELF_DEVICE
    return ""


def check(
    invitee: Member,
    sharer: Member,
    *,
    link: ShareLink | None,
    device: str = "",
    ip: str = "",
    registration: bool = False,
    now: datetime | None = None,
) -> str:
    """Why ``sharer`` may not be credited with ``invitee`` ("" when they may)."""
    if sharer.is_blocked:
        return Block.SHARER_BLOCKED
    reason = self_referral(invitee, sharer, device=device, link=link)
    if reason:
        return reason
    if invitee.pk in _chain(sharer.pk):
        return Block.LOOP
    if registration:
        rule = rules()
        since = (now or timezone.now()) - timedelta(hours=rule.velocity_hours)
        recent = Attribution.objects.filter(bound_at__gte=since).exclude(invitee=invitee)
        if device and recent.filter(device_hash=device).count() >= rule.velocity_max:
            return Block.VELOCITY_DEVICE
        if ip and recent.filter(ip_hash=ip).count() >= rule.velocity_max:
            return Block.VELOCITY_IP
    return ""


# --- touches -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Touch:
    sharer_id: int
    link: ShareLink | None
    at: datetime
    source: str  # "code", "visit", "referrer", "registration"


def pick(touches: list[Touch], model: str) -> Touch | None:
    if not touches:
        return None
    ordered = sorted(touches, key=lambda touch: touch.at)
    return ordered[0] if model == AttributionModel.FIRST_TOUCH else ordered[-1]


def _visit_touches(
    visits: Any, *, since: datetime, until: datetime, exclude_sharer: int | None = None
) -> list[Touch]:
    rows = visits.filter(at__gte=since, at__lte=until).select_related("link")
    return [
        Touch(visit.link.sharer_id, visit.link, visit.at, "visit")
        for visit in rows
        if visit.link.sharer_id != exclude_sharer
    ]


# --- registrations ----------------------------------------------------------------------------
def attribute_registration(
    *,
    member_id: int,
    share_code: str = "",
    anonymous_id: str = "",
    referrer_id: int | None = None,
) -> Attribution | None:
    """Attribute a new member (after their registration committed) and write the
    registration rewards. Idempotent: a member is attributed once."""
    share_visits.flush()  # this process's queued visits first (visits.py)
    with transaction.atomic():
        invitee = Member.objects.select_for_update().filter(pk=member_id).first()
        if invitee is None or Attribution.objects.filter(invitee=invitee).exists():
            return None
        rule = rules()
        now = timezone.now()
        touches = []
        if share_code and CODE.fullmatch(share_code):
            link = ShareLink.objects.filter(code=share_code).first()
            if link is not None:
                touches.append(Touch(link.sharer_id, link, now, "code"))
        if anonymous_id:
            visits = ShareVisit.objects.filter(anonymous_id=anonymous_id[:64])
            touches += _visit_touches(
                visits, since=now - timedelta(days=rule.window_days), until=now
            )
        if referrer_id and not touches:
            touches.append(Touch(referrer_id, None, now, "referrer"))
        touch = pick(touches, rule.model)
        if touch is None:
            return None
        sharer = Member.objects.filter(pk=touch.sharer_id).first()
        if sharer is None:
            return None
        device = device_hash(anonymous_id)
        session_ip = invitee.sessions.order_by("created_at").values_list("ip", flat=True).first()
        ip = ip_hash(session_ip)
        reason = check(
            invitee, sharer, link=touch.link, device=device, ip=ip, registration=True, now=now
        )
        attribution = Attribution.objects.create(
            invitee=invitee,
            sharer=sharer,
            link=touch.link,
            model=rule.model,
            is_new_member=True,
            blocked_reason=reason,
            device_hash=device,
            ip_hash=ip,
            bound_at=now,
        )
        referrer = None if reason else sharer
        if invitee.referrer_id != (referrer.pk if referrer else None):
            Member.objects.filter(pk=invitee.pk).update(referrer=referrer)
        if rule.reward_registration:
            _reward_chain(
                trigger=RewardTrigger.REGISTRATION,
                invitee=invitee,
                sharer=sharer,
                link=touch.link,
                order=None,
                first_block=reason,
                rule=rule,
            )
    return attribution


# --- orders -----------------------------------------------------------------------------------
def attribute_order(order: Any) -> OrderAttribution | None:
    """Which sharer an order counts for (inside the order's transaction)."""
    rule = rules()
    member_id = order.member_id
    now = order.created_at or timezone.now()
    since = now - timedelta(days=rule.window_days)
    registration = Attribution.objects.filter(invitee_id=member_id, blocked_reason="").first()
    if rule.new_members_only and registration is None:
        return None
    share_visits.flush()
    visits = ShareVisit.objects.filter(member_id=member_id)
    touches = _visit_touches(visits, since=since, until=now, exclude_sharer=member_id)
    if registration is not None and registration.bound_at >= since:
        touches.append(
            Touch(registration.sharer_id, registration.link, registration.bound_at, "registration")
        )
    touch = pick(touches, rule.model)
    if touch is None:
        return None
    return OrderAttribution.objects.create(
        order=order,
        sharer_id=touch.sharer_id,
        link=touch.link,
        model=rule.model,
        window_days=rule.window_days,
        touched_at=touch.at,
        source=touch.source,
    )


def on_order_completed(order: Any) -> list[Reward]:
    """A completed order: the first one of an attributed invitee earns the sharer's
    reward (inside the order's transaction)."""
    rule = rules()
    if not rule.reward_first_order:
        return []
    attribution = OrderAttribution.objects.filter(order=order).first()
    if attribution is None:
        return []
    earlier = (
        type(order)
        .objects.filter(member_id=order.member_id, completed_at__isnull=False)
        .exclude(pk=order.pk)
        .exists()
    )
    if earlier:
        return []
    invitee = Member.objects.get(pk=order.member_id)
    sharer = Member.objects.get(pk=attribution.sharer_id)
    reason = check(invitee, sharer, link=attribution.link)
    registration = Attribution.objects.filter(invitee=invitee).first()
    if not reason and registration is not None and registration.blocked_reason:
        reason = Block.ATTRIBUTION_BLOCKED
    return _reward_chain(
        trigger=RewardTrigger.FIRST_ORDER,
        invitee=invitee,
        sharer=sharer,
        link=attribution.link,
        order=order,
        first_block=reason,
        rule=rule,
    )


# --- rewards --------------------------------------------------------------------------
def _variant(rule: ShareRules, invitee_id: int) -> str:
    """The reward arm of an invitee when the rules run an experiment."""
    if not rule.experiment:
        return ""
    return experiments.assign(rule.experiment, invitee_id, [("base", 0.5), ("double", 0.5)])


def _reward_chain(
    *,
    trigger: str,
    invitee: Member,
    sharer: Member,
    link: ShareLink | None,
    order: Any,
    first_block: str,
    rule: ShareRules,
) -> list[Reward]:
    """Level 1 for the sharer, level 2 for the sharer's referrer when the rules say
    two levels; a third level is never paid and its refusal is recorded."""
    now = timezone.now()
    variant = _variant(rule, invitee.pk)
    base = (
        rule.registration_points
        if trigger == RewardTrigger.REGISTRATION
        else rule.first_order_points
    )
    beneficiaries: list[tuple[int, Member, str]] = [(1, sharer, first_block)]
    chain = _chain(sharer.pk, limit=MAX_LEVELS)
    if not first_block and chain:
        parent = Member.objects.filter(pk=chain[0]).first()
        if parent is not None and rule.levels >= 2:
            reason = check(invitee, parent, link=None)
            beneficiaries.append((2, parent, reason))
            if len(chain) >= 2:
                grand = Member.objects.filter(pk=chain[1]).first()
                if grand is not None:
                    beneficiaries.append((3, grand, Block.TOO_MANY_LEVELS))
    rows = []
    for level, member, reason in beneficiaries:
        points = base if level == 1 else rule.second_level_points
        if variant == "double":
            points *= 2
        kind = rule.reward_kind if level == 1 else RewardKind.POINTS
        fields: dict[str, Any] = {
            "beneficiary": member,
            "invitee": invitee,
            "order": order,
            "link": link,
            "trigger": trigger,
            "level": level,
            "kind": kind,
            "points": points if kind == RewardKind.POINTS else 0,
            "coupon_template": rule.coupon_template if kind == RewardKind.COUPON else None,
            "variant": variant,
        }
        key = f"{trigger}:{invitee.pk}:{level}"
        if reason:
            fields.update(
                state=LedgerState.SKIPPED,
                status=RewardStatus.BLOCKED,
                reason=reason,
                finished_at=now,
            )
        row = ledger.enqueue(
            Reward, key=key, due_at=now + timedelta(days=rule.freeze_days), **fields
        )
        rows.append(row)
    return rows


def grant(row: Reward) -> ledger.Outcome:
    """The ledger handler: a frozen reward whose day came is paid."""
    from miniops.marketing.models import CouponTemplate, PointsEntry
    from miniops.marketing.services import coupons, points

    if row.kind == RewardKind.COUPON:
        template = CouponTemplate.objects.filter(pk=row.coupon_template_id or 0).first()
        if template is None:
            raise ledger.Final("coupon_gone", state=LedgerState.FAILED)
        result = coupons.issue(
            template=template, member_ids=[row.beneficiary_id], actor=None, source=f"share:{row.pk}"
        )
        if not result["issued"]:
            raise ledger.Final("coupon_not_issued", detail=str(result))
    elif row.points > row.clawed_points:
        # a partial refund while frozen took its share already: pay what is left
        points.earn(
            row.beneficiary_id,
            row.points - row.clawed_points,
            PointsEntry.Reason.REFERRAL,
            reference=f"share:{row.pk}",
        )
    Reward.objects.filter(pk=row.pk).update(status=RewardStatus.AVAILABLE)
    return ledger.Outcome(reason="granted")


def release_due(limit: int = 200) -> ledger.BatchResult:
    """Pay the frozen rewards whose day came (a periodic job)."""
    ledger.recover_expired(Reward.objects.all(), retry_safe=False)
    return ledger.process(
        Reward.objects.filter(status=RewardStatus.FROZEN, due_at__lte=timezone.now()),
        grant,
        limit=limit,
    )


def refunded_share(order: Any) -> tuple[int, int]:
    """(refunded, paid) fen of ``order`` as the refund hook sees it."""
    paid = int(getattr(order, "paid_amount", 0) or 0)
    refunded = int(getattr(order, "refunded_amount", 0) or 0)
    return min(refunded, paid), paid


def points_to_claw(points: int, refunded: int, paid: int) -> int:
    """Points a reward loses once ``refunded`` of ``paid`` fen went back: in
    proportion, rounded down (the sharer keeps a fraction of a point), all of them
    for a full refund or an order that was never paid for."""
    if paid <= 0 or refunded >= paid:
        return points
    return points * refunded // paid


def claw_back(order: Any) -> int:
    """A refund of ``order`` (inside the refund's transaction; never refuses it).

    Points rewards lose points in proportion to the amount refunded so far: a frozen
    one pays only what is left when released, a paid one gives back the difference
    (never below zero: what was already spent stays spent, and says so). A coupon
    cannot be split, so a coupon reward is withdrawn only when the whole order is
    refunded. A full refund cancels a frozen reward. Returns the rows changed."""
    from miniops.marketing.models import Coupon, CouponStatus, PointsEntry
    from miniops.marketing.services import points

    refunded, paid = refunded_share(order)
    full = paid <= 0 or refunded >= paid
    count = 0
    for row in (
        Reward.objects.select_for_update()
        .filter(order=order)
        .exclude(status__in=[RewardStatus.BLOCKED, RewardStatus.CLAWED_BACK])
    ):
        frozen = row.state in (LedgerState.QUEUED, LedgerState.CLAIMED)
        if frozen and full:
            Reward.objects.filter(pk=row.pk).update(
                state=LedgerState.CANCELLED,
                status=RewardStatus.CLAWED_BACK,
                reason="refunded",
                clawed_points=row.points,
                finished_at=timezone.now(),
            )
            count += 1
            continue
        if row.kind == RewardKind.COUPON:
            if not full:
                continue  # a coupon is all or nothing: kept until the whole order is refunded
            taken = Coupon.objects.filter(
                source=f"share:{row.pk}", status=CouponStatus.UNUSED
            ).update(status=CouponStatus.VOIDED)
            detail = "" if taken else _("The coupon was already used.")
            Reward.objects.filter(pk=row.pk).update(
                status=RewardStatus.CLAWED_BACK, reason="refunded", detail=str(detail)
            )
            count += 1
            continue
        target = points_to_claw(row.points, refunded, paid)
        delta = target - row.clawed_points
        if delta <= 0:
            continue
        if frozen:
            # nothing paid yet: the release pays what is left
            Reward.objects.filter(pk=row.pk).update(clawed_points=target, reason="partly_refunded")
            count += 1
            continue
        taken = min(delta, points.standing(row.beneficiary_id).points)
        if taken:
            points.spend(
                row.beneficiary_id,
                taken,
                PointsEntry.Reason.REFUND,
                reference=f"share:{row.pk}:{target}",
            )
        notes = [row.detail] if row.detail else []
        if taken < delta:
            notes.append(_("%(n)d points had already been spent.") % {"n": delta - taken})
        Reward.objects.filter(pk=row.pk).update(
            clawed_points=target,
            status=RewardStatus.CLAWED_BACK if target >= row.points else row.status,
            reason="refunded" if target >= row.points else "partly_refunded",
            detail=" ".join(str(n) for n in notes)[:2000],
        )
        count += 1
    return count


def reward_blocked_label(reason: str) -> str:
    return str(BLOCK_LABELS.get(reason, reason))


def visible_rewards() -> Any:
    return Reward.objects.select_related("beneficiary", "invitee", "order")


def blocked_rewards() -> Any:
    return visible_rewards().filter(status=RewardStatus.BLOCKED)


def pending_filter() -> Q:
    return Q(status=RewardStatus.FROZEN)
