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
from miniops.core.timeutils import day_bounds, local_date
from miniops.orders import selectors
from miniops.orders.models import (
    Order,
    OrderStatus,
    PaymentAnomaly,
)


# --- home card and member-360 -------------------------------------------------------
def _today(request: HttpRequest) -> dict[str, Any]:
    start, end = day_bounds(local_date())
    paid = Order.objects.filter(paid_at__gte=start, paid_at__lt=end)
    sums = paid.aggregate(n=Count("id"), gmv=Sum("paid_amount"))
    return {
        "orders_today": Order.objects.filter(created_at__gte=start, created_at__lt=end).count(),
        "paid_today": sums["n"] or 0,
        "gmv_today": format_fen(sums["gmv"] or 0),
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
