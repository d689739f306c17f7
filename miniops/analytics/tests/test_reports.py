"""Overview, trends, traffic sources and feature usage on hand-built rollup rows:
exact values and exact changes against earlier periods."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.translation import gettext

from miniops.analytics import selectors
from miniops.analytics.models import DaySummary, EventDay, SourceDay, VisitorDay
from miniops.analytics.tests.helpers import local
from miniops.orders.models import Order
from miniops.testing import factories

pytestmark = pytest.mark.django_db

T = date(2026, 6, 30)  # a Tuesday, "today" of the reports below
ORDINARY = {
    "visitors": 10,
    "pageviews": 30,
    "new_visitors": 2,
    "new_members": 1,
    "wau": 50,
    "mau": 100,
    "sessions": 8,
    "session_seconds": 800,
    "orders": 3,
    "paid_orders": 2,
    "gmv": 2000,
    "paying_members": 2,
}
BUSY = {
    "visitors": 20,
    "pageviews": 60,
    "new_visitors": 4,
    "new_members": 3,
    "wau": 60,
    "mau": 120,
    "sessions": 10,
    "session_seconds": 1500,
    "orders": 6,
    "paid_orders": 4,
    "gmv": 5000,
    "paying_members": 3,
    "refunds": 1,
    "refund_amount": 500,
}


@pytest.fixture
def days() -> None:
    """67 ordinary days up to T-1, then a busy T."""
    for offset in range(1, 67):
        DaySummary.objects.create(day=T - timedelta(days=offset), **ORDINARY)
    DaySummary.objects.create(day=T, built_at=timezone.now(), **BUSY)


def test_today_metrics_and_changes(days: None) -> None:
    report = selectors.overview(today=T)
    today = report["periods"]["today"]
    assert (today["first"], today["last"]) == (T, T)
    assert today["metrics"] == {
        "pageviews": 60,
        "visitors": 20,
        "new_visitors": 4,
        "new_members": 3,
        "dau": 20.0,
        "wau": 60,
        "mau": 120,
        "stickiness": round(20 / 120, 4),
        "sessions": 10,
        "avg_session_seconds": 150.0,
        "orders": 6,
        "paid_orders": 4,
        "gmv": 5000,
        "paying_members": 3,
        "aov": 1250,
        "conversion": 0.15,
        "refund_amount": 500,
        "refund_rate": 0.1,
    }
    # against yesterday and against the same weekday a week ago (both ordinary)
    for key in ("vs_previous", "vs_last_week"):
        changes = today[key]
        assert changes["pageviews"] == 1.0
        assert changes["visitors"] == 1.0
        assert changes["avg_session_seconds"] == 0.5
        assert changes["gmv"] == 1.5
        assert changes["refund_amount"] is None  # nothing to compare with
    assert report["built_at"] is not None


def test_yesterday_is_an_ordinary_day(days: None) -> None:
    yesterday = selectors.overview(today=T)["periods"]["yesterday"]
    assert (yesterday["first"], yesterday["last"]) == (T - timedelta(1), T - timedelta(1))
    metrics = yesterday["metrics"]
    assert (metrics["pageviews"], metrics["visitors"], metrics["aov"]) == (30, 10, 1000)
    assert yesterday["vs_previous"]["pageviews"] == 0.0


def test_last_7_days(days: None) -> None:
    # given one member who paid twice in the period (paying members of a period
    # are distinct members, read from the orders)
    buyer = factories.member()
    for day in (T - timedelta(days=1), T - timedelta(days=3)):
        order = factories.order(buyer=buyer, paid=True)
        Order.objects.filter(pk=order.pk).update(paid_at=local(day, 10))
    week = selectors.overview(today=T)["periods"]["last_7_days"]
    assert (week["first"], week["last"]) == (T - timedelta(days=6), T)
    metrics = week["metrics"]
    assert metrics["pageviews"] == 6 * 30 + 60
    assert metrics["visitors"] == 60  # the WAU of the last day
    assert metrics["dau"] == round((6 * 10 + 20) / 7, 1)
    assert metrics["orders"] == 6 * 3 + 6
    assert metrics["gmv"] == 6 * 2000 + 5000
    assert metrics["avg_session_seconds"] == round((6 * 800 + 1500) / (6 * 8 + 10), 1)
    assert metrics["paying_members"] == 1
    assert metrics["conversion"] == round(1 / 60, 4)
    # the previous 7 days: 210 page views, WAU 50
    assert week["vs_previous"]["pageviews"] == round(30 / 210, 4)
    assert week["vs_previous"]["visitors"] == 0.2
    assert week["vs_last_week"] == week["vs_previous"]


def test_last_30_days(days: None) -> None:
    month = selectors.overview(today=T)["periods"]["last_30_days"]
    metrics = month["metrics"]
    assert metrics["pageviews"] == 29 * 30 + 60
    assert metrics["visitors"] == 120  # the MAU of the last day
    assert month["vs_previous"]["pageviews"] == round(30 / 900, 4)
    assert month["vs_previous"]["visitors"] == 0.2
    assert month["vs_last_week"]["pageviews"] == round(30 / 900, 4)


def test_the_overview_table_has_every_metric_for_every_period(days: None) -> None:
    table = selectors.overview(today=T)["table"]
    assert len(table.columns) == 1 + 4
    assert len(table.rows) == len(selectors.METRICS)
    by_label = {row[0]: row[1:] for row in table.rows}
    assert by_label[str(selectors.METRICS["pageviews"])] == [60, 30, 240, 930]


def test_an_overview_without_data_has_zeros_and_no_changes() -> None:
    report = selectors.overview(today=T)
    today = report["periods"]["today"]
    assert set(today["metrics"].values()) == {0}
    assert set(today["vs_previous"].values()) == {None}
    assert report["built_at"] is None


# --- trends --------------------------------------------------------------------------------------
def test_daily_trend_with_a_compared_range(days: None) -> None:
    report = selectors.trends(
        "pageviews", T - timedelta(days=2), T, "day", (T - timedelta(9), T - timedelta(7))
    )
    assert report["series"] == [(T - timedelta(2), 30), (T - timedelta(1), 30), (T, 60)]
    assert report["compare"] == [
        (T - timedelta(9), 30),
        (T - timedelta(8), 30),
        (T - timedelta(7), 30),
    ]
    assert report["table"].rows[-1] == [T.isoformat(), 60, (T - timedelta(7)).isoformat(), 30]
    assert len(report["table"].columns) == 4


def test_a_shorter_compared_range_leaves_blanks() -> None:
    report = selectors.trends(
        "gmv", T - timedelta(2), T, "day", (T - timedelta(9), T - timedelta(9))
    )
    assert [row[2:] for row in report["table"].rows] == [
        [(T - timedelta(9)).isoformat(), 0],
        ["", ""],
        ["", ""],
    ]


def test_weekly_trend_buckets_start_on_monday_and_cover_the_days_in_range(days: None) -> None:
    # 2026-06-17 (Wed) .. 2026-06-30 (Tue): 5 days of the week of 06-15, the week
    # of 06-22, and 2 days of the week of 06-29
    first = date(2026, 6, 17)
    assert selectors.trend("pageviews", first, T, "week") == [
        (date(2026, 6, 15), 5 * 30),
        (date(2026, 6, 22), 7 * 30),
        (date(2026, 6, 29), 30 + 60),
    ]
    # a whole week's visitors are its WAU; the dau metric is the daily average
    assert selectors.trend("visitors", first, T, "week")[1] == (date(2026, 6, 22), 50)
    assert selectors.trend("dau", first, T, "week")[2] == (date(2026, 6, 29), 15.0)


def test_monthly_trend(days: None) -> None:
    series = selectors.trend("orders", date(2026, 5, 15), T, "month")
    assert series == [(date(2026, 5, 1), 17 * 3), (date(2026, 6, 1), 29 * 3 + 6)]
    # June has 30 days: its visitors are the MAU of June 30
    assert selectors.trend("visitors", date(2026, 6, 1), T, "month") == [(date(2026, 6, 1), 120)]


def test_visitors_of_an_odd_length_period_are_distinct_visitors() -> None:
    # given the same visitor on three days and another on one
    for day in (T - timedelta(2), T - timedelta(1), T):
        VisitorDay.objects.create(day=day, visitor="aa")
    VisitorDay.objects.create(day=T, visitor="ab")
    # then 3 days have 2 distinct visitors (not 4 visitor-days)
    assert selectors.period_metrics(T - timedelta(2), T)["visitors"] == 2


# --- sources -------------------------------------------------------------------------------------
@pytest.fixture
def source_days() -> None:
    d1, d2 = T - timedelta(1), T
    SourceDay.objects.create(
        day=d1,
        scene=1007,
        channel="moments",
        via_share=True,
        visitors=5,
        new_members=2,
        orders=1,
        gmv=100,
    )
    SourceDay.objects.create(day=d1, scene=1001, utm_source="baidu", visitors=3)
    SourceDay.objects.create(day=d2, scene=1007, channel="moments", visitors=2, orders=1, gmv=50)
    SourceDay.objects.create(day=d2, scene=None, visitors=1, orders=2, gmv=700)
    SourceDay.objects.create(day=T - timedelta(5), scene=1001, visitors=99)  # out of range


def test_sources_by_scene(source_days: None) -> None:
    report = selectors.sources(T - timedelta(1), T, by="scene")
    rows = [
        (r["value"], r["visitors"], r["new_members"], r["orders"], r["gmv"]) for r in report["rows"]
    ]
    assert rows == [(1007, 7, 2, 2, 150), (1001, 3, 0, 0, 0), (None, 1, 0, 2, 700)]
    assert report["table"].rows[0][1:] == [7, 2, 2, Decimal("1.50")]
    assert "1007" in report["rows"][0]["label"]


def test_sources_by_channel_utm_and_share(source_days: None) -> None:
    first, last = T - timedelta(1), T
    by_channel = {
        r["value"]: r["visitors"] for r in selectors.sources(first, last, by="channel")["rows"]
    }
    assert by_channel == {"moments": 7, "": 4}
    by_utm = {r["value"]: r["gmv"] for r in selectors.sources(first, last, by="utm_source")["rows"]}
    assert by_utm == {"": 850, "baidu": 0}
    by_share = selectors.sources(first, last, by="share")["rows"]
    assert {r["value"]: r["visitors"] for r in by_share} == {True: 5, False: 6}
    labels = {r["value"]: r["label"] for r in by_share}
    assert labels == {True: gettext("Share links"), False: gettext("Not from a share")}


# --- features ------------------------------------------------------------------------------------
def test_feature_usage_counts_trends_and_least_used() -> None:
    d1, d2 = T - timedelta(1), T
    EventDay.objects.create(day=d1, name="page_view", path="pages/index", count=10, visitors=4)
    EventDay.objects.create(day=d1, name="page_view", path="pages/cart", count=2, visitors=1)
    EventDay.objects.create(day=d1, name="tap", path="", count=1, visitors=1)
    EventDay.objects.create(day=d1, name="order_paid", path="", count=3, visitors=2)
    EventDay.objects.create(day=d2, name="page_view", path="pages/index", count=6, visitors=3)
    report = selectors.features(d1, d2, least=2)
    rows = [
        (r["name"], r["path"], r["count"], r["visitors"], r["trend"], r["least_used"])
        for r in report["rows"]
    ]
    assert rows == [
        ("page_view", "pages/index", 16, 7, [10, 6], False),
        ("order_paid", "", 3, 2, [3, 0], False),  # server events are never "least used"
        ("page_view", "pages/cart", 2, 1, [2, 0], True),
        ("tap", "", 1, 1, [1, 0], True),
    ]
    assert report["days"] == [d1, d2]
    assert report["table"].rows[-1] == ["tap", "", 1, 1, "✓"]


def test_validate_range() -> None:
    from miniops.core.errors import InvalidInput

    selectors.validate_range(T, T)
    selectors.validate_range(T - timedelta(days=365), T)
    with pytest.raises(InvalidInput):
        selectors.validate_range(T, T - timedelta(1))
    with pytest.raises(InvalidInput):
        selectors.validate_range(T - timedelta(days=366), T)
