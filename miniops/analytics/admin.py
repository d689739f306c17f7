"""Analytics in the console: overview (also on the home page), trends,
retention, funnels, traffic sources, feature usage, the real-time monitor,
alert rules and their history, and the member timeline on member-360."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action

from miniops.accounts.context import operator_of
from miniops.analytics import forms, selectors, services
from miniops.analytics.models import Alert, AlertRule, Funnel
from miniops.analytics.scenes import scene_name
from miniops.core import audit
from miniops.core.console import (
    ConsoleModelAdmin,
    DashboardWidget,
    DetailSection,
    mark_invalid_post,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.exports import FORMATS, table_response
from miniops.core.money import format_fen
from miniops.core.permissions import P

COLORS = ["#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#eab308"]


def _export(request: HttpRequest, name: str, report: dict[str, Any]) -> HttpResponseBase | None:
    """``?fmt=csv|xlsx``: the report's table as a download (its own permission)."""
    fmt = request.GET.get("fmt", "")
    if fmt not in FORMATS:
        return None
    if not operator_has(request, P.ANALYTICS_EXPORT):
        raise PermissionDenied
    audit.record(
        actor=operator_of(request),
        action=audit.Action.ACCESS,
        model=Alert,
        object_repr=gettext("Analytics export: %s") % name,
        additional={"export": fmt, "report": name, "query": request.GET.urlencode()[:500]},
    )
    table = report["table"]
    return table_response(f"analytics-{name}", table.columns, table.rows, fmt=fmt)


def _form(form_class: type[forms.RangeForm], request: HttpRequest, **defaults: Any) -> Any:
    data = request.GET.copy() if request.GET else None
    initial = {**forms.default_range(), **defaults}
    if data is None:
        form = form_class(initial)
    else:
        for key, value in initial.items():
            data.setdefault(key, value)
        form = form_class(data)
    return form


def _page(request: HttpRequest, template: str, form: Any, **context: Any) -> HttpResponseBase:
    context = site.page_context(
        request,
        form=form,
        can_export=operator_has(request, P.ANALYTICS_EXPORT),
        can_save=operator_has(request, P.ANALYTICS_ALERTS),
        query=request.GET.urlencode(),
        **context,
    )
    response = TemplateResponse(request, template, context)
    if not form.is_valid():
        response.status_code = 400
    return response


def _line_chart(labels: list[str], datasets: list[tuple[str, list[Any]]]) -> str:
    return orjson.dumps(
        {
            "labels": labels,
            "datasets": [
                {
                    "label": label,
                    "data": values,
                    "borderColor": COLORS[index % len(COLORS)],
                    "backgroundColor": COLORS[index % len(COLORS)],
                }
                for index, (label, values) in enumerate(datasets)
            ],
        }
    ).decode()


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


# --- trends -------------------------------------------------------------------------------
@site.register_page(
    name="analytics_trends",
    route="analytics/trends/",
    permission=P.ANALYTICS_VIEW,
    title=_("Trends"),
    icon="show_chart",
)
def trends_page(request: HttpRequest) -> HttpResponseBase:
    form = _form(forms.TrendForm, request, metric="visitors", grain="day")
    report, chart = None, None
    if form.is_valid():
        data = form.cleaned_data
        compare = (
            (data["compare_first"], data["compare_last"]) if data.get("compare_first") else None
        )
        report = selectors.trends(
            data["metric"], data["first"], data["last"], data["grain"], compare
        )
        exported = _export(request, "trends", report)
        if exported is not None:
            return exported
        datasets = [(report["label"], [v for _d, v in report["series"]])]
        if compare:
            datasets.append((gettext("Compared period"), [v for _d, v in report["compare"]]))
        chart = _line_chart([d.isoformat() for d, _v in report["series"]], datasets)
    return _page(
        request, "analytics/trends.html", form, title=_("Trends"), report=report, chart=chart
    )


# --- retention ----------------------------------------------------------------------------
def _heat(rate: float) -> str:
    alpha = 0.08 + min(1.0, rate * 2.5) * 0.8
    return f"background-color: rgba(59, 130, 246, {alpha:.2f})"


