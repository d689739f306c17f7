"""Campaigns: validation, start / pause / resume / cancel, planning an audience
into delivery rows (with the holdout recorded), the dry run, triggers, the tick."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from croniter.croniter import CroniterBadDateError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.core import audiences, audit, ledger
from miniops.core.audit import acting_as
from miniops.core.errors import IllegalTransition, InvalidInput
from miniops.core.ledger import LedgerState
from miniops.core.permissions import P, require_if_operator
from miniops.core.timeutils import business_tz
from miniops.notifications import rules
from miniops.notifications.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    Group,
    MessageTemplate,
    Purpose,
    QuietPolicy,
    Trigger,
)
from miniops.notifications.selectors import push_settings, reachable_member_ids
from miniops.notifications.services.planning import plan, split
from miniops.notifications.services.sending import page_for, render

MAX_VARIANTS = 5
SAMPLE_CONTEXT = {
    "nickname": "会员",
    "coupon_name": "满100减10",
    "coupon_value": "¥10.00",
    "coupon_expires": "2026年12月31日 23:59",
    "order_number": "MO2026120100001",
    "product": "无线耳机",
    "carrier": "顺丰速运",
    "amount": "¥99.00",
    "date": "2026年12月01日 10:00",
    "segment": "新客",
    "campaign": "活动",
}
TRIGGER_NEEDS_AUDIENCE = {Trigger.SEGMENT_ENTERED}


def _err(field: str, message: Any) -> InvalidInput:
    return InvalidInput(fields={field: str(message)})


def next_run(cron: str, after: datetime) -> datetime:
    """The next time ``cron`` fires after ``after`` (business time zone); refuses
    expressions that are invalid or never fire within five years."""
    if not cron or len(cron) > 64 or not croniter.is_valid(cron):
        raise _err("cron", gettext("Not a cron expression (minute hour day month weekday)."))
    try:
        nxt = croniter(cron, after.astimezone(business_tz()), max_years_between_matches=5).get_next(
            datetime
        )
    except (CroniterBadDateError, ValueError, KeyError):
        raise _err("cron", gettext("This expression never fires.")) from None
    return nxt


def validate(campaign: Campaign) -> None:
    """Everything a campaign needs before it can start (and what a form checks)."""
    kind = campaign.kind
    needs_audience = kind in (CampaignKind.ONE_OFF, CampaignKind.RECURRING) or (
        campaign.trigger in TRIGGER_NEEDS_AUDIENCE
    )
    if needs_audience and not campaign.audience:
        raise _err("audience", gettext("Choose who receives it."))
    if campaign.audience:
        audiences.describe(campaign.audience)
    if kind == CampaignKind.RECURRING:
        next_run(campaign.cron, timezone.now())
    if kind == CampaignKind.TRIGGERED and not campaign.trigger:
        raise _err("trigger", gettext("Choose what triggers it."))
    if kind != CampaignKind.TRIGGERED and kind != CampaignKind.TRANSACTIONAL and campaign.trigger:
        raise _err("trigger", gettext("Only triggered campaigns have a trigger."))
    if campaign.trigger == Trigger.ABANDONED_CART and not 5 <= campaign.trigger_value <= 10_080:
        raise _err("trigger_value", gettext("Between 5 minutes and 7 days (10080)."))
    if campaign.trigger == Trigger.COUPON_EXPIRING and not 1 <= campaign.trigger_value <= 30:
        raise _err("trigger_value", gettext("Between 1 and 30 days."))
    if campaign.trigger == Trigger.FLASH_REMINDER:
        if not 1 <= campaign.trigger_value <= 1440:
            raise _err("trigger_value", gettext("Between 1 minute and 1 day (1440) before."))
        if campaign.quiet_policy != QuietPolicy.DROP:
            raise _err(
                "quiet_policy",
                gettext("A reminder held until the morning comes after the start: choose drop."),
            )
    if campaign.trigger == Trigger.NEW_PRODUCT and not 0 <= campaign.trigger_value <= 3650:
        raise _err("trigger_value", gettext("Between 0 (ever) and 3650 days."))
    if campaign.template_id is None and campaign.coupon_id is None:
        raise _err("template", gettext("Send a message, give a coupon, or both."))
    if not 0 <= campaign.holdout_pct <= 50:
        raise _err("holdout_pct", gettext("A control group of 0 to 50 %."))
    page = campaign.page or ""
    if page.startswith("/") or " " in page or "cid=" in page:
        raise _err("page", gettext("A page path like pages/coupon/list (cid is added)."))
    if not isinstance(campaign.data, dict):
        raise _err("data", gettext("Keyword → text."))
    variants = campaign.variants or []
    if not isinstance(variants, list) or len(variants) > MAX_VARIANTS:
        raise _err("variants", gettext("At most 5 variants."))
    for variant in variants:
        if (
            not isinstance(variant, dict)
            or not str(variant.get("name", "")).strip()
            or len(str(variant.get("name"))) > 16
            or not isinstance(variant.get("data", {}), dict)
        ):
            raise _err(
                "variants", gettext('Each variant: {"name": "B", "weight": 1, "data": {…}}.')
            )
        weight = variant.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 100:
            raise _err("variants", gettext("Variant weights are numbers above 0."))
    template = campaign.template
    if template is not None:
        if not template.is_active:
            raise _err("template", gettext("This template is no longer on the WeChat account."))
        for field, data in [("data", campaign.data)] + [
            ("variants", {**campaign.data, **(v.get("data") or {})}) for v in variants
        ]:
            try:
                render(template, data, SAMPLE_CONTEXT)
            except rules.FieldRefused as exc:
                raise _err(field, f"{exc.field}: {exc.why}") from None
            except ValueError as exc:
                raise _err(field, str(exc)) from None


def default_data(template: MessageTemplate, purpose: str = "") -> dict[str, str]:
    """A first guess at each keyword's text from its rule (the operator edits it)."""
    guess = {
        "character_string": "{order_number}",
        "amount": "{amount}" if purpose != "coupon" else "{coupon_value}",
        "date": "{date}",
        "time": "{date}",
        "thing": "{product}",
        "phrase": "已发货" if purpose == Purpose.ORDER_SHIPPED else "进行中",
        "name": "{nickname}",
        "number": "1",
    }
    return {k["key"]: guess.get(k["rule"], "") for k in template.keywords}


