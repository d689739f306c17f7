"""The console: the builder page, the live preview, actions behind dialogs,
the export and the member-360 card, in English and zh-Hans."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from miniops.segments import selectors, services
from miniops.segments.models import Segment
from miniops.segments.tests.helpers import member

pytestmark = pytest.mark.django_db

WOMEN = {"op": "and", "rules": [{"type": "profile", "field": "gender", "value": [2]}]}


def test_add_page_shows_builder(console_as: Any) -> None:
    client = console_as("ops_manager")
    page = client.get(reverse("console:segments_segment_add"))
    assert page.status_code == 200
    assert b'id="segment-builder"' in page.content
    assert b"segments/rule_builder.js" in page.content


def test_preview_posts_count_sample_and_errors(console_as: Any) -> None:
    member(gender=2, nickname="王小明")
    client = console_as("analyst")
    url = reverse("console:segments_preview")
    answer = client.post(url, {"rules": json.dumps(WOMEN)})
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 1
    assert body["sample"][0]["nickname"] == "王**"
    assert body["elapsed_ms"] >= 0
    bad = client.post(url, {"rules": json.dumps({"type": "event", "event": "x", "count": -1})})
    assert bad.status_code == 400
    assert "rules.count" in bad.json()["fields"]
    catalog = client.get(url)
    assert "levels" in catalog.json()["catalog"]


def test_create_through_the_form(console_as: Any) -> None:
    member(gender=2)
    client = console_as("ops_manager")
    answer = client.post(
        reverse("console:segments_segment_add"),
        {
            "name": "女性会员",
            "description": "",
            "kind": "dynamic",
            "refresh_minutes": 15,
            "is_active": "on",
            "rules": json.dumps(WOMEN),
        },
    )
    assert answer.status_code == 302, answer.content[:2000]
    segment = Segment.objects.get(name="女性会员")
    assert segment.member_count == 1


def test_bad_rules_in_the_form_are_400(console_as: Any) -> None:
    client = console_as("ops_manager")
    answer = client.post(
        reverse("console:segments_segment_add"),
        {
            "name": "x",
            "kind": "dynamic",
            "refresh_minutes": 15,
            "rules": '{"op": "and", "rules": [{"type": "nope"}]}',
        },
    )
    assert answer.status_code == 400
    assert not Segment.objects.exists()


def test_recompute_needs_a_post_and_manage(console_as: Any) -> None:
    segment = services.create_segment(actor=None, name="w", rules=WOMEN)
    member(gender=2)
    url = reverse("console:segments_segment_recompute_now", args=[segment.pk])
    analyst = console_as("analyst")
    assert analyst.post(url, {"_form_submitted": "on"}).status_code == 403
    manager = console_as("ops_manager")
    assert manager.get(url).status_code in {200, 403}
    assert selectors.count(segment.pk) == 0
    done = manager.post(url, {"_form_submitted": "on"}, HTTP_HX_REQUEST="true")
    assert done.status_code in {204, 302}
    assert selectors.count(segment.pk) == 1


def test_export_and_member_card(console_as: Any) -> None:
    someone = member(gender=2, nickname="李四")
    segment = services.create_segment(actor=None, name="女性", rules=WOMEN)
    client = console_as("ops_manager")
    csv = client.get(reverse("console:segments_export"), {"segment": segment.pk, "fmt": "csv"})
    assert csv.status_code == 200
    text = b"".join(csv.streaming_content).decode()
    assert str(someone.pk) in text
    assert "李*" in text
    card = client.get(
        reverse("console:members_member_change", args=[someone.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert card.status_code == 200
    assert "女性".encode() in card.content
    assert b'id="member-segments"' in card.content
