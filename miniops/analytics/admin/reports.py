"""Trends, retention, funnels, traffic sources and feature usage."""

from __future__ import annotations

from typing import Any

import orjson
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.accounts.context import operator_of
from miniops.analytics import forms, selectors, services
from miniops.analytics.admin.common import COLORS, _export, _form, _line_chart, _page
from miniops.analytics.models import Funnel
from miniops.core.console import (
    mark_invalid_post,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.permissions import P


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
        services.delete_funnel(funnel=funnel, actor=operator_of(request))
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