# --- the audience and the holdout ---------------------------------------------------------
def audience_ids(campaign: Campaign) -> list[int]:
    """Members of the audience who can be reached: minus those without consent for
    the template (when the campaign sends a message)."""
    ids = audiences.member_ids(campaign.audience)
    if campaign.template is not None:
        allowed = set(reachable_member_ids(campaign.template))
        ids = [member_id for member_id in ids if member_id in allowed]
    return ids


# --- operator actions ---------------------------------------------------------------------
TRANSITIONS = {
    "start": ({CampaignStatus.DRAFT}, None),
    "pause": ({CampaignStatus.RUNNING, CampaignStatus.SCHEDULED}, CampaignStatus.PAUSED),
    "resume": ({CampaignStatus.PAUSED}, None),
    "cancel": (
        {
            CampaignStatus.DRAFT,
            CampaignStatus.SCHEDULED,
            CampaignStatus.RUNNING,
            CampaignStatus.PAUSED,
        },
        CampaignStatus.CANCELLED,
    ),
}


def _check(campaign: Campaign, action: str) -> None:
    allowed, _target = TRANSITIONS[action]
    if campaign.status not in allowed:
        raise IllegalTransition(
            _("Not possible for a campaign that is %(status)s.")
            % {"status": campaign.get_status_display()},
            code="campaign_state",
        )


def _audit(
    actor: Any, campaign: Campaign, before: str, extra: dict[str, Any] | None = None
) -> None:
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=campaign,
        changes={"status": [before, campaign.status]},
        additional=extra,
    )


def _require_size(actor: Any, size: int) -> None:
    if size > push_settings().approval_threshold:
        require_if_operator(actor, P.NOTIFICATIONS_SEND_CAMPAIGN)


