"""Sharing in a real browser: an analyst opens the sharing report, sees the
funnel and K-factor charts, the top sharers and the blocked rewards with their
reasons."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from miniops.members.models import Member
from miniops.sharing import services
from miniops.testing import factories

from .conftest import screenshot
from .test_console_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_analyst_reads_the_sharing_report(page: Any, live_server: Any) -> None:
    # given a sharer whose code brought two members, and a self-referral that was blocked
    alice = factories.member(nickname="小红书达人")
    link = services.share(member=alice, target_type="page", page="pages/index/index").link
    cheat = factories.member(nickname="刷单号")
    cheat_link = services.share(
        member=cheat, target_type="page", page="pages/index/index", device_id="cheat-dev"
    ).link
    client = Client()
    for wx, code, anon in (
        ("b1", link.code, "d1"),
        ("b2", link.code, "d2"),
        ("b3", cheat_link.code, "cheat-dev"),
    ):
        response = client.post(
            "/api/v1/auth/wechat-login",
            {"code": wx, "share_code": code, "anonymous_id": anon},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
    assert Member.objects.count() == 5
    factories.operator_with_role("analyst", username="analyst")
    # when the analyst opens the sharing report
    sign_in(page, live_server.url, "analyst")
    page.goto(f"{live_server.url}/console/sharing/report/")
    # then the totals, both charts and the top sharer are there
    page.wait_for_selector("#sharing-funnel canvas")
    page.wait_for_selector("#sharing-k-factor canvas")
    assert "小红书达人" in page.inner_text("#sharing-sharers")
    totals = page.inner_text("#sharing-totals")
    assert "2" in totals
    screenshot(page, "sharing-report")
    # and the blocked rewards list says why
    page.click("#sharing-totals a")
    page.wait_for_selector("#result_list")
    assert "自我推荐" in page.inner_text("#result_list")
    screenshot(page, "sharing-blocked-rewards")
    assert not page.outside_requests
