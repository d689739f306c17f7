"""Console-wide pages and home cards that belong to no single domain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from auditlog.models import LogEntry
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from miniops.accounts import lockout
from miniops.accounts.models import Operator
from miniops.core import health
from miniops.core.console import DashboardWidget, site
from miniops.core.permissions import P


def _welcome(request: HttpRequest) -> dict[str, Any]:
    operator: Operator = request.user  # type: ignore[assignment]
    return {
        "roles": [role.display_name for role in operator.roles.all()],
        "last_login": operator.last_login,
        "two_factor": operator.has_totp_device,
    }


def _system_status(request: HttpRequest) -> dict[str, Any]:
    healthy, checks = health.run_checks()
    checks = health.labelled(checks)
    return {"healthy": healthy, "checks": checks}


def _recent_activity(request: HttpRequest) -> dict[str, Any]:
    entries = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp")[:8]
    return {"entries": list(entries)}


def _team(request: HttpRequest) -> dict[str, Any]:
    active = Operator.objects.filter(is_active=True)
    cooloff = timezone.now() - settings.AXES_COOLOFF_TIME
    locked = AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT, attempt_time__gte=cooloff
    ).count()
    return {
        "active_operators": active.count(),
        "disabled_operators": Operator.objects.filter(is_active=False).count(),
        "locked_accounts": locked,
        "locked_addresses": lockout.locked_addresses(),
        "signed_in_last_day": active.filter(
            last_login__gte=timezone.now() - timedelta(days=1)
        ).count(),
    }


site.register_widget(
    DashboardWidget(
        "welcome", _("Welcome"), None, "console/widgets/welcome.html", _welcome, order=0
    )
)
site.register_widget(
    DashboardWidget(
        "team", _("Team"), P.ACCOUNTS_VIEW_OPERATORS, "console/widgets/team.html", _team, order=900
    )
)
site.register_widget(
    DashboardWidget(
        "system_status",
        _("System status"),
        P.SYSTEM_VIEW_HEALTH,
        "console/widgets/system_status.html",
        _system_status,
        order=910,
    )
)
site.register_widget(
    DashboardWidget(
        "recent_activity",
        _("Recent activity"),
        P.AUDIT_VIEW,
        "console/widgets/recent_activity.html",
        _recent_activity,
        order=920,
        width=6,
    )
)


@site.register_page(
    name="console_health",
    route="system/health/",
    permission=P.SYSTEM_VIEW_HEALTH,
    title=_("System health"),
    icon="monitor_heart",
)
def health_page(request: HttpRequest) -> HttpResponse:
    from huey.contrib.djhuey import HUEY

    healthy, checks = health.run_checks()
    checks = health.labelled(checks)
    try:
        pending: int | None = HUEY.pending_count()
        scheduled: int | None = HUEY.scheduled_count()
    except Exception:  # the check above already reports the queue as down
        pending = scheduled = None
    database = str(settings.DATABASES["default"]["ENGINE"]).rsplit(".", 1)[-1]
    context = site.page_context(
        request,
        title=_("System health"),
        healthy=healthy,
        checks=checks,
        pending=pending,
        scheduled=scheduled,
        engines={
            _("Database"): database,
            _("Cache"): str(settings.CACHES["default"]["BACKEND"]).rsplit(".", 1)[-1],
            _("Task queue"): settings.HUEY["huey_class"],
            _("Channel layer"): str(settings.CHANNEL_LAYERS["default"]["BACKEND"]).rsplit(".", 1)[
                -1
            ],
            _("Providers"): settings.MINIOPS_PROVIDER_MODE,
            _("Time zone"): settings.TIME_ZONE,
        },
    )
    return TemplateResponse(request, "console/health.html", context)
