"""Segments in a real browser: an operations manager builds a segment with a
behaviour condition in the rule builder, watches the live count and the sample
change, sees a rule error, saves it, and finds it with its members."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.analytics import lake
from miniops.analytics.tests.helpers import row, store
from miniops.segments.models import Segment
from miniops.segments.tests.helpers import member
from miniops.testing import factories

from .conftest import screenshot
from .test_actions_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operations_manager_builds_a_behaviour_segment(page: Any, live_server: Any) -> None:
    # given members, three of whom viewed products three times this week
    now = timezone.now()
    viewers = [member(nickname=f"浏览者{i}") for i in range(3)]
    member(nickname="路人")
    for who in viewers:
        store(
            *[
                row("product_view", at=now - timedelta(days=1, minutes=i), member_id=who.pk,
                    received_at=now - timedelta(minutes=5), properties={"category": 12})
                for i in range(3)
            ]
        )  # fmt: skip
    lake.reset()
    lake.export(settled_only=False)
    factories.operator_with_role("ops_manager", username="segmanager")
    sign_in(page, live_server, "segmanager")
    # when they open a new segment, the builder shows the example rule's count
    page.goto(f"{live_server.url}/console/segments/segment/add/")
    page.wait_for_selector("#segment-preview-count")
    # and they replace it with a behaviour condition: product_view ≥ 3 in 7 days
    page.click("[data-condition] button")  # remove the example condition
    page.select_option("[data-add-kind]", "event")
    page.click("[data-add]")
    page.fill("[data-condition='event'] input[data-param='event']", "product_view")
    page.fill("[data-condition='event'] input[data-param='count']", "3")
    page.fill("[data-condition='event'] input[data-param='days']", "7")
    # then the live count, the query time and the masked sample follow
    page.wait_for_function("document.getElementById('segment-preview-count')?.textContent === '3'")
    assert page.locator("#segment-preview-time").count() == 1
    assert page.locator("#segment-preview-sample tr").count() == 3
    assert "浏览者" not in page.inner_text("#segment-preview-sample")  # masked: 浏**
    screenshot(page, "40-segment-builder-count")
    # when the count asks for -1 times, the error is shown, not an empty count
    page.fill("[data-condition='event'] input[data-param='count']", "-1")
    page.wait_for_selector("#segment-preview-error")
    assert "count" in page.inner_text("#segment-preview-error")
    screenshot(page, "41-segment-builder-error")
    page.fill("[data-condition='event'] input[data-param='count']", "3")
    page.wait_for_function("document.getElementById('segment-preview-count')?.textContent === '3'")
    # and they name it and save
    page.fill("#id_name", "本周活跃浏览者")
    with page.expect_navigation():
        page.click("input[name=_save], button[name=_save]")
    segment = Segment.objects.get(name="本周活跃浏览者")
    assert segment.member_count == 3
    assert segment.rules["rules"][0]["event"] == "product_view"
    page.goto(f"{live_server.url}/console/segments/segment/{segment.pk}/change/")
    screenshot(page, "42-segment-detail")
    assert page.outside_requests == []
