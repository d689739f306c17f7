"""Recommendations in a real browser: an analyst opens a member's page and reads
what the member would be recommended and why, then the quality page."""

from __future__ import annotations

from typing import Any

import pytest

from miniops.members.models import BrowsingHistory
from miniops.recommendations import services
from miniops.recommendations.tests.test_serving import co_purchases, shop
from miniops.testing import factories

from .conftest import screenshot
from .test_console_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_analyst_reads_a_members_recommendations_with_reasons(page: Any, live_server: Any) -> None:
    # given a shop where two products are bought together, a trained model, and a
    # member who viewed the first one
    a, b = co_purchases(shop())
    services.train(actor=None)
    member = factories.member(nickname="小推")
    BrowsingHistory.objects.create(member=member, product=a)
    factories.operator_with_role("analyst", username="analyst", display_name="李分析")
    # when the analyst signs in and opens the member
    sign_in(page, live_server.url, "analyst")
    page.wait_for_url(f"{live_server.url}/console/")
    page.goto(f"{live_server.url}/console/members/member/{member.pk}/change/")
    card = page.locator("#member-recommendations")
    card.wait_for()
    text = card.inner_text()
    # then the card lists the product bought with the one they viewed, and says why
    first = card.locator("li").first.inner_text()
    assert b.title in first
    assert a.title in first
    assert "一起购买" in first or "浏览过" in first
    assert len(card.locator("li").all()) >= 5
    assert "热门" in text  # the rest is trending in its category
    card.scroll_into_view_if_needed()
    screenshot(page, "recommendations-01-member-card")
    # and the quality page shows the model and the A/B effect of the holdout: each
    # group's members shown a list, conversion and GMV, and the incremental effect
    # with its interval
    _ab_fixture()
    page.goto(f"{live_server.url}/console/recommendations/evaluation/")
    page.wait_for_selector("#recs-ab-table")
    block = page.inner_text("#recs-ab")
    assert "增量转化率" in block
    assert "看到推荐列表的会员" in block
    assert page.locator("#recs-ab-table tr[data-arm]").count() == 2
    assert page.inner_text("#recs-ab-table tr[data-arm=recommendations]").split("\t")[1] == "20"
    assert "[" in page.inner_text("[data-effect=conversion]")
    assert "¥" in page.inner_text("[data-effect=gmv]")
    page.locator("#recs-ab").scroll_into_view_if_needed()
    screenshot(page, "recommendations-02-quality")
    # the same in English
    page.click("text=李分析")
    page.click("form:has(input[name=language][value=en]) button")
    page.wait_for_selector("html[lang=en]")
    page.goto(f"{live_server.url}/console/recommendations/evaluation/")
    page.wait_for_selector("#recs-ab-table")
    block = page.inner_text("#recs-ab")
    assert "Incremental conversion" in block
    assert "Members shown a list" in block
    page.locator("#recs-ab").scroll_into_view_if_needed()
    screenshot(page, "recommendations-03-quality-en")
    assert not page.outside_requests


def _ab_fixture() -> None:
    """The split on at 50 %, 20 members shown a list in each group; 8 of the
    recommendations group and 4 of the popularity group bought within the week."""
    from datetime import timedelta

    from django.utils import timezone

    from miniops.analytics.models import Event
    from miniops.orders.models import Order
    from miniops.recommendations import selectors
    from miniops.recommendations.tests.test_ab import _impression, _order, _split

    _split(50)
    now = timezone.now()
    events, orders = [], []
    for arm, buyers in ((selectors.TREATED, 8), (selectors.CONTROL, 4)):
        for index in range(20):
            member = factories.member(nickname=f"{arm[:3]}{index}")
            events.append(_impression(member.pk, now - timedelta(days=3), arm))
            if index < buyers:
                orders.append(_order(member.pk, now - timedelta(days=2)))
    Event.objects.bulk_create(events)
    Order.objects.bulk_create(orders)