@site.register_page(
    name="analytics_retention",
    route="analytics/retention/",
    permission=P.ANALYTICS_VIEW,
    title=_("Retention"),
    icon="grid_on",
)
def retention_page(request: HttpRequest) -> HttpResponseBase:
    form = _form(
        forms.RetentionForm,
        request,
        grain="day",
        periods=14,
        cohort_by="first_visit",
        **forms.default_range(14),
    )
    report = None
    if form.is_valid():
        data = form.cleaned_data
        report = selectors.retention(
            data["first"],
            data["last"],
            grain=data["grain"],
            periods=data["periods"],
            cohort_by=data["cohort_by"],
            returned_event=data.get("returned_event", "").strip(),
        )
        exported = _export(request, "retention", report)
        if exported is not None:
            return exported
        for cohort in report["cohorts"]:
            cohort["cells"] = [
                {
                    "count": count,
                    "rate": rate,
                    "style": _heat(rate),
                    "observable": index < cohort["observable"],
                }
                for index, (count, rate) in enumerate(
                    zip(cohort["counts"], cohort["rates"], strict=True)
                )
            ]
    return _page(request, "analytics/retention.html", form, title=_("Retention"), report=report)


# --- funnels ------------------------------------------------------------------------------
@site.register_page(
    name="analytics_funnels",
    route="analytics/funnels/",
    permission=P.ANALYTICS_VIEW,
    title=_("Funnels"),
    icon="filter_alt",
)
def funnels_page(request: HttpRequest) -> HttpResponseBase:
    saved = Funnel.objects.all()[:100]
    if request.method == "POST":
        return _funnel_post(request)
    defaults: dict[str, Any] = {
        "window_hours": 24,
        "steps": "page_view\nproduct_view\nadd_to_cart\norder_paid",
    }
    chosen = None
    if request.GET.get("funnel", "").isdigit():
        chosen = Funnel.objects.filter(pk=int(request.GET["funnel"])).first()
        if chosen is not None:
            defaults.update(
                steps=forms.steps_text(chosen.steps),
                window_hours=chosen.window_hours,
                name=chosen.name,
            )
    form = _form(forms.FunnelForm, request, **defaults)
    if chosen is not None and request.GET.keys() <= {"funnel"}:
        form = forms.FunnelForm({**forms.default_range(), **defaults})
    report, chart = None, None
    if form.is_valid():
        data = form.cleaned_data
        report = selectors.funnel(
            data["steps"],
            data["first"],
            data["last"],
            window_hours=data["window_hours"],
            breakdown=data.get("breakdown") or "",
        )
        exported = _export(request, "funnel", report)
        if exported is not None:
            return exported
        chart = orjson.dumps(
            {
                "labels": [step["label"] for step in report["steps"]],
                "datasets": [
                    {
                        "label": gettext("Visitors"),
                        "data": [step["visitors"] for step in report["steps"]],
                        "backgroundColor": COLORS[0],
                    }
                ],
            }
        ).decode()
    return _page(
        request,
        "analytics/funnels.html",
        form,
        title=_("Funnels"),
        report=report,
        chart=chart,
        saved=saved,
        chosen=chosen,
    )


def _funnel_post(request: HttpRequest) -> HttpResponseBase:
    if not operator_has(request, P.ANALYTICS_ALERTS):
        raise PermissionDenied
    if request.POST.get("delete", "").isdigit():
        funnel = get_object_or_404(Funnel, pk=int(request.POST["delete"]))
        funnel.delete()
        messages.success(request, gettext("Funnel deleted."))
        return redirect(request, reverse("console:analytics_funnels"))
    form = forms.FunnelForm(request.POST)
    if form.is_valid() and form.cleaned_data.get("name"):
        existing = Funnel.objects.filter(name=form.cleaned_data["name"]).first()
        try:
            funnel = services.save_funnel(
                name=form.cleaned_data["name"],
                steps=form.cleaned_data["steps"],
                window_hours=form.cleaned_data["window_hours"],
                actor=operator_of(request),
                funnel_id=existing.pk if existing else None,
            )
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, gettext("Funnel saved."))
            return redirect(request, reverse("console:analytics_funnels") + f"?funnel={funnel.pk}")
    elif form.is_valid():
        form.add_error("name", gettext("Give the funnel a name to save it."))
    response = _page(
        request,
        "analytics/funnels.html",
        form,
        title=_("Funnels"),
        report=None,
        chart=None,
        saved=Funnel.objects.all()[:100],
        chosen=None,
    )
    return mark_invalid_post(request, response)


