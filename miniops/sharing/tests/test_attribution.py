"""Attribution (first/last touch, window, new members only), rewards (frozen,
granted, clawed back on refund) and every anti-abuse rule, with a fraud fixture
blocked 100 % and an honest fixture with no false block."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from miniops.core.ledger import LedgerState
from miniops.marketing.models import MemberStanding, PointsEntry
from miniops.marketing.tests.helpers import complete, refund_fully
from miniops.members.models import Member
from miniops.orders.models import Order
from miniops.sharing import services
from miniops.sharing.models import (
    Attribution,
    OrderAttribution,
    Reward,
    RewardStatus,
    ShareRules,
    ShareVisit,
)
from miniops.sharing.services import attribution
from miniops.sharing.services.attribution import Block
from miniops.sharing.tests.helpers import card, login, resolve
from miniops.testing import factories

pytestmark = pytest.mark.django_db
Capture = Callable[..., Any]


def set_rules(**values: Any) -> ShareRules:
    rule = attribution.rules()
    ShareRules.objects.filter(pk=rule.pk).update(**values)
    return attribution.rules()


def code_of(client: Client, sharer: Member, device_id: str = "") -> str:
    body = {"target_type": "page", "page": "pages/index/index", "device_id": device_id}
    response = card(client, sharer, **body)
    assert response.status_code == 200, response.content
    return str(response.json()["code"])


def sign_up(client: Client, capture: Capture, wx_code: str, **body: Any) -> Member:
    with capture(execute=True):
        response = login(client, code=wx_code, **body)
    assert response.status_code == 200, response.content
    return Member.objects.get(pk=response.json()["member_id"])


def release_all() -> None:
    Reward.objects.filter(state=LedgerState.QUEUED).update(
        due_at=timezone.now() - timedelta(seconds=1)
    )
    services.release_due()


def balance(member: Member) -> int:
    row = MemberStanding.objects.filter(member_id=member.pk).first()
    return row.points if row else 0


def paid_order(buyer: Member) -> Order:
    sku = factories.product(price=5000, stock=100).skus.first()
    return factories.order(buyer=buyer, items=[(sku, 1)], paid=True)


# --- registrations -------------------------------------------------------------------------
def test_a_new_member_through_a_code_is_attributed_and_the_reward_frozen_then_paid(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    alice = factories.member()
    code = code_of(client, alice)
    bob = sign_up(client, django_capture_on_commit_callbacks, "bob", share_code=code)
    bob.refresh_from_db()
    assert bob.referrer_id == alice.pk
    found = Attribution.objects.get(invitee=bob)
    assert (found.sharer_id, found.blocked_reason, found.link.code) == (alice.pk, "", code)
    reward = Reward.objects.get()
    assert (reward.beneficiary_id, reward.trigger, reward.status) == (
        alice.pk,
        "registration",
        RewardStatus.FROZEN,
    )
    assert reward.due_at > timezone.now() + timedelta(days=6)
    services.release_due()  # not due yet: nothing paid
    assert balance(alice) == 0
    release_all()
    reward.refresh_from_db()
    assert (reward.state, reward.status) == (LedgerState.DONE, RewardStatus.AVAILABLE)
    assert balance(alice) == 200
    assert PointsEntry.objects.filter(member=alice, reason="referral").count() == 1
    # signing in again attributes nothing new and pays nothing twice
    sign_up(client, django_capture_on_commit_callbacks, "bob", share_code=code)
    release_all()
    assert Reward.objects.count() == 1
    assert balance(alice) == 200


def test_the_legacy_referrer_id_goes_through_the_same_path(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    alice = factories.member()
    for wx_code in ("friend-a", "friend-a", "friend-b"):
        sign_up(client, django_capture_on_commit_callbacks, wx_code, referrer_id=alice.pk)
    assert Reward.objects.filter(beneficiary=alice).count() == 2
    release_all()
    assert balance(alice) == 400


@pytest.mark.parametrize(("model", "winner"), [("first_touch", 0), ("last_touch", 1)])
def test_first_or_last_touch_decides_between_two_sharers(
    client: Client, django_capture_on_commit_callbacks: Capture, model: str, winner: int
) -> None:
    set_rules(model=model)
    sharers = [factories.member(), factories.member()]
    for sharer in sharers:
        resolve(client, code=code_of(client, sharer), anonymous_id="dev-x")
    first = ShareVisit.objects.order_by("pk").first()
    assert first is not None
    ShareVisit.objects.filter(pk=first.pk).update(at=timezone.now() - timedelta(hours=2))
    invitee = sign_up(client, django_capture_on_commit_callbacks, "carol", anonymous_id="dev-x")
    assert Attribution.objects.get(invitee=invitee).sharer_id == sharers[winner].pk


def test_a_visit_outside_the_window_does_not_count(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    set_rules(window_days=7)
    alice = factories.member()
    resolve(client, code=code_of(client, alice), anonymous_id="dev-old")
    ShareVisit.objects.update(at=timezone.now() - timedelta(days=8))
    invitee = sign_up(client, django_capture_on_commit_callbacks, "late", anonymous_id="dev-old")
    assert not Attribution.objects.filter(invitee=invitee).exists()
    assert not Reward.objects.exists()


# --- orders --------------------------------------------------------------------------------
def test_orders_are_attributed_by_visits_in_the_window_and_new_only_filters(
    client: Client,
) -> None:
    alice, buyer = factories.member(), factories.member()
    resolve(client, buyer, code=code_of(client, alice))
    first = paid_order(buyer)
    attributed = OrderAttribution.objects.get(order=first)
    assert (attributed.sharer_id, attributed.source, attributed.window_days) == (
        alice.pk,
        "visit",
        7,
    )
    # new members only: an existing member's order is not attributed
    set_rules(new_members_only=True)
    second = paid_order(buyer)
    assert not OrderAttribution.objects.filter(order=second).exists()
    # outside the window: not attributed either
    set_rules(new_members_only=False)
    ShareVisit.objects.update(at=timezone.now() - timedelta(days=8))
    third = paid_order(buyer)
    assert not OrderAttribution.objects.filter(order=third).exists()


def test_a_first_completed_order_rewards_the_sharer_and_a_refund_claws_it_back(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    set_rules(reward_registration=False)
    alice = factories.member()
    bob = sign_up(
        client, django_capture_on_commit_callbacks, "bob2", share_code=code_of(client, alice)
    )
    order = paid_order(bob)
    assert not Reward.objects.exists()  # paid is not completed
    complete(order)
    reward = Reward.objects.get(trigger="first_order")
    assert (reward.beneficiary_id, reward.order_id, reward.points) == (alice.pk, order.pk, 500)
    # refunded while frozen: cancelled, never paid
    refund_fully(order, django_capture_on_commit_callbacks)
    reward.refresh_from_db()
    assert (reward.state, reward.status, reward.reason) == (
        LedgerState.CANCELLED,
        RewardStatus.CLAWED_BACK,
        "refunded",
    )
    release_all()
    assert balance(alice) == 0
    # a second completed order is not a first order
    complete(paid_order(bob))
    assert Reward.objects.count() == 1


def test_a_refund_after_the_reward_was_paid_reverses_it(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    set_rules(reward_registration=False, freeze_days=0)
    alice = factories.member()
    bob = sign_up(
        client, django_capture_on_commit_callbacks, "bob3", share_code=code_of(client, alice)
    )
    order = complete(paid_order(bob))
    release_all()
    assert balance(alice) == 500
    refund_fully(order, django_capture_on_commit_callbacks)
    assert balance(alice) == 0
    reward = Reward.objects.get()
    assert reward.status == RewardStatus.CLAWED_BACK
    assert PointsEntry.objects.filter(member=alice, reason="refund", delta=-500).exists()


def refund_units(order: Order, units: int, capture: Capture) -> Order:
    """Customer service refunds ``units`` of the order's (single) line."""
    from miniops.orders import services as order_services

    order = Order.objects.get(pk=order.pk)
    item = order.items.get()
    after_sale = order_services.request_after_sale(
        order=order,
        member=order.member,
        kind="refund_only",
        reason="changed_mind",
        lines=[{"item_id": item.pk, "quantity": units}],
    )
    with capture(execute=True):
        order_services.approve(
            after_sale=after_sale, actor=factories.operator_with_role("customer_service")
        )
    return Order.objects.get(pk=order.pk)


