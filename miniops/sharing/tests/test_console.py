"""The sharing console: report (figures equal a hand count, K-factor too),
exports, rules edited through the service with an audit row, blocked rewards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.utils import timezone

from miniops.core.timeutils import local_date
from miniops.members.models import Member
from miniops.sharing import selectors
from miniops.sharing.models import ShareRules
from miniops.sharing.services import attribution
from miniops.sharing.tests.helpers import card, login, resolve
from miniops.testing import factories

pytestmark = pytest.mark.django_db
Capture = Callable[..., Any]


def _campaign(client: Client, capture: Capture) -> tuple[Member, Member]:
    """Two sharers: alice shares twice, brings 3 visits and 2 members; bob shares
    once, brings 1 visit and a self-referral that is blocked."""
    alice, bob = factories.member(nickname="Alice"), factories.member(nickname="Bob")
    code_a = card(client, alice, target_type="page", page="pages/index/index").json()["code"]
    card(client, alice, target_type="page", page="pages/index/index")
    code_b = card(
        client, bob, target_type="page", page="pages/index/index", device_id="bob-dev"
    ).json()["code"]
    for anon in ("v1", "v2", "v3"):
        resolve(client, code=code_a, anonymous_id=anon)
    resolve(client, code=code_b, anonymous_id="bob-dev")
    for wx, anon in (("n1", "v1"), ("n2", "v2")):
        with capture(execute=True):
            login(client, code=wx, anonymous_id=anon)
    with capture(execute=True):
        login(client, code="n3", anonymous_id="bob-dev", share_code=code_b)
    return alice, bob


def test_the_report_counts_equal_a_hand_count_and_the_k_factor(
    client: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    alice, _bob = _campaign(client, django_capture_on_commit_callbacks)
    today = local_date()
    report = selectors.report(today - timedelta(days=1), today)
    assert report.totals["shares"] == 3
    assert report.totals["visits"] == 4
    assert report.totals["registrations"] == 2  # bob's self-referral does not count
    assert report.totals["blocked"] == 1
    assert report.by_sharer[0]["sharer_id"] == alice.pk
    day = report.daily[-1]
    # 2 new members from shares ÷ 2 members who shared today
    assert (day["sharers"], day["new_members"], day["k_factor"]) == (2, 2, 1.0)
    assert day["cycle_hours"] is not None


def test_the_report_page_renders_and_exports_for_the_analyst(
    client: Client, console_as: Callable[..., Client], django_capture_on_commit_callbacks: Capture
) -> None:
    _campaign(client, django_capture_on_commit_callbacks)
    analyst = console_as("analyst")
    page = analyst.get("/console/sharing/report/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Alice" in text
    assert 'id="sharing-funnel"' in text
    exported = analyst.get("/console/sharing/report/?table=sharers&fmt=csv")
    assert exported.status_code == 200
    assert b"Alice" in b"".join(exported.streaming_content)  # type: ignore[attr-defined]
    assert analyst.get("/console/sharing/report/?start=2026-13-01").status_code == 400
    blocked = analyst.get("/console/sharing/reward/?status__exact=blocked")
    assert blocked.status_code == 200
    assert "自我推荐" in blocked.content.decode()  # the console speaks zh-Hans by default


def test_rules_are_edited_through_the_service_and_audited(
    console_as: Callable[..., Client],
) -> None:
    manager = console_as("ops_manager")
    rule = attribution.rules()
    url = f"/console/sharing/sharerules/{rule.pk}/change/"
    data = {
        "model": "first_touch",
        "window_days": 14,
        "reward_kind": "points",
        "registration_points": 300,
        "first_order_points": 500,
        "second_level_points": 100,
        "levels": 3,
        "freeze_days": 7,
        "velocity_max": 3,
        "velocity_hours": 24,
        "experiment": "",
        "reward_registration": "on",
        "reward_first_order": "on",
    }
    refused = manager.post(url, data)
    assert refused.status_code in (200, 400)
    assert ShareRules.objects.get().levels == 1
    data["levels"] = 2
    saved = manager.post(url, data)
    assert saved.status_code == 302, saved.content[:2000]
    row = ShareRules.objects.get()
    assert (row.model, row.window_days, row.levels, row.registration_points) == (
        "first_touch",
        14,
        2,
        300,
    )
    entry = LogEntry.objects.filter(content_type__model="sharerules").latest("timestamp")
    assert entry.actor == manager.operator  # type: ignore[attr-defined]
    assert "window_days" in entry.changes_dict
    # the analyst reads the rules and cannot change them
    assert console_as("analyst").post(url, data).status_code == 403
    assert timezone.now()
