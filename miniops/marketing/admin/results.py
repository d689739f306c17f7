"""The campaign results page and its exports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.accounts.context import operator_of
from miniops.core import charts, exports
from miniops.core.console import (
    operator_has,
    site,
)
from miniops.core.exports import FORMATS, yuan
from miniops.core.forms import PeriodForm
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.core.timeutils import local_date, range_bounds
from miniops.marketing import selectors
from miniops.marketing.admin.common import status_label
from miniops.marketing.models import (
    CouponTemplate,
)

# --- results ------------------------------------------------------------------------------
RESULT_COLUMNS = {
    "coupons": [
        ("name", _("Coupon")),
        ("status", _("status")),
        ("issued", _("Issued")),
        ("used", _("Used")),
        ("use_rate", _("Use rate")),
        ("orders", _("Orders")),
        ("gmv", _("GMV")),
        ("cost", _("Discount cost")),
        ("roi", _("ROI")),
    ],
    "flash": [
        ("name", _("Flash sale")),
        ("status", _("status")),
        ("sold", _("Sold")),
        ("stock", _("Stock")),
        ("participants", _("Participants")),
        ("orders", _("Orders")),
        ("conversion", _("Paid ÷ ordered")),
        ("gmv", _("GMV")),
        ("cost", _("Discount cost")),
        ("roi", _("ROI")),
    ],
    "groups": [
        ("name", _("Group buy")),
        ("status", _("status")),
        ("groups", _("Groups")),
        ("succeeded", _("Succeeded")),
        ("failed", _("Failed")),
        ("participants", _("Participants")),
        ("conversion", _("Groups completed")),
        ("gmv", _("GMV")),
        ("cost", _("Discount cost")),
        ("roi", _("ROI")),
    ],
}
MONEY = {"gmv", "cost"}


def _cell(key: str, value: Any) -> Any:
    if value is None:
        return "—"
    if key in MONEY:
        return format_fen(value)
    if key == "status":
        return status_label(str(value))[1]
    return value


def _period(request: HttpRequest) -> tuple[PeriodForm, date, date]:
    """The period asked for (the last 30 days unless the page says otherwise)."""
    today = local_date()
    if "start" in request.GET or "end" in request.GET:
        form = PeriodForm(request.GET)
    else:
        form = PeriodForm({"start": today - timedelta(days=29), "end": today})
    if form.is_valid():
        return form, form.cleaned_data["start"], form.cleaned_data["end"]
    return form, today - timedelta(days=29), today


def _drill(table: str, object_id: Any, first: date, last: date) -> str:
    query: dict[str, Any] = {"table": table, "start": first.isoformat(), "end": last.isoformat()}
    if object_id is not None:
        query["id"] = object_id
    return reverse("console:marketing_results_orders") + "?" + urlencode(query)


def daily_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Orders (bars, left) and GMV (line, right, in yuan) per day of the period."""
    return charts.chart(
        "line",
        [row["day"].isoformat() for row in rows],
        [
            charts.Series(
                gettext("Orders"), [row["orders"] for row in rows], charts.COLORS[0], type="bar"
            ),
            charts.Series(
                gettext("GMV"), [row["gmv"] for row in rows], charts.COLORS[1], axis="y2"
            ),
        ],
        x_title=gettext("Day"),
        y_title=gettext("Orders"),
        y2_title=gettext("GMV"),
        money=("y2",),
    )


