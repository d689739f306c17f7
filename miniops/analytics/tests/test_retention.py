"""Retention on hand-built cohorts: by first visit or registration, by day or
week, "returned" meaning any activity (rollups) or one chosen event (the lake)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.analytics import lake, rollups, selectors
from miniops.analytics.tests.helpers import days_ago, local, row, store
from miniops.core.timeutils import week_start
from miniops.members.models import Member
from miniops.testing import factories

pytestmark = pytest.mark.django_db

#: a Monday far enough back for every period to be observable
C = week_start(days_ago(70))
SETTLED = timezone.now() - timedelta(minutes=5)


def on(offset: int, hour: int = 12) -> Any:
    return local(C + timedelta(days=offset), hour)


def visit(who: str, *offsets: int, name: str = "page_view") -> None:
    """``who`` ("a..." anonymous, or a member id) active on C + each offset."""
    for offset in offsets:
        if isinstance(who, int):
            store(row(name, at=on(offset), member_id=who, received_at=SETTLED))
        else:
            store(row(name, at=on(offset), anonymous_id=who, received_at=SETTLED))


def build(*offsets: int) -> None:
    for offset in sorted(set(offsets)):
        rollups.rebuild_day(C + timedelta(days=offset))


def cohorts(report: dict[str, Any]) -> dict[date, tuple[int, list[int]]]:
    return {c["cohort"]: (c["size"], c["counts"]) for c in report["cohorts"]}


@pytest.fixture
def first_visits() -> None:
    """Cohort C: v1 (back on days 1, 2, 7), v2 (day 2), v3 (never back).
    Cohort C+1: v4 (back on its days 1 and 2). v5 first on C+3, back on C+9, C+15.
    v6 first on C+7 (the next week), back on C+14."""
    visit("v1", 0, 1, 2, 7)
    visit("v2", 0, 2)
    visit("v3", 0)
    visit("v4", 1, 2, 3)
    visit("v5", 3, 9, 15)
    visit("v6", 7, 14)
    build(0, 1, 2, 3, 7, 9, 14, 15)


def test_daily_first_visit_cohorts(first_visits: None) -> None:
    report = selectors.retention(C, C + timedelta(days=1), periods=7)
    assert cohorts(report) == {
        C: (3, [1, 2, 0, 0, 0, 0, 1]),
        C + timedelta(days=1): (1, [1, 1, 0, 0, 0, 0, 0]),
    }
    first = report["cohorts"][0]
    assert first["rates"] == [round(1 / 3, 4), round(2 / 3, 4), 0, 0, 0, 0, round(1 / 3, 4)]
    assert first["observable"] == 7
    assert report["table"].rows[0] == [C.isoformat(), 3, 1, 2, 0, 0, 0, 0, 1]


def test_weekly_first_visit_cohorts(first_visits: None) -> None:
    # week cohorts: W0 = v1..v5 (first days C..C+3), W1 = v6; activity in the same
    # week as the first visit does not count
    report = selectors.retention(C, C + timedelta(days=13), grain="week", periods=3)
    assert cohorts(report) == {
        C: (5, [2, 1, 0]),  # week 1: v1 (C+7), v5 (C+9); week 2: v5 (C+15)
        C + timedelta(days=7): (1, [1, 0, 0]),  # v6 back on C+14
    }


def test_a_cohort_only_includes_first_visits_in_the_range(first_visits: None) -> None:
    report = selectors.retention(C + timedelta(days=1), C + timedelta(days=1), periods=2)
    assert cohorts(report) == {C + timedelta(days=1): (1, [1, 1])}


def test_periods_beyond_today_are_not_observable() -> None:
    # given a visitor first seen two days ago
    day = days_ago(2)
    store(row(at=local(day, 9), anonymous_id="v"), row(at=local(days_ago(1), 9), anonymous_id="v"))
    rollups.rebuild_day(day)
    rollups.rebuild_day(days_ago(1))
    # when
    report = selectors.retention(day, day, periods=5)
    # then only days 1 and 2 have happened; later cells are blank in the table
    (cohort,) = report["cohorts"]
    assert (cohort["counts"], cohort["observable"]) == ([1, 0, 0, 0, 0], 2)
    assert report["table"].rows[0] == [day.isoformat(), 1, 1, 0, "", "", ""]


@pytest.fixture
def registrations() -> dict[str, Any]:
    """r1, r2 registered on C (r1 back on day 1, r2 on day 3); r3 on C+1 (back the
    next day); r4 registered long before (not a cohort member)."""
    r1, r2, r3, r4 = (factories.member() for _ in range(4))
    Member.objects.filter(pk__in=[r1.pk, r2.pk]).update(registered_at=on(0, 9))
    Member.objects.filter(pk=r3.pk).update(registered_at=on(1, 23))
    Member.objects.filter(pk=r4.pk).update(registered_at=on(-40))
    visit(r1.pk, 1)
    visit(r2.pk, 3)
    visit(r3.pk, 2)
    visit(r4.pk, 1, 2, 3)
    build(1, 2, 3)
    return {"r1": r1, "r2": r2, "r3": r3}


def test_daily_registration_cohorts(registrations: dict[str, Any]) -> None:
    report = selectors.retention(C, C + timedelta(days=1), periods=3, cohort_by="registration")
    assert cohorts(report) == {
        C: (2, [1, 0, 1]),
        C + timedelta(days=1): (1, [1, 0, 0]),
    }


def test_weekly_registration_cohorts(registrations: dict[str, Any]) -> None:
    # all three joined in week C; nobody came back in a later week
    report = selectors.retention(
        C, C + timedelta(days=6), grain="week", periods=2, cohort_by="registration"
    )
    assert cohorts(report) == {C: (3, [0, 0])}
    # one of them comes back the next week
    visit(registrations["r2"].pk, 8)
    build(8)
    report = selectors.retention(
        C, C + timedelta(days=6), grain="week", periods=2, cohort_by="registration"
    )
    assert cohorts(report) == {C: (3, [1, 0])}


def test_an_empty_range_has_no_cohorts() -> None:
    report = selectors.retention(C, C + timedelta(days=3), periods=4)
    assert report["cohorts"] == []
    assert report["table"].rows == []
    assert len(report["table"].columns) == 2 + 4


# --- "returned" means one event: the lake --------------------------------------------------------
@pytest.fixture
def returned_events(first_visits: None) -> None:
    """On top of the first visits: add_to_cart by v1 on C+2, by v3 on C+1 and C+5,
    by v2 on its first day only; v6 adds to cart on C+8 and C+14."""
    visit("v1", 2, name="add_to_cart")
    visit("v3", 1, 5, name="add_to_cart")
    visit("v2", 0, name="add_to_cart")
    visit("v6", 8, 14, name="add_to_cart")
    assert lake.export() > 0


def test_daily_retention_on_one_event_reads_the_lake(returned_events: None) -> None:
    report = selectors.retention(C, C, periods=6, returned_event="add_to_cart")
    # cohort C from the lake is v1, v2, v3 (v3's add_to_cart visits count as
    # visits, but C is still their first day)
    assert cohorts(report) == {C: (3, [1, 1, 0, 0, 1, 0])}


def test_weekly_retention_on_one_event(returned_events: None) -> None:
    report = selectors.retention(
        C, C + timedelta(days=13), grain="week", periods=2, returned_event="add_to_cart"
    )
    # W0 = v1..v5: v1 (C+2) and v3 (C+1, C+5) added in their first week only;
    # W1 = v6: C+8 is the same week, C+14 the next
    assert cohorts(report) == {C: (5, [0, 0]), C + timedelta(days=7): (1, [1, 0])}


def test_lake_cohorts_by_first_visit_match_the_rollups(returned_events: None) -> None:
    from_lake = selectors.retention(C, C + timedelta(days=8), periods=3, returned_event="x")
    from_rollups = selectors.retention(C, C + timedelta(days=8), periods=3)
    assert {c["cohort"]: c["size"] for c in from_lake["cohorts"]} == {
        c["cohort"]: c["size"] for c in from_rollups["cohorts"]
    }


def test_registration_retention_on_a_server_event(registrations: dict[str, Any]) -> None:
    # given r1 paying on its day 2 (a server event) and r3 on its day 1
    store(
        row(
            "order_paid",
            at=on(2),
            member_id=registrations["r1"].pk,
            source="server",
            received_at=SETTLED,
        )
    )
    store(
        row(
            "order_paid",
            at=on(2),
            member_id=registrations["r3"].pk,
            source="server",
            received_at=SETTLED,
        )
    )
    lake.export()
    # when
    report = selectors.retention(
        C, C + timedelta(days=1), periods=3, cohort_by="registration", returned_event="order_paid"
    )
    # then
    assert cohorts(report) == {C: (2, [0, 1, 0]), C + timedelta(days=1): (1, [1, 0, 0])}


def test_events_not_yet_exported_are_not_in_lake_retention(first_visits: None) -> None:
    # given an export, then a new add_to_cart received just now (not settled)
    lake.export()
    store(row("add_to_cart", at=on(1), anonymous_id="v1"))
    lake.export()
    # then it is not counted yet
    report = selectors.retention(C, C, periods=2, returned_event="add_to_cart")
    assert cohorts(report) == {C: (3, [0, 0])}
