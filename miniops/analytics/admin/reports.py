"""Trends, retention, funnels, traffic sources and feature usage."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.widgets import BASE_INPUT_CLASSES

from miniops.accounts.context import operator_of
from miniops.analytics import forms, selectors, services
from miniops.analytics.admin.common import COLORS, _export, _form, _page
from miniops.analytics.admin.overview import MONEY, RATIOS
from miniops.analytics.models import Funnel
from miniops.core import charts
from miniops.core.console import (
    mark_invalid_post,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.exports import FORMATS
from miniops.core.money import format_fen
from miniops.core.permissions import P

INPUT_CLASS = " ".join(BASE_INPUT_CLASSES)
GRAIN_LABELS = [("day", _("day")), ("week", _("week")), ("month", _("month"))]


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
        if compare is None:  # the chart overlays the previous period of the same length
            length = data["last"] - data["first"] + timedelta(days=1)
            compare = (data["first"] - length, data["last"] - length)
            overlay = selectors.trend(data["metric"], *compare, data["grain"])
        else:
            overlay = report["compare"]
        chart = trend_chart(report, overlay, data["first"], data["last"], compare)
    return _page(
        request, "analytics/trends.html", form, title=_("Trends"), report=report, chart=chart
    )


def _money_axes(metric: str) -> tuple[str, ...]:
    return ("y",) if metric in MONEY else ()


def _percent_axes(metric: str) -> tuple[str, ...]:
    return ("y",) if metric in RATIOS else ()


def _span(first: date, last: date) -> str:
    return f"{first:%Y-%m-%d} – {last:%Y-%m-%d}"


def trend_chart(
    report: dict[str, Any],
    overlay: list[tuple[date, float]],
    first: date,
    last: date,
    compare: tuple[date, date],
) -> dict[str, Any]:
    """The metric over the range, and the compared period overlaid point for point
    (dashed; each point's own date in the tooltip)."""
    series = report["series"]
    other = overlay[: len(series)]
    return charts.chart(
        "line",
        [d.isoformat() for d, _v in series],
        [
            charts.Series(
                f"{report['label']} ({_span(first, last)})",
                [v for _d, v in series],
                charts.COLORS[0],
            ),
            charts.Series(
                gettext("Compared period (%s)") % _span(*compare),
                [v for _d, v in other],
                charts.PALE[0],
                dashed=True,
                dates=[d.isoformat() for d, _v in other],
            ),
        ],
        x_title=str(dict(GRAIN_LABELS).get(report["grain"], "")),
        y_title=report["label"],
        money=_money_axes(report["metric"]),
        percent=_percent_axes(report["metric"]),
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
#: the funnel the page opens with, of these events that the data holds
DEFAULT_STEPS = ["page_view", "product_view", "add_to_cart", "order_paid"]


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
    if request.GET.get("fmt") in FORMATS and not operator_has(request, P.ANALYTICS_EXPORT):
        raise PermissionDenied
    seen = set(selectors.event_names())
    suggested = [name for name in DEFAULT_STEPS if name in seen]
    defaults: dict[str, Any] = {"window_hours": 24, "steps": "\n".join(suggested)}
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
    elif not request.GET and len(suggested) < 2:
        # too few events seen for a funnel yet: an empty builder, not an error
        form = forms.FunnelForm(initial={**forms.default_range(), **defaults})
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
        chart = funnel_chart(report["steps"])
    return _page(
        request,
        "analytics/funnels.html",
        form,
        title=_("Funnels"),
        report=report,
        chart=chart,
        saved=saved,
        chosen=chosen,
        **_picker_context(form),
    )


def _picker_context(form: forms.FunnelForm) -> dict[str, Any]:
    return {
        "step_rows": form.step_rows(),
        "event_names": form.known_events,
        "event_properties": selectors.event_properties(),
        "input_class": INPUT_CLASS,
    }


def funnel_chart(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """One bar per step, labelled with its visitors and its conversion from the
    previous step (and from the first, on the last bar)."""
    labels = []
    for step in steps:
        text = f"{step['visitors']:,}"
        if step["step"] > 1:
            text += " · " + gettext("%(rate)s of previous") % {
                "rate": f"{step['conversion_from_previous'] * 100:.1f}%"
            }
        labels.append(text)
    return charts.chart(
        "bar",
        [f"{step['step']}. {step['label']}" for step in steps],
        [charts.Series(gettext("Visitors"), [step["visitors"] for step in steps], COLORS[0])],
        y_title=gettext("Visitors"),
        value_labels=labels,
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
        **_picker_context(form),
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
        chart = sources_chart(report["rows"])
    return _page(
        request,
        "analytics/sources.html",
        form,
        title=_("Traffic sources"),
        report=report,
        chart=chart,
    )


def sources_chart(rows: list[dict[str, Any]], top: int = 12) -> dict[str, Any]:
    """The sources ranked by visitors (most first), each bar labelled with its
    visitors, orders and GMV."""
    ranked = sorted(rows, key=lambda row: -(row["visitors"] or 0))[:top]
    return charts.chart(
        "bar",
        [str(row["label"]) for row in ranked],
        [
            charts.Series(
                gettext("Visitors"), [row["visitors"] or 0 for row in ranked], charts.COLORS[0]
            )
        ],
        y_title=gettext("Visitors"),
        horizontal=True,
        value_labels=[
            gettext("%(visitors)s visitors · %(orders)s orders · %(gmv)s")
            % {
                "visitors": f"{row['visitors'] or 0:,}",
                "orders": f"{row['orders'] or 0:,}",
                "gmv": format_fen(row["gmv"] or 0),
            }
            for row in ranked
        ],
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
