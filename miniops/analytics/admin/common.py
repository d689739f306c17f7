"""Shared pieces of the analytics pages: colours, the range form, exports, charts."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.translation import gettext

from miniops.accounts.context import operator_of
from miniops.analytics import forms
from miniops.analytics.models import Alert
from miniops.core import exports
from miniops.core.console import (
    operator_has,
    site,
)
from miniops.core.exports import FORMATS
from miniops.core.permissions import P

COLORS = ["#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#eab308"]


def _export(request: HttpRequest, name: str, report: dict[str, Any]) -> HttpResponseBase | None:
    """``?fmt=csv|xlsx``: the report's table as a download (its own permission)."""
    fmt = request.GET.get("fmt", "")
    if fmt not in FORMATS:
        return None
    if not operator_has(request, P.ANALYTICS_EXPORT):
        raise PermissionDenied
    table = report["table"]
    return exports.export(
        name=f"analytics-{name}",
        fmt=fmt,
        header=table.columns,
        rows=table.rows,
        actor=operator_of(request),
        permission=P.ANALYTICS_EXPORT,
        model=Alert,
        description=gettext("Analytics export: %s") % name,
        additional={
            "report": name,
            "rows": len(table.rows),
            "query": request.GET.urlencode()[:500],
        },
    )


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
    if form.is_bound and not form.is_valid():
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
