"""Today so far against the same hours of earlier days, never against whole days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.analytics import selectors
from miniops.analytics.tests.helpers import local, row, store, today
from miniops.orders.models import Order
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def visit(day_offset: int, hour: int, visitor: str, pages: int = 1) -> None:
    day = today() - timedelta(days=day_offset)
    store(*(row(at=local(day, hour, i), anonymous_id=visitor) for i in range(pages)))


def paid_order(day_offset: int, hour: int, amount: int) -> None:
    order = factories.order(paid=True)
    moment = local(today() - timedelta(days=day_offset), hour)
    Order.objects.filter(pk=order.pk).update(created_at=moment, paid_at=moment, paid_amount=amount)


def test_today_up_to_now_against_yesterday_up_to_the_same_time() -> None:
    moment = local(today(), 10, 30)
    # given today before 10:30: two visitors (one of them viewing 3 pages)
    visit(0, 8, "a", pages=3)
    visit(0, 9, "b")
    # and yesterday: one visitor before 10:30, four after it (the evening rush)
    visit(1, 9, "c")
    for n in range(4):
        visit(1, 20, f"evening-{n}")
    # and an order paid today at 9:00, two yesterday (9:00 and 21:00)
    paid_order(0, 9, 10_000)
    paid_order(1, 9, 4_000)
    paid_order(1, 21, 99_000)
    report = selectors.same_hours(moment)
    # then yesterday counts only its hours up to 10:30
    assert (report["today"]["visitors"], report["yesterday"]["visitors"]) == (2, 1)
    assert (report["today"]["pageviews"], report["yesterday"]["pageviews"]) == (4, 1)
    assert (report["today"]["gmv"], report["yesterday"]["gmv"]) == (10_000, 4_000)
    assert report["today"]["paid_orders"] == report["yesterday"]["paid_orders"] == 1
    # and today is up 100 % on visitors, 150 % on GMV: not down against whole days
    assert report["vs_yesterday"]["visitors"] == 1.0
    assert report["vs_yesterday"]["gmv"] == 1.5
    assert report["until"].strftime("%H:%M") == "10:30"


def test_against_the_same_hours_averaged_over_seven_days() -> None:
    moment = local(today(), 12)
    visit(0, 11, "today-1")
    visit(0, 11, "today-2")
    visit(0, 11, "today-3")
    visit(0, 11, "today-4")
    # seven earlier days with 2 visitors each before noon (and many after it)
    for offset in range(1, 8):
        visit(offset, 10, f"d{offset}-x")
        visit(offset, 11, f"d{offset}-y")
        visit(offset, 18, f"d{offset}-late")
    # and eight days ago, outside the average, 50 visitors
    for n in range(50):
        visit(8, 9, f"old-{n}")
    report = selectors.same_hours(moment)
    assert report["average"]["visitors"] == 2
    assert report["vs_average"]["visitors"] == 1.0
    assert [d["visitors"] for d in report["days"]] == [4, 2, 2, 2, 2, 2, 2, 2]


def test_a_visitor_who_signed_in_counts_once() -> None:
    moment = local(today(), 12)
    person = factories.member()
    store(row(at=local(today(), 9), anonymous_id="before-sign-in"))
    store(row(at=local(today(), 10), member_id=person.pk))
    from miniops.analytics.models import VisitorAlias

    VisitorAlias.objects.create(anonymous_id="before-sign-in", member_id=person.pk)
    assert selectors.same_hours(moment)["today"]["visitors"] == 1


def test_nothing_to_compare_with_is_no_change_rather_than_a_division_by_zero() -> None:
    visit(0, 0, "early")
    report = selectors.same_hours(timezone.now())
    assert report["vs_yesterday"]["visitors"] is None
    assert report["vs_average"]["gmv"] is None


def test_the_dashboard_today_column_uses_the_same_hours(console_as: object) -> None:
    visit(0, 0, "early")
    client = console_as("analyst")  # type: ignore[operator]
    page = client.get("/console/").content.decode()
    assert "data-same-hours" in page
    assert 'id="overview-note"' in page


def test_against_the_same_weekday_last_week_up_to_the_same_time() -> None:
    moment = local(today(), 10, 30)
    paid_order(0, 9, 10_000)
    paid_order(7, 9, 5_000)  # the same weekday last week, before 10:30
    paid_order(7, 20, 70_000)  # and after it: not counted
    report = selectors.same_hours(moment)
    assert report["last_week"]["gmv"] == 5_000
    assert report["vs_last_week"]["gmv"] == 1.0
    assert report["days"][7]["gmv"] == report["last_week"]["gmv"]


def test_the_management_overview_gives_today_against_the_same_hours(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from miniops.analytics.tests.helpers import MANAGE, bearer

    # (the package re-exports the function under the module's name)
    module = sys.modules["miniops.analytics.selectors.same_hours"]

    moment = local(today(), 10, 30)
    monkeypatch.setattr(module, "now", lambda: moment)
    # given an order paid today at 9:00, yesterday at 9:00 and 21:00, a week ago at 9:00
    paid_order(0, 9, 10_000)
    paid_order(1, 9, 4_000)
    paid_order(1, 21, 99_000)
    paid_order(7, 9, 20_000)
    operator = factories.operator_with_role("analyst")
    token = factories.api_token(operator, ["analytics.view"])[1]
    # when
    body = client.get(f"{MANAGE}/overview", **bearer(token)).json()
    # then today is set against the same hours (10:30), not against whole days
    live = body["today_same_hours"]
    assert live["until"].startswith(f"{today().isoformat()}T10:30")
    assert (live["metrics"]["gmv"], live["yesterday"]["gmv"], live["last_week"]["gmv"]) == (
        10_000,
        4_000,
        20_000,
    )
    assert live["vs_yesterday"]["gmv"] == 1.5
    assert live["vs_last_week"]["gmv"] == -0.5
    assert (
        set(live["average_7_days"]) == set(live["vs_average_7_days"]) == set(selectors.SAME_HOURS)
    )
    # and the whole-day periods are still there for the clients that read them
    assert set(body["periods"]["today"]) >= {"metrics", "vs_previous", "vs_last_week"}
