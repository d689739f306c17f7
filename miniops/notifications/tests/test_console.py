"""The console: a campaign created through its form, dry-run, started with a
holdout, its results and the task view; bad forms are 400 and save nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from miniops.notifications.models import Campaign, CampaignStatus, Delivery, Group
from miniops.notifications.services import sending
from miniops.notifications.tests.engine import COUPON_DATA, audience
from miniops.testing import factories
from miniops.testing.fake_wechat import SubscribeState

pytestmark = pytest.mark.django_db
BASE = "/console/notifications"
DIALOG = {"_form_submitted": "1"}


def form(template: Any, **overrides: Any) -> dict[str, Any]:
    import json

    data = {
        "name": "双十二券",
        "kind": "one_off",
        "trigger": "",
        "trigger_value": "0",
        "audience": "tag:vip",
        "template": str(template.pk),
        "data": json.dumps(dict(COUPON_DATA, thing1="满100减10"), ensure_ascii=False),
        "page": "pages/coupon/list",
        "coupon": "",
        "holdout_pct": "10",
        "variants": "[]",
        "send_at": "",
        "cron": "",
        "quiet_policy": "",
        "attribution_days": "7",
    }
    data.update(overrides)
    return data


def test_campaign_from_form_to_results(
    console_as: Callable[..., Client], wechat: SubscribeState
) -> None:
    audience(30, grant=wechat)
    template = factories.message_template()
    client = console_as("ops_manager")
    response = client.post(f"{BASE}/campaign/add/", form(template))
    assert response.status_code == 302, response.content[:2000]
    campaign = Campaign.objects.get()
    assert campaign.created_by == client.operator  # type: ignore[attr-defined]
    dry = client.post(f"{BASE}/campaign/{campaign.pk}/dry-run/", DIALOG)
    assert dry.status_code == 200
    assert b"dry-run" in dry.content
    assert not Delivery.objects.exists()
    started = client.post(f"{BASE}/campaign/{campaign.pk}/start/", DIALOG)
    assert started.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    sending.send_due()
    page = client.get("/console/notifications/results/", {"campaign": campaign.pk})
    assert page.status_code == 200
    assert b"results-uplift" in page.content
    assert Delivery.objects.filter(group=Group.CONTROL).count() == page.context["rows"][1]["units"]
    assert client.get("/console/notifications/tasks/").status_code == 200
    # a running campaign's form is read-only: a POST changes nothing
    client.post(f"{BASE}/campaign/{campaign.pk}/change/", form(template, name="改"))
    campaign.refresh_from_db()
    assert campaign.name == "双十二券"
    assert client.post(f"{BASE}/campaign/{campaign.pk}/pause/", DIALOG).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED


@pytest.mark.parametrize(
    "overrides",
    [
        {"audience": "tag:nobody"},
        {"audience": "nonsense"},
        {"holdout_pct": "-1"},
        {"trigger_value": "-1"},
        {"kind": "recurring", "cron": "61 * * * *"},
        {"kind": "recurring", "cron": "0 0 31 2 *"},
        {"data": '{"thing1": "x"}'},
        {"data": "not json"},
        {"variants": '[{"name": ""}]'},
        {"page": "/abs"},
        {"attribution_days": "1000000000"},
    ],
)
def test_bad_campaign_form_is_400_and_saves_nothing(
    console_as: Callable[..., Client], overrides: dict[str, str]
) -> None:
    audience(1)
    client = console_as("ops_manager")
    response = client.post(f"{BASE}/campaign/add/", form(factories.message_template(), **overrides))
    assert response.status_code == 400
    assert not Campaign.objects.exists()


def test_staff_cannot_start_a_large_campaign(
    console_as: Callable[..., Client], wechat: SubscribeState
) -> None:
    from miniops.notifications.services import update_settings

    audience(3, grant=wechat)
    update_settings(actor=None, approval_threshold=2)
    campaign = factories.push_campaign(audience="tag:vip")
    client = console_as("ops_staff")
    client.post(f"{BASE}/campaign/{campaign.pk}/start/", DIALOG)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert not Delivery.objects.exists()


def test_campaign_list_and_detail_show_the_audience_label_not_its_key(
    console_as: Callable[..., Client], wechat: SubscribeState
) -> None:
    from miniops.core import audiences

    audience(2, grant=wechat)
    previous = dict(audiences._providers)
    audiences.register(
        "segment",
        label="Segment",
        choices=lambda: [],
        member_ids=lambda ref: [],
        describe=lambda ref: "Segment: 沉睡高消费",
    )
    try:
        draft = factories.push_campaign(name="唤醒", audience="segment:12")
        running = factories.push_campaign(name="VIP", audience="tag:vip")
        Campaign.objects.filter(pk=running.pk).update(status=CampaignStatus.RUNNING)
        client = console_as("ops_manager")
        listing = client.get(f"{BASE}/campaign/").content.decode()
        assert "Segment: 沉睡高消费" in listing
        assert "segment:12" not in listing
        detail = client.get(f"{BASE}/campaign/{running.pk}/change/").content.decode()
        assert "tag:vip" not in detail
        assert draft.pk
    finally:
        audiences._providers.clear()
        audiences._providers.update(previous)


def test_results_export_csv_and_xlsx_through_the_export_path(
    console_as: Callable[..., Client], wechat: SubscribeState
) -> None:
    from auditlog.models import LogEntry

    from miniops.notifications.services import campaigns
    from miniops.testing.exports import csv_rows, xlsx_rows

    audience(40, grant=wechat)
    campaign = factories.push_campaign(name="周末推送", audience="tag:vip", holdout_pct=25)
    campaigns.start(campaign=campaign, actor=None)
    sending.send_due()
    client = console_as("analyst")
    before = LogEntry.objects.filter(action=LogEntry.Action.ACCESS).count()
    url = "/console/notifications/results/"
    answer = client.get(url, {"campaign": campaign.pk, "fmt": "csv"})
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    table = csv_rows(answer)
    assert len(table[0]) == 12
    treated = Delivery.objects.filter(campaign=campaign, group=Group.TREATMENT).count()
    held = Delivery.objects.filter(campaign=campaign, group=Group.CONTROL).count()
    # treatment, control, then the three intervals and the cost (labels are translated)
    assert [row[1] for row in table[1:3]] == [str(treated), str(held)]
    assert table[1][2] == str(treated)  # every treated member reached
    assert len(table) == 1 + 2 + 3 + 1
    assert table[-1][9] == "0.00"  # no coupon, no cost
    sheet = xlsx_rows(client.get(url, {"campaign": campaign.pk, "fmt": "xlsx"}))
    assert sheet[1][1] == treated  # numbers stay numbers
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS).count() == before + 2
    # nobody without the view permission gets it
    refused = console_as("customer_service").get(url, {"campaign": campaign.pk, "fmt": "csv"})
    assert refused.status_code in (302, 403)


def test_member_360_shows_consents_deliveries_and_reminders(
    console_as: Callable[..., Client], wechat: SubscribeState
) -> None:
    from miniops.notifications.models import WatchKind
    from miniops.notifications.services import campaigns, watches

    (person,) = audience(1, grant=wechat)
    campaign = factories.push_campaign(name="周末推送", audience="tag:vip")
    campaigns.start(campaign=campaign, actor=None)
    session = factories.flash_session(starts_in_minutes=60)
    watches.watch(member=person, kind=WatchKind.FLASH_SESSION, ref=session.pk)
    page = console_as("ops_manager").get(f"/console/members/member/{person.pk}/change/")
    html = page.content.decode()
    assert 'id="member-push"' in html
    assert "周末推送" in html
    assert f"#{session.pk}" in html
    assert 'id="member-push"' not in (
        console_as("finance").get(f"/console/members/member/{person.pk}/change/").content.decode()
    )


def test_management_api_lists_campaigns_with_labels_and_results(wechat: SubscribeState) -> None:
    from miniops.core.permissions import P
    from miniops.notifications.services import campaigns

    audience(20, grant=wechat)
    campaign = factories.push_campaign(name="周末推送", audience="tag:vip", holdout_pct=20)
    campaigns.start(campaign=campaign, actor=None)
    sending.send_due()
    operator = factories.operator_with_role("ops_manager")
    _, raw = factories.api_token(operator, [P.NOTIFICATIONS_VIEW])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    listed = client.get("/api/v1/manage/notifications/campaigns").json()
    assert [(c["id"], c["audience"]) for c in listed] == [(campaign.pk, "tag:vip")]
    assert listed[0]["audience_label"] != "tag:vip"
    results = client.get(f"/api/v1/manage/notifications/campaigns/{campaign.pk}/results").json()
    treated = Delivery.objects.filter(campaign=campaign, group=Group.TREATMENT).count()
    assert results["groups"]["treatment"]["units"] == treated
    assert results["campaign"]["id"] == campaign.pk
    assert client.get("/api/v1/manage/notifications/campaigns/999999/results").status_code == 404


def test_reminder_requests_page(console_as: Callable[..., Client], wechat: SubscribeState) -> None:
    """Per flash sale / product: open, answered and not-sent requests; one
    target's requests with masked members; read-only, in zh-Hans words."""
    from datetime import timedelta

    from miniops.core.permissions import ROLES, P
    from miniops.notifications.models import Watch, WatchKind
    from miniops.notifications.services import campaigns, watches
    from miniops.notifications.tests.engine import campaign
    from miniops.testing.untranslated import untranslated
    from miniops.testing.visible_text import visible_text

    template = factories.message_template("SIM-flash-reminder")
    (vip,) = audience(1, grant=wechat, template=template)
    plain = factories.member(nickname="王小明")
    session = factories.flash_session(starts_in_minutes=20, name="晚八点秒杀")
    reminder = campaign(
        name="VIP 提醒",
        kind="triggered",
        trigger="flash_reminder",
        trigger_value=30,
        audience="tag:vip",
        template=template,
        data={"thing1": "{product}", "date2": "{date}", "phrase3": "即将开始"},
        quiet_policy="drop",
    )
    campaigns.start(campaign=reminder, actor=None)
    for person in (vip, plain):
        watches.watch(member=person, kind=WatchKind.FLASH_SESSION, ref=session.pk)
    campaigns.scan_flash_reminders()
    sku = factories.product(stock=0, title="无线耳机").skus.get()
    watches.watch(member=plain, kind=WatchKind.BACK_IN_STOCK, ref=sku.pk)
    client = console_as("ops_manager")
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    before = list(Watch.objects.order_by("pk").values())
    url = f"{BASE}/reminders/"
    summary = client.get(url)
    assert summary.status_code == 200
    text = " | ".join(visible_text(summary.content))
    assert "晚八点秒杀" in text
    assert "无线耳机" in text
    listed = client.get(url, {"kind": "flash_session", "ref": session.pk})
    assert listed.status_code == 200
    chunks = visible_text(listed.content)
    page = " | ".join(chunks)
    assert "王**" in page  # masked
    assert "王小明" not in page
    assert "VIP 提醒" in page  # the campaign that answered the VIP
    assert "已由活动回应" in page  # the outcome, in Chinese
    assert "answered by a campaign" not in page
    assert [chunk for chunk in chunks if untranslated(chunk)] == []
    # a GET changes nothing
    assert list(Watch.objects.order_by("pk").values()) == before
    # the sale starts: the plain member's request is closed as not sent, and says why
    campaigns.scan_flash_reminders(session.starts_at + timedelta(minutes=1))
    after = client.get(url, {"kind": "flash_session", "ref": session.pk})
    assert "未发送：不在任何活动的受众中" in " | ".join(visible_text(after.content))
    # bad parameters are the summary, never an error
    for params in (
        {"kind": "x", "ref": "1"},
        {"kind": "flash_session", "ref": "-1"},
        {"kind": "flash_session", "ref": "9" * 30},
    ):
        assert client.get(url, params).status_code == 200
    # a role without the notifications read permission is refused
    outsider = next(
        code for code, role in ROLES.items() if P.NOTIFICATIONS_VIEW not in role.permissions
    )
    assert console_as(str(outsider)).get(url).status_code == 403
