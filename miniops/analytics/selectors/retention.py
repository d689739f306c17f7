"""Retention by first visit or registration, from the rollup or the lake."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from miniops.analytics import lake
from miniops.analytics.selectors.common import Table, _ratio
from miniops.core.timeutils import local_date, range_bounds, week_start


# --- retention ----------------------------------------------------------------------------
def retention(
    first: date,
    last: date,
    *,
    grain: str = "day",
    periods: int = 30,
    cohort_by: str = "first_visit",
    returned_event: str = "",
) -> dict[str, Any]:
    """Cohorts of visitors (first visit, or members by registration) in [first,
    last], by day or week; for each, how many were active again 1..``periods``
    days (weeks) later — any event, or ``returned_event`` only (read from the lake)."""
    if returned_event:
        raw = _retention_lake(first, last, grain, periods, cohort_by, returned_event)
    else:
        raw = _retention_rollup(first, last, grain, periods, cohort_by)
    sizes, cells = raw
    cohorts: list[dict[str, Any]] = []
    for cohort in sorted(sizes):
        size = sizes[cohort]
        counts = [cells.get((cohort, offset), 0) for offset in range(1, periods + 1)]
        cohorts.append(
            {
                "cohort": cohort,
                "size": size,
                "counts": counts,
                "rates": [_ratio(c, size) for c in counts],
                # how many periods have fully happened for this cohort
                "observable": _observable(cohort, grain, periods),
            }
        )
    label = _("Day %d") if grain == "day" else _("Week %d")
    table = Table(columns=[_("Cohort"), _("Size")] + [label % i for i in range(1, periods + 1)])
    for c in cohorts:
        table.rows.append(
            [c["cohort"].isoformat(), c["size"]]
            + [c["counts"][i] if i < c["observable"] else "" for i in range(periods)]
        )
    return {"grain": grain, "periods": periods, "cohorts": cohorts, "table": table}


def _observable(cohort: date, grain: str, periods: int) -> int:
    today = local_date()
    elapsed = (today - cohort).days if grain == "day" else (week_start(today) - cohort).days // 7
    return max(0, min(periods, elapsed))


def _retention_rollup(
    first: date, last: date, grain: str, periods: int, cohort_by: str
) -> tuple[dict[date, int], dict[tuple[date, int], int]]:
    step = 1 if grain == "day" else 7
    horizon = last + timedelta(days=step * (periods + 1))
    if cohort_by == "registration":
        if connection.vendor == "postgresql":
            cohort_sql = (
                "SELECT 'm' || m.id AS visitor, "
                "(m.registered_at AT TIME ZONE %s)::date AS first_day "
                "FROM members_member m WHERE m.registered_at >= %s AND m.registered_at < %s"
            )
        else:
            cohort_sql = (
                "SELECT 'm' || m.id AS visitor, date(m.registered_at, %s) AS first_day "
                "FROM members_member m WHERE m.registered_at >= %s AND m.registered_at < %s"
            )
        start, end = range_bounds(first, last)
        cohort_params: list[Any] = [_tz_param(), start, end]
    else:
        cohort_sql = (
            "SELECT visitor, first_day FROM analytics_visitorfirst "
            "WHERE first_day >= %s AND first_day <= %s"
        )
        cohort_params = [first, last]
    if connection.vendor == "postgresql":
        offset = "(a.day - c.first_day)"
    else:
        offset = "CAST(julianday(a.day) - julianday(c.first_day) AS INTEGER)"
    sql = f"""
        WITH c AS ({cohort_sql})
        SELECT c.first_day, {offset} AS d, COUNT(*)
        FROM c JOIN analytics_visitorday a ON a.visitor = c.visitor
        WHERE a.day > c.first_day AND a.day > %s AND a.day <= %s
        GROUP BY c.first_day, d
    """
    sizes_sql = f"SELECT first_day, COUNT(*) FROM ({cohort_sql}) c GROUP BY first_day"
    with connection.cursor() as cursor:
        cursor.execute(sizes_sql, cohort_params)
        day_sizes = {_as_date(d): n for d, n in cursor.fetchall()}
        # the lower bound lets the day index skip all history before the first cohort
        cursor.execute(sql, [*cohort_params, first, horizon])
        day_cells = [(_as_date(d), int(o), n) for d, o, n in cursor.fetchall()]
    if grain == "day":
        return day_sizes, {(cohort, o): n for cohort, o, n in day_cells if 1 <= o <= periods}
    # Weekly: cohort = week of the first day; "week k" = active in the k-th week after.
    # A visitor active on several days of a week counts once: needs distinct visitors.
    return _weekly_from_rollup(cohort_sql, cohort_params, periods, first, horizon)


def _weekly_from_rollup(
    cohort_sql: str, cohort_params: list[Any], periods: int, first: date, horizon: date
) -> tuple[dict[date, int], dict[tuple[date, int], int]]:
    sql = f"""
        WITH c AS ({cohort_sql})
        SELECT c.visitor, c.first_day, a.day
        FROM c JOIN analytics_visitorday a ON a.visitor = c.visitor
        WHERE a.day > c.first_day AND a.day > %s AND a.day <= %s
    """
    sizes: dict[date, int] = defaultdict(int)
    active: dict[tuple[date, int], set[str]] = defaultdict(set)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT first_day FROM ({cohort_sql}) c", cohort_params)
        for (first_day,) in cursor.fetchall():
            sizes[week_start(_as_date(first_day))] += 1
        # the lower bound lets the day index skip all history before the first cohort
        cursor.execute(sql, [*cohort_params, first, horizon])
        for visitor, first_day, day in cursor.fetchall():
            cohort = week_start(_as_date(first_day))
            weeks = (week_start(_as_date(day)) - cohort).days // 7
            if 1 <= weeks <= periods:
                active[(cohort, weeks)].add(visitor)
    return dict(sizes), {key: len(members) for key, members in active.items()}


def _retention_lake(
    first: date, last: date, grain: str, periods: int, cohort_by: str, returned_event: str
) -> tuple[dict[date, int], dict[tuple[date, int], int]]:
    step = 1 if grain == "day" else 7
    horizon = last + timedelta(days=step * (periods + 1))
    bucket = "day" if grain == "day" else "date_trunc('week', day)::DATE"
    if cohort_by == "registration":
        cohort_sql = (
            "SELECT 'm' || member_id AS visitor, registered_day AS first_day FROM members "
            "WHERE registered_day BETWEEN ? AND ?"
        )
    else:
        cohort_sql = (
            "SELECT visitor, MIN(day) AS first_day FROM ev WHERE source = 'client' "
            "AND visitor IS NOT NULL GROUP BY visitor HAVING MIN(day) BETWEEN ? AND ?"
        )
    first_bucket = "c.first_day" if grain == "day" else "date_trunc('week', c.first_day)::DATE"
    divisor = 1 if grain == "day" else 7
    with lake.connect() as db:
        sizes = {
            _as_date(row[0]): int(row[1])
            for row in db.execute(
                f"SELECT {first_bucket} AS cohort, COUNT(*) FROM ({cohort_sql}) c GROUP BY 1",
                [first, last],
            ).fetchall()
        }
        cells = db.execute(
            f"""
            WITH c AS ({cohort_sql}),
                 act AS (SELECT DISTINCT visitor, {bucket} AS b FROM ev
                         WHERE name = ? AND day > ? AND day <= ?)
            SELECT {first_bucket} AS cohort, (act.b - {first_bucket}) // {divisor} AS k,
                   COUNT(DISTINCT c.visitor)
            FROM c JOIN act ON act.visitor = c.visitor
            WHERE act.b > {first_bucket}
            GROUP BY 1, 2
            """,
            [first, last, returned_event, first, horizon],
        ).fetchall()
    return sizes, {
        (_as_date(cohort), int(k)): int(n) for cohort, k, n in cells if 1 <= int(k) <= periods
    }


def _tz_param() -> str:
    from django.conf import settings

    if connection.vendor == "postgresql":
        return str(settings.TIME_ZONE)
    # SQLite's date() takes a fixed modifier: the zone's offset now (China has no DST).
    from miniops.core.timeutils import business_tz, now

    offset = now().astimezone(business_tz()).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
