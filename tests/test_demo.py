"""The demo shop as ``make demo`` builds it: settled, consistent, signed into.

One full seed (it takes a while), checked from every side a newcomer meets:
nothing left "processing", the ledgers add up to the balances they explain, the
worker starts on an empty queue, the printed logins work.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db.models import Count, Sum
from django.test import Client

from miniops.accounts.models import Operator
from miniops.catalog.models import Sku, StockLedger
from miniops.catalog.selectors import VERSION_KEY
from miniops.core.models import SystemSettings
from miniops.marketing.models import GrowthEntry, Level, LevelChange, MemberStanding
from miniops.marketing.services import points
from miniops.members.models import Member
from miniops.members.providers import DEMO_MEMBER_CODE, demo_openid
from miniops.orders.models import (
    AfterSale,
    AfterSaleStatus,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from miniops.orders.services import ship_order


def _seed_as_make_demo_does() -> dict[str, int]:
    """``manage.py seed_demo`` with the task queue as ``make demo`` has it (not
    the tests' run-at-once mode); returns what it left in the queue."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = False
    HUEY.flush()
    try:
        call_command("seed_demo", "--quiet-bar")
        return {"queued": HUEY.pending_count(), "scheduled": HUEY.scheduled_count()}
    finally:
        HUEY.flush()
        HUEY.immediate = True


@pytest.mark.django_db(transaction=True)  # real commits: what runs "after commit" runs
def test_the_seeded_shop_is_settled_consistent_and_signed_into() -> None:
    left = _seed_as_make_demo_does()

    # The worker starts on an empty queue (no "Added task … to schedule" flood).
    assert left == {"queued": 0, "scheduled": 0}

    # No refund is left "processing": WeChat's (simulated) notices all arrived.
    assert dict(Refund.objects.values_list("status").annotate(n=Count("id")).order_by()) == {
        RefundStatus.SUCCESS: Refund.objects.count()
    }
    assert not AfterSale.objects.filter(
        status__in=[AfterSaleStatus.REQUESTED, AfterSaleStatus.REFUNDING]
    ).exists()
    # An order refunded in full is closed; one refunded in part kept its status.
    for order in Order.objects.filter(refunded_amount__gt=0):
        refunded = order.refunds.filter(status=RefundStatus.SUCCESS).aggregate(s=Sum("amount"))
        assert refunded["s"] == order.refunded_amount, order.number
        if order.refunded_amount == order.paid_amount:
            assert order.status == OrderStatus.CLOSED, order.number
        else:
            assert order.status == OrderStatus.COMPLETED, order.number
    # Paid orders can ship: none is held by an open refund request (the failed
    # group buys among them were refunded and closed).
    paid = Order.objects.filter(status=OrderStatus.PAID)
    assert paid.exists()
    assert not paid.filter(after_sales__status__in=["requested", "refunding"]).exists()
    shipped = ship_order(
        order=paid.order_by("paid_at").first(),
        carrier="SF",
        tracking_no="SF1234567890",
        actor=Operator.objects.get(username="admin"),
    )
    assert shipped.status == OrderStatus.SHIPPED

    # Every order that was paid has its payment, for the amount it was paid.
    paid_states = [
        OrderStatus.PAID,
        OrderStatus.SHIPPED,
        OrderStatus.COMPLETED,
        OrderStatus.CLOSED,
    ]
    for order_id, amount in Order.objects.filter(
        status__in=paid_states, paid_at__isnull=False
    ).values_list("pk", "paid_amount"):
        assert Payment.objects.filter(
            order_id=order_id, status=PaymentStatus.PAID, amount=amount
        ).exists(), order_id

    # Stock: each SKU's ledger adds up to its stock, its last balance is its stock.
    ledger = defaultdict(int)
    last_balance: dict[int, int] = {}
    for sku_id, delta, balance in StockLedger.objects.order_by("created_at", "pk").values_list(
        "sku_id", "delta", "balance"
    ):
        ledger[sku_id] += delta
        last_balance[sku_id] = balance
    for sku_id, stock in Sku.objects.values_list("pk", "stock"):
        assert ledger[sku_id] == stock == last_balance.get(sku_id, 0), sku_id

    # Points, growth and levels: balances are their ledgers' sums (points_check
    # finds no drift), each level is the one the growth reaches, and the level
    # history ends there.
    assert points.check_balances() == []
    growth = dict(
        GrowthEntry.objects.values("member_id")
        .annotate(n=Sum("delta"))
        .values_list("member_id", "n")
    )
    levels = list(Level.objects.order_by("growth_threshold", "rank"))
    latest: dict[int, Any] = {}
    for member_id, to_level in LevelChange.objects.order_by("created_at", "pk").values_list(
        "member_id", "to_level"
    ):
        latest[member_id] = to_level
    for standing in MemberStanding.objects.all():
        assert standing.growth == growth.get(standing.member_id, 0), standing.member_id
        reached = points.level_for(standing.growth, levels)
        assert standing.level_id == (reached.pk if reached else None), standing.member_id
        assert latest.get(standing.member_id) == standing.level_id, standing.member_id
    assert points.evaluate_levels() == 0

    # Written around the catalog services, the catalog still moved its cache version.
    assert (cache.get(VERSION_KEY) or 1) >= 2

    # The printed logins work: an operator per role, and "demo-1" in the client API
    # is the first demo member to have registered.
    assert Operator.objects.get(username="admin").is_super_admin
    assert SystemSettings.objects.get().platform_name == "小鹿优选"
    first = Member.objects.filter(openid__startswith="oDEMO").order_by("registered_at", "pk")[0]
    assert first.openid == demo_openid(1)
    answer = Client().post(
        "/api/v1/auth/wechat-login",
        {"code": DEMO_MEMBER_CODE.format(1)},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["member_id"] == first.pk
    assert answer.json()["is_new_member"] is False

    # Seeding again adds nothing.
    counts = (Operator.objects.count(), Member.objects.count(), Order.objects.count())
    call_command("seed_demo", "--quiet-bar")
    assert (Operator.objects.count(), Member.objects.count(), Order.objects.count()) == counts
