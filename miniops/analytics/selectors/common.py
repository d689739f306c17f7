"""What every report shares: the table it exports, period metrics, date ranges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from miniops.analytics.models import DaySummary
from miniops.core.timeutils import range_bounds

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
