"""Business-day boundaries follow settings.TIME_ZONE, DST included."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from miniops.core import timeutils
from miniops.core.timeutils import (
    business_tz,
    day_bounds,
    days,
    local_date,
    month_start,
    range_bounds,
    week_start,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def shanghai(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


@pytest.fixture
def new_york(settings: Any) -> None:
    settings.TIME_ZONE = "America/New_York"


# --- business_tz / now -------------------------------------------------------------


def test_business_tz_defaults_to_shanghai() -> None:
    # given the default settings
    # when / then
    assert business_tz() == ZoneInfo("Asia/Shanghai")


def test_business_tz_follows_setting(settings: Any) -> None:
    # given another configured zone
    settings.TIME_ZONE = "Europe/Berlin"
    # when / then it is read at call time, not import time
    assert business_tz() == ZoneInfo("Europe/Berlin")


def test_now_is_aware_utc() -> None:
    # given / when
    moment = timeutils.now()
    # then
    assert moment.utcoffset() == timedelta(0)
    assert abs(moment - datetime.now(UTC)) < timedelta(seconds=5)


# --- local_date --------------------------------------------------------------------


@pytest.mark.usefixtures("shanghai")
@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 1, 1, 15, 59, 59, tzinfo=UTC), date(2026, 1, 1)),
        (datetime(2026, 1, 1, 16, 0, tzinfo=UTC), date(2026, 1, 2)),
        (datetime(2026, 1, 1, 17, 0, tzinfo=UTC), date(2026, 1, 2)),
        (datetime(2025, 12, 31, 16, 0, tzinfo=UTC), date(2026, 1, 1)),
        (datetime(2026, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=-8))), date(2026, 1, 2)),
    ],
)
def test_local_date_shanghai(moment: datetime, expected: date) -> None:
    # given an aware moment
    # when / then its date is taken in the business zone, not its own
    assert local_date(moment) == expected


@pytest.mark.usefixtures("new_york")
def test_local_date_new_york() -> None:
    # given 03:00 UTC on 1 January: 22:00 on 31 December in New York
    moment = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    # when / then
    assert local_date(moment) == date(2025, 12, 31)


def test_local_date_refuses_naive() -> None:
    # given a naive datetime
    # when / then
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2026, 1, 1, 12, 0))


@pytest.mark.usefixtures("shanghai")
def test_local_date_defaults_to_now(monkeypatch: pytest.MonkeyPatch) -> None:
    # given the clock at 20:00 UTC on 30 June (04:00 on 1 July in Shanghai)
    monkeypatch.setattr(timeutils, "now", lambda: datetime(2026, 6, 30, 20, 0, tzinfo=UTC))
    # when / then
    assert local_date() == date(2026, 7, 1)


# --- day_bounds --------------------------------------------------------------------


@pytest.mark.usefixtures("shanghai")
def test_day_bounds_shanghai() -> None:
    # given a Shanghai business day
    # when
    start, end = day_bounds(date(2026, 1, 2))
    # then it starts at 16:00 UTC the previous day and lasts 24 hours
    assert start == datetime(2026, 1, 1, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 1, 2, 16, 0, tzinfo=UTC)
    assert end - start == 24 * HOUR


@pytest.mark.usefixtures("shanghai")
def test_day_bounds_are_utc() -> None:
    # given / when
    start, end = day_bounds(date(2026, 1, 2))
    # then both are expressed in UTC (what the database stores)
    assert start.tzinfo is UTC
    assert end.tzinfo is UTC


@pytest.mark.usefixtures("new_york")
def test_day_bounds_ordinary_new_york_day() -> None:
    # given a winter day in New York (UTC-5)
    # when
    start, end = day_bounds(date(2026, 1, 15))
    # then
    assert start == datetime(2026, 1, 15, 5, 0, tzinfo=UTC)
    assert end - start == 24 * HOUR


@pytest.mark.usefixtures("new_york")
def test_day_bounds_spring_forward_is_23_hours() -> None:
    # given 8 March 2026, when New York moves from EST to EDT
    # when
    start, end = day_bounds(date(2026, 3, 8))
    # then the day starts at EST midnight, ends at EDT midnight and is 23 hours long
    assert start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)
    assert end - start == 23 * HOUR


@pytest.mark.usefixtures("new_york")
def test_day_bounds_fall_back_is_25_hours() -> None:
    # given 1 November 2026, when New York moves from EDT back to EST
    # when
    start, end = day_bounds(date(2026, 11, 1))
    # then the day is 25 hours long
    assert start == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
    assert end - start == 25 * HOUR


@pytest.mark.usefixtures("new_york")
def test_day_bounds_days_around_dst_are_24_hours() -> None:
    # given the days either side of each change
    # when / then
    for day in (date(2026, 3, 7), date(2026, 3, 9), date(2026, 10, 31), date(2026, 11, 2)):
        start, end = day_bounds(day)
        assert end - start == 24 * HOUR, day


@pytest.mark.usefixtures("new_york")
def test_day_bounds_contain_every_moment_of_the_day() -> None:
    # given the 25-hour day, including the repeated 01:00-02:00 hour
    start, end = day_bounds(date(2026, 11, 1))
    moment = start
    # when / then every moment in [start, end) has that local date, and end does not
    while moment < end:
        assert local_date(moment) == date(2026, 11, 1)
        moment += 15 * timedelta(minutes=1)
    assert local_date(end) == date(2026, 11, 2)
    assert local_date(start - timedelta(microseconds=1)) == date(2026, 10, 31)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 30)))
def test_consecutive_day_bounds_tile_time(day: date) -> None:
    # given any day (default zone)
    # when
    start, end = day_bounds(day)
    next_start, _ = day_bounds(day + DAY)
    # then days neither overlap nor leave gaps, and each boundary maps back to its day
    assert end == next_start
    assert local_date(start) == day
    assert local_date(end - timedelta(microseconds=1)) == day
    assert local_date(end) == day + DAY


# --- range_bounds ------------------------------------------------------------------


@pytest.mark.usefixtures("shanghai")
def test_range_bounds_single_day_equals_day_bounds() -> None:
    # given first == last
    day = date(2026, 4, 1)
    # when / then
    assert range_bounds(day, day) == day_bounds(day)


@pytest.mark.usefixtures("shanghai")
def test_range_bounds_spans_first_start_to_last_end() -> None:
    # given a week
    # when
    start, end = range_bounds(date(2026, 4, 1), date(2026, 4, 7))
    # then it runs from the start of the first day to the end of the last
    assert start == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 4, 7, 16, 0, tzinfo=UTC)
    assert end - start == 7 * DAY


@pytest.mark.usefixtures("new_york")
def test_range_bounds_across_dst() -> None:
    # given March in New York, which loses an hour
    # when
    start, end = range_bounds(date(2026, 3, 1), date(2026, 3, 31))
    # then
    assert end - start == 31 * DAY - HOUR


def test_range_bounds_refuses_reversed_range() -> None:
    # given last before first
    # when / then
    with pytest.raises(ValueError, match="ends before it starts"):
        range_bounds(date(2026, 4, 2), date(2026, 4, 1))


# --- days / week_start / month_start -----------------------------------------------


def test_days_is_inclusive() -> None:
    # given a range over a month and year end
    # when
    result = list(days(date(2025, 12, 30), date(2026, 1, 2)))
    # then both ends are included, in order
    assert result == [date(2025, 12, 30), date(2025, 12, 31), date(2026, 1, 1), date(2026, 1, 2)]


def test_days_single_and_empty() -> None:
    # given / when / then
    assert list(days(date(2026, 1, 1), date(2026, 1, 1))) == [date(2026, 1, 1)]
    assert list(days(date(2026, 1, 2), date(2026, 1, 1))) == []


def test_days_leap_year() -> None:
    # given February of a leap year
    # when / then
    assert len(list(days(date(2028, 2, 1), date(2028, 2, 29)))) == 29
    assert list(days(date(2028, 2, 28), date(2028, 3, 1)))[1] == date(2028, 2, 29)


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    st.integers(min_value=0, max_value=400),
)
def test_days_length(first: date, span: int) -> None:
    # given any range
    last = first + timedelta(days=span)
    # when
    result = list(days(first, last))
    # then span + 1 consecutive dates
    assert len(result) == span + 1
    assert result[0] == first
    assert result[-1] == last
    assert all(b - a == DAY for a, b in itertools.pairwise(result))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 23), date(2026, 11, 23)),  # Monday
        (date(2026, 11, 25), date(2026, 11, 23)),  # Wednesday
        (date(2026, 11, 29), date(2026, 11, 23)),  # Sunday belongs to the week before
        (date(2026, 11, 30), date(2026, 11, 30)),  # next Monday
        (date(2026, 1, 1), date(2025, 12, 29)),  # Thursday: week starts in the old year
    ],
)
def test_week_start_is_monday(day: date, expected: date) -> None:
    # given / when / then
    assert week_start(day) == expected


@given(st.dates(min_value=date(1900, 1, 8)))
def test_week_start_properties(day: date) -> None:
    # given any day
    # when
    monday = week_start(day)
    # then it is a Monday within the last 6 days and in the same ISO week
    assert monday.weekday() == 0
    assert timedelta(0) <= day - monday <= timedelta(days=6)
    assert monday.isocalendar()[:2] == day.isocalendar()[:2]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 25), date(2026, 11, 1)),
        (date(2026, 11, 1), date(2026, 11, 1)),
        (date(2026, 12, 31), date(2026, 12, 1)),
        (date(2028, 2, 29), date(2028, 2, 1)),
    ],
)
def test_month_start(day: date, expected: date) -> None:
    # given / when / then
    assert month_start(day) == expected