def four_unit_order(buyer: Member) -> Order:
    sku = factories.product(price=5000, stock=100).skus.first()
    return factories.order(buyer=buyer, items=[(sku, 4)], paid=True)


def test_points_to_claw_is_proportional_rounded_down_and_all_for_a_full_refund() -> None:
    assert attribution.points_to_claw(500, 5000, 20000) == 125
    assert attribution.points_to_claw(500, 1, 20000) == 0  # the sharer keeps the fraction
    assert attribution.points_to_claw(500, 20000, 20000) == 500
    assert attribution.points_to_claw(500, 0, 0) == 500  # nothing was paid: nothing is earned


def test_a_partial_refund_while_frozen_pays_only_what_is_left(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    set_rules(reward_registration=False)
    alice = factories.member()
    bob = sign_up(
        client, django_capture_on_commit_callbacks, "pr-1", share_code=code_of(client, alice)
    )
    order = complete(four_unit_order(bob))
    order = refund_units(order, 1, django_capture_on_commit_callbacks)
    assert 0 < order.refunded_amount < order.paid_amount
    expected = 500 * order.refunded_amount // order.paid_amount
    reward = Reward.objects.get()
    assert (reward.state, reward.status) == (LedgerState.QUEUED, RewardStatus.FROZEN)
    assert (reward.clawed_points, reward.reason) == (expected, "partly_refunded")
    release_all()
    assert balance(alice) == 500 - expected
    reward.refresh_from_db()
    assert reward.status == RewardStatus.AVAILABLE


def test_partial_refunds_after_payment_claw_back_in_proportion_then_all(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    set_rules(reward_registration=False, freeze_days=0)
    alice = factories.member()
    bob = sign_up(
        client, django_capture_on_commit_callbacks, "pr-2", share_code=code_of(client, alice)
    )
    order = complete(four_unit_order(bob))
    release_all()
    assert balance(alice) == 500
    order = refund_units(order, 2, django_capture_on_commit_callbacks)
    first = 500 * order.refunded_amount // order.paid_amount
    assert 0 < first < 500
    assert balance(alice) == 500 - first
    reward = Reward.objects.get()
    assert (reward.status, reward.clawed_points) == (RewardStatus.AVAILABLE, first)
    # the rest of the order: everything is back, the reward is clawed back
    refund_units(order, 2, django_capture_on_commit_callbacks)
    assert balance(alice) == 0
    reward.refresh_from_db()
    assert (reward.status, reward.clawed_points, reward.reason) == (
        RewardStatus.CLAWED_BACK,
        500,
        "refunded",
    )
    deltas = sorted(
        PointsEntry.objects.filter(member=alice, reason="refund").values_list("delta", flat=True)
    )
    assert len(deltas) == 2
    assert sum(deltas) == -500


def test_a_coupon_reward_stays_through_a_partial_refund_and_goes_with_a_full_one(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    from miniops.marketing.models import Coupon, CouponStatus

    template = factories.coupon_template()
    set_rules(
        reward_registration=False, freeze_days=0, reward_kind="coupon", coupon_template=template
    )
    alice = factories.member()
    bob = sign_up(
        client, django_capture_on_commit_callbacks, "pr-3", share_code=code_of(client, alice)
    )
    order = complete(four_unit_order(bob))
    release_all()
    reward = Reward.objects.get()
    coupon = Coupon.objects.get(member=alice, source=f"share:{reward.pk}")
    order = refund_units(order, 3, django_capture_on_commit_callbacks)
    coupon.refresh_from_db()
    reward.refresh_from_db()
    assert (coupon.status, reward.status) == (CouponStatus.UNUSED, RewardStatus.AVAILABLE)
    refund_units(order, 1, django_capture_on_commit_callbacks)
    coupon.refresh_from_db()
    reward.refresh_from_db()
    assert (coupon.status, reward.status) == (CouponStatus.VOIDED, RewardStatus.CLAWED_BACK)


def test_two_levels_when_configured_and_never_a_third(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    set_rules(levels=2)
    a = factories.member()
    b = sign_up(client, django_capture_on_commit_callbacks, "lv-b", share_code=code_of(client, a))
    c = sign_up(client, django_capture_on_commit_callbacks, "lv-c", share_code=code_of(client, b))
    d = sign_up(client, django_capture_on_commit_callbacks, "lv-d", share_code=code_of(client, c))
    rows = {(r.beneficiary_id, r.level): r for r in Reward.objects.filter(invitee=d)}
    assert set(rows) == {(c.pk, 1), (b.pk, 2), (a.pk, 3)}
    assert rows[(c.pk, 1)].status == rows[(b.pk, 2)].status == RewardStatus.FROZEN
    assert (rows[(a.pk, 3)].status, rows[(a.pk, 3)].reason) == (
        RewardStatus.BLOCKED,
        Block.TOO_MANY_LEVELS,
    )
    release_all()
    assert balance(b) == 200 + 100
    assert balance(a) == 200 + 100


# --- anti-abuse ----------------------------------------------------------------------------
def test_self_referral_by_device_openid_and_phone(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    alice = factories.member(unionid="u-alice", phone="13800000001")
    code = code_of(client, alice, device_id="alice-phone")
    by_device = sign_up(
        client,
        django_capture_on_commit_callbacks,
        "dev",
        share_code=code,
        anonymous_id="alice-phone",
    )
    assert Attribution.objects.get(invitee=by_device).blocked_reason == Block.SELF_DEVICE
    twin = factories.member(unionid="u-alice")
    assert attribution.check(twin, alice, link=None) == Block.SELF_OPENID
    same_phone = factories.member(phone="13800000001")
    assert attribution.check(same_phone, alice, link=None) == Block.SELF_PHONE
    assert attribution.check(alice, alice, link=None) == Block.SELF
    by_device.refresh_from_db()
    assert by_device.referrer_id is None  # a blocked attribution is no referrer


def test_a_loop_is_refused(client: Client) -> None:
    a = factories.member()
    b = factories.member(referrer=a)
    # a (who invited b) places an order through b's code
    resolve(client, a, code=code_of(client, b))
    assert attribution.check(a, b, link=None) == Block.LOOP


def test_velocity_by_device_and_ip(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    set_rules(velocity_max=2)
    alice = factories.member()
    code = code_of(client, alice)
    farm = [
        sign_up(
            client,
            django_capture_on_commit_callbacks,
            f"farm-{i}",
            share_code=code,
            anonymous_id="one-device",
        )
        for i in range(4)
    ]
    reasons = [Attribution.objects.get(invitee=m).blocked_reason for m in farm]
    assert reasons[:2] == ["", ""]
    assert set(reasons[2:]) <= {Block.VELOCITY_DEVICE, Block.VELOCITY_IP}
    assert all(reasons[2:])


def test_a_blocked_sharer_earns_nothing(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    alice = factories.member()
    code = code_of(client, alice)
    Member.objects.filter(pk=alice.pk).update(status="blocked")
    invitee = sign_up(client, django_capture_on_commit_callbacks, "x1", share_code=code)
    assert Attribution.objects.get(invitee=invitee).blocked_reason == Block.SHARER_BLOCKED


# --- fixtures ------------------------------------------------------------------------------
def test_fraud_fixture_blocked_100_percent_and_honest_fixture_0_false_blocks(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    set_rules(levels=2, velocity_max=3, freeze_days=0)
    capture = django_capture_on_commit_callbacks
    # honest: 12 friends of 4 sharers, each on their own device and IP, and a 2-level chain
    honest_sharers = [factories.member() for _ in range(4)]
    honest = []
    for index in range(12):
        sharer = honest_sharers[index % 4]
        device = f"sd-{sharer.pk}"
        honest.append(
            _sign_up_from(
                client,
                capture,
                f"honest-{index}",
                code_of(client, sharer, device),
                f"fd-{index}",
                f"10.0.{index}.1",
            )
        )
    for friend in honest[:3]:  # honest first orders, completed and kept
        complete(paid_order(friend))
    honest_ids = {m.pk for m in honest}
    honest_rewards = Reward.objects.filter(invitee_id__in=honest_ids)
    false_blocks = honest_rewards.filter(status=RewardStatus.BLOCKED).exclude(
        reason=Block.TOO_MANY_LEVELS
    )
    assert honest_rewards.filter(level=1).count() == 15  # 12 registrations + 3 first orders
    assert false_blocks.count() == 0

    # fraud: every kind of abuse, each must end blocked (or never rewarded)
    cheat = factories.member(unionid="u-cheat", phone="13900000009")
    cheat_code = code_of(client, cheat, device_id="cheat-dev")
    fraud_attempts = []
    # 1. own device
    fraud_attempts.append(
        _sign_up_from(client, capture, "f-own-dev", cheat_code, "cheat-dev", "10.9.0.1")
    )
    # 2. same WeChat user (unionid) and 3. same phone: checked on existing accounts
    twin = factories.member(unionid="u-cheat")
    same_phone = factories.member(phone="13900000009")
    # 4. a device farm: 6 sign-ups from one device, beyond the velocity limit of 3
    farm = [
        _sign_up_from(client, capture, f"f-farm-{i}", cheat_code, "farm-dev", f"10.8.{i}.1")
        for i in range(6)
    ]
    # 5. an IP farm
    ip_farm = [
        _sign_up_from(client, capture, f"f-ip-{i}", cheat_code, f"ip-dev-{i}", "10.7.7.7")
        for i in range(6)
    ]
    # 6. a loop: the cheat's own referrer buys through the cheat's code
    boss = factories.member()
    Member.objects.filter(pk=cheat.pk).update(referrer=boss)
    resolve(client, boss, code=cheat_code)
    loop_order = complete(paid_order(boss))
    # 7. refund then reward: an invited member's order refunded before the reward is due
    set_rules(freeze_days=7)
    friend = _sign_up_from(
        client, capture, "f-refund", code_of(client, honest_sharers[0], "sd-x"), "fd-r", "10.6.0.1"
    )
    refunded = complete(paid_order(friend))
    refund_fully(refunded, capture)
    release_all()

    verdicts = {
        "own device": Attribution.objects.get(invitee=fraud_attempts[0]).blocked_reason,
        "same unionid": attribution.check(twin, cheat, link=None),
        "same phone": attribution.check(same_phone, cheat, link=None),
        "loop": attribution.check(boss, cheat, link=None),
    }
    farm_extra = [Attribution.objects.get(invitee=m).blocked_reason for m in farm[3:]]
    ip_extra = [Attribution.objects.get(invitee=m).blocked_reason for m in ip_farm[3:]]
    # the loop order earned the cheat nothing
    loop_rewards = Reward.objects.filter(order=loop_order, beneficiary=cheat)
    refund_reward = Reward.objects.get(order=refunded)
    blocked = (
        sum(bool(v) for v in verdicts.values())
        + sum(bool(v) for v in farm_extra)
        + sum(bool(v) for v in ip_extra)
        + (not loop_rewards.exclude(status=RewardStatus.BLOCKED).exists())
        + (refund_reward.status == RewardStatus.CLAWED_BACK)
    )
    total = len(verdicts) + len(farm_extra) + len(ip_extra) + 2
    assert blocked == total, (verdicts, farm_extra, ip_extra)
    # the cheat was paid only for what the velocity limit lets through: the first three
    # sign-ups of each farm (within the limit, they are indistinguishable from friends)
    paid = Reward.objects.filter(beneficiary=cheat, status=RewardStatus.AVAILABLE)
    assert paid.count() == 3 + 3


def _sign_up_from(
    client: Client, capture: Capture, wx_code: str, share_code: str, device: str, ip: str
) -> Member:
    with capture(execute=True):
        response = client.post(
            "/api/v1/auth/wechat-login",
            {"code": wx_code, "share_code": share_code, "anonymous_id": device},
            content_type="application/json",
            REMOTE_ADDR=ip,
        )
    assert response.status_code == 200, response.content
    return Member.objects.get(pk=response.json()["member_id"])


def test_reward_variants_are_split_by_the_experiment(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    set_rules(experiment="share-reward-v1")
    alice = factories.member()
    code = code_of(client, alice)
    for index in range(12):
        _sign_up_from(
            client,
            django_capture_on_commit_callbacks,
            f"ab-{index}",
            code,
            f"ab-{index}",
            f"10.5.{index}.1",
        )
    rows = list(Reward.objects.filter(beneficiary=alice))
    assert {row.variant for row in rows} == {"base", "double"}
    for row in rows:
        assert row.points == (400 if row.variant == "double" else 200)
