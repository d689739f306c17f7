"""Days are local days in TIME_ZONE (Asia/Shanghai, UTC+8): 15:59:59 UTC is still
the 1st of March there, 16:00:00 UTC is the 2nd — for ingestion, rollups, orders
and retention alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from django.conf import settings

from miniops.analytics import ingest, rollups, selectors
from miniops.analytics.models import DaySummary, Event, VisitorDay
from miniops.analytics.tests.helpers import ms, row, store
from miniops.members.models import Member
from miniops.orders.models import Order
from miniops.testing import factories

pytestmark = pytest.mark.django_db

MARCH_1, MARCH_2 = date(2026, 3, 1), date(2026, 3, 2)
LAST_SECOND = datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)
MIDNIGHT = datetime(2026, 3, 1, 16, 0, 0, tzinfo=UTC)


def test_the_business_time_zone_is_shanghai() -> None:
    assert settings.TIME_ZONE == "Asia/Shanghai"


@pytest.mark.parametrize(("moment", "day"), [(LAST_SECOND, MARCH_1), (MIDNIGHT, MARCH_2)])
def test_a_decoded_event_gets_its_local_day(moment: datetime, day: date) -> None:
    # given an event stamped at ``moment`` by a phone with a correct clock
    body = orjson.dumps(
        {
            "sent_at": ms(moment),
            "anonymous_id": "a1",
            "events": [
                {"uuid": "6f1c1b9e-9a3c-4c55-9b0f-4a8a2a7b7c11", "name": "x", "ts": ms(moment)}
            ],
        }
    )
    # when the server receives it at that moment
    rows, refused = ingest.decode_batch(
        body, member_id=None, received=moment, horizon=timedelta(days=7)
    )
    # then
    assert refused == []
    assert rows[0].ts == moment
    assert rows[0].day == day


# New York: clocks go from 02:00 EST to 03:00 EDT on 2026-03-08 (07:00 UTC), and back
# from 02:00 EDT to 01:00 EST on 2026-11-01 (06:00 UTC): local midnights on either side
# are at 05:00 UTC (EST) or 04:00 UTC (EDT).
NEW_YORK_MOMENTS = [
    (datetime(2026, 3, 8, 4, 59, 59, tzinfo=UTC), date(2026, 3, 7)),  # 23:59:59 EST
    (datetime(2026, 3, 8, 5, 0, 0, tzinfo=UTC), date(2026, 3, 8)),  # 00:00 EST
    (datetime(2026, 3, 9, 3, 59, 59, tzinfo=UTC), date(2026, 3, 8)),  # 23:59:59 EDT
    (datetime(2026, 3, 9, 4, 0, 0, tzinfo=UTC), date(2026, 3, 9)),  # 00:00 EDT
    (datetime(2026, 11, 1, 3, 59, 59, tzinfo=UTC), date(2026, 10, 31)),  # 23:59:59 EDT
    (datetime(2026, 11, 2, 4, 59, 59, tzinfo=UTC), date(2026, 11, 1)),  # 23:59:59 EST
    (datetime(2026, 11, 2, 5, 0, 0, tzinfo=UTC), date(2026, 11, 2)),  # 00:00 EST
]


def test_local_days_follow_daylight_saving_in_one_batch(settings: Any) -> None:
    # given a shop on New York time and one batch whose events straddle both changes
    settings.TIME_ZONE = "America/New_York"
    received = NEW_YORK_MOMENTS[-1][0]
    body = orjson.dumps(
        {
            "sent_at": ms(received),
            "anonymous_id": "a1",
            "events": [
                {"uuid": f"6f1c1b9e-9a3c-4c55-9b0f-4a8a2a7b7c{index:02d}", "name": "x", "ts": ms(t)}
                for index, (t, _day) in enumerate(NEW_YORK_MOMENTS)
            ],
        }
    )
    # when it is decoded (the horizon covers the year)
    rows, refused = ingest.decode_batch(
        body, member_id=None, received=received, horizon=timedelta(days=365)
    )
    # then every event has the day of its own local calendar
    assert refused == []
    assert [r.day for r in rows] == [day for _t, day in NEW_YORK_MOMENTS]


def test_stored_events_keep_their_local_day() -> None:
    store(row(at=LAST_SECOND, anonymous_id="a1"), row(at=MIDNIGHT, anonymous_id="a2"))
    assert dict(Event.objects.values_list("anonymous_id", "day")) == {"a1": MARCH_1, "a2": MARCH_2}


def test_rollups_follow_local_days() -> None:
    # given one visitor one second before local midnight and another at midnight
    store(
        row(at=LAST_SECOND, anonymous_id="before", session_id="s1"),
        row(at=MIDNIGHT, anonymous_id="after", session_id="s2"),
        # the same UTC day, but the next local day
        row(at=datetime(2026, 3, 1, 20, 0, tzinfo=UTC), anonymous_id="after", session_id="s2"),
    )
    # when
    rollups.rebuild_day(MARCH_1)
    rollups.rebuild_day(MARCH_2)
    # then
    assert list(VisitorDay.objects.filter(day=MARCH_1).values_list("visitor", flat=True)) == [
        "abefore"
    ]
    assert list(VisitorDay.objects.filter(day=MARCH_2).values_list("visitor", "events")) == [
        ("aafter", 2)
    ]
    assert DaySummary.objects.get(day=MARCH_2).session_seconds == 4 * 3600


def test_orders_and_members_are_counted_on_their_local_day() -> None:
    # given orders paid either side of local midnight and members registered so
    buyer = factories.member()
    before, after = factories.order(buyer=buyer, paid=True), factories.order(buyer=buyer, paid=True)
    Order.objects.filter(pk=before.pk).update(created_at=LAST_SECOND, paid_at=LAST_SECOND)
    Order.objects.filter(pk=after.pk).update(created_at=MIDNIGHT, paid_at=MIDNIGHT)
    Member.objects.filter(pk=buyer.pk).update(registered_at=LAST_SECOND)
    late_joiner = factories.member()
    Member.objects.filter(pk=late_joiner.pk).update(registered_at=MIDNIGHT)
    # when
    rollups.rebuild_day(MARCH_1)
    rollups.rebuild_day(MARCH_2)
    # then
    first, second = DaySummary.objects.get(day=MARCH_1), DaySummary.objects.get(day=MARCH_2)
    assert (first.orders, first.paid_orders, first.gmv, first.new_members) == (
        1,
        1,
        before.paid_amount,
        1,
    )
    assert (second.orders, second.paid_orders, second.gmv, second.new_members) == (
        1,
        1,
        after.paid_amount,
        1,
    )


def test_first_visit_retention_follows_local_days() -> None:
    # given a visitor first seen at 23:59:59 local and back at 00:00:00 local —
    # the same UTC day, but one local day later
    store(row(at=LAST_SECOND, anonymous_id="a1"), row(at=MIDNIGHT, anonymous_id="a1"))
    rollups.rebuild_day(MARCH_1)
    rollups.rebuild_day(MARCH_2)
    # when
    report = selectors.retention(MARCH_1, MARCH_1, periods=2)
    # then they returned on day 1
    assert [(c["cohort"], c["size"], c["counts"]) for c in report["cohorts"]] == [
        (MARCH_1, 1, [1, 0])
    ]


@pytest.mark.parametrize(("registered", "cohort"), [(LAST_SECOND, MARCH_1), (MIDNIGHT, MARCH_2)])
def test_registration_cohorts_follow_local_days(registered: datetime, cohort: date) -> None:
    # given a member registered either side of local midnight, active the next local day
    person = factories.member()
    Member.objects.filter(pk=person.pk).update(registered_at=registered)
    next_day = cohort + timedelta(days=1)
    store(
        row(
            at=datetime.combine(next_day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=4),
            member_id=person.pk,
        )
    )
    rollups.rebuild_day(next_day)
    # when
    report = selectors.retention(MARCH_1, MARCH_2, periods=2, cohort_by="registration")
    # then
    assert [(c["cohort"], c["size"], c["counts"]) for c in report["cohorts"]] == [
        (cohort, 1, [1, 0])
    ]


def test_lake_retention_follows_local_days(lake_dir: Any) -> None:
    from miniops.analytics import lake

    received = datetime(2026, 3, 3, tzinfo=UTC)
    store(
        row(at=LAST_SECOND, anonymous_id="a1", received_at=received),
        row("add_to_cart", at=MIDNIGHT, anonymous_id="a1", received_at=received),
    )
    lake.export()
    report = selectors.retention(MARCH_1, MARCH_1, periods=2, returned_event="add_to_cart")
    assert [(c["cohort"], c["size"], c["counts"]) for c in report["cohorts"]] == [
        (MARCH_1, 1, [1, 0])
    ]
