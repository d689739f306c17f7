"""Metrics over time by day, week or month, with a comparison period."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from django.utils.translation import gettext as _

from miniops.analytics.models import DaySummary
from miniops.analytics.selectors.common import METRICS, Table, _days, period_metrics
from miniops.core.timeutils import week_start

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
