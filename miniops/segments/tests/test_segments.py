"""Segments: the interfaces others use, the versioned swap with entries and
exits, overrides, static snapshots, the preview and rule validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.core.errors import Forbidden, InvalidInput
from miniops.segments import hooks, selectors, services
from miniops.segments.models import SegmentChange, SegmentKind, SegmentMembership
from miniops.segments.tests.helpers import member, paid_order
from miniops.testing import factories

pytestmark = pytest.mark.django_db

SHANGHAI = {"op": "and", "rules": [{"type": "profile", "field": "gender", "value": [2]}]}


def _buyers_rule(yuan: int = 100) -> dict[str, Any]:
    return {"type": "commerce", "metric": "gmv", "op": "gte", "value": yuan}


def test_create_recompute_and_read() -> None:
    women = [member(gender=2) for _ in range(3)]
    member(gender=1)
    segment = services.create_segment(actor=None, name="women", rules=SHANGHAI)
    assert selectors.count(segment.pk) == 3
    assert set(selectors.member_ids(segment.pk)) == {m.pk for m in women}
    assert selectors.is_member(segment.pk, women[0].pk)
    assert segment.version == 1
    assert SegmentChange.objects.filter(segment=segment, kind="entered").count() == 3


def test_recomputes_write_only_the_difference() -> None:
    """Members who stay keep their row (the version they entered at); exits are
    deleted, entries inserted at the new version; a member can leave and come
    back; at every step the stored membership is exactly what the rules say now,
    and a static snapshot of the same rules is untouched."""
    women = [member(gender=2) for _ in range(4)]
    segment = services.create_segment(actor=None, name="women", rules=SHANGHAI)
    frozen = services.snapshot(actor=None, segment=segment, name="women then")
    stayer = women[0]
    rows = SegmentMembership.objects.filter(segment=segment)
    first_row = rows.get(member=stayer).pk
    steps: list[tuple[list[Any], list[Any]]] = [
        ([women[1]], []),  # one leaves
        ([], [women[1]]),  # and comes back
        ([women[2], women[3]], []),
        ([], []),  # nothing changes
    ]
    for leave, come in steps:
        for m in leave:
            m.gender = 1
            m.save(update_fields=["gender"])
        for m in come:
            m.gender = 2
            m.save(update_fields=["gender"])
        run = services.recompute(segment.pk, actor=None)
        assert (run.entered, run.exited) == (len(come), len(leave))
        expected = set(
            services.compiler.members(services.r.parse(SHANGHAI)).values_list("pk", flat=True)
        )
        assert set(selectors.member_ids(segment.pk)) == expected
        assert selectors.count(segment.pk) == len(expected) == rows.count()
        assert {m.pk for m in selectors.segments_of(stayer.pk)} == {segment.pk, frozen.pk}
    assert rows.get(member=stayer).pk == first_row  # never rewritten
    assert rows.get(member=women[1]).version == 3  # re-entered at version 3
    assert set(selectors.member_ids(frozen.pk)) == {m.pk for m in women}
    assert list(
        SegmentChange.objects.filter(segment=segment, member=women[1])
        .order_by("version")
        .values_list("kind", "version")
    ) == [("entered", 1), ("exited", 2), ("entered", 3)]


def test_swap_records_entries_and_exits_and_runs_hooks(
    django_capture_on_commit_callbacks: Any,
) -> None:
    now = timezone.now()
    rich, poor = member(), member()
    paid_order(rich, amount=20_000, at=now - timedelta(days=1))
    seen: list[tuple[str, int, list[int]]] = []

    def entered(*, segment_id: int, member_ids: list[int], at: Any) -> None:
        seen.append(("entered", segment_id, sorted(member_ids)))

    def exited(*, segment_id: int, member_ids: list[int], at: Any) -> None:
        seen.append(("exited", segment_id, sorted(member_ids)))

    hooks.register("entered", entered)
    hooks.register("exited", exited)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            segment = services.create_segment(actor=None, name="big", rules=_buyers_rule())
        assert seen == [("entered", segment.pk, [rich.pk])]
        paid_order(poor, amount=50_000, at=now)
        rich.orders.update(paid_amount=0, goods_amount=0, payable_amount=0)
        seen.clear()
        with django_capture_on_commit_callbacks(execute=True):
            run = services.recompute(segment.pk, actor=None)
        assert (run.entered, run.exited, run.version) == (1, 1, 2)
        assert seen == [("entered", segment.pk, [poor.pk]), ("exited", segment.pk, [rich.pk])]
        assert list(selectors.member_ids(segment.pk)) == [poor.pk]
        # the old version is gone: one version of the membership at a time
        assert set(
            SegmentMembership.objects.filter(segment=segment).values_list("version", flat=True)
        ) == {2}
    finally:
        hooks.unregister("entered", entered)
        hooks.unregister("exited", exited)


def test_overrides_apply_on_top() -> None:
    a, b = member(gender=2), member(gender=1)
    segment = services.create_segment(actor=None, name="w", rules=SHANGHAI)
    services.set_override(actor=None, segment=segment, member_ids=[b.pk], mode="include")
    services.set_override(actor=None, segment=segment, member_ids=[a.pk], mode="exclude")
    assert list(selectors.member_ids(segment.pk)) == [b.pk]
    services.set_override(actor=None, segment=segment, member_ids=[a.pk, b.pk], mode=None)
    assert list(selectors.member_ids(segment.pk)) == [a.pk]


def test_static_segment_is_frozen() -> None:
    a = member(gender=2)
    segment = services.create_segment(
        actor=None, name="frozen", rules=SHANGHAI, kind=SegmentKind.STATIC
    )
    member(gender=2)
    services.recompute(segment.pk, actor=None)
    assert list(selectors.member_ids(segment.pk)) == [a.pk]
    assert segment.pk not in services.due()


def test_snapshot_of_dynamic() -> None:
    a = member(gender=2)
    dynamic = services.create_segment(actor=None, name="d", rules=SHANGHAI)
    frozen = services.snapshot(actor=None, segment=dynamic, name="d-frozen")
    member(gender=2)
    services.recompute(dynamic.pk, actor=None)
    assert selectors.count(dynamic.pk) == 2
    assert list(selectors.member_ids(frozen.pk)) == [a.pk]


def test_preview_counts_and_masks() -> None:
    member(gender=2, nickname="张三丰")
    result = services.preview(SHANGHAI, actor=None)
    assert result.count == 1
    assert result.error is None
    assert result.sample[0]["nickname"] == "张**"
    assert result.elapsed_ms >= 0


@pytest.mark.parametrize(
    ("rules", "where"),
    [
        (
            {"op": "and", "rules": [{"type": "profile", "field": "shoe_size", "value": [1]}]},
            "rules.rules[0]",
        ),
        ({"type": "event", "event": "x", "count": -1}, "rules.count"),
        ({"type": "event", "event": "x", "days": 10**9}, "rules.days"),
        ({"type": "profile", "field": "gender", "value": [1], "extra": 1}, "rules.extra"),
    ],
)
def test_preview_shows_errors(rules: Any, where: str) -> None:
    result = services.preview(rules, actor=None)
    assert result.count is None
    assert result.error
    assert where in result.fields


def test_nested_100_deep_is_refused() -> None:
    node: dict[str, Any] = {"type": "profile", "field": "gender", "value": [1]}
    for _ in range(100):
        node = {"op": "not", "rule": node}
    with pytest.raises(InvalidInput) as caught:
        services.create_segment(actor=None, name="deep", rules=node)
    assert caught.value.code == "rules_too_deep"


def test_analyst_cannot_create() -> None:
    analyst = factories.operator_with_role("analyst")
    with pytest.raises(Forbidden):
        services.create_segment(actor=analyst, name="x", rules=SHANGHAI)


def test_orders_mark_segments_dirty(django_capture_on_commit_callbacks: Any) -> None:
    segment = services.create_segment(actor=None, name="buyers", rules=_buyers_rule(1))
    women = services.create_segment(actor=None, name="women", rules=SHANGHAI)
    with django_capture_on_commit_callbacks(execute=True):
        factories.order(paid=True)
    assert segment.pk in services.due()
    assert women.pk not in services.due()
    services.recompute_due()
    assert selectors.count(segment.pk) == 1


def test_segments_of_member() -> None:
    a = member(gender=2)
    segment = services.create_segment(actor=None, name="w", rules=SHANGHAI)
    assert list(selectors.segments_of(a.pk)) == [segment]


def test_segment_audience_kind() -> None:
    from miniops.core import audiences

    a = member(gender=2)
    segment = services.create_segment(actor=None, name="aud", rules=SHANGHAI)
    key = f"segment:{segment.pk}"
    assert audiences.member_ids(key) == [a.pk]
    assert audiences.count(key) == 1
    assert audiences.contains(key, a.pk)
    assert any(x.key == key and x.count == 1 for x in audiences.choices(["segment"]))
    with pytest.raises(audiences.UnknownAudience):
        audiences.count("segment:999999")
    with pytest.raises(audiences.UnknownAudience):
        audiences.count("segment:abc")