@site.register_page(
    name="marketing_results",
    route="marketing/results/",
    permission=P.MARKETING_VIEW,
    title=_("Campaign results"),
    icon="insights",
)
def results_page(request: HttpRequest) -> HttpResponseBase:
    form, first, last = _period(request)
    period = range_bounds(first, last)
    stats: dict[str, Callable[..., list[dict[str, Any]]]] = {
        "coupons": selectors.coupon_stats,
        "flash": selectors.flash_stats,
        "groups": selectors.group_stats,
    }
    fmt, which = request.GET.get("fmt", ""), request.GET.get("table", "coupons")
    if fmt in FORMATS and which in stats and form.is_valid():
        # An export reads only the table it writes, and none of the page's charts.
        if not operator_has(request, P.MARKETING_VIEW):
            raise PermissionDenied
        columns = RESULT_COLUMNS[which]
        exported = stats[which](period=period)
        return exports.export(
            name=f"marketing-{which}-{first.isoformat()}-{last.isoformat()}",
            fmt=fmt,
            header=[label for _key, label in columns],
            rows=(
                [yuan(row[key]) if key in MONEY else row[key] for key, _label in columns]
                for row in exported
            ),
            actor=operator_of(request),
            permission=P.MARKETING_VIEW,
            model=CouponTemplate,
            description=gettext("Campaign results export: %s") % which,
            additional={
                "table": which,
                "rows": len(exported),
                "start": first.isoformat(),
                "end": last.isoformat(),
            },
        )
    may_drill = operator_has(request, P.ORDERS_VIEW)
    tables = []
    for key, read in stats.items():
        rows = read(period=period)
        columns = RESULT_COLUMNS[key]
        tables.append(
            {
                "key": key,
                "columns": [label for _k, label in columns],
                "rows": [
                    {
                        "cells": [_cell(k, row[k]) for k, _label in columns],
                        "orders": _drill(key, row["id"], first, last) if may_drill else "",
                    }
                    for row in rows
                ],
                "all_orders": _drill(key, None, first, last) if may_drill else "",
            }
        )
    period_query = urlencode({"start": first.isoformat(), "end": last.isoformat()})
    context = site.page_context(
        request,
        title=_("Campaign results"),
        tables=tables,
        form=form,
        period_query=period_query,
        chart=daily_chart(selectors.campaign_daily(first, last)),
    )
    return TemplateResponse(
        request, "marketing/results.html", context, status=200 if form.is_valid() else 400
    )


TOOL_TITLES = {
    "coupons": _("Orders that used a coupon"),
    "flash": _("Orders bought in a flash sale"),
    "groups": _("Orders of completed group buys"),
}


@site.register_page(
    name="marketing_results_orders",
    route="marketing/results/orders/",
    permission=P.MARKETING_VIEW,
    title=_("Orders behind a campaign figure"),
    icon="receipt_long",
)
def results_orders_page(request: HttpRequest) -> HttpResponseBase:
    if not operator_has(request, P.ORDERS_VIEW):
        raise PermissionDenied
    form, first, last = _period(request)
    table = request.GET.get("table", "coupons")
    raw_id = request.GET.get("id", "")
    valid = form.is_valid() and table in selectors.TOOLS
    object_id: int | None = None
    if raw_id:
        if raw_id.isdigit() and len(raw_id) < 19:
            object_id = int(raw_id)
        else:
            valid = False
    orders = selectors.campaign_orders(
        table if table in selectors.TOOLS else "coupons", object_id, first, last
    )
    page = Paginator(orders, 50).get_page(request.GET.get("page"))
    keep = {"table": table, "start": first.isoformat(), "end": last.isoformat()}
    if object_id is not None:
        keep["id"] = str(object_id)
    context = site.page_context(
        request,
        title=TOOL_TITLES.get(table, TOOL_TITLES["coupons"]),
        form=form,
        page=page,
        rows=[
            {
                "order": order,
                "url": reverse("console:orders_order_change", args=[order.pk]),
                "paid": format_fen(order.paid_amount),
                "refunded": format_fen(order.refunded_amount) if order.refunded_amount else "",
                "status": order.get_status_display(),
            }
            for order in page.object_list
        ],
        keep=urlencode(keep),
        back=reverse("console:marketing_results")
        + "?"
        + urlencode({"start": first.isoformat(), "end": last.isoformat()}),
        valid=valid,
    )
    return TemplateResponse(
        request, "marketing/results_orders.html", context, status=200 if valid else 400
    )
