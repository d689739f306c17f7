"""Coupons: templates, claiming (every limit held under concurrency), issuing in
bulk and automatically, and what happens to a coupon with its order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import audiences, audit, events
from miniops.core.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound
from miniops.core.permissions import P, require_if_operator
from miniops.marketing.models import Coupon, CouponStatus, CouponTemplate

MAX_BULK = 50_000


def validate_template(template: CouponTemplate) -> None:
    """The rules a template must follow, whoever saves it (console or API)."""
    kind, errors = template.kind, {}
    if kind in (CouponTemplate.Kind.FIXED, CouponTemplate.Kind.THRESHOLD) and template.value < 1:
        errors["value"] = _("The amount off, at least ¥0.01.")
    if kind == CouponTemplate.Kind.PERCENT and not 1 <= template.value <= 99:
        errors["value"] = _("Percent off between 1 and 99.")
    if kind == CouponTemplate.Kind.THRESHOLD and template.min_spend <= template.value:
        errors["min_spend"] = _("A threshold coupon needs a minimum spend above its amount.")
    if template.valid_until and template.valid_from and template.valid_until <= template.valid_from:
        errors["valid_until"] = _("The end is before the start.")
    if not template.valid_until and not template.valid_days:
        errors["valid_days"] = _("Give an end date or a number of days after receiving.")
    if template.valid_days is not None and not 1 <= template.valid_days <= 3650:
        errors["valid_days"] = _("Between 1 and 3650 days.")
    if template.total_quantity < 1 or template.total_quantity > 10_000_000:
        errors["total_quantity"] = _("Between 1 and 10,000,000.")
    if template.auto_rule == CouponTemplate.AutoRule.LEVEL_UP and template.auto_level is None:
        errors["auto_level"] = _("Choose the level.")
    if template.level_only and template.auto_level is None:
        errors["auto_level"] = _("Choose the level.")
    if errors:
        raise InvalidInput(fields=errors)


def stop(*, template: CouponTemplate, actor: Any) -> None:
    """No more claims or issues; coupons already held stay valid until their end."""
    require_if_operator(actor, P.MARKETING_MANAGE)
    CouponTemplate.objects.filter(pk=template.pk).update(is_active=False)
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=template,
        changes={"is_active": [template.is_active, False]},
    )


def _validity(template: CouponTemplate, now: Any) -> tuple[Any, Any]:
    start = max(now, template.valid_from) if template.valid_from else now
    if template.valid_days:
        end = now + timedelta(days=template.valid_days)
        if template.valid_until:
            end = min(end, template.valid_until)
        return start, end
    return start, template.valid_until


def _give(template: CouponTemplate, member_id: int, *, source: str) -> Coupon:
    """One coupon to one member, within the template's total and the member's limit:
    the total by a conditional UPDATE, the limit by the unique (template, member,
    seq). Raises Conflict when either is reached."""
    now = timezone.now()
    with transaction.atomic():
        taken = CouponTemplate.objects.filter(
            pk=template.pk, issued_count__lt=F("total_quantity")
        ).update(issued_count=F("issued_count") + 1)
        if not taken:
            raise Conflict(_("All of these coupons are gone."), code="coupons_gone")
        template.refresh_from_db(fields=["issued_count"])  # what is left after this one
        held = (
            Coupon.objects.filter(template=template, member_id=member_id).aggregate(n=Max("seq"))[
                "n"
            ]
            or 0
        )
        if held >= template.per_member_limit:
            raise Conflict(_("You already have this coupon."), code="coupon_limit_reached")
        start, end = _validity(template, now)
        try:
            with transaction.atomic():
                coupon = Coupon.objects.create(
                    template=template,
                    member_id=member_id,
                    seq=held + 1,
                    source=source,
                    valid_from=start,
                    valid_until=end,
                    received_at=now,
                )
        except IntegrityError:  # a concurrent claim took this seq
            raise Conflict(_("Try again."), code="coupon_busy") from None
    events.track(
        "coupon_received",
        member_id=member_id,
        properties={"template_id": template.pk, "coupon_id": coupon.pk, "source": source},
    )
    return coupon


def claim(*, template_id: int, member: Any) -> Coupon:
    """A member claims a public coupon."""
    template = CouponTemplate.objects.filter(pk=template_id).first()
    if template is None or template.issue != CouponTemplate.Issue.PUBLIC:
        raise NotFound(_("No such coupon."))
    if template.status != "running":
        raise IllegalTransition(
            _("This coupon cannot be claimed now."), code="coupon_not_claimable"
        )
    if template.level_only and template.auto_level is not None:
        from miniops.marketing.pricing import standing_of

        standing = standing_of(member.pk)
        rank = standing.level.rank if standing and standing.level else None
        if rank is None or rank < template.auto_level.rank:
            raise Forbidden(_("This coupon is for a higher membership level."), code="coupon_level")
    for _attempt in range(3):
        try:
            return _give(template, member.pk, source="claim")
        except Conflict as exc:
            if exc.code != "coupon_busy":
                raise
    raise Conflict(_("Try again."), code="coupon_busy")


def issue(
    *,
    template: CouponTemplate,
    member_ids: list[int],
    actor: Any,
    tag: str = "",
    audience: str = "",
    source: str = "issue",
) -> dict[str, Any]:
    """Give one coupon each to the members in ``member_ids`` and, with ``audience``
    (``"tag:vip"``, ``"segment:12"``; ``tag`` is short for ``"tag:<tag>"``), to every
    member in it (ids of no member are left out; an unknown audience is refused with
    ``UnknownAudience``). Members at their limit are skipped; when the template runs
    out, issuing stops and the answer names who got nothing (``missed``)."""
    from miniops.members.models import Member

    require_if_operator(actor, P.MARKETING_MANAGE)
    if tag and not audience:
        audience = f"tag:{tag}"
    wanted = set(member_ids)
    if audience:
        wanted |= set(audiences.member_ids(audience))
    member_ids = list(
        Member.objects.filter(pk__in=wanted).order_by("pk").values_list("pk", flat=True)
    )
    if len(member_ids) > MAX_BULK:
        raise InvalidInput(fields={"members": _("At most %d members at once.") % MAX_BULK})
    given = 0
    skipped: list[int] = []
    missed: list[int] = []
    for index, member_id in enumerate(member_ids):
        try:
            _give(template, member_id, source=source)
            given += 1
        except Conflict as exc:
            if exc.code == "coupons_gone":
                missed = member_ids[index:]
                break
            skipped.append(member_id)
    if actor is not None:
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            instance=template,
            changes={"issued": [None, given]},
            additional={
                "members": len(member_ids),
                "skipped": len(skipped),
                **({"audience": audience} if audience else {}),
                **({"missed": len(missed)} if missed else {}),
            },
        )
    return {
        "issued": given,
        "skipped": len(skipped),
        "left": len(missed),
        "skipped_ids": skipped,
        "missed_ids": missed,
    }


def remaining(template: CouponTemplate) -> int:
    """How many coupons of ``template`` can still be given."""
    template.refresh_from_db(fields=["issued_count", "total_quantity"])
    return max(0, template.total_quantity - template.issued_count)


def auto_issue(rule: str, member_id: int, *, level_id: int | None = None) -> list[Coupon]:
    """The coupons an automatic rule gives (registration, birthday, first order,
    level up); a template that is gone or at the member's limit is skipped."""
    templates = CouponTemplate.objects.filter(auto_rule=rule, is_active=True)
    if level_id is not None:
        templates = templates.filter(auto_level_id=level_id)
    given = []
    for template in templates:
        if template.status != "running":
            continue
        try:
            given.append(_give(template, member_id, source=f"auto:{rule}"))
        except Conflict:
            continue
    return given


