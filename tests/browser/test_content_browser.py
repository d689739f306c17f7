"""The review queue in a real browser: a reviewer clears 20 items with the
keyboard only (Enter, then A and 1 alternately), and each author sees the
outcome and the reason through the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from miniops.content.models import CaseStatus, ModerationCase, Post, Status
from miniops.content.services import moderation
from miniops.content.tests import factories as content_factories
from miniops.testing import factories
from miniops.testing.factories import TEST_PASSWORD

from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_clears_twenty_items_with_the_keyboard(page: Any, live_server: Any) -> None:
    # given 20 posts waiting in the queue, by one author
    author = factories.member()
    cases = []
    for index in range(20):
        post = content_factories.post(
            author=author, text=f"第{index}条待审核的帖子", status=Status.PENDING
        )
        cases.append(
            ModerationCase.objects.create(
                kind="post", object_id=post.pk, author=author, excerpt=post.text, score=100 - index
            )
        )
    factories.operator_with_role("content_reviewer", username="reviewer2")
    page.goto(f"{live_server.url}/console/login/")
    page.fill("#id_username", "reviewer2")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/console/")
    page.goto(f"{live_server.url}/console/content/queue/")
    # when they press Enter, then A or 1 for each item, never touching the mouse
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("#held-item")
    screenshot(page, "60-review-queue-held")
    for index in range(20):
        with page.expect_navigation():
            page.keyboard.press("a" if index % 2 == 0 else "1")
    screenshot(page, "61-review-queue-cleared")
    # then every case is decided, half approved and half rejected with reason 1
    assert ModerationCase.objects.filter(status=CaseStatus.OPEN).count() == 0
    assert ModerationCase.objects.filter(status=CaseStatus.APPROVED).count() == 10
    assert Post.objects.filter(status=Status.REJECTED).count() == 10
    assert page.locator("#held-item").count() == 0
    # and the author sees each outcome, with the reason, through the API
    access, _refresh = factories.member_tokens(author)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
    states = [item["state"] for item in client.get("/api/v1/me/posts?limit=50").json()["items"]]
    assert sorted(state["status"] for state in states) == ["published"] * 10 + ["rejected"] * 10
    first_reason = str(next(iter(moderation.REASONS.values())))
    assert {s["reason"] for s in states if s["status"] == "rejected"} == {first_reason}
    assert all(s["can_appeal"] for s in states if s["status"] == "rejected")
    assert page.outside_requests == []
