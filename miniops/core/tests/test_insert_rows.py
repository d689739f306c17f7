"""``core.db.insert_rows``: plain tuples stored as ``bulk_create`` would store them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from miniops.analytics.models import Event
from miniops.core.db import insert_rows
from miniops.marketing.models import LevelChange, PointsEntry
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def test_rows_read_back_as_given_with_defaults_for_the_other_fields() -> None:
    member = factories.member()
    level = factories.level()
    at = timezone.now() - timedelta(days=3, microseconds=7)
    fields = ["member", "delta", "balance", "reason", "reference", "expires_on", "created_at"]
    assert (
        insert_rows(
            PointsEntry,
            fields,
            [
                (member.pk, 50, 50, "purchase", "N1", date(2027, 1, 2), at),
                (member.pk, -20, 30, "checkout", "demo", None, at + timedelta(hours=1)),
            ],
            batch_size=1,
        )
        == 2
    )
    rows = list(PointsEntry.objects.order_by("created_at").values_list(*fields, "note"))
    assert rows == [
        (member.pk, 50, 50, "purchase", "N1", date(2027, 1, 2), at, ""),
        (member.pk, -20, 30, "checkout", "demo", None, at + timedelta(hours=1), ""),
    ]
    insert_rows(
        LevelChange,
        ["member", "from_level", "to_level", "growth", "created_at"],
        [(member.pk, None, level.pk, 0, at)],
    )
    change = LevelChange.objects.get()
    assert (change.from_level, change.to_level, change.created_at) == (None, level, at)


def test_fields_that_need_a_conversion_are_refused() -> None:
    with pytest.raises(TypeError, match="properties"):
        insert_rows(Event, ["name", "properties"], [("x", {})])
