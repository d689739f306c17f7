"""Today so far against the same hours of earlier days.

At 05:38 a whole yesterday is no yardstick for today: the figures of today up to
now are set against yesterday up to the same time of day, and against the same
hours averaged over the seven days before today. Counted from the raw events
and orders of those windows (the day rollups hold whole days only)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q, Sum

from miniops.analytics.selectors.common import _change, _ratio
from miniops.core.timeutils import business_tz, day_bounds, local_date, now

#: the metrics a same-hours window gives
SAME_HOURS = (
    "visitors",
    "pageviews",
    "new_members",
    "dau",
    "orders",
    "paid_orders",
    "gmv",
    "paying_members",
    "conversion",
)
AVERAGED_DAYS = 7


def windows(moment: datetime, days: int = AVERAGED_DAYS) -> list[tuple[date, datetime, datetime]]:
    """``(day, start, end)`` for today and each of the ``days`` days before it:
    from the day's start to the same time of day as ``moment``."""
    today = local_date(moment)
    elapsed = moment - day_bounds(today)[0]
    out = []
    for offset in range(days + 1):
        day = today - timedelta(days=offset)
        start = day_bounds(day)[0]
        out.append((day, start, min(start + elapsed, day_bounds(day)[1])))
    return out


def _event_counts(spans: list[tuple[date, datetime, datetime]]) -> dict[int, tuple[int, int]]:
    """Window index → (distinct visitors, page views), client events only; a
    visitor is resolved through their alias as the rollups do."""
    cases = " ".join(f"WHEN e.ts >= %s AND e.ts < %s THEN {i}" for i in range(len(spans)))
    params: list[Any] = []
    for _day, start, end in spans:
        params += [start, end]
    days = [day for day, _s, _e in spans]
    params += days
    marks = ", ".join(["%s"] * len(days))
    sql = f"""
        SELECT w, COUNT(DISTINCT visitor), SUM(CASE WHEN name = 'page_view' THEN 1 ELSE 0 END)
        FROM (SELECT CASE {cases} END AS w, e.name,
                     CASE WHEN e.member_id IS NOT NULL THEN 'm' || e.member_id
                          WHEN a.member_id IS NOT NULL THEN 'm' || a.member_id
                          ELSE 'a' || e.anonymous_id END AS visitor
              FROM analytics_event e
              LEFT JOIN analytics_visitoralias a
                     ON e.member_id IS NULL AND a.anonymous_id = e.anonymous_id
              WHERE e.source = 'client' AND e.day IN ({marks})) x
        WHERE w IS NOT NULL GROUP BY w
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {int(w): (int(v), int(pv or 0)) for w, v, pv in cursor.fetchall()}


def _commerce(spans: list[tuple[date, datetime, datetime]]) -> list[dict[str, int]]:
    from miniops.members.models import Member
    from miniops.orders.models import Order

    first, last = spans[-1][1], spans[0][2]
    placed = Order.objects.filter(created_at__gte=first, created_at__lt=last).aggregate(
        **{
            f"o{i}": Count("id", filter=Q(created_at__gte=start, created_at__lt=end))
            for i, (_d, start, end) in enumerate(spans)
        }
    )
    paid = Order.objects.filter(paid_at__gte=first, paid_at__lt=last)
    paid_sums = paid.aggregate(
        **{
            key: agg
            for i, (_d, start, end) in enumerate(spans)
            for key, agg in (
                (f"p{i}", Count("id", filter=Q(paid_at__gte=start, paid_at__lt=end))),
                (f"g{i}", Sum("paid_amount", filter=Q(paid_at__gte=start, paid_at__lt=end))),
                (
                    f"m{i}",
                    Count(
                        "member_id",
                        distinct=True,
                        filter=Q(paid_at__gte=start, paid_at__lt=end),
                    ),
                ),
            )
        }
    )
    joined = Member.objects.filter(registered_at__gte=first, registered_at__lt=last).aggregate(
        **{
            f"n{i}": Count("id", filter=Q(registered_at__gte=start, registered_at__lt=end))
            for i, (_d, start, end) in enumerate(spans)
        }
    )
    return [
        {
            "orders": placed[f"o{i}"] or 0,
            "paid_orders": paid_sums[f"p{i}"] or 0,
            "gmv": paid_sums[f"g{i}"] or 0,
            "paying_members": paid_sums[f"m{i}"] or 0,
            "new_members": joined[f"n{i}"] or 0,
        }
        for i in range(len(spans))
    ]


def same_hours(moment: datetime | None = None) -> dict[str, Any]:
    """Today up to ``moment`` (default now), yesterday and the same weekday last
    week up to the same time, and the same hours averaged over the seven days
    before today; with the changes."""
    moment = moment or now()
    spans = windows(moment)
    events = _event_counts(spans)
    commerce = _commerce(spans)
    figures = []
    for index in range(len(spans)):
        visitors, pageviews = events.get(index, (0, 0))
        values: dict[str, float] = {
            "visitors": visitors,
            "dau": visitors,
            "pageviews": pageviews,
            **commerce[index],
        }
        values["conversion"] = _ratio(values["paying_members"], visitors)
        figures.append(values)
    today, yesterday, last_week = figures[0], figures[1], figures[AVERAGED_DAYS]
    earlier = figures[1:]
    average = {
        metric: round(sum(f[metric] for f in earlier) / len(earlier), 4) for metric in SAME_HOURS
    }
    return {
        "until": moment.astimezone(business_tz()),
        "today": today,
        "yesterday": yesterday,
        "last_week": last_week,
        "average": average,
        "days": [{"day": day, **figures[i]} for i, (day, _s, _e) in enumerate(spans)],
        "vs_yesterday": {m: _change(today[m], yesterday[m]) for m in SAME_HOURS},
        "vs_last_week": {m: _change(today[m], last_week[m]) for m in SAME_HOURS},
        "vs_average": {m: _change(today[m], average[m]) for m in SAME_HOURS},
    }
