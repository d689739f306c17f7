"""The management API of segments: the list with counts, members by pages."""

from __future__ import annotations

from typing import Any

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


# --- writes ---------------------------------------------------------------------------------
MEN = {"op": "and", "rules": [{"type": "profile", "field": "gender", "value": [1]}]}


def _json(client: Client, method: str, url: str, body: Any = None) -> Any:
    return getattr(client, method)(url, body, content_type="application/json")


def _writer() -> tuple[Client, Any]:
    operator = factories.operator_with_role("super_admin")
    _, raw = factories.api_token(operator, [P.SEGMENTS_VIEW, P.SEGMENTS_MANAGE])
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}"), operator


def _audited(segment_id: int) -> list[Any]:
    from auditlog.models import LogEntry

    from miniops.segments.models import Segment

    return list(LogEntry.objects.get_for_model(Segment).filter(object_pk=str(segment_id)))


def test_create_update_recompute_and_delete_through_the_api() -> None:
    for _ in range(3):
        member(gender=2)
    member(gender=1)
    client, operator = _writer()
    made = _json(client, "post", "/api/v1/manage/segments", {"name": "女性", "rules": WOMEN})
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["member_count"] == 3
    assert body["audience"] == f"segment:{body['id']}"
    segment_id = body["id"]
    entries = _audited(segment_id)
    assert entries
    assert {entry.actor_id for entry in entries} == {operator.pk}
    # a retried create is refused on the unique name
    again = _json(client, "post", "/api/v1/manage/segments", {"name": "女性", "rules": WOMEN})
    assert again.status_code == 409
    assert "name" in again.json()["error"]["fields"]
    url = f"/api/v1/manage/segments/{segment_id}"
    changed = _json(client, "patch", url, {"name": "男性", "rules": MEN})
    assert changed.status_code == 200, changed.content
    assert changed.json()["name"] == "男性"
    assert changed.json()["rules"]["rules"][0]["value"] == [1]
    assert changed.json()["member_count"] == 3  # recomputed at the next tick, or now:
    run = _json(client, "post", f"{url}/recompute")
    assert run.status_code == 200, run.content
    assert (run.json()["member_count"], run.json()["entered"], run.json()["exited"]) == (1, 1, 3)
    assert client.get(f"/api/v1/manage/segments/{segment_id}/members").status_code == 403
    # archive, then delete
    archived = _json(client, "patch", url, {"is_active": False})
    assert archived.json()["is_active"] is False
    assert client.get(url).json()["is_active"] is False
    assert len(_audited(segment_id)) > len(entries)
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 404


def test_preview_without_saving() -> None:
    from miniops.segments.models import Segment

    member(gender=2, nickname="张三丰")
    member(gender=1)
    client, _operator = _writer()
    answer = _json(client, "post", "/api/v1/manage/segments/preview", {"rules": WOMEN})
    assert answer.status_code == 200, answer.content
    assert answer.json()["count"] == 1
    assert answer.json()["sample"][0]["nickname"] == "张**"
    assert answer.json()["elapsed_ms"] >= 0
    assert not Segment.objects.exists()
    none = _json(client, "post", "/api/v1/manage/segments/preview", {"rules": WOMEN, "sample": 0})
    assert none.json()["sample"] == []
    # a reader may preview, not create
    reader = _client(P.SEGMENTS_VIEW)
    preview = _json(reader, "post", "/api/v1/manage/segments/preview", {"rules": WOMEN})
    assert preview.status_code == 200
    refused = _json(reader, "post", "/api/v1/manage/segments", {"name": "x", "rules": WOMEN})
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("rules", "where"),
    [
        (
            {"op": "and", "rules": [{"type": "profile", "field": "shoe_size", "value": [1]}]},
            "rules.rules[0]",
        ),
        ({"type": "event", "event": "x", "count": -1}, "rules.count"),
        ({"type": "event", "event": "x", "days": 10**9}, "rules.days"),
    ],
)
def test_bad_rules_are_400_naming_the_place(rules: Any, where: str) -> None:
    from miniops.segments.models import Segment

    client, _operator = _writer()
    for url, body in (
        ("/api/v1/manage/segments/preview", {"rules": rules}),
        ("/api/v1/manage/segments", {"name": "bad", "rules": rules}),
    ):
        answer = _json(client, "post", url, body)
        assert answer.status_code == 400, (url, answer.content)
        error = answer.json()["error"]
        assert error["code"] == "rules_invalid"
        assert where in error["fields"], error
    segment = services.create_segment(actor=None, name="ok", rules=WOMEN)
    answer = _json(client, "patch", f"/api/v1/manage/segments/{segment.pk}", {"rules": rules})
    assert answer.status_code == 400
    assert where in answer.json()["error"]["fields"]
    assert not Segment.objects.filter(name="bad").exists()


