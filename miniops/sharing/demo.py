"""Demo data for sharing: the demo's referred members become attributions of
share links (a page code and a product code per sharer), with the shares and
visits before them, their orders of the first week attributed, registration
rewards paid or still frozen, and a few blocked ones (a device farm).

Written in bulk from the tables the earlier apps seeded (the points ledger is not
touched: demo rewards carry ``detail="demo"``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from miniops.catalog.models import Product
from miniops.core.ledger import LedgerState
from miniops.members.models import Member
from miniops.orders.models import Order
from miniops.sharing.models import (
    Attribution,
    OrderAttribution,
    Reward,
    RewardStatus,
    ShareAct,
    ShareLink,
    ShareVisit,
)
from miniops.sharing.services import attribution
from miniops.sharing.services.links import code_for, device_hash

STEPS = 4
MAX_SHARERS = 400


def clear() -> None:
    for model in (Reward, OrderAttribution, Attribution, ShareVisit, ShareAct, ShareLink):
        model.objects.all().delete()


@transaction.atomic
def seed(*, progress: Callable[[int], object]) -> None:
    if ShareLink.objects.exists():
        progress(STEPS)
        return
    rng = random.Random(15)
    now = timezone.now()
    rule = attribution.rules()
    referred = list(
        Member.objects.filter(referrer__isnull=False).select_related("referrer").order_by("pk")
    )
    sharer_ids = sorted({m.referrer_id for m in referred if m.referrer_id})[:MAX_SHARERS]
    chosen = set(sharer_ids)
    referred = [m for m in referred if m.referrer_id in chosen]
    products = list(Product.objects.filter(status="on_sale").values_list("pk", flat=True)[:200])
    # links: a page code and a product code per sharer
    sharers: dict[int, Any] = {m.referrer_id: m.referrer for m in referred if m.referrer_id}
    links = []
    for sharer_id in sharer_ids:
        start = sharers[sharer_id].registered_at
        links.append(
            ShareLink(
                code=f"tmp{sharer_id}p",
                sharer_id=sharer_id,
                target_type="page",
                page="pages/index/index",
                created_at=start,
                device_hash=device_hash(f"demo-sharer-{sharer_id}"),
            )
        )
        if products:
            links.append(
                ShareLink(
                    code=f"tmp{sharer_id}g",
                    sharer_id=sharer_id,
                    target_type="product",
                    target_id=rng.choice(products),
                    created_at=start + timedelta(hours=rng.randint(1, 72)),
                )
            )
    ShareLink.objects.bulk_create(links, batch_size=1000)
    created = list(ShareLink.objects.order_by("pk"))
    for link in created:
        link.code = code_for(link.pk)
    ShareLink.objects.bulk_update(created, ["code"], batch_size=1000)
    by_sharer: dict[int, list[ShareLink]] = {}
    for link in created:
        by_sharer.setdefault(link.sharer_id, []).append(link)
    progress(1)

    acts, visits, attributions = [], [], []
    for member in referred:
        sharer_id = int(member.referrer_id or 0)
        link = rng.choice(by_sharer[sharer_id])
        shared_at = max(link.created_at, member.registered_at - timedelta(hours=rng.randint(1, 96)))
        acts.append(
            ShareAct(link=link, channel=rng.choice(["card", "card", "poster", "qr"]), at=shared_at)
        )
        visit_at = shared_at + (member.registered_at - shared_at) / 2
        visits.append(
            ShareVisit(link=link, anonymous_id=f"demo-{member.pk}", at=visit_at, scene=1007)
        )
        attributions.append(
            Attribution(
                invitee_id=member.pk,
                sharer_id=sharer_id,
                link=link,
                model=rule.model,
                device_hash=device_hash(f"demo-{member.pk}"),
                bound_at=member.registered_at,
            )
        )
    # shares that brought nobody (most shares do not)
    for link in created:
        for _ in range(rng.randint(0, 4)):
            acts.append(
                ShareAct(link=link, at=link.created_at + timedelta(hours=rng.randint(0, 24 * 20)))
            )
    ShareAct.objects.bulk_create([a for a in acts if a.at <= now], batch_size=2000)
    ShareVisit.objects.bulk_create(visits, batch_size=2000)
    Attribution.objects.bulk_create(attributions, batch_size=2000)
    progress(1)

    # orders in the invitee's first week count for the sharer
    first_link = {a.invitee_id: a for a in attributions}
    order_rows = []
    for order in Order.objects.filter(member_id__in=list(first_link)).only(
        "pk", "member_id", "created_at", "paid_at"
    ):
        found = first_link[order.member_id]
        if order.paid_at and order.created_at - found.bound_at <= timedelta(days=rule.window_days):
            order_rows.append(
                OrderAttribution(
                    order_id=order.pk,
                    sharer_id=found.sharer_id,
                    link=found.link,
                    model=rule.model,
                    window_days=rule.window_days,
                    touched_at=found.bound_at,
                    source="registration",
                    created_at=order.created_at,
                )
            )
    OrderAttribution.objects.bulk_create(order_rows, batch_size=2000)
    progress(1)

    rewards = []
    for found in attributions:
        due = found.bound_at + timedelta(days=rule.freeze_days)
        paid = due <= now
        rewards.append(
            Reward(
                key=f"registration:{found.invitee_id}:1",
                beneficiary_id=found.sharer_id,
                invitee_id=found.invitee_id,
                link=found.link,
                trigger="registration",
                kind="points",
                points=rule.registration_points,
                state=LedgerState.DONE if paid else LedgerState.QUEUED,
                status=RewardStatus.AVAILABLE if paid else RewardStatus.FROZEN,
                reason="granted" if paid else "",
                detail="demo",
                due_at=due,
                finished_at=due if paid else None,
            )
        )
    # a device farm on one sharer: blocked, with the reason
    if sharer_ids:
        cheat = sharer_ids[0]
        farm = (
            Member.objects.filter(referrer__isnull=True)
            .exclude(pk__in=sharer_ids)
            .order_by("-pk")[:6]
        )
        for member in farm:
            rewards.append(
                Reward(
                    key=f"registration:{member.pk}:1",
                    beneficiary_id=cheat,
                    invitee_id=member.pk,
                    trigger="registration",
                    kind="points",
                    points=rule.registration_points,
                    state=LedgerState.SKIPPED,
                    status=RewardStatus.BLOCKED,
                    reason="velocity_device",
                    detail="demo",
                    finished_at=now,
                )
            )
    Reward.objects.bulk_create(rewards, batch_size=2000)
    progress(1)
