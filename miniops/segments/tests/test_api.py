"""The management API of segments: the list with counts, members by pages."""

from __future__ import annotations

import pytest
from django.test import Client

from miniops.core.permissions import P
from miniops.segments import services
from miniops.segments.tests.helpers import member
from miniops.testing import factories

pytestmark = pytest.mark.django_db

WOMEN = {"op": "and", "rules": [{"type": "profile", "field": "gender", "value": [2]}]}


def _client(*permissions: str) -> Client:
    operator = factories.operator_with_role("super_admin")
    _, raw = factories.api_token(operator, sorted(permissions))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_segments_list_and_members_by_pages() -> None:
    women = sorted(member(gender=2).pk for _ in range(5))
    member(gender=1)
    segment = services.create_segment(actor=None, name="women", rules=WOMEN)
    reader = _client(P.SEGMENTS_VIEW, P.SEGMENTS_EXPORT)
    listed = reader.get("/api/v1/manage/segments").json()
    assert [(s["id"], s["audience"], s["member_count"]) for s in listed] == [
        (segment.pk, f"segment:{segment.pk}", 5)
    ]
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = reader.get(f"/api/v1/manage/segments/{segment.pk}/members", params).json()
        seen += page["member_ids"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == women
    assert reader.get("/api/v1/manage/segments/999999/members").status_code == 404
    bad = reader.get(f"/api/v1/manage/segments/{segment.pk}/members", {"cursor": "junk"})
    assert 400 <= bad.status_code < 500
    assert "error" in bad.json()
    assert (
        reader.get(f"/api/v1/manage/segments/{segment.pk}/members", {"limit": -1}).status_code
        == 422
    )
    # members are an export: the view permission alone is not enough
    viewer = _client(P.SEGMENTS_VIEW)
    assert viewer.get("/api/v1/manage/segments").status_code == 200
    assert viewer.get(f"/api/v1/manage/segments/{segment.pk}/members").status_code == 403
