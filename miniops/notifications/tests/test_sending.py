"""The delivery engine against the fake WeChat server: exactly once, errors
mapped, consent consumed once, quiet hours, caps, crashes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.core import ledger
from miniops.core.errors import DomainError
from miniops.core.ledger import LedgerState
from miniops.notifications.models import Campaign, CampaignStatus, Consent, Delivery, Group
from miniops.notifications.selectors import push_settings
from miniops.notifications.services import campaigns, sending
from miniops.notifications.tests.engine import audience, campaign
from miniops.testing import factories
from miniops.testing.fake_wechat import Answer, SubscribeState

pytestmark = pytest.mark.django_db
SEND = SubscribeState.SEND


def drain() -> None:
    for _ in range(20):
        if not sending.send_due(limit=100).claimed:
            return


def test_one_off_campaign_sends_once_with_cid_and_holdout(wechat: SubscribeState) -> None:
    people = audience(40, grant=wechat)
    row = campaign(holdout_pct=25)
    result = campaigns.start(campaign=row, actor=None)
    assert result["treatment"] + result["control"] == 40
    assert result["control"] > 0
    drain()
    sent = Delivery.objects.filter(campaign=row, state=LedgerState.DONE, reason="sent")
    held = Delivery.objects.filter(campaign=row, group=Group.CONTROL)
    assert sent.count() == result["treatment"] == len(wechat.receipts)
    assert set(held.values_list("reason", flat=True)) == {"holdout"}
    assert not {r["openid"] for r in wechat.receipts} & {
        p.openid for p in people if p.pk in set(held.values_list("member_id", flat=True))
    }
    assert {r["page"] for r in wechat.receipts} == {f"pages/coupon/list?cid=c{row.pk}"}
    assert Consent.objects.filter(remaining=0).count() == result["treatment"]
    # planning again (a retried start, a second tick) adds nothing; nothing is resent
    assert campaigns.plan(row, [p.pk for p in people])["planned"] == 0
    drain()
    assert len(wechat.receipts) == result["treatment"]
    assert campaigns.tick()["completed"] == 1
    row.refresh_from_db()
    assert row.status == CampaignStatus.COMPLETED


def test_holdout_is_stable_and_near_its_share(wechat: SubscribeState) -> None:
    row = campaign(holdout_pct=10)
    groups = [campaigns.split(row, member_id)[0] for member_id in range(1, 5001)]
    share = groups.count(Group.CONTROL) / len(groups)
    assert 0.08 < share < 0.12
    assert groups == [campaigns.split(row, member_id)[0] for member_id in range(1, 5001)]


def test_member_without_consent_is_left_out_and_never_sent(wechat: SubscribeState) -> None:
    audience(2, grant=wechat)
    audience(3, grant=wechat, remaining=0)
    row = campaign()
    assert campaigns.dry_run(campaign=row)["no_consent"] == 3
    assert campaigns.start(campaign=row, actor=None)["planned"] == 2
    drain()
    assert len(wechat.receipts) == 2
    assert wechat.refused == {}


def test_consent_gone_at_wechat_is_final_and_resets_consent(wechat: SubscribeState) -> None:
    audience(1)  # consent here, none at WeChat (the member's grant was used elsewhere)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    drain()
    delivery = Delivery.objects.get(campaign=row)
    assert (delivery.state, delivery.reason, delivery.errcode) == (
        LedgerState.FAILED,
        "no_consent_wechat",
        43101,
    )
    assert Consent.objects.get().remaining == 0


def test_bad_field_answer_is_final_with_the_field(wechat: SubscribeState) -> None:
    audience(1, grant=wechat)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    wechat.server.script(
        SEND, {"errcode": 47003, "errmsg": "argument invalid! data.thing1.value invalid"}
    )
    drain()
    delivery = Delivery.objects.get(campaign=row)
    assert (delivery.state, delivery.reason) == (LedgerState.FAILED, "invalid_field")
    assert "thing1" in delivery.detail


def test_value_wechat_would_refuse_is_never_sent(wechat: SubscribeState) -> None:
    audience(1, grant=wechat)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    Campaign.objects.filter(pk=row.pk).update(data={**row.data, "amount2": "ten yuan"})
    drain()
    delivery = Delivery.objects.get(campaign=row)
    assert (delivery.state, delivery.reason) == (LedgerState.FAILED, "invalid_field")
    assert delivery.detail.startswith("amount2")
    assert wechat.server.calls(SEND) == []
    assert Consent.objects.get().remaining == 1  # nothing sent, nothing taken


def test_busy_is_retried_with_consent_given_back(wechat: SubscribeState) -> None:
    audience(1, grant=wechat)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    wechat.busy = 1
    sending.send_due()
    delivery = Delivery.objects.get(campaign=row)
    assert (delivery.state, delivery.reason) == (LedgerState.QUEUED, "busy")
    assert delivery.due_at > timezone.now()
    assert Consent.objects.get().remaining == 1
    Delivery.objects.filter(pk=delivery.pk).update(due_at=timezone.now())
    drain()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.reason) == (LedgerState.DONE, "sent")
    assert len(wechat.receipts) == 1
    assert Consent.objects.get().remaining == 0


def test_rate_limit_answer_is_retried(wechat: SubscribeState) -> None:
    audience(1, grant=wechat)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    wechat.server.script(SEND, {"errcode": 45009, "errmsg": "reach max api daily quota limit"})
    sending.send_due()
    assert Delivery.objects.get(campaign=row).reason == "rate_limited"


def test_a_send_that_may_have_reached_wechat_is_doubt_not_repeated(wechat: SubscribeState) -> None:
    audience(1, grant=wechat)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    wechat.server.script(SEND, Answer({"error": "bad gateway"}, status=502))
    drain()
    delivery = Delivery.objects.get(campaign=row)
    assert (delivery.state, delivery.reason) == (LedgerState.DOUBT, "no_answer")
    assert Consent.objects.get().remaining == 0  # it may have been used
    drain()
    assert len(wechat.server.calls(SEND)) == 1


def test_worker_killed_between_claim_and_finish_leaves_doubt(wechat: SubscribeState) -> None:
    audience(3, grant=wechat)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    claimed = ledger.claim(sending.pending(), limit=2)  # a worker claims two, then dies
    assert len(claimed) == 2
    Delivery.objects.filter(pk__in=[r.pk for r in claimed]).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    # one of them had started its send (consent taken, request on its way)
    Delivery.objects.filter(pk=claimed[0].pk).update(sent_at=timezone.now())
    assert sending.recover() == 1
    drain()
    states = sorted(Delivery.objects.values_list("state", flat=True))
    assert states == [LedgerState.DONE, LedgerState.DONE, LedgerState.DOUBT]
    assert len(wechat.receipts) == 2


def test_a_lease_that_runs_out_without_a_send_never_becomes_doubt(wechat: SubscribeState) -> None:
    """A slow batch, not a dead worker: rows whose lease ran out before their send
    started go back to the queue, whenever recovery looks at them."""
    audience(2, grant=wechat)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    claimed = ledger.claim(sending.pending(), limit=2)
    Delivery.objects.filter(pk__in=[r.pk for r in claimed]).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    # the first statement of recovery requeues only what had expired at its own
    # ``now``; a row expiring a moment later must not be caught by the second
    original = ledger.recover_expired
    calls: list[bool] = []

    def later_second_call(queryset: Any, *, retry_safe: bool, now: Any = None) -> int:
        calls.append(retry_safe)
        if not retry_safe:
            Delivery.objects.filter(pk=claimed[1].pk).update(
                state=LedgerState.CLAIMED, lease_until=timezone.now() - timedelta(seconds=1)
            )
        return original(queryset, retry_safe=retry_safe, now=now)

    ledger.recover_expired = later_second_call  # type: ignore[assignment]
    try:
        assert sending.recover() == 0
    finally:
        ledger.recover_expired = original  # type: ignore[assignment]
    assert calls == [True, False]
    assert not Delivery.objects.filter(state=LedgerState.DOUBT).exists()


def test_starting_a_send_renews_the_lease(wechat: SubscribeState) -> None:
    audience(1, grant=wechat)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    seen: list[Any] = []
    provider_send = sending.subscribe_provider.get().send

    def watch(**kwargs: Any) -> str:
        seen.append(Delivery.objects.get(campaign=row).lease_until)
        return provider_send(**kwargs)

    sender = sending.Sender(push_settings())
    sender.provider = type("P", (), {"send": staticmethod(watch)})()
    claimed = ledger.claim(sending.pending(), limit=1, lease=timedelta(seconds=1))
    Delivery.objects.filter(pk=claimed[0].pk).update(
        lease_until=timezone.now() + timedelta(milliseconds=1)
    )
    sender.run(claimed)
    assert seen[0] > timezone.now() + sending.lease() - timedelta(seconds=30)


@pytest.mark.parametrize(
    ("local", "start", "end", "until"),
    [
        ("23:30", "22:00", "08:00", "next 08:00"),
        ("03:00", "22:00", "08:00", "same 08:00"),
        ("08:00", "22:00", "08:00", None),
        ("21:59", "22:00", "08:00", None),
        ("13:00", "12:00", "14:00", "same 14:00"),
        ("11:00", "12:00", "14:00", None),
        ("03:00", "00:00", "00:00", None),
    ],
)
def test_quiet_hours_across_midnight(local: str, start: str, end: str, until: str | None) -> None:
    from miniops.core.timeutils import business_tz

    tz = business_tz()
    hour, minute = map(int, local.split(":"))
    moment = datetime(2026, 12, 2, hour, minute, tzinfo=tz).astimezone(UTC)
    got = sending.quiet_until(moment, time.fromisoformat(start), time.fromisoformat(end))
    if until is None:
        assert got is None
        return
    day, at = until.split()
    expected = datetime(2026, 12, 3 if day == "next" else 2, *map(int, at.split(":")), tzinfo=tz)
    assert got == expected


def test_quiet_hours_defer_without_spending_attempts_or_drop(wechat: SubscribeState) -> None:
    audience(2, grant=wechat)
    settings_row = push_settings()
    settings_row.quiet_start, settings_row.quiet_end = time(0, 0), time(23, 59, 59)
    settings_row.save()
    deferred = campaign(name="defer")
    dropped = campaign(name="drop", quiet_policy="drop")
    campaigns.start(campaign=deferred, actor=None)
    campaigns.start(campaign=dropped, actor=None)
    sending.send_due()
    for row in Delivery.objects.filter(campaign=deferred):
        assert (row.state, row.reason, row.attempts) == (LedgerState.QUEUED, "quiet_hours", 0)
        assert row.due_at > timezone.now()
    assert set(Delivery.objects.filter(campaign=dropped).values_list("reason", flat=True)) == {
        "quiet_hours"
    }
    assert wechat.receipts == []


def test_daily_cap_holds_across_campaigns(wechat: SubscribeState) -> None:
    audience(1, grant=wechat, remaining=5)
    settings_row = push_settings()
    settings_row.daily_cap = 2
    settings_row.save()
    rows = [campaign(name=f"c{i}") for i in range(3)]
    for row in rows:
        campaigns.start(campaign=row, actor=None)
    drain()
    reasons = sorted(Delivery.objects.values_list("reason", flat=True))
    assert reasons == ["capped_day", "sent", "sent"]
    assert len(wechat.receipts) == 2
    assert Consent.objects.get().remaining == 3


def test_pause_resume_cancel(wechat: SubscribeState) -> None:
    audience(3, grant=wechat)
    row = campaign()
    campaigns.start(campaign=row, actor=None)
    campaigns.pause(campaign=row, actor=None)
    drain()
    assert wechat.receipts == []
    campaigns.resume(campaign=row, actor=None)
    sending.send_due(limit=1)
    assert len(wechat.receipts) == 1
    assert campaigns.cancel(campaign=row, actor=None) == 2
    drain()
    assert len(wechat.receipts) == 1
    with pytest.raises(DomainError) as info:
        campaigns.resume(campaign=row, actor=None)
    assert info.value.status == 409


def test_coupon_campaign_issues_once_and_says_so(wechat: SubscribeState) -> None:
    from miniops.marketing.models import Coupon

    people = audience(2, grant=wechat)
    coupon = factories.coupon_template(name="满100减10")
    row = campaign(coupon=coupon, data=dict(campaign().data, thing1="{coupon_name}"))
    campaigns.start(campaign=row, actor=None)
    drain()
    assert Coupon.objects.filter(template=coupon, source=f"campaign:{row.pk}").count() == 2
    assert {r["data"]["thing1"]["value"] for r in wechat.receipts} == {"满100减10"}
    assert Delivery.objects.filter(campaign=row, coupon_id__isnull=False).count() == len(people)


def test_large_campaign_needs_send_permission(wechat: SubscribeState) -> None:
    audience(3, grant=wechat)
    settings_row = push_settings()
    settings_row.approval_threshold = 2
    settings_row.save()
    staff = factories.operator_with_role("ops_staff")
    with pytest.raises(DomainError) as info:
        campaigns.start(campaign=campaign(), actor=staff)
    assert info.value.status == 403
    manager = factories.operator_with_role("ops_manager")
    assert campaigns.start(campaign=campaign(name="b"), actor=manager)["planned"] == 3


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"audience": ""}, "audience"),
        ({"audience": "tag:nobody"}, None),
        ({"audience": "bogus:1"}, None),
        ({"kind": "recurring", "cron": "not cron"}, "cron"),
        ({"kind": "recurring", "cron": "0 0 30 2 *"}, "cron"),
        ({"kind": "triggered", "trigger": ""}, "trigger"),
        ({"kind": "triggered", "trigger": "abandoned_cart", "trigger_value": 1}, "trigger_value"),
        (
            {"kind": "triggered", "trigger": "coupon_expiring", "trigger_value": 10**9},
            "trigger_value",
        ),
        ({"template": None}, "template"),
        ({"holdout_pct": 90}, "holdout_pct"),
        ({"page": "/pages/x"}, "page"),
        ({"data": {"thing1": "x"}}, "data"),
        (
            {
                "data": {
                    **{"thing1": "{nope}"},
                    "amount2": "¥1",
                    "date3": "2026年1月1日",
                    "thing4": "a",
                }
            },
            "data",
        ),
        (
            {"data": {"thing1": "a", "amount2": "lots", "date3": "2026年1月1日", "thing4": "a"}},
            "data",
        ),
        ({"variants": [{"name": "", "data": {}}]}, "variants"),
        ({"variants": [{"name": "B", "weight": -1}]}, "variants"),
        ({"variants": "B"}, "variants"),
    ],
)
def test_bad_campaigns_are_refused(fields: dict[str, Any], field: str | None) -> None:
    audience(1)
    with pytest.raises(DomainError) as info:
        campaigns.validate(campaign(**fields))
    assert info.value.status == 400
    if field:
        assert field in info.value.fields


def test_recurring_campaign_runs_on_its_cron(wechat: SubscribeState) -> None:
    audience(2, grant=wechat, remaining=3)
    row = campaign(kind="recurring", cron="0 10 * * *")
    campaigns.start(campaign=row, actor=None)
    row.refresh_from_db()
    assert row.status == CampaignStatus.SCHEDULED
    first = row.next_run_at
    campaigns.tick(now=first + timedelta(seconds=1))
    drain()
    assert len(wechat.receipts) == 2
    campaigns.tick(now=first + timedelta(seconds=2))
    row.refresh_from_db()
    assert row.status == CampaignStatus.SCHEDULED
    assert row.next_run_at == first + timedelta(days=1)


def test_order_shipped_notice_goes_through_the_ledger(wechat: SubscribeState) -> None:
    from miniops.notifications.services import update_settings
    from miniops.orders import services as order_services

    shipped = factories.message_template("SIM-order-shipped")
    update_settings(actor=None, order_shipped=shipped)
    order = factories.order(paid=True)
    factories.consent(order.member, shipped)
    wechat.grant(order.member.openid, shipped.wx_template_id)
    order_services.ship_order(order=order, carrier="SF", tracking_no="SF123456789", actor=None)
    drain()
    delivery = Delivery.objects.get(campaign__kind="transactional")
    assert (delivery.state, delivery.reason) == (LedgerState.DONE, "sent")
    assert wechat.receipts[0]["data"]["character_string1"]["value"] == order.number


def test_abandoned_cart_and_expiring_coupon_triggers(wechat: SubscribeState) -> None:
    from miniops.marketing.models import Coupon
    from miniops.orders.models import CartItem

    cart_template = factories.message_template("SIM-cart-reminder")
    (person,) = audience(1, grant=wechat, template=cart_template)
    sku = factories.product(price=5000, stock=10).skus.first()
    item = CartItem.objects.create(member=person, sku=sku, quantity=1, price_when_added=5000)
    CartItem.objects.filter(pk=item.pk).update(updated_at=timezone.now() - timedelta(minutes=90))
    cart = campaign(
        kind="triggered",
        trigger="abandoned_cart",
        trigger_value=60,
        audience="",
        template=cart_template,
        data={"thing1": "{nickname}的购物车", "thing2": "商品还在等你"},
    )
    campaigns.start(campaign=cart, actor=None)
    assert campaigns.scan_abandoned_carts() == 1
    assert campaigns.scan_abandoned_carts() == 0  # the same cart, once
    expiring = factories.message_template("SIM-coupon-expiring")
    factories.consent(person, expiring)
    wechat.grant(person.openid, expiring.wx_template_id)
    coupon = factories.member_coupon(member=person)
    Coupon.objects.filter(pk=coupon.pk).update(valid_until=timezone.now() + timedelta(days=1))
    reminder = campaign(
        kind="triggered",
        trigger="coupon_expiring",
        trigger_value=3,
        audience="",
        template=expiring,
        data={"thing1": "{coupon_name}", "date2": "{coupon_expires}", "thing3": "别错过"},
    )
    campaigns.start(campaign=reminder, actor=None)
    assert campaigns.scan_expiring_coupons() == 1
    drain()
    assert len(wechat.receipts) == 2


def test_entering_a_segment_triggers_its_welcome_campaign(wechat: SubscribeState) -> None:
    from miniops.core import audiences

    people = audience(3, grant=wechat)
    ids = [p.pk for p in people]
    previous = dict(audiences._providers)
    audiences.register(
        "segment",
        label="segment",
        choices=lambda: [],
        member_ids=lambda ref: ids if ref == "12" else [],
    )
    try:
        row = campaign(kind="triggered", trigger="segment_entered", audience="segment:12")
        campaigns.start(campaign=row, actor=None)
        at = timezone.now()
        assert campaigns.on_segment_entered(segment_id=12, member_ids=ids[:2], at=at) == 2
        assert campaigns.on_segment_entered(segment_id=12, member_ids=ids[:2], at=at) == 0
        assert campaigns.on_segment_entered(segment_id=99, member_ids=ids, at=at) == 0
        drain()
        assert len(wechat.receipts) == 2
    finally:
        audiences._providers.clear()
        audiences._providers.update(previous)


def test_a_batch_is_dealt_in_chunks_with_a_member_once_per_chunk() -> None:
    from types import SimpleNamespace

    def ready(pk: int, member: int) -> Any:
        return SimpleNamespace(row=SimpleNamespace(pk=pk, member_id=member))

    items = [ready(1, 10), ready(2, 10), ready(3, 11), ready(4, 10), ready(5, 12), ready(6, 13)]
    chunks = sending._chunks(items, 2)
    assert [[i.row.pk for i in chunk] for chunk in chunks] == [[1, 3], [2, 5], [4, 6]]
    for chunk in chunks:
        assert len({i.row.member_id for i in chunk}) == len(chunk)


def test_one_member_in_two_campaigns_of_one_batch_is_capped_and_consents_once(
    wechat: SubscribeState,
) -> None:
    """Both rows land in one claimed batch (different chunks): the second sees the
    first's send for the cap and its consent already taken."""
    audience(1, grant=wechat, remaining=1)
    rows = [campaign(name=f"b{i}") for i in range(2)]
    for row in rows:
        campaigns.start(campaign=row, actor=None)
    result = sending.send_due(limit=10, threads=4)
    assert result.claimed == 2
    reasons = sorted(Delivery.objects.values_list("reason", flat=True))
    assert reasons == ["no_consent", "sent"]
    assert len(wechat.receipts) == 1
    skipped = Delivery.objects.get(reason="no_consent")
    assert skipped.sent_at is None
    assert skipped.state == LedgerState.SKIPPED