def expire_coupons() -> int:
    """Unused coupons past their end become expired (periodic)."""
    return Coupon.objects.filter(
        status=CouponStatus.UNUSED, valid_until__lte=timezone.now()
    ).update(status=CouponStatus.EXPIRED)


# --- with the order (called by the order hooks, inside the order's transaction) ---------
def lock_for_order(coupon_id: int, order: Any, discount: int) -> None:
    locked = Coupon.objects.filter(
        pk=coupon_id, member_id=order.member_id, status=CouponStatus.UNUSED
    ).update(status=CouponStatus.LOCKED, order=order, discount=discount)
    if not locked:
        raise Conflict(_("This coupon was just used."), code="coupon_not_unused")


def mark_used(order: Any) -> None:
    Coupon.objects.filter(order=order, status=CouponStatus.LOCKED).update(
        status=CouponStatus.USED, used_at=timezone.now()
    )


def release_for_order(order: Any) -> None:
    """The order was cancelled before payment: its coupons are usable again (or
    expired, if their time ran out meanwhile)."""
    now = timezone.now()
    Coupon.objects.filter(order=order, status=CouponStatus.LOCKED).filter(
        valid_until__lte=now
    ).update(status=CouponStatus.EXPIRED, order=None, discount=0)
    Coupon.objects.filter(order=order, status=CouponStatus.LOCKED).update(
        status=CouponStatus.UNUSED, order=None, discount=0
    )


def after_full_refund(order: Any) -> None:
    """A fully refunded order: its coupons come back or are voided, by template."""
    now = timezone.now()
    for coupon in Coupon.objects.select_related("template").filter(
        order=order, status=CouponStatus.USED
    ):
        if coupon.template.restore_on_refund and (
            coupon.valid_until is None or coupon.valid_until > now
        ):
            Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.USED).update(
                status=CouponStatus.UNUSED, order=None, discount=0, used_at=None
            )
        else:
            Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.USED).update(
                status=CouponStatus.VOIDED
            )


def birthday_coupons() -> int:
    """Members whose birthday is today get the birthday coupons (once a year: the
    per-member limit counts every year, so templates should allow enough)."""
    from miniops.core.timeutils import local_date
    from miniops.members.models import Member, MemberStatus

    today = local_date()
    if not CouponTemplate.objects.filter(
        auto_rule=CouponTemplate.AutoRule.BIRTHDAY, is_active=True
    ).exists():
        return 0
    given = 0
    for member_id in Member.objects.filter(
        birthday__month=today.month, birthday__day=today.day, status=MemberStatus.ACTIVE
    ).values_list("pk", flat=True):
        given += len(auto_issue(CouponTemplate.AutoRule.BIRTHDAY, member_id))
    return given
