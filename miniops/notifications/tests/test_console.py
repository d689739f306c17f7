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
