"""Analytics reads: every report the console and the management API show.

Overview, trends, traffic sources and feature usage read the rollups (a few
hundred rows at most); retention reads the visitor × day rollup, or the event
lake when "returned" means one chosen event; funnels read the lake (DuckDB).
Each report returns plain data plus a ``table`` (columns and rows) that the
CSV / XLSX export writes as it is.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from miniops.analytics import lake, realtime
from miniops.analytics.models import DaySummary, Event, EventDay, SourceDay
from miniops.analytics.scenes import scene_name
from miniops.core.timeutils import local_date, range_bounds, week_start

MAX_RANGE_DAYS = 366


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


# --- metrics ------------------------------------------------------------------------------
#: metric -> (label, how it is summed over a period)
METRICS: dict[str, Any] = {
    "pageviews": gettext_lazy("Page views (PV)"),
    "visitors": gettext_lazy("Visitors (UV)"),
    "new_visitors": gettext_lazy("New visitors"),
    "new_members": gettext_lazy("New members"),
    "dau": gettext_lazy("Daily active (DAU)"),
    "wau": gettext_lazy("Weekly active (WAU)"),
    "mau": gettext_lazy("Monthly active (MAU)"),
    "stickiness": gettext_lazy("Stickiness (DAU / MAU)"),
    "sessions": gettext_lazy("Sessions"),
    "avg_session_seconds": gettext_lazy("Average session (seconds)"),
    "orders": gettext_lazy("Orders placed"),
    "paid_orders": gettext_lazy("Orders paid"),
    "gmv": gettext_lazy("GMV"),
    "paying_members": gettext_lazy("Paying members"),
    "aov": gettext_lazy("Average order value"),
    "conversion": gettext_lazy("Conversion (paying ÷ visitors)"),
    "refund_amount": gettext_lazy("Refunded"),
    "refund_rate": gettext_lazy("Refund rate (refunded ÷ GMV)"),
}
SUMMED = (
    "pageviews",
    "new_visitors",
    "new_members",
    "sessions",
    "session_seconds",
    "orders",
    "paid_orders",
    "gmv",
    "refunds",
    "refund_amount",
)


def _ratio(numerator: float, denominator: float, digits: int = 4) -> float:
    return round(numerator / denominator, digits) if denominator else 0.0


def _paying_members(first: date, last: date) -> int:
    from miniops.orders.models import Order

    start, end = range_bounds(first, last)
    return (
        Order.objects.filter(paid_at__gte=start, paid_at__lt=end)
        .values("member_id")
        .distinct()
        .count()
    )


def period_metrics(
    first: date, last: date, rows: dict[date, DaySummary] | None = None
) -> dict[str, float]:
    """Every metric for the period [first, last] from the day summaries."""
    if rows is None:
        rows = {s.day: s for s in DaySummary.objects.filter(day__gte=first, day__lte=last)}
    days = [rows[d] for d in _days(first, last) if d in rows]
    sums = {name: sum(getattr(s, name) for s in days) for name in SUMMED}
    n_days = (last - first).days + 1
    end = rows.get(last)
    dau = sum(s.visitors for s in days) / n_days
    if n_days == 1:
        visitors = end.visitors if end else 0
    elif n_days == 7:
        visitors = end.wau if end else 0
    elif n_days == 30:
        visitors = end.mau if end else 0
    else:
        visitors = _distinct_visitors(first, last)
    mau = end.mau if end else 0
    paying = (end.paying_members if end else 0) if n_days == 1 else _paying_members(first, last)
    return {
        "pageviews": sums["pageviews"],
        "visitors": visitors,
        "new_visitors": sums["new_visitors"],
        "new_members": sums["new_members"],
        "dau": round(dau, 1),
        "wau": end.wau if end else 0,
        "mau": mau,
        "stickiness": _ratio(dau, mau),
        "sessions": sums["sessions"],
        "avg_session_seconds": round(_ratio(sums["session_seconds"], sums["sessions"], 1), 1),
        "orders": sums["orders"],
        "paid_orders": sums["paid_orders"],
        "gmv": sums["gmv"],
        "paying_members": paying,
        "aov": round(_ratio(sums["gmv"], sums["paid_orders"], 0)),
        "conversion": _ratio(paying, visitors),
        "refund_amount": sums["refund_amount"],
        "refund_rate": _ratio(sums["refund_amount"], sums["gmv"]),
    }


def _distinct_visitors(first: date, last: date) -> int:
    from miniops.analytics.models import VisitorDay

    return (
        VisitorDay.objects.filter(day__gte=first, day__lte=last)
        .values("visitor")
        .distinct()
        .count()
    )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _change(current: float, previous: float) -> float | None:
    if not previous:
        return None
    return round((current - previous) / previous, 4)


# --- overview -----------------------------------------------------------------------------
OVERVIEW_PERIODS = {
    "today": (gettext_lazy("Today"), 0, 1),
    "yesterday": (gettext_lazy("Yesterday"), 1, 1),
    "last_7_days": (gettext_lazy("Last 7 days"), 0, 7),
    "last_30_days": (gettext_lazy("Last 30 days"), 0, 30),
}


def overview(today: date | None = None) -> dict[str, Any]:
    """Each period's metrics, with the change against the previous period of the
    same length and against the same weekdays a week earlier."""
    today = today or local_date()
    earliest = today - timedelta(days=30 + 30 + 7)
    rows = {s.day: s for s in DaySummary.objects.filter(day__gte=earliest, day__lte=today)}
    periods: dict[str, dict[str, Any]] = {}
    for key, (label, offset, length) in OVERVIEW_PERIODS.items():
        last = today - timedelta(days=offset)
        first = last - timedelta(days=length - 1)
        current = period_metrics(first, last, rows)
        previous = period_metrics(
            first - timedelta(days=length), last - timedelta(days=length), rows
        )
        week_ago = (
            previous
            if length == 7
            else period_metrics(first - timedelta(days=7), last - timedelta(days=7), rows)
        )
        periods[key] = {
            "label": str(label),
            "first": first,
            "last": last,
            "metrics": current,
            "vs_previous": {m: _change(v, previous[m]) for m, v in current.items()},
            "vs_last_week": {m: _change(v, week_ago[m]) for m, v in current.items()},
        }
    table = Table(columns=[_("Metric")] + [p["label"] for p in periods.values()])
    for metric, label in METRICS.items():
        table.rows.append([str(label)] + [p["metrics"][metric] for p in periods.values()])
    built = rows.get(today)
    return {
        "today": today,
        "periods": periods,
        "built_at": built.built_at if built else None,
        "table": table,
    }


# --- trends -------------------------------------------------------------------------------
GRAINS = ("day", "week", "month")


def _bucket(day: date, grain: str) -> date:
    if grain == "week":
        return week_start(day)
    if grain == "month":
        return day.replace(day=1)
    return day


def trend(metric: str, first: date, last: date, grain: str = "day") -> list[tuple[date, float]]:
    """``metric`` per day, week or month over [first, last] (partial buckets at
    the edges cover only the days inside the range)."""
    rows = {s.day: s for s in DaySummary.objects.filter(day__gte=first, day__lte=last)}
    buckets: dict[date, list[date]] = defaultdict(list)
    for day in _days(first, last):
        buckets[_bucket(day, grain)].append(day)
    series = []
    for start, days in sorted(buckets.items()):
        values = period_metrics(days[0], days[-1], rows)
        series.append((start, values[metric]))
    return series


def trends(
    metric: str,
    first: date,
    last: date,
    grain: str = "day",
    compare: tuple[date, date] | None = None,
) -> dict[str, Any]:
    main = trend(metric, first, last, grain)
    other = trend(metric, compare[0], compare[1], grain) if compare else []
    table = Table(columns=[_("Period"), str(METRICS[metric])])
    if compare:
        table.columns += [_("Compared period"), _("Compared value")]
    for index, (start, value) in enumerate(main):
        row: list[Any] = [start.isoformat(), value]
        if compare:
            row += (
                [other[index][0].isoformat(), other[index][1]] if index < len(other) else ["", ""]
            )
        table.rows.append(row)
    return {
        "metric": metric,
        "label": str(METRICS[metric]),
        "grain": grain,
        "series": main,
        "compare": other,
        "table": table,
    }


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


# --- funnels ------------------------------------------------------------------------------
#: step filters on these names use the column; any other name is a JSON property
FILTER_COLUMNS = {"path", "scene", "channel", "utm_source", "share_code", "platform", "session_id"}
BREAKDOWNS = {"scene", "channel", "utm_source", "platform"}


def _step_condition(step: dict[str, Any], alias: str = "") -> tuple[str, list[Any]]:
    prefix = f"{alias}." if alias else ""
    condition, params = f"{prefix}name = ?", [step["event"]]
    prop = step.get("property") or ""
    if prop:
        if prop in FILTER_COLUMNS:
            condition += f" AND CAST({prefix}{prop} AS VARCHAR) = ?"
        else:
            condition += f" AND json_extract_string({prefix}properties, ?) = ?"
            params.append(f'$."{prop}"')  # names are [A-Za-z0-9_] (services.clean_steps)
        params.append(
            str(step["value"]).lower() if isinstance(step["value"], bool) else str(step["value"])
        )
    return condition, params


def funnel(
    steps: list[dict[str, Any]],
    first: date,
    last: date,
    *,
    window_hours: int = 24,
    breakdown: str = "",
) -> dict[str, Any]:
    """Visitors who did step 1 in [first, last] (their first time in the range),
    then each next step in order within ``window_hours`` of that first step."""
    if breakdown and breakdown not in BREAKDOWNS:
        breakdown = ""
    window = f"INTERVAL {int(window_hours)} HOUR"
    group = f"CAST({breakdown} AS VARCHAR)" if breakdown else "''"
    conditions = [_step_condition(step) for step in steps]
    ctes, params = [], []
    any_step = " OR ".join(f"({c})" for c, _ in conditions)
    for _c, p in conditions:
        params += p
    ctes.append(
        f"e AS (SELECT id, visitor, ts, name, {', '.join(sorted(FILTER_COLUMNS | BREAKDOWNS))}, "
        f"properties FROM ev WHERE visitor IS NOT NULL AND day >= ? AND day <= ? AND ({any_step}))"
    )
    params = [first, last + timedelta(days=window_hours // 24 + 1), *params]
    first_condition, first_params = _step_condition(steps[0])
    # each visitor's first step 1 in the range (earliest ts, then lowest id): a
    # grouped arg_min, several times cheaper than a window over all step-1 events
    ctes.append(
        f"s1 AS (SELECT visitor, arg_min({group}, (ts, id)) AS grp, min(ts) AS t1, "
        "arg_min(id, (ts, id)) AS i1 "
        f"FROM e WHERE ({first_condition}) AND ts >= ? AND ts < ? GROUP BY visitor)"
    )
    start, end = range_bounds(first, last)
    params += [*first_params, start, end]
    for index in range(1, len(steps)):
        condition, step_params = _step_condition(steps[index], "e")
        previous = f"s{index}"
        carried = ", ".join(f"p.t{i}, p.i{i}" for i in range(1, index + 1))
        # strictly after the previous step's event (one event is never two steps)
        after = f"(e.ts > p.t{index} OR (e.ts = p.t{index} AND e.id > p.i{index}))"
        ctes.append(
            f"s{index + 1} AS (SELECT p.visitor, p.grp, {carried}, MIN(e.ts) AS t{index + 1}, "
            f"arg_min(e.id, e.ts) AS i{index + 1} "
            f"FROM {previous} p JOIN e ON e.visitor = p.visitor AND ({condition}) "
            f"AND {after} AND e.ts <= p.t1 + {window} "
            f"GROUP BY p.visitor, p.grp, {carried})"
        )
        params += step_params
    selects = []
    for index in range(1, len(steps) + 1):
        gap = f"median(epoch(t{index}) - epoch(t{index - 1}))" if index > 1 else "NULL"
        selects.append(
            f"SELECT {index} AS step, grp, COUNT(*) AS n, {gap} AS gap FROM s{index} GROUP BY grp"
        )
    sql = "WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(selects)
    with lake.connect() as db:
        result = db.execute(sql, params).fetchall()
    by_group: dict[str, dict[int, tuple[int, float | None]]] = defaultdict(dict)
    for step_no, grp, n, gap in result:
        by_group[grp or ""][int(step_no)] = (int(n), float(gap) if gap is not None else None)
    totals: dict[int, int] = defaultdict(int)
    for values in by_group.values():
        for step_no, (n, _gap) in values.items():
            totals[step_no] += n
    overall_gaps = _overall_gaps(by_group, len(steps))
    rows = []
    for index, step in enumerate(steps, start=1):
        n = totals.get(index, 0)
        before = totals.get(index - 1, 0) if index > 1 else n
        rows.append(
            {
                "step": index,
                "label": step.get("label") or _step_label(step),
                "visitors": n,
                "conversion_from_previous": _ratio(n, before) if index > 1 else 1.0 if n else 0.0,
                "conversion_from_first": _ratio(n, totals.get(1, 0)),
                "drop_off": before - n if index > 1 else 0,
                "median_seconds_from_previous": overall_gaps.get(index),
            }
        )
    breakdown_rows = []
    if breakdown:
        for grp, values in sorted(by_group.items(), key=lambda kv: -kv[1].get(1, (0, None))[0]):
            counts = [values.get(i, (0, None))[0] for i in range(1, len(steps) + 1)]
            breakdown_rows.append(
                {
                    "value": grp,
                    "label": scene_name(grp) if breakdown == "scene" else grp or _("(none)"),
                    "counts": counts,
                    "conversion": _ratio(counts[-1], counts[0]),
                }
            )
    table = Table(
        columns=[
            _("Step"),
            _("Visitors"),
            _("Conversion from previous step"),
            _("Conversion from first step"),
            _("Drop-off"),
            _("Median time from previous step (s)"),
        ]
    )
    for row in rows:
        table.rows.append(
            [
                f"{row['step']}. {row['label']}",
                row["visitors"],
                row["conversion_from_previous"],
                row["conversion_from_first"],
                row["drop_off"],
                row["median_seconds_from_previous"] or "",
            ]
        )
    return {
        "steps": rows,
        "breakdown": breakdown,
        "breakdown_rows": breakdown_rows,
        "data_until": lake.freshness(),
        "table": table,
    }


def _overall_gaps(
    by_group: dict[str, dict[int, tuple[int, float | None]]], n_steps: int
) -> dict[int, float | None]:
    """The median gap per step over all groups (weighted medians of medians would be
    wrong; with one group it is exact, with several it is the count-weighted median
    of the group medians — documented in the operator guide)."""
    gaps: dict[int, float | None] = {}
    for index in range(2, n_steps + 1):
        samples = []
        for values in by_group.values():
            n, gap = values.get(index, (0, None))
            if gap is not None:
                samples += [gap] * n
        gaps[index] = round(statistics.median(samples), 1) if samples else None
    return gaps


def _step_label(step: dict[str, Any]) -> str:
    if step.get("property"):
        return f"{step['event']} ({step['property']} = {step['value']})"
    return str(step["event"])


# --- traffic sources and feature usage --------------------------------------------------------
def sources(first: date, last: date, *, by: str = "scene") -> dict[str, Any]:
    """Visitors, new members, orders and GMV per scene, channel, UTM source or share."""
    field_name = {"scene": "scene", "channel": "channel", "utm_source": "utm_source"}.get(by, "")
    qs = SourceDay.objects.filter(day__gte=first, day__lte=last)
    grouped = qs.values(field_name) if field_name else qs.values("via_share")
    rows = []
    for entry in grouped.annotate(
        visitors=Sum("visitors"),
        new_members=Sum("new_members"),
        orders=Sum("orders"),
        gmv=Sum("gmv"),
    ).order_by("-visitors"):
        value = entry.get(field_name) if field_name else entry["via_share"]
        if by == "scene":
            label = scene_name(value)
        elif not field_name:
            label = _("Share links") if value else _("Not from a share")
        else:
            label = str(value or _("(none)"))
        rows.append(
            {
                "value": value,
                "label": label,
                "visitors": entry["visitors"],
                "new_members": entry["new_members"],
                "orders": entry["orders"],
                "gmv": entry["gmv"],
            }
        )
    table = Table(
        columns=[_("Source"), _("Visitors"), _("New members"), _("Orders"), _("GMV (fen)")]
    )
    for row in rows:
        table.rows.append(
            [row["label"], row["visitors"], row["new_members"], row["orders"], row["gmv"]]
        )
    return {"by": by, "rows": rows, "table": table}


def features(first: date, last: date, *, least: int = 5) -> dict[str, Any]:
    """PV / UV per page and per event; the least-used ones flagged. UV over several
    days sums the daily unique visitors (a visitor counted once per day)."""
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in EventDay.objects.filter(day__gte=first, day__lte=last)
        .values("name", "path")
        .annotate(count=Sum("count"), visitors=Sum("visitors"), days=Count("day"))
        .order_by("-count")
    ]
    daily: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    for name, path, day, count in EventDay.objects.filter(
        day__gte=first, day__lte=last
    ).values_list("name", "path", "day", "count"):
        daily[(name, path)][day] = count
    days = _days(first, last)
    client_rows = [
        r for r in rows if not r["name"].startswith(("order_", "refund_", "member_", "after_sale_"))
    ]
    flagged = {
        (r["name"], r["path"]) for r in sorted(client_rows, key=lambda r: r["count"])[:least]
    }
    out = []
    for row in rows:
        key = (row["name"], row["path"])
        out.append(
            {
                "name": row["name"],
                "path": row["path"],
                "count": row["count"],
                "visitors": row["visitors"],
                "trend": [daily[key].get(day, 0) for day in days],
                "least_used": key in flagged,
            }
        )
    table = Table(
        columns=[_("Event"), _("Page"), _("Count (PV)"), _("Visitors (UV, daily)"), _("Least used")]
    )
    for row in out:
        table.rows.append(
            [
                row["name"],
                row["path"],
                row["count"],
                row["visitors"],
                "✓" if row["least_used"] else "",
            ]
        )
    return {"rows": out, "days": days, "table": table}


# --- member timeline ------------------------------------------------------------------------
def member_timeline(member_id: int, *, limit: int = 50) -> list[Event]:
    """The member's latest events, those sent before they signed in included."""
    from miniops.analytics.models import VisitorAlias

    aliases = list(
        VisitorAlias.objects.filter(member_id=member_id).values_list("anonymous_id", flat=True)
    )
    condition = Q(member_id=member_id)
    if aliases:
        condition |= Q(member_id__isnull=True, anonymous_id__in=aliases)
    return list(Event.objects.filter(condition).order_by("-ts", "-id")[:limit])


# --- real time --------------------------------------------------------------------------------
def realtime_snapshot(minutes: int = 60) -> dict[str, Any]:
    now = realtime.current_minute()
    span = list(range(now - minutes + 1, now + 1))
    series = {metric: realtime.series(metric, span) for metric in realtime.METRICS}
    return {
        "minutes": span,
        "series": series,
        "totals": {metric: realtime.total(metric, span) for metric in realtime.METRICS},
        "top_pages": realtime.top_pages(span[-5:], limit=10),
    }


EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


def validate_range(first: date, last: date) -> None:
    from miniops.core.errors import InvalidInput

    for name, value in (("first", first), ("last", last)):
        if not EARLIEST <= value <= LATEST:
            raise InvalidInput(fields={name: _("A date between 2000 and 2099.")})
    if last < first:
        raise InvalidInput(fields={"last": _("The end is before the start.")})
    if (last - first).days >= MAX_RANGE_DAYS:
        raise InvalidInput(fields={"last": _("At most %d days.") % MAX_RANGE_DAYS})