def start(*, campaign: Campaign, actor: Any) -> dict[str, int]:
    """Draft → running (sending now), or scheduled (a time ahead, a cron). Sending
    to more members than the settings' threshold needs ``send_campaign``."""
    require_if_operator(actor, P.NOTIFICATIONS_MANAGE)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        _check(campaign, "start")
        validate(campaign)
        size = audiences.count(campaign.audience) if campaign.audience else 0
        _require_size(actor, size)
        before, now = campaign.status, timezone.now()
        result = {"planned": 0, "treatment": 0, "control": 0}
        campaign.started_at = now
        if campaign.kind == CampaignKind.RECURRING:
            campaign.status = CampaignStatus.SCHEDULED
            campaign.next_run_at = next_run(campaign.cron, now)
        elif campaign.kind == CampaignKind.ONE_OFF and campaign.send_at and campaign.send_at > now:
            campaign.status = CampaignStatus.SCHEDULED
            campaign.next_run_at = campaign.send_at
        else:
            campaign.status = CampaignStatus.RUNNING
            if campaign.kind == CampaignKind.ONE_OFF:
                result = plan(campaign, audience_ids(campaign))
                campaign.last_run_at = now
        with acting_as(actor):
            campaign.save()
        _audit(actor, campaign, before, {"audience": size, **result})
    return result


def pause(*, campaign: Campaign, actor: Any) -> None:
    _move(campaign, "pause", actor, CampaignStatus.PAUSED)


def resume(*, campaign: Campaign, actor: Any) -> None:
    require_if_operator(actor, P.NOTIFICATIONS_MANAGE)
    waiting = campaign.kind == CampaignKind.ONE_OFF and campaign.last_run_at is None
    target = (
        CampaignStatus.SCHEDULED if waiting and campaign.next_run_at else CampaignStatus.RUNNING
    )
    _move(campaign, "resume", actor, target)


def cancel(*, campaign: Campaign, actor: Any) -> int:
    """No more sends: queued rows cancelled (rows being sent finish)."""
    _move(campaign, "cancel", actor, CampaignStatus.CANCELLED)
    return ledger.cancel(Delivery.objects.filter(campaign=campaign), reason="campaign_cancelled")


def _move(campaign: Campaign, action: str, actor: Any, target: str) -> None:
    require_if_operator(actor, P.NOTIFICATIONS_MANAGE)
    with transaction.atomic():
        row = Campaign.objects.select_for_update().get(pk=campaign.pk)
        _check(row, action)
        before = row.status
        row.status = target
        with acting_as(actor):
            row.save(update_fields=["status", "updated_at"])
        _audit(actor, row, before)
    campaign.status = target


def dry_run(*, campaign: Campaign, sample: int = 20) -> dict[str, Any]:
    """Who would receive what, writing nothing: the audience, who is left out and
    why, the control group, and the first messages rendered."""
    validate(campaign)
    everyone = audiences.member_ids(campaign.audience) if campaign.audience else []
    reachable = audience_ids(campaign) if campaign.audience else []
    groups: Counter[str] = Counter()
    variants: Counter[str] = Counter()
    for member_id in reachable:
        group, variant = split(campaign, member_id)
        groups[group] += 1
        if group == Group.TREATMENT and variant:
            variants[variant] += 1
    from miniops.members.models import Member
    from miniops.notifications.services.sending import context_for, data_for

    messages = []
    treated = [m for m in reachable if split(campaign, m)[0] == Group.TREATMENT][:sample]
    for member in Member.objects.filter(pk__in=treated).only("id", "nickname", "openid"):
        probe = Delivery(
            campaign=campaign, member_id=member.pk, variant=split(campaign, member.pk)[1]
        )
        entry: dict[str, Any] = {"member_id": member.pk, "variant": probe.variant}
        if campaign.template is not None:
            context = {**SAMPLE_CONTEXT, **context_for(probe, campaign, member)}
            try:
                entry["data"] = render(campaign.template, data_for(probe, campaign), context)
            except rules.FieldRefused as exc:
                entry["error"] = f"{exc.field}: {exc.why}"
        messages.append(entry)
    return {
        "audience": len(everyone),
        "no_consent": len(everyone) - len(reachable),
        "treatment": groups[Group.TREATMENT],
        "control": groups[Group.CONTROL],
        "variants": dict(variants),
        "page": page_for(campaign),
        "needs_send_permission": len(everyone) > push_settings().approval_threshold,
        "messages": messages,
    }


# --- triggers -----------------------------------------------------------------------------
def _running_triggered(trigger: str) -> Any:
    return Campaign.objects.filter(
        kind=CampaignKind.TRIGGERED, trigger=trigger, status=CampaignStatus.RUNNING
    ).select_related("template")


