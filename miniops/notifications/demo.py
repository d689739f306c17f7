"""Demo push messages: the simulator's templates synced, members' consents, push
settings, a past campaign with a control group and a visible uplift (its extra
orders placed and paid through the real services, then dated inside its window),
a triggered campaign running for the demo's worker, a scheduled weekly one and a
draft."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from miniops.core.ledger import LedgerState
from miniops.notifications.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Consent,
    Delivery,
    Group,
    MessageTemplate,
    PushSettings,
    SubscriptionReport,
)

STEPS = 4
AUDIENCE = 600
TREATED_RATE, CONTROL_RATE = 0.20, 0.05


def clear() -> None:
    for model in (Delivery, Campaign, Consent, SubscriptionReport, PushSettings, MessageTemplate):
        model.objects.all().delete()


def seed(*, progress: Callable[[int], object]) -> None:
    from miniops.members.models import Member
    from miniops.notifications.services import campaigns, consent

    if MessageTemplate.objects.exists():
        progress(STEPS)
        return
    members = list(Member.objects.filter(openid__startswith="oDEMO").order_by("pk")[:2000])
    if not members:
        progress(STEPS)
        return
    rng = random.Random(1412)
    consent.sync_templates(actor=None)
    templates = {t.wx_template_id: t for t in MessageTemplate.objects.all()}
    consent.update_settings(
        actor=None,
        order_shipped=templates["SIM-order-shipped"],
        refund_done=templates["SIM-refund-done"],
        coupon_expiring=templates["SIM-coupon-expiring"],
        flash_reminder=templates["SIM-flash-reminder"],
        service_reply=templates["SIM-service-reply"],
    )
    shares = {
        "SIM-coupon-received": 0.7,
        "SIM-cart-reminder": 0.4,
        "SIM-coupon-expiring": 0.35,
        "SIM-order-shipped": 0.6,
        "SIM-flash-reminder": 0.25,
    }
    rows = []
    for wx_id, share in shares.items():
        for member in members:
            if rng.random() < share:
                rows.append(
                    Consent(
                        member=member,
                        template=templates[wx_id],
                        remaining=rng.choice([1, 1, 1, 2, 3]),
                        last_choice="accept",
                        accepted_total=1,
                    )
                )
    Consent.objects.bulk_create(rows, batch_size=1000)
    progress(1)
    _past_campaign(templates["SIM-coupon-received"], members, rng)
    progress(2)
    now = timezone.now()
    Campaign.objects.create(
        name="加购未下单提醒",
        kind=CampaignKind.TRIGGERED,
        trigger="abandoned_cart",
        trigger_value=60,
        template=templates["SIM-cart-reminder"],
        data={"thing1": "{nickname}的购物车", "thing2": "宝贝还在等你，库存有限"},
        page="pages/cart/index",
        holdout_pct=10,
        status=CampaignStatus.RUNNING,
        started_at=now,
    )
    Campaign.objects.create(
        name="优惠券到期提醒",
        kind=CampaignKind.TRIGGERED,
        trigger="coupon_expiring",
        trigger_value=2,
        template=templates["SIM-coupon-expiring"],
        data={"thing1": "{coupon_name}", "date2": "{coupon_expires}", "thing3": "别让优惠溜走"},
        page="pages/coupon/list",
        holdout_pct=10,
        status=CampaignStatus.RUNNING,
        started_at=now,
    )
    weekly = Campaign.objects.create(
        name="周六上新提醒",
        kind=CampaignKind.RECURRING,
        cron="0 10 * * 6",
        audience=_audience(),
        template=templates["SIM-flash-reminder"],
        data={"thing1": "周末上新", "date2": "{date}", "phrase3": "即将开始"},
        page="pages/index/index",
        holdout_pct=10,
        status=CampaignStatus.SCHEDULED,
        started_at=now,
    )
    weekly.next_run_at = campaigns.next_run(weekly.cron, now)
    weekly.save(update_fields=["next_run_at"])
    Campaign.objects.create(
        name="双十二预热（草稿）",
        kind=CampaignKind.ONE_OFF,
        audience=_audience(),
        template=templates["SIM-coupon-received"],
        data={
            "thing1": "双十二满200减30",
            "amount2": "¥30",
            "date3": "2026年12月12日",
            "thing4": "{nickname}，专属券已备好",
        },
        page="pages/coupon/list",
        holdout_pct=10,
    )
    progress(3)
    progress(4)


def _audience() -> str:
    from miniops.members.models import MemberTag

    tag = MemberTag.objects.order_by("pk").first()
    return f"tag:{tag.name}" if tag else ""


def _past_campaign(template: MessageTemplate, members: list[Any], rng: random.Random) -> None:
    """Sent 20 days ago to members who had consent; its treatment group bought more
    than the control group (orders placed through the services, then dated)."""
    from miniops.notifications.services import campaigns

    sent_at = timezone.now() - timedelta(days=20)
    reachable = set(
        Consent.objects.filter(template=template, remaining__gt=0).values_list(
            "member_id", flat=True
        )
    )
    chosen = [m for m in members if m.pk in reachable and m.addresses.exists()][:AUDIENCE]
    campaign = Campaign.objects.create(
        name="双十一老客回访",
        kind=CampaignKind.ONE_OFF,
        audience=_audience(),
        template=template,
        data={
            "thing1": "老客回访满100减10",
            "amount2": "¥10",
            "date3": "2026年11月30日",
            "thing4": "{nickname}，好久不见",
        },
        page="pages/coupon/list",
        holdout_pct=20,
        status=CampaignStatus.COMPLETED,
        started_at=sent_at,
        last_run_at=sent_at,
    )
    campaigns.plan(campaign, [m.pk for m in chosen], due_at=sent_at)
    Delivery.objects.filter(campaign=campaign).update(created_at=sent_at, finished_at=sent_at)
    Delivery.objects.filter(campaign=campaign, group=Group.TREATMENT).update(
        state=LedgerState.DONE, reason="sent", sent_at=sent_at, attempts=1
    )
    groups = dict(Delivery.objects.filter(campaign=campaign).values_list("member_id", "group"))
    skus = _skus(3000, 8)
    if not skus:
        return
    for member in chosen:
        rate = TREATED_RATE if groups.get(member.pk) == Group.TREATMENT else CONTROL_RATE
        if rng.random() >= rate:
            continue
        with transaction.atomic():
            order = _place(member, rng.choice(skus).pk)
        _backdate(order.pk, sent_at + timedelta(days=rng.uniform(0.2, 6)))


def _place(member: Any, sku_id: int) -> Any:
    from miniops.orders.services import place_order, simulate_payment

    address = member.addresses.filter(is_default=True).first() or member.addresses.first()
    order = place_order(
        member=member,
        items=[{"sku_id": sku_id, "quantity": 1}],
        from_cart=False,
        address_id=address.pk,
        context={"source": "push"},
    )
    simulate_payment(order=order)
    return order


def _backdate(order_id: int, moment: Any) -> None:
    """Date a campaign order inside the campaign's window (paid a few minutes later)."""
    from miniops.orders.models import Order, Payment

    Order.objects.filter(pk=order_id).update(
        created_at=moment, expires_at=moment + timedelta(minutes=30)
    )
    Order.objects.filter(pk=order_id, paid_at__isnull=False).update(
        paid_at=moment + timedelta(minutes=3)
    )
    Payment.objects.filter(order_id=order_id, paid_at__isnull=False).update(
        paid_at=moment + timedelta(minutes=3)
    )


def _skus(minimum: int, count: int) -> list[Any]:
    from miniops.catalog.models import Sku

    return list(
        Sku.objects.filter(
            is_active=True, product__status="on_sale", price__gte=minimum, stock__gte=50
        ).order_by("-product__sales_count")[:count]
    )
