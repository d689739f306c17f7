"""Console: the member-360 card, pins and exclusions through confirmed dialogs
(audited, permission-checked), settings, the evaluation and A/B page."""

from __future__ import annotations

from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import translation

from miniops.members.models import BrowsingHistory
from miniops.recommendations import services
from miniops.recommendations.models import RecsSettings, Rule
from miniops.recommendations.tests.test_serving import co_purchases, shop

pytestmark = pytest.mark.django_db

BASE = "/console/recommendations"
CONFIRM = {"_form_submitted": "on"}


def signed_in(console_as: Any, role: str) -> Any:
    client = console_as(role)
    client.raise_request_exception = False
    return client


def test_member_page_shows_recommendations_with_reasons(console_as: Any) -> None:
    a, b = co_purchases(shop())
    services.train(actor=None)
    from miniops.testing import factories

    member = factories.member()
    BrowsingHistory.objects.create(member=member, product=a)
    client = signed_in(console_as, "ops_manager")
    page = client.get(f"/console/members/member/{member.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="member-recommendations"' in html
    assert b.title in html
    assert a.title in html  # the reason names what they viewed


def test_pin_and_exclude_are_confirmed_posts_and_audited(console_as: Any) -> None:
    products = shop(1, 3)
    client = signed_in(console_as, "ops_manager")
    url = f"{BASE}/rule/pin/"
    # a GET answers only the dialog
    assert client.get(url).status_code == 200
    assert not Rule.objects.exists()
    response = client.post(url, {**CONFIRM, "product_id": products[0].pk, "position": 2})
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert (rule.kind, rule.position) == ("pin", 2)
    assert LogEntry.objects.filter(
        actor=client.operator, content_type=ContentType.objects.get_for_model(Rule)
    ).exists()
    client.post(f"{BASE}/rule/exclude/", {**CONFIRM, "product_id": products[1].pk})
    assert Rule.objects.filter(kind="exclude", product=products[1]).exists()
    # an unknown product is refused without a rule
    bad = client.post(f"{BASE}/rule/exclude/", {**CONFIRM, "product_id": 99999999})
    assert bad.status_code in (302, 400)
    assert Rule.objects.count() == 2
    # removing
    assert client.post(f"{BASE}/rule/{rule.pk}/remove/", CONFIRM).status_code == 302
    assert not Rule.objects.filter(pk=rule.pk).exists()
    # the analyst reads but writes nothing
    analyst = signed_in(console_as, "analyst")
    assert analyst.get(f"{BASE}/rule/").status_code == 200
    assert analyst.post(url, {**CONFIRM, "product_id": products[2].pk}).status_code == 403
    assert Rule.objects.count() == 1


def test_settings_dialog(console_as: Any) -> None:
    products = shop(1, 1)
    client = signed_in(console_as, "ops_manager")
    response = client.post(
        f"{BASE}/rule/settings/",
        {
            **CONFIRM,
            "category_cap": 2,
            "repurchase_days": 10,
            "consumable_categories": [products[0].category_id],
            "experiment_enabled": "on",
            "holdout_pct": 30,
        },
    )
    assert response.status_code == 302
    row = RecsSettings.objects.get()
    assert (row.category_cap, row.repurchase_days, row.experiment_enabled) == (2, 10, True)
    assert row.holdout_pct == 30
    assert list(row.consumable_categories.all()) == [products[0].category]


def test_evaluation_page(console_as: Any) -> None:
    co_purchases(shop())
    services.train(actor=None)
    services.evaluate(actor=None, test_days=14)
    client = signed_in(console_as, "analyst")
    page = client.get(f"{BASE}/evaluation/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="recs-ab"' in html
    assert 'id="recs-version"' in html


def _impressions() -> None:
    """Two lists of the recommendations arm and one of the popular arm, yesterday;
    two clicks (one repeated) and one on a list of forty days ago."""
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from miniops.analytics.models import Event

    when = timezone.now() - timedelta(days=1)
    old = timezone.now() - timedelta(days=40)

    def event(name: str, at: Any, props: dict[str, Any], uid: str | None = None) -> Event:
        return Event(
            uuid=uid or str(uuid.uuid4()),
            name=name,
            ts=at,
            day=at.date(),
            received_at=at,
            properties=props,
        )

    lists = [
        (
            str(uuid.uuid4()),
            when,
            "recommendations",
            [11, 12, 13, 14],
            ["als", "als", "new", "item_knn"],
        ),
        (str(uuid.uuid4()), when, "recommendations", [11, 15], ["item_knn", "trending"]),
        (str(uuid.uuid4()), when, "popular", [16, 17], ["trending", "trending"]),
        (str(uuid.uuid4()), old, "popular", [18], ["trending"]),
    ]
    rows = [
        event("recs_impression", at, {"arm": arm, "items": items, "sources": kinds}, uid)
        for uid, at, arm, items, kinds in lists
    ]
    first, _second, popular, stale = lists
    rows += [
        event("recs_click", when, {"impression_id": first[0], "product_id": 11}),
        event("recs_click", when, {"impression_id": first[0], "product_id": 11}),
        event("recs_click", when, {"impression_id": popular[0], "product_id": 17}),
        event("recs_click", old, {"impression_id": stale[0], "product_id": 18}),
        event("recs_click", when, "not a dict"),  # type: ignore[arg-type]
    ]
    Event.objects.bulk_create(rows)


def test_click_through_table_chart_and_exports(console_as: Any) -> None:
    from datetime import timedelta

    from miniops.core.timeutils import local_date

    _impressions()
    client = signed_in(console_as, "analyst")
    page = client.get(f"{BASE}/evaluation/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="recs-ctr-table"' in html
    assert 'id="recs-ctr-chart"' in html
    ctr = page.context["ctr_rows"]
    arms = {r["key"]: r for r in ctr if r["table"] == "arms"}
    assert arms["recommendations"]["impressions"] == 2
    assert arms["recommendations"]["shown"] == 6
    assert arms["recommendations"]["clicks"] == 1  # the repeat counted once
    assert arms["popular"]["clicks"] == 1
    assert arms["popular"]["impressions"] == 1  # the old list is outside the period
    bands = [r["key"] for r in ctr if r["table"] == "positions"]
    assert bands == ["1-3", "4-10"]
    sources = {r["key"]: r for r in ctr if r["table"] == "sources"}
    assert (sources["als"]["shown"], sources["als"]["clicks"]) == (2, 1)
    assert sources["trending"]["impressions"] == 2
    # a period covering only forty days ago sees the old list and its click
    day = local_date() - timedelta(days=40)
    older = client.get(f"{BASE}/evaluation/", {"start": day - timedelta(days=1), "end": day})
    assert [
        (r["impressions"], r["clicks"]) for r in older.context["ctr_rows"] if r["table"] == "arms"
    ] == [(1, 1)]
    # exports go through the one export path
    csv = client.get(f"{BASE}/evaluation/", {"fmt": "csv"})
    assert csv.status_code == 200
    assert csv["Content-Type"].startswith("text/csv")
    text = b"".join(csv.streaming_content).decode("utf-8-sig")
    assert all(line.count(",") == 5 for line in text.strip().splitlines())
    assert len(text.strip().splitlines()) == 1 + len(ctr)
    assert client.get(f"{BASE}/evaluation/", {"fmt": "xlsx"}).status_code == 200
    # a period that is not one answers 400 with the form, never a 500 or an export
    bad = client.get(
        f"{BASE}/evaluation/", {"start": "2026-05-01", "end": "2025-01-01", "fmt": "csv"}
    )
    assert bad.status_code == 400
    assert "text/html" in bad["Content-Type"]
    assert client.get(f"{BASE}/evaluation/", {"start": "x"}).status_code == 400


def test_click_through_page_in_chinese(console_as: Any) -> None:
    _impressions()
    client = signed_in(console_as, "ops_manager")
    with translation.override("zh-hans"):
        page = client.get(f"{BASE}/evaluation/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = page.content.decode()
    assert "点击率" in html
    assert "Popularity only" not in html
    assert "Positions" not in html
