"""The overview: headline figures for today, yesterday and recent periods."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from miniops.analytics.models import DaySummary
from miniops.analytics.selectors.common import METRICS, Table, _change, period_metrics
from miniops.core.timeutils import local_date

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
