"""Points and membership levels: the append-only ledger and the cached balance (and
the check that finds and fixes drift), what earns points (confirmed receipt, daily
sign-in with a streak, the first review), spending them at checkout and
in the points shop, expiry, reversal on refund; growth, thresholds, upgrades and
downgrades with history, and each level's benefits."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.test import Client
from django.utils import timezone

from miniops.core.errors import Conflict, Forbidden, InvalidInput
from miniops.core.timeutils import local_date
from miniops.marketing import selectors
from miniops.marketing.models import (
    Coupon,
    CouponTemplate,
    GrowthEntry,
    Level,
    LevelChange,
    MemberStanding,
    PointsEntry,
    RedeemItem,
    Redemption,
)
from miniops.marketing.services import points
from miniops.marketing.tests.helpers import (
    Buyer,
    balance_of,
    buyer,
    complete,
    error_of,
    ledger_sum,
    pay,
    place_order,
    post,
    preview,
    refund_fully,
    sku_of,
    stock_of,
)
from miniops.orders import services as order_services
from miniops.orders.models import Order, OrderStatus
from miniops.testing import factories

pytestmark = pytest.mark.django_db

Reason = PointsEntry.Reason
Capture = Callable[..., Any]


# --- helpers ------------------------------------------------------------------------------------
@pytest.fixture
def who() -> Buyer:
    return buyer()


def give(who: Buyer | Any, amount: int) -> None:
    member_id = who.pk
    points.earn(member_id, amount, Reason.ADJUSTMENT, reference="test")


def entries(who: Buyer | Any, reason: str | None = None) -> list[tuple[int, int, str]]:
    """(delta, balance, reason) of the member's ledger, oldest first."""
    rows = PointsEntry.objects.filter(member_id=who.pk)
    if reason is not None:
        rows = rows.filter(reason=reason)
    return [(e.delta, e.balance, e.reason) for e in rows.order_by("created_at", "id")]


def days_from_now(days: int) -> Any:
    return timezone.now() + timedelta(days=days)


def growth_of(who: Buyer | Any) -> int:
    return int(
        MemberStanding.objects.filter(member_id=who.pk).values_list("growth", flat=True).first()
        or 0
    )


def level_of(who: Buyer | Any) -> Level | None:
    row = MemberStanding.objects.select_related("level").filter(member_id=who.pk).first()
    return row.level if row else None


def placed(who: Buyer, items: list[tuple[Any, int]], **extra: Any) -> Order:
    response = place_order(who, items, **extra)
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


def paid_order(who: Buyer, price: int, quantity: int = 1, **extra: Any) -> Order:
    return pay(placed(who, [(sku_of(price=price), quantity)], **extra))


def sign_in(who: Buyer) -> Any:
    return post(who.client, "/api/v1/me/sign-in")


def next_day(who: Buyer) -> None:
    """Move the member's last sign-in one day back, as if a day had passed."""
    MemberStanding.objects.filter(member_id=who.pk).update(
        last_sign_in=F("last_sign_in") - timedelta(days=1)
    )


def with_level(who: Buyer, level: Level, growth: int | None = None) -> None:
    points.standing(who.pk)
    MemberStanding.objects.filter(member_id=who.pk).update(
        level=level, growth=level.growth_threshold if growth is None else growth
    )


# --- the ledger and the balance ------------------------------------------------------------------
def test_every_movement_is_a_ledger_row_carrying_the_running_balance(who: Buyer) -> None:
    # given / when points are earned, spent and earned again
    give(who, 500)
    with transaction.atomic():
        points.spend(who.pk, 120, Reason.REDEEM, reference="r1")
    give(who, 30)
    # then each movement is one row with the balance after it
    assert entries(who) == [
        (500, 500, Reason.ADJUSTMENT),
        (-120, 380, Reason.REDEEM),
        (30, 410, Reason.ADJUSTMENT),
    ]
    # and the cached balance is the sum of the ledger
    assert balance_of(who.member) == ledger_sum(who.member) == 410
    assert who.client.get("/api/v1/me/points").json()["points"] == 410
    history = who.client.get("/api/v1/me/points/history").json()
    assert [(h["delta"], h["balance"]) for h in history] == [(30, 410), (-120, 380), (500, 500)]


