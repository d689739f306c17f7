"""The overview page and the home card."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.analytics import selectors
from miniops.analytics.admin.common import _export
from miniops.core import charts
from miniops.core.console import (
    DashboardWidget,
    operator_has,
    site,
)
from miniops.core.money import format_fen
from miniops.core.permissions import P

# --- overview -----------------------------------------------------------------------------
HEADLINE = [
    "visitors",
    "pageviews",
    "new_members",
    "dau",
    "stickiness",
    "avg_session_seconds",
    "orders",
    "gmv",
    "paying_members",
    "conversion",
]


MONEY = {"gmv", "aov", "refund_amount"}
RATIOS = {"stickiness", "conversion", "refund_rate"}


def display(metric: str, value: float) -> str:
    """A metric as operators read it: money in yuan, ratios in per cent."""
    if metric in MONEY:
        return format_fen(int(value))
    if metric in RATIOS:
        return f"{value * 100:.1f}%"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _cell(metric: str, period: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    """One figure of the table. Today's (``live``): the figures so far, set against
    yesterday up to the same time and the same hours averaged over 7 days."""
    if live is not None:
        if metric in selectors.SAME_HOURS:
            return {
                "value": display(metric, live["today"][metric]),
                "vs_previous": live["vs_yesterday"][metric],
                "vs_last_week": live["vs_average"][metric],
                "same_hours": True,
            }
        return {"value": display(metric, period["metrics"][metric]), "same_hours": True}
    return {
        "value": display(metric, period["metrics"][metric]),
        "vs_previous": period["vs_previous"][metric],
        "vs_last_week": period["vs_last_week"][metric],
    }


def _overview_context() -> dict[str, Any]:
    report = selectors.overview()
    live = selectors.same_hours()
    today = report["today"]
    rows = []
    for metric in HEADLINE:
        rows.append(
            {
                "metric": metric,
                "label": selectors.METRICS[metric],
                "cells": [
                    _cell(metric, period, live if key == "today" else None)
                    for key, period in report["periods"].items()
                ],
            }
        )
    return {
        "report": report,
        "live": live,
        "rows": rows,
        "periods": [p["label"] for p in report["periods"].values()],
        "chart": overview_chart(today),
    }


def overview_chart(today: date, days: int = 30) -> dict[str, Any]:
    """Visitors and GMV of the last 30 days, with the 30 days before overlaid
    (dashed, point for point); GMV on its own axis, in yuan."""
    first = today - timedelta(days=days - 1)
    before = (first - timedelta(days=days), first - timedelta(days=1))
    visitors = selectors.trend("visitors", first, today)
    gmv = selectors.trend("gmv", first, today)
    visitors_before = selectors.trend("visitors", *before)
    gmv_before = selectors.trend("gmv", *before)
    previous = gettext("previous %(days)d days") % {"days": days}
    dates = [d.isoformat() for d, _v in visitors_before]
    return charts.chart(
        "line",
        [d.strftime("%m-%d") for d, _v in visitors],
        [
            charts.Series(gettext("Visitors (UV)"), [v for _d, v in visitors], charts.COLORS[0]),
            charts.Series(
                f"{gettext('Visitors (UV)')} · {previous}",
                [v for _d, v in visitors_before],
                charts.PALE[0],
                dashed=True,
                dates=dates,
            ),
            charts.Series(gettext("GMV"), [v for _d, v in gmv], charts.COLORS[1], axis="y2"),
            charts.Series(
                f"{gettext('GMV')} · {previous}",
                [v for _d, v in gmv_before],
                charts.PALE[1],
                dashed=True,
                axis="y2",
                dates=dates,
            ),
        ],
        y_title=gettext("Visitors (UV)"),
        y2_title=gettext("GMV"),
        money=("y2",),
    )


@site.register_page(
    name="analytics_overview",
    route="analytics/overview/",
    permission=P.ANALYTICS_VIEW,
    title=_("Overview"),
    icon="monitoring",
)
def overview_page(request: HttpRequest) -> HttpResponseBase:
    context = _overview_context()
    exported = _export(request, "overview", context["report"])
    if exported is not None:
        return exported
    page = site.page_context(
        request,
        title=_("Overview"),
        can_export=operator_has(request, P.ANALYTICS_EXPORT),
        **context,
    )
    return TemplateResponse(request, "analytics/overview.html", page)


site.register_widget(
    DashboardWidget(
        "analytics_overview",
        _("Overview"),
        P.ANALYTICS_VIEW,
        "analytics/widgets/overview.html",
        lambda request: _overview_context(),
        order=5,
        width=6,
    )
)
