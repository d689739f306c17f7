"""An operations manager sends a coupon campaign with a 10 % control group to an
audience and reads its result page, in a real browser."""

from __future__ import annotations

import json
from typing import Any

import pytest

from miniops.notifications.models import Campaign, CampaignStatus, Delivery, Group
from miniops.notifications.services import sending
from miniops.testing import factories

from .conftest import screenshot
from .test_actions_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_coupon_campaign_with_holdout_and_its_results(page: Any, live_server: Any) -> None:
    from miniops.members.models import MemberTag

    # given members tagged "复购" who allowed the coupon message, and a coupon
    factories.operator_with_role("ops_manager", username="pushmanager")
    template = factories.message_template()
    tag = MemberTag.objects.create(name="复购")
    for _ in range(40):
        person = factories.member()
        person.tags.add(tag)
        factories.consent(person, template)
    coupon = factories.coupon_template(name="满100减10")
    sign_in(page, live_server, "pushmanager")

    # when they create the campaign through its form
    page.goto(f"{live_server.url}/console/notifications/campaign/add/")
    page.fill("#id_name", "复购券推送")
    page.select_option("#id_kind", "one_off")
    page.select_option("#id_audience", "tag:复购")
    page.select_option("#id_template", str(template.pk))
    page.fill(
        "#id_data",
        json.dumps(
            {
                "thing1": "{coupon_name}",
                "amount2": "¥10",
                "date3": "2026年12月31日",
                "thing4": "{nickname}，券已到账",
            },
            ensure_ascii=False,
        ),
    )
    page.fill("#id_page", "pages/coupon/list")
    page.select_option("#id_coupon", str(coupon.pk))
    page.fill("#id_holdout_pct", "10")
    with page.expect_navigation():
        page.click("button[name=_continue]")
    campaign = Campaign.objects.get(name="复购券推送")
    assert campaign.holdout_pct == 10

    # and start it from its confirmation dialog
    page.goto(f"{live_server.url}/console/notifications/campaign/{campaign.pk}/change/")
    page.click("a[href$='/start/']")
    page.wait_for_selector("#dialog button[type=submit]")
    screenshot(page, "40-push-start-dialog")
    with page.expect_navigation():
        page.click("#dialog button[type=submit]")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    sending.send_due()  # the worker's job

    # then the control group was never messaged, and the result page compares
    control = Delivery.objects.filter(campaign=campaign, group=Group.CONTROL)
    assert control.exists()
    assert not control.filter(sent_at__isnull=False).exists()
    page.goto(f"{live_server.url}/console/notifications/results/?campaign={campaign.pk}")
    page.wait_for_selector("#results-uplift")
    screenshot(page, "41-push-results")
    table = page.locator("#results-groups").inner_text()
    assert "对照组" in table
    assert "实验组" in table
    assert page.locator("#results-chart").count() == 1
    assert page.outside_requests == []
