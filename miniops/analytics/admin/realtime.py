"""The real-time monitor and its data feed."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.analytics import selectors
from miniops.analytics.models import Alert
from miniops.core.console import (
    site,
)
from miniops.core.permissions import P


# --- real time ----------------------------------------------------------------------------
@site.register_page(
    name="analytics_realtime",
    route="analytics/realtime/",
    permission=P.ANALYTICS_VIEW,
    title=_("Real-time monitor"),
    icon="speed",
)
def realtime_page(request: HttpRequest) -> HttpResponseBase:
    context = site.page_context(
        request,
        title=_("Real-time monitor"),
        data_url=reverse("console:analytics_realtime_data"),
        labels={
            "visitors": gettext("Visitors"),
            "pageviews": gettext("Page views"),
            "orders": gettext("Orders"),
            "payments": gettext("Payments"),
            "payment_failures": gettext("Payment failures"),
            "api_5xx": gettext("API server errors (5xx)"),
            "sla_breaches": gettext("Customer-service SLA breaches"),
        },
        alerts=Alert.objects.select_related("rule")[:10],
    )
    return TemplateResponse(request, "analytics/realtime.html", context)


@site.register_page(
    name="analytics_realtime_data",
    route="analytics/realtime/data/",
    permission=P.ANALYTICS_VIEW,
    title=_("Real-time monitor"),
    icon="speed",
)
def realtime_data(request: HttpRequest) -> JsonResponse:
    snapshot = selectors.realtime_snapshot()
    tz = timezone.get_current_timezone()
    snapshot["labels"] = [
        datetime.fromtimestamp(minute * 60, tz=tz).strftime("%H:%M")
        for minute in snapshot.pop("minutes")
    ]
    snapshot["alerts"] = [
        {"message": a.message, "at": timezone.localtime(a.fired_at).strftime("%H:%M")}
        for a in Alert.objects.filter(fired_at__gte=timezone.now() - timedelta(hours=1))[:5]
    ]
    return JsonResponse(snapshot)