def _eligible(campaign: Campaign, member_ids: list[int]) -> list[int]:
    if campaign.audience:
        inside = set(audiences.member_ids(campaign.audience))
        member_ids = [m for m in member_ids if m in inside]
    return member_ids


def scan_abandoned_carts(now: datetime | None = None) -> int:
    """Members whose cart changed N minutes ago (within the last day) and who have
    ordered nothing since: one message per cart state."""
    from miniops.orders.models import CartItem, Order

    now = now or timezone.now()
    total = 0
    for campaign in _running_triggered(Trigger.ABANDONED_CART):
        quiet_for = timedelta(minutes=max(5, campaign.trigger_value))
        carts = (
            CartItem.objects.values("member_id")
            .annotate(last=Max("updated_at"))
            .filter(last__lte=now - quiet_for, last__gte=now - quiet_for - timedelta(days=1))
        )
        by_member = {row["member_id"]: row["last"] for row in carts}
        ordered = set(
            Order.objects.filter(
                member_id__in=list(by_member), created_at__gte=min(by_member.values(), default=now)
            ).values_list("member_id", "created_at")
        )
        fresh = {m: last for m, last in by_member.items()}
        for member_id, created in ordered:
            if member_id in fresh and created >= fresh[member_id]:
                fresh.pop(member_id)
        for member_id in _eligible(campaign, sorted(fresh)):
            occurrence = f"cart:{fresh[member_id]:%Y%m%d%H%M%S}"
            total += plan(campaign, [member_id], occurrence=occurrence)["planned"]
    return total


def scan_expiring_coupons(now: datetime | None = None) -> int:
    """Unused coupons ending within N days: one reminder per coupon."""
    from miniops.marketing.models import Coupon, CouponStatus

    now = now or timezone.now()
    total = 0
    for campaign in _running_triggered(Trigger.COUPON_EXPIRING):
        days = max(1, campaign.trigger_value)
        coupons = Coupon.objects.filter(
            status=CouponStatus.UNUSED,
            valid_until__gt=now,
            valid_until__lte=now + timedelta(days=days),
        ).select_related("template")[:10_000]
        by_member: dict[int, list[Any]] = {}
        for coupon in coupons:
            by_member.setdefault(coupon.member_id, []).append(coupon)
        for member_id in _eligible(campaign, sorted(by_member)):
            for coupon in by_member[member_id]:
                context = {
                    member_id: {
                        "coupon_name": coupon.template.name[:20],
                        "coupon_expires": coupon.valid_until.astimezone(business_tz()).strftime(
                            "%Y年%m月%d日 %H:%M"
                        ),
                    }
                }
                total += plan(
                    campaign, [member_id], occurrence=f"coupon:{coupon.pk}", context=context
                )["planned"]
    return total


def scan_birthdays(now: datetime | None = None) -> int:
    from miniops.members.models import Member

    now = now or timezone.now()
    today = now.astimezone(business_tz()).date()
    total = 0
    for campaign in _running_triggered(Trigger.BIRTHDAY):
        ids = list(
            Member.objects.filter(birthday__month=today.month, birthday__day=today.day).values_list(
                "pk", flat=True
            )[:50_000]
        )
        total += plan(campaign, _eligible(campaign, ids), occurrence=f"birthday:{today.year}")[
            "planned"
        ]
    return total


def scan_flash_reminders(now: datetime | None = None) -> int:
    """Members who asked to be reminded of a flash sale get the message N minutes
    before it starts, from one campaign that can reach them (never after: a sale
    that has started is not announced; ``watches.scan_flash_reminders``)."""
    from miniops.notifications.services import watches

    return watches.scan_flash_reminders(now)


def scan_back_in_stock(now: datetime | None = None) -> int:
    """Members who asked about a sold-out SKU, once it is on sale with stock again
    (``watches.scan_back_in_stock``)."""
    from miniops.notifications.services import watches

    return watches.scan_back_in_stock(now)


