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
    factories.operator_with_role("analyst", username="analyst")
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
    # and the quality page shows the model and the A/B block
    page.goto(f"{live_server.url}/console/recommendations/evaluation/")
    page.wait_for_selector("#recs-ab")
    assert "增量转化率" in page.inner_text("#recs-ab")
    screenshot(page, "recommendations-02-quality")
    assert not page.outside_requests
