"""Reminder requests with several campaigns: each request ("remind me of this
flash sale", "tell me when this SKU is back") is answered by exactly one
delivery, of one campaign that can reach the member, once; a member outside a
campaign's audience keeps the request open, and when it can no longer be
answered it is closed with a reason the member and the operators see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from miniops.notifications.models import Delivery, Watch, WatchKind, WatchOutcome
from miniops.notifications.services import campaigns, sending, watches
from miniops.notifications.tests.engine import audience, campaign
from miniops.testing import factories
from miniops.testing.fake_wechat import SubscribeState

pytestmark = pytest.mark.django_db

REMINDER_DATA = {"thing1": "{product}", "date2": "{date}", "phrase3": "即将开始"}
CART_DATA = {"thing1": "{product}", "thing2": "即将开始"}


def drain() -> None:
    for _ in range(20):
        if not sending.send_due(limit=100).claimed:
            return


def _flash_campaign(template: Any, *, audience_key: str = "", lead: int = 30, **extra: Any) -> Any:
    row = campaign(
        kind="triggered",
        trigger="flash_reminder",
        trigger_value=lead,
        audience=audience_key,
        template=template,
        data=REMINDER_DATA if template.wx_template_id == "SIM-flash-reminder" else CART_DATA,
        page="pages/flash/index",
        quiet_policy="drop",
        **extra,
    )
    campaigns.start(campaign=row, actor=None)
    return row


def _plain_member(wechat: SubscribeState, *templates: Any) -> Any:
    """A member without the ``vip`` tag, with one consent for each template."""
    person = factories.member()
    for template in templates:
        factories.consent(person, template, 1)
        wechat.grant(person.openid, template.wx_template_id, 1)
    return person


def _deliveries_of(row: Watch) -> list[Delivery]:
    return list(Delivery.objects.filter(occurrence=f"{row.kind}:{row.pk}"))


def test_two_flash_campaigns_each_request_answered_once(wechat: SubscribeState) -> None:
    """A general reminder campaign and a newer one for VIPs: the VIP is answered by
    one of them (the targeted one), the other member by the general one — the
    first campaign to plan no longer closes every request of the session."""
    template = factories.message_template("SIM-flash-reminder")
    (vip,) = audience(1, grant=wechat, template=template, remaining=2)
    plain = _plain_member(wechat, template)
    session = factories.flash_session(starts_in_minutes=20, name="晚八点秒杀")
    general = _flash_campaign(template)
    targeted = _flash_campaign(template, audience_key="tag:vip")
    asked = {
        person.pk: watches.watch(member=person, kind=WatchKind.FLASH_SESSION, ref=session.pk)
        for person in (vip, plain)
    }
    assert campaigns.scan_flash_reminders() == 2
    assert campaigns.scan_flash_reminders() == 0
    drain()
    assert sorted(r["openid"] for r in wechat.receipts) == sorted([vip.openid, plain.openid])
    for person, answered_by in ((vip, targeted), (plain, general)):
        row = Watch.objects.get(pk=asked[person.pk].pk)
        assert row.notified_at is not None
        assert row.outcome == WatchOutcome.PLANNED
        assert row.campaign_id == answered_by.pk
        (delivery,) = _deliveries_of(row)
        assert delivery.campaign_id == answered_by.pk
        assert delivery.member_id == person.pk


def test_two_back_in_stock_campaigns_send_one_message_per_request(
    wechat: SubscribeState,
) -> None:
    from miniops.catalog import services as catalog
    from miniops.catalog.models import StockReason

    template = factories.message_template("SIM-cart-reminder")
    (person,) = audience(1, grant=wechat, template=template, remaining=3)
    sku = factories.product(stock=0).skus.get()
    request = watches.watch(member=person, kind=WatchKind.BACK_IN_STOCK, ref=sku.pk)
    for _i in range(2):
        row = campaign(
            kind="triggered",
            trigger="back_in_stock",
            audience="",
            template=template,
            data={"thing1": "{product}", "thing2": "到货啦"},
        )
        campaigns.start(campaign=row, actor=None)
    catalog.adjust_stock(sku=sku, delta=3, reason=StockReason.ADJUSTMENT, actor=None)
    assert campaigns.scan_back_in_stock() == 1
    assert campaigns.scan_back_in_stock() == 0
    drain()
    assert [r["openid"] for r in wechat.receipts] == [person.openid]
    assert len(_deliveries_of(request)) == 1


def test_campaigns_with_different_leads_answer_once(wechat: SubscribeState) -> None:
    template = factories.message_template("SIM-flash-reminder")
    (person,) = audience(1, grant=wechat, template=template, remaining=2)
    session = factories.flash_session(starts_in_minutes=50)
    early = _flash_campaign(template, lead=60)
    _flash_campaign(template, lead=10)
    request = watches.watch(member=person, kind=WatchKind.FLASH_SESSION, ref=session.pk)
    assert campaigns.scan_flash_reminders() == 1
    assert campaigns.scan_flash_reminders(timezone.now() + timedelta(minutes=45)) == 0
    drain()
    assert len(wechat.receipts) == 1
    (delivery,) = _deliveries_of(request)
    assert delivery.campaign_id == early.pk


def test_the_campaign_whose_template_the_member_accepted_answers(
    wechat: SubscribeState,
) -> None:
    """Two campaigns with different templates: the member accepted only the
    second's, so the second answers (the first would have been refused)."""
    first_template = factories.message_template("SIM-flash-reminder")
    second_template = factories.message_template("SIM-cart-reminder")
    person = _plain_member(wechat, second_template)
    session = factories.flash_session(starts_in_minutes=20)
    _flash_campaign(first_template)
    second = _flash_campaign(second_template)
    request = watches.watch(member=person, kind=WatchKind.FLASH_SESSION, ref=session.pk)
    assert campaigns.scan_flash_reminders() == 1
    drain()
    assert [r["template_id"] for r in wechat.receipts] == ["SIM-cart-reminder"]
    (delivery,) = _deliveries_of(request)
    assert delivery.campaign_id == second.pk


