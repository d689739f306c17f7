"""The campaign results page and its exports."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.accounts.context import operator_of
from miniops.core import exports
from miniops.core.console import (
    operator_has,
    site,
)
from miniops.core.exports import FORMATS, yuan
from miniops.core.money import format_fen
from miniops.core.permissions import P
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


@site.register_page(
    name="marketing_results",
    route="marketing/results/",
    permission=P.MARKETING_VIEW,
    title=_("Campaign results"),
    icon="insights",
)
def results_page(request: HttpRequest) -> HttpResponseBase:
    data = {
        "coupons": selectors.coupon_stats(),
        "flash": selectors.flash_stats(),
        "groups": selectors.group_stats(),
    }
    fmt, which = request.GET.get("fmt", ""), request.GET.get("table", "coupons")
    if fmt in FORMATS and which in data:
        if not operator_has(request, P.MARKETING_VIEW):
            raise PermissionDenied
        columns = RESULT_COLUMNS[which]
        return exports.export(
            name=f"marketing-{which}",
            fmt=fmt,
            header=[label for _key, label in columns],
            rows=(
                [yuan(row[key]) if key in MONEY else row[key] for key, _label in columns]
                for row in data[which]
            ),
            actor=operator_of(request),
            permission=P.MARKETING_VIEW,
            model=CouponTemplate,
            description=gettext("Campaign results export: %s") % which,
            additional={"table": which, "rows": len(data[which])},
        )
    tables = []
    for key, rows in data.items():
        columns = RESULT_COLUMNS[key]
        tables.append(
            {
                "key": key,
                "columns": [label for _k, label in columns],
                "rows": [[_cell(k, row[k]) for k, _label in columns] for row in rows],
            }
        )
    context = site.page_context(request, title=_("Campaign results"), tables=tables)
    return TemplateResponse(request, "marketing/results.html", context)
