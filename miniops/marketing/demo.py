"""Demo marketing: levels, points earned from the demo orders, a points shop, and
campaigns — past and running — whose results come from real orders.

Every campaign order is placed, paid and (for failed groups) refunded through the
real services and the payment simulator, then dated inside its campaign's window,
so coupon, flash-sale and group-buy statistics agree with the orders table.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from miniops.core.db import insert_rows
from miniops.marketing.models import (
    Coupon,
    CouponTemplate,
    FlashItem,
    FlashOrder,
    FlashPurchase,
    FlashSession,
    GroupBuy,
    GroupMember,
    GrowthEntry,
    Level,
    LevelChange,
    MemberStanding,
    PointsEntry,
    RedeemItem,
    Redemption,
    TimedDiscount,
)
from miniops.marketing.models import Group as BuyGroup

STEPS = 6
LEVELS = [
    ("普通会员", 1, 0, 0, Decimal("1.0"), False),
    ("银卡会员", 2, 500, 2, Decimal("1.2"), False),
    ("金卡会员", 3, 2000, 5, Decimal("1.5"), False),
    ("钻石会员", 4, 8000, 8, Decimal("2.0"), True),
]


def clear() -> None:
    for model in (
        Redemption,
        RedeemItem,
        GroupMember,
        BuyGroup,
        GroupBuy,
        FlashOrder,
        FlashPurchase,
        FlashItem,
        FlashSession,
        TimedDiscount,
        Coupon,
        CouponTemplate,
        LevelChange,
        GrowthEntry,
        PointsEntry,
        MemberStanding,
        Level,
    ):
        model.objects.all().delete()


def seed(*, progress: Callable[[int], object]) -> None:
    from miniops.members.models import Member

    if Level.objects.exists():
        progress(STEPS)
        return
    members = list(Member.objects.filter(openid__startswith="oDEMO").order_by("pk"))
    if not members:
        progress(STEPS)
        return
    rng = random.Random(6)
    levels = [
        Level.objects.create(
            name=name,
            rank=rank,
            growth_threshold=threshold,
            discount_percent=discount,
            points_multiplier=multiplier,
            free_shipping=free,
        )
        for name, rank, threshold, discount, multiplier, free in LEVELS
    ]
    _standings(members, levels, rng)
    progress(2)
    templates = _coupons()
    _shop(templates)
    progress(1)
    from miniops.members.models import Address

    with_address = set(Address.objects.values_list("member_id", flat=True).distinct())
    buyers = [m for m in members if m.pk in with_address][:400]
    _coupon_orders(buyers, templates, rng)
    _flash_sales(buyers, rng)
    progress(1)
    _group_buys(buyers, rng)
    _discounts()
    from miniops.marketing.services import points

    # The levels were set with the standings; the real evaluation must agree
    # (it changes nothing unless a campaign order above moved someone's growth).
    points.evaluate_levels()
    progress(2)


def _standings(members: list[Any], levels: list[Level], rng: random.Random) -> None:
    """Points and growth from each member's completed demo orders, plus sign-ins
    and some spending, written as ledger rows whose sum is the balance; the level
    each member's growth reaches, with its history (the base level on
    registration, each step up when an order or a sign-in crossed a threshold),
    as ``points.evaluate_levels`` would have recorded it."""
    from miniops.marketing.services.points import level_for
    from miniops.orders.models import Order

    by_threshold = sorted(levels, key=lambda level: (level.growth_threshold, level.rank))
    completed: dict[int, list[tuple[str, int, Any]]] = {}
    for member_id, number, paid, refunded, done in Order.objects.filter(
        status="completed"
    ).values_list("member_id", "number", "paid_amount", "refunded_amount", "completed_at"):
        completed.setdefault(member_id, []).append((number, paid - refunded, done))
    now = timezone.now()
    # plain tuples in the order of POINTS / GROWTH / CHANGES, stored with
    # ``insert_rows`` (~300,000 rows: model instances cost more than the insert)
    entries: list[tuple[Any, ...]] = []
    growth_rows: list[tuple[Any, ...]] = []
    standings: list[MemberStanding] = []
    changes: list[tuple[Any, ...]] = []

    def grow(member_id: int, state: list[Any], delta: int, reason: str, ref: str, at: Any) -> None:
        """``state`` is [growth, level]: add ``delta`` and record a level step."""
        state[0] += delta
        growth_rows.append((member_id, delta, reason, ref, at))
        reached = level_for(state[0], by_threshold)
        if reached != state[1]:
            changes.append((member_id, _pk(state[1]), _pk(reached), state[0], at))
            state[1] = reached

    for member in members:
        balance = 0
        state: list[Any] = [0, level_for(0, by_threshold)]
        if state[1] is not None:
            changes.append((member.pk, None, state[1].pk, 0, member.registered_at))
        # Purchases and sign-ins in the order they happened: a sign-in a week
        # ago comes before an order completed yesterday, in the balances and in
        # the level history alike.
        happened: list[tuple[Any, str, str, int, int]] = []
        for number, amount, done in completed.get(member.pk, []):
            earned = amount // 100
            if earned > 0:
                happened.append(
                    (done or now, PointsEntry.Reason.PURCHASE.value, number, earned, earned)
                )
        streak = 0
        if rng.random() < 0.3:
            streak = rng.randint(1, 9)
            for back in range(streak, 0, -1):
                day = now - timedelta(days=back)
                reward = [5, 5, 10, 10, 15, 15, 30][min(streak - back, 6)]
                happened.append(
                    (day, PointsEntry.Reason.SIGN_IN.value, day.date().isoformat(), reward, 1)
                )
        for at, reason, reference, earned, growth in sorted(happened, key=lambda r: r[0]):
            balance += earned
            entries.append(
                (
                    member.pk,
                    earned,
                    balance,
                    reason,
                    reference,
                    (at + timedelta(days=365)).date(),
                    at,
                )
            )
            grow(member.pk, state, growth, reason, reference, at)
        if balance > 300 and rng.random() < 0.4:
            spent = rng.randint(100, balance // 2)
            balance -= spent
            entries.append(
                (
                    member.pk,
                    -spent,
                    balance,
                    PointsEntry.Reason.CHECKOUT.value,
                    "demo",
                    None,
                    now - timedelta(days=rng.randint(1, 30)),
                )
            )
        standings.append(
            MemberStanding(
                member_id=member.pk,
                points=balance,
                growth=state[0],
                level=state[1],
                sign_in_streak=streak,
                last_sign_in=(now - timedelta(days=1)).date() if streak else None,
            )
        )
    with transaction.atomic():
        MemberStanding.objects.bulk_create(standings, batch_size=2000)
        insert_rows(PointsEntry, POINTS, entries)
        insert_rows(GrowthEntry, GROWTH, growth_rows)
        insert_rows(LevelChange, CHANGES, changes)


POINTS = ["member", "delta", "balance", "reason", "reference", "expires_on", "created_at"]
GROWTH = ["member", "delta", "reason", "reference", "created_at"]
CHANGES = ["member", "from_level", "to_level", "growth", "created_at"]


def _pk(level: Level | None) -> int | None:
    return None if level is None else level.pk


def _coupons() -> dict[str, CouponTemplate]:
    now = timezone.now()
    specs = {
        "new": dict(
            name="新人券 满99减20",
            kind="threshold",
            value=2000,
            min_spend=9900,
            valid_days=14,
            total_quantity=100_000,
            issue="issued",
            auto_rule="registration",
        ),
        "running": dict(
            name="全场满199减30",
            kind="threshold",
            value=3000,
            min_spend=19900,
            valid_from=now - timedelta(days=10),
            valid_until=now + timedelta(days=20),
            total_quantity=5000,
            per_member_limit=2,
        ),
        "percent": dict(
            name="9 折券 最高减 50",
            kind="percent",
            value=10,
            max_discount=5000,
            valid_from=now - timedelta(days=5),
            valid_until=now + timedelta(days=25),
            total_quantity=2000,
        ),
        "shipping": dict(
            name="包邮券",
            kind="free_shipping",
            value=0,
            valid_days=30,
            total_quantity=10_000,
        ),
        "past": dict(
            name="双11 满300减50",
            kind="threshold",
            value=5000,
            min_spend=30000,
            valid_from=now - timedelta(days=30),
            valid_until=now - timedelta(days=14),
            total_quantity=3000,
            is_active=True,
        ),
    }
    return {key: CouponTemplate.objects.create(**spec) for key, spec in specs.items()}


def _shop(templates: dict[str, CouponTemplate]) -> None:
    RedeemItem.objects.create(
        name="包邮券", points=300, coupon_template=templates["shipping"], stock=500
    )
    RedeemItem.objects.create(
        name="满199减30 券", points=800, coupon_template=templates["running"], stock=200
    )


def _place(
    member: Any, sku_id: int, *, context: dict[str, Any], pay_minutes: int | None = None
) -> Any:
    from miniops.orders.services import place_order

    address = member.addresses.filter(is_default=True).first() or member.addresses.first()
    return place_order(
        member=member,
        items=[{"sku_id": sku_id, "quantity": 1}],
        from_cart=False,
        address_id=address.pk,
        context=context,
        pay_minutes=pay_minutes,
    )


def _pay(order: Any) -> None:
    from miniops.orders.services import simulate_payment

    simulate_payment(order=order)


def _backdate(order_ids: list[int], moment: Any) -> None:
    """Date campaign orders inside their campaign (paid a few minutes later)."""
    from miniops.orders.models import Order, Payment

    Order.objects.filter(pk__in=order_ids).update(
        created_at=moment, expires_at=moment + timedelta(minutes=30)
    )
    Order.objects.filter(pk__in=order_ids, paid_at__isnull=False).update(
        paid_at=moment + timedelta(minutes=3)
    )
    Payment.objects.filter(order_id__in=order_ids, paid_at__isnull=False).update(
        paid_at=moment + timedelta(minutes=3)
    )


def _skus(minimum: int, count: int) -> list[Any]:
    from miniops.catalog.models import Sku

    return list(
        Sku.objects.filter(
            is_active=True, product__status="on_sale", price__gte=minimum, stock__gte=50
        ).order_by("-product__sales_count")[:count]
    )


def _coupon_orders(
    buyers: list[Any], templates: dict[str, CouponTemplate], rng: random.Random
) -> None:
    from miniops.core.errors import DomainError
    from miniops.marketing.services import coupons

    skus = _skus(20000, 40)
    if not skus:
        return
    for key in ("running", "percent", "past", "shipping"):
        template = templates[key]
        holders = rng.sample(buyers, k=min(len(buyers), 120))
        if key == "past":  # issued during the past campaign
            CouponTemplate.objects.filter(pk=template.pk).update(
                valid_until=timezone.now() + timedelta(days=1)
            )
            template.refresh_from_db()
        coupons.issue(template=template, member_ids=[m.pk for m in holders], actor=None)
        for member in holders[:40]:
            coupon = Coupon.objects.filter(
                template=template, member=member, status="unused"
            ).first()
            if coupon is None:
                continue
            try:
                with transaction.atomic():
                    order = _place(member, rng.choice(skus).pk, context={"coupon_ids": [coupon.pk]})
                if rng.random() < 0.85:
                    _pay(order)
                else:
                    from miniops.orders.services import cancel_order

                    cancel_order(order=order, by_member=True, reason="demo")
            except DomainError:
                continue
            if key == "past":
                _backdate([order.pk], timezone.now() - timedelta(days=rng.uniform(15, 29)))
        if key == "past":
            CouponTemplate.objects.filter(pk=template.pk).update(
                valid_until=timezone.now() - timedelta(days=14)
            )
            Coupon.objects.filter(template=template, status="unused").update(status="expired")


def _flash_sales(buyers: list[Any], rng: random.Random) -> None:
    from miniops.core.errors import DomainError
    from miniops.marketing.services import flash

    now = timezone.now()
    skus = _skus(5000, 6)
    if len(skus) < 6:
        return
    plans = [
        ("10 点秒杀", now - timedelta(days=6, hours=2), 2, skus[:3], 40),
        ("整点秒杀 · 进行中", now - timedelta(minutes=30), 3, skus[3:5], 60),
        ("明日秒杀预告", now + timedelta(days=1), 2, skus[5:6], 50),
    ]
    for name, start, hours, chosen, stock in plans:
        session = FlashSession.objects.create(
            name=name, starts_at=start, ends_at=start + timedelta(hours=hours)
        )
        items = [
            FlashItem.objects.create(
                session=session, sku=sku, flash_price=max(100, sku.price * 6 // 10), stock=stock
            )
            for sku in chosen
        ]
        if start > now:
            continue
        for item in items:
            flash.reset_gate(item.pk)
            sold = stock if session.ends_at < now else stock * 2 // 3
            placed = []
            for member in rng.sample(buyers, k=min(len(buyers), sold)):
                try:
                    with transaction.atomic():
                        order = _place(
                            member,
                            item.sku_id,
                            context={"flash_item_id": item.pk, "flash_quantity": 1},
                            pay_minutes=session.pay_minutes,
                        )
                    if rng.random() < 0.9:
                        _pay(order)
                    placed.append(order.pk)
                except DomainError:
                    continue
            if session.ends_at < now:
                _backdate(placed, start + timedelta(minutes=2))
            flash.reset_gate(item.pk)


def _group_buys(buyers: list[Any], rng: random.Random) -> None:
    from miniops.core.errors import DomainError
    from miniops.marketing.services import groups

    now = timezone.now()
    skus = _skus(5000, 2)
    if len(skus) < 2:
        return
    running = GroupBuy.objects.create(
        name="两人拼 · 6 折",
        sku=skus[0],
        group_price=max(100, skus[0].price * 6 // 10),
        group_size=2,
        hours_to_fill=24,
        starts_at=now - timedelta(days=3),
        ends_at=now + timedelta(days=4),
    )
    three = GroupBuy.objects.create(
        name="三人团 · 5 折",
        sku=skus[1],
        group_price=max(100, skus[1].price // 2),
        group_size=3,
        hours_to_fill=12,
        starts_at=now - timedelta(days=5),
        ends_at=now + timedelta(days=2),
    )
    pool = rng.sample(buyers, k=min(len(buyers), 80))
    cursor = 0

    def next_member() -> Any:
        nonlocal cursor
        cursor += 1
        return pool[cursor % len(pool)]

    for group_buy, outcomes in (
        (running, ["full"] * 6 + ["forming"] * 2),
        (three, ["full"] * 3 + ["fail"] * 3),
    ):
        for outcome in outcomes:
            try:
                with transaction.atomic():
                    leader_order = _place(
                        next_member(), group_buy.sku_id, context={"group_buy_id": group_buy.pk}
                    )
                _pay(leader_order)
                group = GroupMember.objects.get(order=leader_order).group
                joiners = (
                    group_buy.group_size - 1 if outcome == "full" else 1 if outcome == "fail" else 0
                )
                for _ in range(joiners):
                    with transaction.atomic():
                        order = _place(
                            next_member(),
                            group_buy.sku_id,
                            context={"group_buy_id": group_buy.pk, "group_code": group.code},
                        )
                    _pay(order)
                if outcome == "fail":
                    BuyGroup.objects.filter(pk=group.pk).update(
                        expires_at=now - timedelta(minutes=1)
                    )
            except DomainError:
                continue
    groups.expire_groups()


def _discounts() -> None:
    from miniops.catalog.models import Product

    now = timezone.now()
    products = list(Product.objects.filter(status="on_sale").order_by("-sales_count")[5:8])
    for product in products:
        TimedDiscount.objects.create(
            name=f"限时 85 折 · {product.title[:20]}",
            product=product,
            percent_off=15,
            starts_at=now - timedelta(hours=6),
            ends_at=now + timedelta(days=2),
        )