def test_spending_more_than_the_balance_is_refused_and_writes_nothing(who: Buyer) -> None:
    # given 100 points
    give(who, 100)
    # when 101 are spent
    with pytest.raises(Conflict) as refused, transaction.atomic():
        points.spend(who.pk, 101, Reason.REDEEM)
    # then it is refused and the ledger and balance are unchanged
    assert refused.value.code == "insufficient_points"
    assert entries(who) == [(100, 100, Reason.ADJUSTMENT)]
    assert balance_of(who.member) == 100


def test_the_database_refuses_a_negative_balance(who: Buyer) -> None:
    # given a standing row
    give(who, 10)
    # when something writes a negative balance directly / then the constraint refuses it
    with pytest.raises(IntegrityError), transaction.atomic():
        MemberStanding.objects.filter(member_id=who.pk).update(points=-1)
    assert balance_of(who.member) == 10


@pytest.mark.parametrize("delta", [0, True, 1.5, 10_000_001, -10_000_001])
def test_a_movement_must_be_a_whole_number_within_bounds(who: Buyer, delta: Any) -> None:
    with pytest.raises(InvalidInput), transaction.atomic():
        points._change(who.pk, delta, Reason.ADJUSTMENT)
    assert not PointsEntry.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_ledger_rows_cannot_be_changed_in_the_database(who: Buyer) -> None:
    # given a ledger row
    give(who, 100)
    entry = PointsEntry.objects.get()
    # when it is updated in place / then the database refuses
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        PointsEntry.objects.filter(pk=entry.pk).update(delta=1_000_000)


def test_check_balances_finds_drift_and_fixes_it_from_the_ledger(who: Buyer) -> None:
    # given two members whose ledgers agree with their balances, then one drifts
    other = factories.member()
    give(who, 300)
    give(other, 50)
    assert points.check_balances() == []
    MemberStanding.objects.filter(member_id=who.pk).update(points=F("points") + 999)
    # when the check runs without fixing
    wrong = points.check_balances()
    # then it names the member, the cached figure and the ledger's, and changes nothing
    assert wrong == [(who.pk, 1299, 300)]
    assert balance_of(who.member) == 1299
    # when it runs with fix
    assert points.check_balances(fix=True) == [(who.pk, 1299, 300)]
    # then the balance is the ledger's again and the check is clean
    assert balance_of(who.member) == 300
    assert balance_of(other) == 50
    assert points.check_balances() == []


def test_check_balances_counts_a_standing_without_ledger_rows_as_zero(who: Buyer) -> None:
    # given a standing row with points but no ledger at all
    MemberStanding.objects.create(member=who.member, points=40)
    # when / then
    assert points.check_balances(fix=True) == [(who.pk, 40, 0)]
    assert balance_of(who.member) == 0


def test_the_points_check_command_reports_and_fixes_drift(who: Buyer) -> None:
    # given a drifted balance
    give(who, 300)
    MemberStanding.objects.filter(member_id=who.pk).update(points=5)
    # when the command runs without --fix, then with it
    with pytest.raises(CommandError):
        call_command("points_check", stdout=StringIO())
    assert balance_of(who.member) == 5
    out = StringIO()
    call_command("points_check", "--fix", stdout=out)
    # then the balance follows the ledger
    assert f"member {who.pk}: cached 5, ledger 300" in out.getvalue()
    assert balance_of(who.member) == 300


def test_the_daily_job_logs_drift_without_fixing_it(
    who: Buyer, caplog: pytest.LogCaptureFixture
) -> None:
    # given a drifted balance
    give(who, 300)
    MemberStanding.objects.filter(member_id=who.pk).update(points=7)
    # when the daily job runs
    from miniops.marketing import tasks

    with caplog.at_level("ERROR", logger="miniops.marketing.tasks"):
        tasks.daily.call_local()
    # then the operators are told, and the figure is left for them to fix
    assert any("differ from the ledger" in r.getMessage() for r in caplog.records)
    assert balance_of(who.member) == 7


