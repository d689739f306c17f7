"""Alert rules and their history."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.accounts.context import operator_of
from miniops.analytics import forms, services
from miniops.analytics.models import Alert, AlertRule
from miniops.core.console import (
    ConsoleModelAdmin,
    dialog_action,
    redirect,
    site,
)
from miniops.core.permissions import P


# --- alert rules and history --------------------------------------------------------------
@admin.register(AlertRule, site=site)
class AlertRuleAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.ANALYTICS_VIEW,
        "add": P.ANALYTICS_ALERTS,
        "change": P.ANALYTICS_ALERTS,
        "delete": P.ANALYTICS_ALERTS,
    }
    form = forms.AlertRuleForm
    list_display = [
        "name",
        "metric",
        "condition",
        "threshold",
        "window_minutes",
        "cooldown_minutes",
        "is_active",
        "last_fired_at",
    ]
    list_filter = ["metric", "is_active"]
    readonly_fields = ["last_fired_at"]

    def save_model(self, request: HttpRequest, obj: AlertRule, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = services.save_alert_rule(
            actor=operator_of(request),
            rule=obj if change else None,
            **{name: data[name] for name in services.ALERT_RULE_FIELDS if name in data},
        )
        obj.pk = saved.pk
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: AlertRule) -> None:
        services.delete_alert_rule(rule=obj, actor=operator_of(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AlertRule]) -> None:
        actor = operator_of(request)
        for rule in queryset:
            services.delete_alert_rule(rule=rule, actor=actor)


@admin.register(Alert, site=site)
class AlertAdmin(ConsoleModelAdmin):
    permissions = {"view": P.ANALYTICS_VIEW, "add": None, "change": None, "delete": None}
    list_display = ["fired_at", "rule", "message", "webhook_status", "acknowledged_at"]
    list_filter = ["rule"]
    actions_detail = ["acknowledge"]

    @dialog_action(
        permission=P.ANALYTICS_ACKNOWLEDGE,
        description=_("Acknowledge"),
        title=_("Acknowledge this alert?"),
        text=_("It is marked seen, with your name."),
        url_path="acknowledge",
        icon="done",
    )
    def acknowledge(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        alert = get_object_or_404(Alert, pk=object_id)
        self.run_service(
            request,
            lambda: services.acknowledge_alert(alert=alert, actor=operator_of(request)),
            gettext("Acknowledged."),
        )
        return redirect(request, reverse("console:analytics_alert_change", args=[object_id]))
