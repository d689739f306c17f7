"""The orders card on the console home and the orders section of member-360."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Sum
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from miniops.core.console import (
    DashboardWidget,
    DetailSection,
    site,
)
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.orders import selectors
from miniops.orders.models import (
    Order,
    OrderStatus,
    PaymentAnomaly,
)


# --- home card and member-360 -------------------------------------------------------
def _today(request: HttpRequest) -> dict[str, Any]:
    # Today so far against the same hours of yesterday and of last week's same day.
    so_far = selectors.today_so_far()
    figures = [
        {
            "key": key,
            "label": label,
            "value": format_fen(so_far["today"][key]) if key == "gmv" else so_far["today"][key],
            "vs_yesterday": so_far["vs_yesterday"][key],
            "vs_last_week": so_far["vs_last_week"][key],
        }
        for key, label in (
            ("orders", _("Orders today")),
            ("paid_orders", _("Paid today")),
            ("gmv", _("Paid amount today")),
        )
    ]
    return {
        "figures": figures,
        "until": so_far["until"],
        "last_week_day": so_far["last_week_day"],
        "to_ship": Order.objects.filter(status=OrderStatus.PAID).count(),
        "after_sales_open": selectors.open_after_sales().count(),
        "anomalies": PaymentAnomaly.objects.filter(resolved_at__isnull=True).count(),
    }


site.register_widget(
    DashboardWidget(
        "orders_today",
        _("Orders today"),
        P.ORDERS_VIEW,
        "orders/widgets/today.html",
        _today,
        order=50,
    )
)


def _member_orders(request: HttpRequest, member: Any) -> dict[str, Any]:
    orders = Order.objects.filter(member=member).order_by("-created_at")
    sums = orders.aggregate(n=Count("id"), paid=Sum("paid_amount"), refunded=Sum("refunded_amount"))
    return {
        "orders": list(orders[:10]),
        "count": sums["n"] or 0,
        "spent": format_fen((sums["paid"] or 0) - (sums["refunded"] or 0)),
        "member_id": member.pk,
    }


site.register_section(
    DetailSection(
        "members.member",
        "orders",
        _("Orders"),
        P.ORDERS_VIEW,
        "orders/member_orders.html",
        _member_orders,
        order=10,
    )
)