# --- earning -----------------------------------------------------------------------------------
def test_purchase_points_are_credited_on_confirmed_receipt_not_on_payment(who: Buyer) -> None:
    # given a paid order of 123.45
    order = paid_order(who, 12345)
    # then paying earned nothing yet
    assert entries(who, Reason.PURCHASE) == []
    assert growth_of(who) == 0
    # when it is shipped
    order_services.ship_order(
        order=order,
        carrier="SF",
        tracking_no="SF1234567890",
        actor=factories.operator_with_role("ops_staff"),
    )
    # then still nothing
    assert entries(who, Reason.PURCHASE) == []
    # when the member confirms receipt
    order_services.confirm_receipt(order=Order.objects.get(pk=order.pk))
    # then one point per whole yuan paid is credited, with growth
    assert entries(who, Reason.PURCHASE) == [(123, 123, Reason.PURCHASE)]
    entry = PointsEntry.objects.get(reason=Reason.PURCHASE)
    assert entry.reference == order.number
    assert entry.expires_on == local_date() + timedelta(days=365)
    assert growth_of(who) == 123


def test_the_level_multiplier_and_the_rate_scale_purchase_points(who: Buyer, settings: Any) -> None:
    # given a gold member earning 1.5 ×, and 2 points per yuan
    settings.MINIOPS_POINTS_PER_YUAN = 2
    with_level(who, factories.level(name="金卡", points_multiplier=Decimal("1.5")))
    # when a 99.99 order is completed
    complete(paid_order(who, 9999))
    # then 99 yuan × 2 × 1.5
    assert entries(who, Reason.PURCHASE) == [(297, 297, Reason.PURCHASE)]


