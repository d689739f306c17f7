"""Time-zone aware day boundaries.

Times are stored in UTC; business days (reports, "orders today", daily limits)
follow ``settings.TIME_ZONE`` (default Asia/Shanghai). Every day-based query goes
through these helpers so a day means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def business_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def now() -> datetime:
    return timezone.now()


def local_date(moment: datetime | None = None) -> date:
    """The business-day date of ``moment`` (default: now)."""
    moment = moment or now()
    if timezone.is_naive(moment):
        raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
    return moment.astimezone(business_tz()).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of the business day ``day``, as UTC datetimes.

    Computed through the zone, not as ``start + 24h``, so days that contain a
    DST change (where the configured zone has one) keep their real length.
    """
    tz = business_tz()
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def same_hours(day: date, moment: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of ``day`` from its start up to the time of day ``moment``
    has reached in its own business day (never past ``day``'s end): at 10:30
    today, yesterday's same hours are yesterday 00:00–10:30."""
    elapsed = moment - day_bounds(local_date(moment))[0]
    start, end = day_bounds(day)
    return start, min(start + elapsed, end)


def range_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """``[start of first, end of last)`` in UTC; ``first`` may equal ``last``."""
    if last < first:
        raise ValueError("range ends before it starts")
    return day_bounds(first)[0], day_bounds(last)[1]


def days(first: date, last: date) -> Iterator[date]:
    """Every date from ``first`` to ``last`` inclusive."""
    current = first
    while current <= last:
        yield current
        current += timedelta(days=1)


def week_start(day: date) -> date:
    """Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)