# --- sources and features -----------------------------------------------------------------
@site.register_page(
    name="analytics_sources",
    route="analytics/sources/",
    permission=P.ANALYTICS_VIEW,
    title=_("Traffic sources"),
    icon="alt_route",
)
def sources_page(request: HttpRequest) -> HttpResponseBase:
    form = _form(forms.SourcesForm, request, by="scene")
    report, chart = None, None
    if form.is_valid():
        data = form.cleaned_data
        report = selectors.sources(data["first"], data["last"], by=data["by"])
        exported = _export(request, "sources", report)
        if exported is not None:
            return exported
        top = report["rows"][:12]
        chart = orjson.dumps(
            {
                "labels": [str(row["label"]) for row in top],
                "datasets": [
                    {
                        "label": gettext("Visitors"),
                        "data": [row["visitors"] for row in top],
                        "backgroundColor": COLORS[0],
                    },
                    {
                        "label": gettext("Orders"),
                        "data": [row["orders"] for row in top],
                        "backgroundColor": COLORS[1],
                    },
                ],
            }
        ).decode()
    return _page(
        request,
        "analytics/sources.html",
        form,
        title=_("Traffic sources"),
        report=report,
        chart=chart,
    )


@site.register_page(
    name="analytics_features",
    route="analytics/features/",
    permission=P.ANALYTICS_VIEW,
    title=_("Feature usage"),
    icon="touch_app",
)
def features_page(request: HttpRequest) -> HttpResponseBase:
    form = _form(forms.RangeForm, request, **forms.default_range(14))
    report = None
    if form.is_valid():
        report = selectors.features(form.cleaned_data["first"], form.cleaned_data["last"])
        exported = _export(request, "features", report)
        if exported is not None:
            return exported
        peak = max((max(row["trend"] or [0]) for row in report["rows"]), default=0) or 1
        for row in report["rows"]:
            row["bars"] = [round(v / peak * 100) for v in row["trend"]]
    return _page(request, "analytics/features.html", form, title=_("Feature usage"), report=report)


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


@admin.register(Alert, site=site)
class AlertAdmin(ConsoleModelAdmin):
    permissions = {"view": P.ANALYTICS_VIEW, "add": None, "change": None, "delete": None}
    list_display = ["fired_at", "rule", "message", "webhook_status", "acknowledged_at"]
    list_filter = ["rule"]
    actions_detail = ["acknowledge"]

    @action(description=_("Acknowledge"), permissions=["acknowledge"])
    def acknowledge(self, request: HttpRequest, object_id: Any) -> HttpResponseBase:
        alert = get_object_or_404(Alert, pk=object_id)
        services.acknowledge_alert(alert=alert, actor=operator_of(request))
        messages.success(request, gettext("Acknowledged."))
        return redirect(request, reverse("console:analytics_alert_change", args=[object_id]))

    def has_acknowledge_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return operator_has(request, P.ANALYTICS_VIEW)


# --- member-360 -------------------------------------------------------------------------------
def _member_timeline(request: HttpRequest, member: Any) -> dict[str, Any]:
    events = selectors.member_timeline(member.pk, limit=30)
    return {
        "events": [
            {
                "event": event,
                "scene": scene_name(event.scene) if event.scene is not None else "",
            }
            for event in events
        ]
    }


site.register_section(
    DetailSection(
        "members.member",
        "timeline",
        _("Activity timeline"),
        P.ANALYTICS_VIEW,
        "analytics/member_timeline.html",
        _member_timeline,
        order=20,
    )
)