def test_an_order_refunded_before_receipt_earns_nothing(
    who: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a paid order fully refunded before shipping
    refund_fully(paid_order(who, 5000), django_capture_on_commit_callbacks)
    # then no points and no growth
    assert entries(who, Reason.PURCHASE) == []
    assert growth_of(who) == 0


def test_daily_sign_in_once_a_day_with_a_climbing_streak(who: Buyer) -> None:
    # given the ladder 5, 5, 10, 10, 15, 15, 30
    # when the member signs in eight days running
    earned = []
    for day in range(8):
        if day:
            next_day(who)
        response = sign_in(who)
        assert response.status_code == 200, response.content
        earned.append((response.json()["streak"], response.json()["points"]))
    # then the reward climbs the ladder and stays at the top
    assert earned == [(1, 5), (2, 5), (3, 10), (4, 10), (5, 15), (6, 15), (7, 30), (8, 30)]
    assert balance_of(who.member) == 120
    assert len(entries(who, Reason.SIGN_IN)) == 8
    summary = who.client.get("/api/v1/me/points").json()
    assert (summary["sign_in_streak"], summary["signed_in_today"]) == (8, True)


def test_signing_in_twice_the_same_day_earns_once(who: Buyer) -> None:
    # given a member who signed in today
    assert sign_in(who).status_code == 200
    # when they sign in again
    again = sign_in(who)
    # then it is refused and nothing more is earned
    assert again.status_code == 409
    assert error_of(again)["code"] == "already_signed_in"
    assert entries(who) == [(5, 5, Reason.SIGN_IN)]
    assert growth_of(who) == 1


def test_a_missed_day_restarts_the_streak(who: Buyer) -> None:
    # given a three-day streak, then a day missed
    for day in range(3):
        if day:
            next_day(who)
        sign_in(who)
    next_day(who)
    next_day(who)
    # when the member signs in
    response = sign_in(who)
    # then the streak starts again at the bottom of the ladder
    assert (response.json()["streak"], response.json()["points"]) == (1, 5)


def test_the_first_review_is_rewarded_once(who: Buyer) -> None:
    # given / when two reviews are rewarded
    first = points.first_review_reward(member_id=who.pk, reference="review:1")
    second = points.first_review_reward(member_id=who.pk, reference="review:2")
    # then only the first earns
    assert first is not None
    assert first.delta == 20
    assert second is None
    assert entries(who) == [(20, 20, Reason.REVIEW)]


# --- spending at checkout ----------------------------------------------------------------------
def test_points_pay_part_of_an_order_and_come_back_when_it_is_cancelled(who: Buyer) -> None:
    # given 1000 points (1 point = 1 fen)
    give(who, 1000)
    sku = sku_of(price=5000)
    # when the member previews and orders with 300 points
    quote = preview(who, [(sku, 1)], points=300).json()
    order = placed(who, [(sku, 1)], points=300)
    # then 3.00 comes off, the points are spent with the order
    assert [(d["kind"], d["amount"]) for d in quote["discounts"]] == [("points", 300)]
    assert quote["payable"] == order.payable_amount == 4700
    assert entries(who, Reason.CHECKOUT) == [(-300, 700, Reason.CHECKOUT)]
    assert PointsEntry.objects.get(reason=Reason.CHECKOUT).reference == order.number
    # when the unpaid order is cancelled
    assert post(who.client, f"/api/v1/orders/{order.pk}/cancel").status_code == 200
    # then the points come back
    assert entries(who, Reason.CHECKOUT_RETURN) == [(300, 1000, Reason.CHECKOUT_RETURN)]
    assert balance_of(who.member) == ledger_sum(who.member) == 1000


def test_points_pay_at_most_the_configured_share_of_what_is_left(who: Buyer) -> None:
    # given 10 000 points, a 50.00 order and a 10.00 coupon (at most 50 % by points)
    give(who, 10_000)
    coupon = factories.member_coupon(
        template=factories.coupon_template(kind="fixed", value=1000, min_spend=0),
        member=who.member,
    )
    sku = sku_of(price=5000)
    # when all the points are offered
    plain = preview(who, [(sku, 1)], points=10_000).json()
    with_coupon = preview(who, [(sku, 1)], points=10_000, coupon_ids=[coupon.pk]).json()
    # then at most half of what is left to pay is taken
    assert [d["amount"] for d in plain["discounts"]] == [2500]
    assert [d["amount"] for d in with_coupon["discounts"]] == [1000, 2000]
    # and the order spends only the points it used
    order = placed(who, [(sku, 1)], points=10_000)
    assert order.payable_amount == 2500
    assert balance_of(who.member) == 7500


def test_the_points_rate_converts_points_to_fen(who: Buyer, settings: Any) -> None:
    # given 1 point = 0.10 yuan, at most 50 % of 50.00
    settings.MINIOPS_POINTS_VALUE_FEN = 10
    give(who, 1000)
    sku = sku_of(price=5000)
    # when 100 points are used, and then 1000
    small = preview(who, [(sku, 1)], points=100).json()
    large = placed(who, [(sku, 1)], points=1000)
    # then 100 points are 10.00; of 1000 only the 250 that make 25.00 are spent
    assert small["discount_amount"] == 1000
    assert large.discount_amount == 2500
    assert entries(who, Reason.CHECKOUT) == [(-250, 750, Reason.CHECKOUT)]


def test_more_points_than_the_balance_are_refused_and_nothing_is_written(who: Buyer) -> None:
    # given 100 points
    give(who, 100)
    sku = sku_of(price=5000, stock=10)
    # when 101 are offered
    for response in (
        preview(who, [(sku, 1)], points=101),
        place_order(who, [(sku, 1)], points=101),
    ):
        # then
        assert response.status_code == 409, response.content
        assert error_of(response)["code"] == "insufficient_points"
    assert not Order.objects.exists()
    assert stock_of(sku) == 10
    assert entries(who) == [(100, 100, Reason.ADJUSTMENT)]


# --- the points shop ---------------------------------------------------------------------------
def redeem(who: Buyer, item: RedeemItem | int) -> Any:
    item_id = item if isinstance(item, int) else item.pk
    return post(who.client, f"/api/v1/points-shop/{item_id}/redeem")


def item_stock(item: RedeemItem) -> int:
    return int(RedeemItem.objects.values_list("stock", flat=True).get(pk=item.pk))


def test_redeeming_a_coupon_spends_the_points_and_gives_the_coupon(who: Buyer) -> None:
    # given 1500 points and a 10.00 coupon for 1000 points
    give(who, 1500)
    template = factories.coupon_template(issue=CouponTemplate.Issue.ISSUED, total_quantity=10)
    item = factories.redeem_item(coupon_template=template, points=1000, stock=5)
    # when the member redeems it
    response = redeem(who, item)
    # then the coupon is theirs, the points and one unit of stock are gone
    assert response.status_code == 201, response.content
    body = response.json()
    coupon = Coupon.objects.get(pk=body["coupon_id"])
    assert (coupon.member_id, coupon.template_id, coupon.source) == (who.pk, template.pk, "points")
    assert body["points"] == 1000
    assert entries(who, Reason.REDEEM) == [(-1000, 500, Reason.REDEEM)]
    assert item_stock(item) == 4
    assert Redemption.objects.get().seq == 1


def test_the_points_shop_lists_active_items_cheapest_first() -> None:
    # given three items, one switched off
    dear = factories.redeem_item(name="大券", points=5000)
    cheap = factories.redeem_item(name="小券", points=100)
    factories.redeem_item(name="下架", points=10, is_active=False)
    # when
    listed = Client().get("/api/v1/points-shop").json()
    # then
    assert [(i["id"], i["kind"]) for i in listed] == [(cheap.pk, "coupon"), (dear.pk, "coupon")]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("not_enough_points", 409, "insufficient_points"),
        ("out_of_stock", 409, "sold_out"),
        ("limit", 409, "redeem_limit_reached"),
        ("inactive", 404, "not_found"),
        ("unknown", 404, "not_found"),
        ("coupons_gone", 409, "coupons_gone"),
    ],
)
def test_a_refused_redemption_writes_nothing(who: Buyer, case: str, status: int, code: str) -> None:
    # given a member with 1000 points and a 1000-point coupon item
    give(who, 1000)
    template = factories.coupon_template(issue=CouponTemplate.Issue.ISSUED, total_quantity=10)
    item = factories.redeem_item(coupon_template=template, points=1000, stock=5)
    if case == "not_enough_points":
        RedeemItem.objects.filter(pk=item.pk).update(points=1001)
    elif case == "out_of_stock":
        RedeemItem.objects.filter(pk=item.pk).update(stock=0)
    elif case == "limit":
        give(who, 1000)
        assert redeem(who, item).status_code == 201
    elif case == "inactive":
        RedeemItem.objects.filter(pk=item.pk).update(is_active=False)
    elif case == "coupons_gone":
        CouponTemplate.objects.filter(pk=template.pk).update(total_quantity=0)
    stock, balance, ledger = item_stock(item), balance_of(who.member), entries(who)
    coupons, redemptions = Coupon.objects.count(), Redemption.objects.count()
    issued = CouponTemplate.objects.get(pk=template.pk).issued_count
    # when the member redeems
    response = redeem(who, 987654 if case == "unknown" else item)
    # then it is refused and nothing changed: stock, points, ledger, coupons
    assert response.status_code == status, response.content
    assert error_of(response)["code"] == code
    assert item_stock(item) == stock
    assert balance_of(who.member) == balance
    assert entries(who) == ledger
    assert Coupon.objects.count() == coupons
    assert Redemption.objects.count() == redemptions
    assert CouponTemplate.objects.get(pk=template.pk).issued_count == issued