def scan_new_products(now: datetime | None = None) -> int:
    """A product listed since the campaign's last scan: members who bought in its
    category (within N days; 0 = ever), who have not bought it, with consent."""
    from miniops.catalog.models import Product, ProductStatus
    from miniops.orders.models import OrderItem

    now = now or timezone.now()
    total = 0
    for campaign in _running_triggered(Trigger.NEW_PRODUCT):
        since = campaign.last_run_at or campaign.started_at or now
        products = list(
            Product.objects.filter(
                status=ProductStatus.ON_SALE, listed_at__gt=since, listed_at__lte=now
            ).order_by("listed_at")[:200]
        )
        for product in products:
            bought = OrderItem.objects.filter(
                product__category_id=product.category_id, order__paid_at__isnull=False
            )
            if campaign.trigger_value:
                bought = bought.filter(
                    order__paid_at__gte=now - timedelta(days=campaign.trigger_value)
                )
            ids = set(bought.values_list("order__member_id", flat=True).distinct()[:100_000])
            ids -= set(
                OrderItem.objects.filter(product=product).values_list("order__member_id", flat=True)
            )
            if campaign.template is not None:
                ids &= set(reachable_member_ids(campaign.template))
            context = {"product": product.title[:20]}
            chosen = _eligible(campaign, sorted(ids))
            total += plan(
                campaign,
                chosen,
                occurrence=f"new:{product.pk}",
                context=dict.fromkeys(chosen, context),
            )["planned"]
        # the watermark moves only after the rows exist (a crash re-plans: the keys dedupe)
        last = products[-1].listed_at if len(products) == 200 else now
        Campaign.objects.filter(pk=campaign.pk).update(last_run_at=last)
    return total


def on_segment_entered(*, segment_id: int, member_ids: list[int], at: datetime, **_: Any) -> int:
    """The segments app's ``entered`` hook: campaigns for that segment welcome the
    members who just entered it."""
    total = 0
    for campaign in _running_triggered(Trigger.SEGMENT_ENTERED).filter(
        audience=f"segment:{segment_id}"
    ):
        ids = list(member_ids)
        if campaign.template is not None:
            allowed = set(reachable_member_ids(campaign.template))
            ids = [m for m in ids if m in allowed]
        total += plan(campaign, ids, occurrence=f"seg:{at:%Y%m%d%H%M%S}")["planned"]
    return total


def transactional(
    purpose: str, *, member_id: int, occurrence: str, context: dict[str, Any]
) -> None:
    """A notice (order shipped, refund done) on the same delivery path, for the
    template the settings name; nothing when none is set. Runs inside the
    caller's transaction (an order hook), so the notice exists iff the change does."""
    settings_row = push_settings()
    template = getattr(settings_row, purpose, None)
    if template is None or not template.is_active:
        return
    campaign = (
        Campaign.objects.filter(kind=CampaignKind.TRANSACTIONAL, trigger=purpose)
        .order_by("pk")
        .first()
    )
    if campaign is None:
        campaign = Campaign.objects.create(
            name=str(Purpose(purpose).label)[:64],
            kind=CampaignKind.TRANSACTIONAL,
            trigger=purpose,
            template=template,
            data=default_data(template, purpose),
            page="pages/order/detail",
            holdout_pct=0,
            status=CampaignStatus.RUNNING,
        )
    if campaign.status != CampaignStatus.RUNNING:
        return
    plan(campaign, [member_id], occurrence=occurrence, context={member_id: context})


def on_order_status(*, order: Any, from_: str, to: str, **_: Any) -> None:
    if to != "shipped":
        return
    first = order.items.first() if hasattr(order, "items") else None
    transactional(
        Purpose.ORDER_SHIPPED,
        member_id=order.member_id,
        occurrence=f"order:{order.pk}:shipped",
        context={
            "order_number": order.number,
            "product": (first.title if first else order.number)[:20],
            "carrier": (order.get_carrier_display() or "快递")[:20],
            "date": timezone.localtime(order.shipped_at or timezone.now(), business_tz()).strftime(
                "%Y年%m月%d日 %H:%M"
            ),
        },
    )


def on_refunded(*, order: Any, refund: Any, **_: Any) -> None:
    amount = getattr(refund, "amount", 0) or 0
    transactional(
        Purpose.REFUND_DONE,
        member_id=order.member_id,
        occurrence=f"refund:{refund.pk}",
        context={
            "order_number": order.number,
            "amount": f"¥{amount / 100:.2f}",
            "date": timezone.localtime(timezone.now(), business_tz()).strftime(
                "%Y年%m月%d日 %H:%M"
            ),
        },
    )


