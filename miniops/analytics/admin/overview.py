"""The overview page and the home card."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.analytics import selectors
from miniops.analytics.admin.common import _export, _line_chart
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


def _overview_context() -> dict[str, Any]:
    report = selectors.overview()
    today = report["today"]
    series = selectors.trend("visitors", today - timedelta(days=29), today)
    gmv = selectors.trend("gmv", today - timedelta(days=29), today)
    rows = []
    for metric in HEADLINE:
        rows.append(
            {
                "metric": metric,
                "label": selectors.METRICS[metric],
                "cells": [
                    {
                        "value": display(metric, period["metrics"][metric]),
                        "vs_previous": period["vs_previous"][metric],
                        "vs_last_week": period["vs_last_week"][metric],
                    }
                    for period in report["periods"].values()
                ],
            }
        )
    return {
        "report": report,
        "rows": rows,
        "periods": [p["label"] for p in report["periods"].values()],
        "chart": _line_chart(
            [d.strftime("%m-%d") for d, _v in series],
            [
                (gettext("Visitors (UV)"), [v for _d, v in series]),
                (gettext("GMV (yuan)"), [round(v / 100) for _d, v in gmv]),
            ],
        ),
    }


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