def _reminders(api: Client, token: str, state: str = "") -> Any:
    query = f"?state={state}" if state else ""
    return api.get(f"/api/v1/reminders{query}", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_outside_the_audience_the_flash_request_stays_open_then_closes_with_a_reason(
    api: Client, wechat: SubscribeState
) -> None:
    template = factories.message_template("SIM-flash-reminder")
    (vip,) = audience(1, grant=wechat, template=template)
    plain = _plain_member(wechat, template)
    session = factories.flash_session(starts_in_minutes=20)
    _flash_campaign(template, audience_key="tag:vip")
    token, _ = factories.member_tokens(plain)
    theirs = watches.watch(member=plain, kind=WatchKind.FLASH_SESSION, ref=session.pk)
    watches.watch(member=vip, kind=WatchKind.FLASH_SESSION, ref=session.pk)
    assert campaigns.scan_flash_reminders() == 1
    theirs.refresh_from_db()
    assert theirs.notified_at is None  # not closed without a message
    assert [r["id"] for r in _reminders(api, token).json()] == [theirs.pk]
    # the sale starts: nothing can answer it any more
    assert campaigns.scan_flash_reminders(session.starts_at + timedelta(seconds=1)) == 0
    theirs.refresh_from_db()
    assert theirs.notified_at is not None
    assert theirs.outcome == WatchOutcome.NOT_IN_AUDIENCE
    assert theirs.campaign_id is None
    assert _deliveries_of(theirs) == []
    assert _reminders(api, token).json() == []
    (closed,) = _reminders(api, token, "closed").json()
    assert closed["id"] == theirs.pk
    assert closed["state"] == "not_sent"
    assert closed["reason"] == "not_in_audience"
    assert closed["closed_at"]
    drain()
    assert [r["openid"] for r in wechat.receipts] == [vip.openid]


def test_without_consent_or_campaign_the_flash_request_closes_with_that_reason(
    wechat: SubscribeState,
) -> None:
    template = factories.message_template("SIM-flash-reminder")
    nobody_runs = factories.flash_session(starts_in_minutes=20)
    no_consent = factories.flash_session(starts_in_minutes=200)
    person = factories.member()
    idle = watches.watch(member=person, kind=WatchKind.FLASH_SESSION, ref=nobody_runs.pk)
    campaigns.scan_flash_reminders(nobody_runs.starts_at + timedelta(minutes=1))
    idle.refresh_from_db()
    assert idle.outcome == WatchOutcome.NO_CAMPAIGN
    _flash_campaign(template)
    refused = watches.watch(member=person, kind=WatchKind.FLASH_SESSION, ref=no_consent.pk)
    assert campaigns.scan_flash_reminders(no_consent.starts_at - timedelta(minutes=10)) == 0
    refused.refresh_from_db()
    assert refused.notified_at is None  # a consent may still come
    campaigns.scan_flash_reminders(no_consent.starts_at + timedelta(minutes=1))
    refused.refresh_from_db()
    assert refused.outcome == WatchOutcome.NO_CONSENT
    assert not Delivery.objects.exists()


def test_outside_the_audience_back_in_stock_waits_for_a_campaign_that_reaches_them(
    wechat: SubscribeState,
) -> None:
    from miniops.catalog import services as catalog
    from miniops.catalog.models import StockReason

    template = factories.message_template("SIM-cart-reminder")
    (vip,) = audience(1, grant=wechat, template=template)
    plain = _plain_member(wechat, template)
    sku = factories.product(stock=0).skus.get()
    data = {"thing1": "{product}", "thing2": "到货啦"}
    for_vips = campaign(
        kind="triggered", trigger="back_in_stock", audience="tag:vip", template=template, data=data
    )
    campaigns.start(campaign=for_vips, actor=None)
    theirs = watches.watch(member=plain, kind=WatchKind.BACK_IN_STOCK, ref=sku.pk)
    watches.watch(member=vip, kind=WatchKind.BACK_IN_STOCK, ref=sku.pk)
    catalog.adjust_stock(sku=sku, delta=3, reason=StockReason.ADJUSTMENT, actor=None)
    assert campaigns.scan_back_in_stock() == 1
    theirs.refresh_from_db()
    assert theirs.notified_at is None
    everyone = campaign(
        kind="triggered", trigger="back_in_stock", audience="", template=template, data=data
    )
    campaigns.start(campaign=everyone, actor=None)
    assert campaigns.scan_back_in_stock() == 1
    theirs.refresh_from_db()
    assert theirs.campaign_id == everyone.pk
    drain()
    assert sorted(r["openid"] for r in wechat.receipts) == sorted([vip.openid, plain.openid])


def test_consent_is_asked_only_for_campaigns_that_can_reach_the_member(
    wechat: SubscribeState,
) -> None:
    first_template = factories.message_template("SIM-flash-reminder")
    second_template = factories.message_template("SIM-cart-reminder")
    (vip,) = audience(1, template=factories.message_template("SIM-coupon-received"))
    _flash_campaign(first_template, audience_key="tag:vip")
    _flash_campaign(second_template)
    plain = factories.member()
    assert watches.templates_to_ask(WatchKind.FLASH_SESSION, plain.pk) == ["SIM-cart-reminder"]
    assert watches.templates_to_ask(WatchKind.FLASH_SESSION, vip.pk) == [
        "SIM-cart-reminder",
        "SIM-flash-reminder",
    ]