def test_redeeming_goods_spends_points_and_takes_stock(who: Buyer) -> None:
    # given 2000 points and goods for 1500 points
    give(who, 2000)
    item = RedeemItem.objects.create(
        name="保温杯", points=1500, sku=sku_of(price=5000), stock=3, coupon_template=None
    )
    # when the member redeems the goods, to be delivered
    response = post(
        who.client,
        f"/api/v1/points-shop/{item.pk}/redeem",
        {"address_id": who.address_id},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    # then
    assert response.status_code == 201, response.content
    assert balance_of(who.member) == 500
    assert item_stock(item) == 2


def test_redeeming_a_coupon_that_has_ended_is_refused(who: Buyer) -> None:
    # given a coupon item whose campaign ended yesterday
    give(who, 1000)
    template = factories.coupon_template(
        issue=CouponTemplate.Issue.ISSUED,
        valid_from=days_from_now(-10),
        valid_until=days_from_now(-1),
    )
    item = factories.redeem_item(coupon_template=template, points=1000)
    # when the member redeems it
    response = redeem(who, item)
    # then it is refused and the points are kept
    assert response.status_code == 409, response.content
    assert balance_of(who.member) == 1000


# --- expiry ------------------------------------------------------------------------------------
def test_earned_points_expire_first_in_first_out(who: Buyer, settings: Any) -> None:
    # given 100 points that expire in 10 days, 50 that expire in a year, and 30 spent
    settings.MINIOPS_POINTS_EXPIRE_DAYS = 10
    give(who, 100)
    settings.MINIOPS_POINTS_EXPIRE_DAYS = 365
    give(who, 50)
    with transaction.atomic():
        points.spend(who.pk, 30, Reason.REDEEM)
    today = local_date()
    # when the daily job runs on the last valid day
    assert points.expire_points(today + timedelta(days=10)) == 0
    # then nothing expires; the day after, what is left of the oldest points expires
    assert points.expire_points(today + timedelta(days=11)) == 70
    assert balance_of(who.member) == 50
    expiry = PointsEntry.objects.get(reason=Reason.EXPIRY)
    assert (expiry.delta, expiry.balance, expiry.expires_on) == (-70, 50, None)
    # and running again the same day expires nothing more
    assert points.expire_points(today + timedelta(days=11)) == 0
    # and a year later the rest expires
    assert points.expire_points(today + timedelta(days=366)) == 50
    assert balance_of(who.member) == ledger_sum(who.member) == 0


def test_spent_points_never_expire_twice(who: Buyer, settings: Any) -> None:
    # given 100 points that expire in 10 days, all spent
    settings.MINIOPS_POINTS_EXPIRE_DAYS = 10
    give(who, 100)
    with transaction.atomic():
        points.spend(who.pk, 100, Reason.REDEEM)
    # when the day passes
    assert points.expire_points(local_date() + timedelta(days=30)) == 0
    # then nothing expires and the balance stays 0
    assert balance_of(who.member) == 0
    assert not PointsEntry.objects.filter(reason=Reason.EXPIRY).exists()


# --- reversal on refund ------------------------------------------------------------------------
def test_a_full_refund_after_receipt_reverses_the_points_earned(
    who: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a completed 100.00 order that earned 100 points
    order = complete(paid_order(who, 10000))
    assert balance_of(who.member) == 100
    # when it is fully refunded
    refund_fully(order, django_capture_on_commit_callbacks)
    # then the points are taken back
    assert entries(who, Reason.REFUND) == [(-100, 0, Reason.REFUND)]
    assert balance_of(who.member) == ledger_sum(who.member) == 0


def test_a_partial_refund_reverses_its_share(
    who: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a completed order of two units at 50.00 that earned 100 points
    order = complete(paid_order(who, 5000, quantity=2))
    # when one unit is refunded
    after_sale = order_services.request_after_sale(
        order=order,
        member=who.member,
        kind="refund_only",
        reason="damaged",
        lines=[{"item_id": order.items.get().pk, "quantity": 1}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        order_services.approve(
            after_sale=after_sale, actor=factories.operator_with_role("customer_service")
        )
    # then half the points are taken back
    assert entries(who, Reason.REFUND) == [(-50, 50, Reason.REFUND)]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED


def test_a_refund_never_takes_the_balance_below_zero(
    who: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given 100 points earned by an order, 80 of them already spent
    order = complete(paid_order(who, 10000))
    with transaction.atomic():
        points.spend(who.pk, 80, Reason.REDEEM)
    # when the order is refunded
    refund_fully(order, django_capture_on_commit_callbacks)
    # then only what is left is taken back
    assert entries(who, Reason.REFUND) == [(-20, 0, Reason.REFUND)]
    assert balance_of(who.member) == 0


def test_points_spent_on_a_refunded_order_come_back(
    who: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a paid order that spent 300 points
    give(who, 1000)
    order = paid_order(who, 5000, points=300)
    assert balance_of(who.member) == 700
    # when it is fully refunded
    refund_fully(order, django_capture_on_commit_callbacks)
    # then the 300 points come back
    assert entries(who, Reason.CHECKOUT_RETURN) == [(300, 1000, Reason.CHECKOUT_RETURN)]
    assert balance_of(who.member) == ledger_sum(who.member) == 1000


def test_a_refund_after_receipt_takes_the_growth_back(
    who: Buyer, django_capture_on_commit_callbacks: Capture
) -> None:
    # given a completed 100.00 order that gave 100 growth
    order = complete(paid_order(who, 10000))
    assert growth_of(who) == 100
    # when it is fully refunded
    refund_fully(order, django_capture_on_commit_callbacks)
    # then the growth is gone too
    assert growth_of(who) == 0


# --- levels ------------------------------------------------------------------------------------
@pytest.fixture
def ladder() -> dict[str, Level]:
    return {
        "silver": factories.level(name="银卡", rank=1, growth_threshold=100),
        "gold": factories.level(name="金卡", rank=2, growth_threshold=1000),
        "diamond": factories.level(name="钻石", rank=3, growth_threshold=5000),
    }


@pytest.mark.parametrize(
    ("growth", "expected"),
    [(0, None), (99, None), (100, "silver"), (999, "silver"), (1000, "gold"), (9999, "diamond")],
)
def test_the_level_is_the_highest_threshold_reached(
    who: Buyer, ladder: dict[str, Level], growth: int, expected: str | None
) -> None:
    # given
    points.add_growth(who.pk, growth, "test")
    points.standing(who.pk)
    # when
    points.evaluate_levels()
    # then
    level = level_of(who)
    assert (level.pk if level else None) == (ladder[expected].pk if expected else None)


def test_upgrades_and_downgrades_are_recorded_with_history(
    who: Buyer, ladder: dict[str, Level]
) -> None:
    # given a level-up coupon for gold
    gift = factories.coupon_template(
        issue=CouponTemplate.Issue.ISSUED,
        auto_rule=CouponTemplate.AutoRule.LEVEL_UP,
        auto_level=ladder["gold"],
        per_member_limit=5,
    )
    # when the member's growth reaches gold and levels are evaluated
    points.add_growth(who.pk, 1200, "purchase")
    assert points.evaluate_levels() == 1
    # then they are gold, with a history row and the gold coupon
    assert level_of(who) == ladder["gold"]
    assert Coupon.objects.filter(member=who.member, template=gift).count() == 1
    # when nothing changed, evaluating again changes nothing
    assert points.evaluate_levels() == 0
    # when growth falls to silver
    points.add_growth(who.pk, -1100, "expired")
    assert points.evaluate_levels([who.pk]) == 1
    # then they are silver, both moves are in the history, and no coupon for going down
    assert level_of(who) == ladder["silver"]
    history = list(
        LevelChange.objects.filter(member=who.member)
        .order_by("created_at", "id")
        .values_list("from_level_id", "to_level_id", "growth")
    )
    assert history == [
        (None, ladder["gold"].pk, 1200),
        (ladder["gold"].pk, ladder["silver"].pk, 100),
    ]
    assert Coupon.objects.filter(member=who.member).count() == 1
    assert GrowthEntry.objects.filter(member_id=who.pk).count() == 2


def test_spending_grows_the_member_into_a_level(who: Buyer, ladder: dict[str, Level]) -> None:
    # given a member who completes a 1000.00 order
    complete(paid_order(who, 100_000))
    # when the daily job runs
    from miniops.marketing import tasks

    tasks.daily.call_local()
    # then they reached gold, and the summary shows the way to the next level
    assert growth_of(who) == 1000
    assert level_of(who) == ladder["gold"]
    summary = selectors.standing_summary(who.pk)
    assert (summary["level"], summary["next_level"], summary["growth_to_next"]) == (
        "金卡",
        "钻石",
        4000,
    )


def test_a_member_level_gives_its_member_price(who: Buyer) -> None:
    # given a member of a level with 10 % off
    with_level(who, factories.level(discount_percent=10))
    sku = sku_of(price=4999)
    # when they preview and order
    quote = preview(who, [(sku, 2)]).json()
    order = placed(who, [(sku, 2)])
    # then each unit is 10 % off (rounded in the member's favour to the fen)
    assert quote["lines"][0]["unit_price"] == 4500
    assert order.goods_amount == 9000
    assert order.pricing["lines"][0]["price_source"] == "member"
    # and a member without a level pays the list price
    assert preview(buyer(), [(sku, 2)]).json()["goods_amount"] == 9998


def test_a_member_level_with_free_shipping_pays_no_shipping(who: Buyer) -> None:
    # given 8.00 shipping and a level with free shipping
    factories.freight_template(is_default=True, first_fee=800, additional_fee=0)
    sku = sku_of(price=5000)
    assert preview(who, [(sku, 1)]).json()["shipping_fee"] == 800
    with_level(who, factories.level(free_shipping=True))
    # when / then
    quote = preview(who, [(sku, 1)]).json()
    assert (quote["shipping_fee"], quote["payable"]) == (0, 5000)
    assert placed(who, [(sku, 1)]).shipping_fee == 0


def test_a_level_cannot_give_more_than_30_percent_off() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Level.objects.create(name="超级", rank=9, discount_percent=31)


# --- operators adjusting points ----------------------------------------------------------------
def test_an_adjustment_needs_the_points_permission_and_a_reason_and_is_audited(
    who: Buyer,
) -> None:
    # given operations staff (no marketing.points) and the operations manager
    staff = factories.operator_with_role("ops_staff")
    manager = factories.operator_with_role("ops_manager")
    # when staff adjust, or the manager gives no reason
    with pytest.raises(Forbidden):
        points.adjust(member_id=who.pk, delta=100, note="补偿", actor=staff)
    with pytest.raises(InvalidInput):
        points.adjust(member_id=who.pk, delta=100, note="  ", actor=manager)
    # then nothing was written
    assert not PointsEntry.objects.exists()
    # when the manager adjusts with a reason
    entry = points.adjust(member_id=who.pk, delta=100, note="补偿", actor=manager)
    # then the ledger holds it and the audit log names the manager
    assert (entry.delta, entry.balance, entry.reason, entry.note) == (
        100,
        100,
        Reason.ADJUSTMENT,
        "补偿",
    )
    log = LogEntry.objects.get(actor=manager, object_pk=str(entry.pk))
    assert log.changes == {"points": [None, 100]}
    assert log.additional_data == {"note": "补偿"}


def test_an_adjustment_cannot_take_the_balance_below_zero(who: Buyer) -> None:
    give(who, 50)
    with pytest.raises(Conflict):
        points.adjust(
            member_id=who.pk,
            delta=-51,
            note="扣回",
            actor=factories.operator_with_role("ops_manager"),
        )
    assert balance_of(who.member) == 50


def test_idempotency_keys_are_per_request(who: Buyer) -> None:
    # given points, when the same order request is retried with its key
    give(who, 1000)
    sku = sku_of(price=5000)
    key = str(uuid.uuid4())
    first = place_order(who, [(sku, 1)], key=key, points=200)
    again = place_order(who, [(sku, 1)], key=key, points=200)
    # then the points are spent once
    assert first.json() == again.json()
    assert entries(who, Reason.CHECKOUT) == [(-200, 800, Reason.CHECKOUT)]