# --- the tick -------------------------------------------------------------------------------
def tick(now: datetime | None = None) -> dict[str, int]:
    """Every minute: scheduled campaigns that are due start, recurring ones plan
    their run, triggers are scanned, finished one-offs complete."""
    now = now or timezone.now()
    planned = 0
    due = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, next_run_at__lte=now)
    for campaign in due:
        with transaction.atomic():
            row = Campaign.objects.select_for_update().get(pk=campaign.pk)
            if (
                row.status != CampaignStatus.SCHEDULED
                or not row.next_run_at
                or row.next_run_at > now
            ):
                continue
            occurrence = (
                "once" if row.kind == CampaignKind.ONE_OFF else f"run:{row.next_run_at:%Y%m%d%H%M}"
            )
            planned += plan(row, audience_ids(row), occurrence=occurrence)["planned"]
            row.last_run_at = now
            if row.kind == CampaignKind.RECURRING:
                row.next_run_at = next_run(row.cron, now)
                # the rows of this run are sent while the campaign waits for the next
                row.status = CampaignStatus.RUNNING
            else:
                row.status = CampaignStatus.RUNNING
                row.next_run_at = None
            row.save(update_fields=["status", "next_run_at", "last_run_at", "updated_at"])
    planned += scan_abandoned_carts(now) + scan_expiring_coupons(now) + scan_birthdays(now)
    planned += scan_flash_reminders(now) + scan_back_in_stock(now) + scan_new_products(now)
    completed = 0
    for campaign in Campaign.objects.filter(
        status=CampaignStatus.RUNNING, kind__in=[CampaignKind.ONE_OFF, CampaignKind.RECURRING]
    ):
        if Delivery.objects.filter(campaign=campaign).filter(ledger.PENDING).exists():
            continue
        if campaign.kind == CampaignKind.RECURRING:
            Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.RUNNING).update(
                status=CampaignStatus.SCHEDULED
            )
        else:
            completed += Campaign.objects.filter(
                pk=campaign.pk, status=CampaignStatus.RUNNING
            ).update(status=CampaignStatus.COMPLETED)
    return {"planned": planned, "completed": completed}


__all__ = [
    "cancel",
    "dry_run",
    "next_run",
    "pause",
    "plan",
    "resume",
    "start",
    "tick",
    "validate",
]


def save(*, campaign: Campaign, actor: Any) -> Campaign:
    """Create or edit a campaign (only drafts are edited), validated."""
    require_if_operator(actor, P.NOTIFICATIONS_MANAGE)
    if campaign.pk:
        current = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
        if current is not None and current != CampaignStatus.DRAFT:
            raise IllegalTransition(
                _("Only a draft can be edited; cancel it and create a new one."),
                code="campaign_not_draft",
            )
    validate(campaign)
    if campaign.created_by_id is None and getattr(actor, "pk", None):
        campaign.created_by = actor
    with transaction.atomic(), acting_as(actor):
        campaign.save()
    return campaign


def settle_doubt(*, rows: Any, actor: Any, resend: bool) -> int:
    """Deliveries in doubt (a send that may have reached WeChat): the operator who
    checked decides — send again (it did not arrive) or close them as failed."""
    require_if_operator(actor, P.NOTIFICATIONS_MANAGE)
    doubt = Delivery.objects.filter(pk__in=[r.pk for r in rows], state=LedgerState.DOUBT)
    pks = list(doubt.values_list("pk", flat=True))
    now = timezone.now()
    if resend:
        changed = doubt.update(
            state=LedgerState.QUEUED,
            reason="resent_by_operator",
            claim="",
            due_at=now,
            lease_until=None,
            sent_at=None,
        )
    else:
        changed = doubt.update(
            state=LedgerState.FAILED, reason="closed_by_operator", finished_at=now
        )
    audit.record_bulk(
        actor=actor,
        model=Delivery,
        pks=pks,
        changes={
            "state": [LedgerState.DOUBT, LedgerState.QUEUED if resend else LedgerState.FAILED]
        },
        reason="doubt settled",
    )
    return changed