def test_bad_bodies_are_4xx_in_the_shared_shape() -> None:
    client, _operator = _writer()
    segment = services.create_segment(actor=None, name="ok", rules=WOMEN)
    url = f"/api/v1/manage/segments/{segment.pk}"
    for method, path, body in (
        ("post", "/api/v1/manage/segments", {"name": "", "rules": WOMEN}),
        ("post", "/api/v1/manage/segments", {"name": "x" * 81, "rules": WOMEN}),
        ("post", "/api/v1/manage/segments", {"name": "x", "rules": WOMEN, "extra": 1}),
        ("post", "/api/v1/manage/segments", {"name": "x", "rules": "[]"}),
        ("post", "/api/v1/manage/segments", {"name": "x", "rules": WOMEN, "kind": "odd"}),
        ("post", "/api/v1/manage/segments", {"name": "x", "rules": WOMEN, "refresh_minutes": 0}),
        ("patch", url, {"refresh_minutes": 10**9}),
        ("patch", url, {"is_active": "yes"}),
        ("post", "/api/v1/manage/segments/preview", {"rules": WOMEN, "sample": 51}),
        ("post", f"{url}/overrides", {"member_ids": [], "mode": "include"}),
        ("post", f"{url}/overrides", {"member_ids": [1], "mode": "maybe"}),
        ("post", f"{url}/overrides", {"member_ids": [10**12], "mode": "include"}),
        ("post", "/api/v1/manage/segments/999999/recompute", None),
        ("patch", "/api/v1/manage/segments/999999", {"name": "y"}),
    ):
        answer = _json(client, method, path, body)
        assert 400 <= answer.status_code < 500, (method, path, body, answer.status_code)
        assert "error" in answer.json(), answer.content
    taken = services.create_segment(actor=None, name="taken", rules=WOMEN)
    assert _json(client, "patch", url, {"name": taken.name}).status_code == 409


def test_include_and_exclude_lists() -> None:
    women = [member(gender=2) for _ in range(3)]
    man = member(gender=1)
    segment = services.create_segment(actor=None, name="women", rules=WOMEN)
    client, operator = _writer()
    url = f"/api/v1/manage/segments/{segment.pk}/overrides"
    included = _json(client, "post", url, {"member_ids": [man.pk], "mode": "include"})
    assert included.status_code == 200, included.content
    assert included.json()["include"] == [man.pk]
    assert included.json()["segment"]["member_count"] == 4
    excluded = _json(client, "post", url, {"member_ids": [women[0].pk], "mode": "exclude"})
    assert excluded.json()["exclude"] == [women[0].pk]
    assert excluded.json()["segment"]["member_count"] == 3
    listed = client.get(url).json()
    assert (listed["include"], listed["exclude"]) == ([man.pk], [women[0].pk])
    cleared = _json(client, "post", url, {"member_ids": [man.pk, women[0].pk], "mode": "none"})
    assert cleared.json()["include"] == cleared.json()["exclude"] == []
    assert cleared.json()["segment"]["member_count"] == 3
    assert operator.pk in {entry.actor_id for entry in _audited(segment.pk)}
    reader = _client(P.SEGMENTS_VIEW)
    assert reader.get(url).status_code == 200
    assert _json(reader, "post", url, {"member_ids": [man.pk], "mode": "include"}).status_code == (
        403
    )
