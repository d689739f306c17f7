"""Custom pages: bulk shipping and the reconciliation report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from miniops.accounts.context import operator_of
from miniops.core.console import (
    mark_invalid_post,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.exports import FORMATS
from miniops.core.permissions import P
from miniops.core.timeutils import local_date, range_bounds
from miniops.orders import exports, selectors, services
from miniops.orders.forms import (
    BulkShipForm,
    DateRangeForm,
)


# --- custom pages ---------------------------------------------------------------------------------
@site.register_page(
    name="orders_bulk_ship",
    route="orders/bulk-ship/",
    permission=P.ORDERS_SHIP,
    title=_("Bulk ship"),
    icon="upload_file",
)
def bulk_ship_page(request: HttpRequest) -> HttpResponse:
    form = BulkShipForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            result = services.bulk_ship(
                csv_text=form.cleaned_data["file"], actor=operator_of(request)
            )
        except DomainError as exc:
            form.add_error(None, str(exc.message))
    context = site.page_context(request, title=_("Bulk ship"), form=form, result=result)
    response = TemplateResponse(request, "orders/bulk_ship.html", context)
    return mark_invalid_post(request, response) if result is None else response


RECONCILIATION_PAGE = 50


@site.register_page(
    name="orders_reconciliation",
    route="orders/reconciliation/",
    permission=P.ORDERS_EXPORT,
    title=_("Reconciliation"),
    icon="rule",
)
def reconciliation_page(request: HttpRequest) -> Any:
    today = local_date()
    defaults = {"start": today - timedelta(days=6), "end": today, "fmt": "html"}
    # ``?page=2`` alone is the default period's second page.
    form = DateRangeForm(request.GET if "start" in request.GET else defaults)
    report = None
    if form.is_valid():
        first, last = form.cleaned_data["start"], form.cleaned_data["end"]
        fmt = form.cleaned_data.get("fmt")
        if fmt in FORMATS:
            download = {
                "payments": exports.export_payments,
                "refunds": exports.export_refunds,
            }.get(form.cleaned_data.get("table") or "", exports.export_paid_orders)
            return download(first=first, last=last, fmt=fmt, actor=operator_of(request))
        report = selectors.reconciliation(*range_bounds(first, last))
    # Mismatches come first; the rest a page at a time.
    rows_page = (
        Paginator(report["rows"], RECONCILIATION_PAGE).get_page(request.GET.get("page"))
        if report
        else None
    )
    query = (
        urlencode({"start": form.cleaned_data["start"], "end": form.cleaned_data["end"]})
        if form.is_valid()
        else ""
    )
    context = site.page_context(
        request,
        title=_("Reconciliation"),
        form=form,
        report=report,
        rows_page=rows_page,
        page_query=query,
        downloads=_downloads(form) if form.is_valid() else [],
    )
    response = TemplateResponse(request, "orders/reconciliation.html", context)
    if "start" in request.GET and not form.is_valid():
        response.status_code = 400
    return response


def _downloads(form: DateRangeForm) -> list[dict[str, Any]]:
    """A CSV and an XLSX link for each table of the reconciliation period."""
    url = reverse("console:orders_reconciliation")
    period = {"start": form.cleaned_data["start"], "end": form.cleaned_data["end"]}
    return [
        {
            "label": label,
            "links": [
                (fmt.upper(), f"{url}?{urlencode({**period, 'table': table, 'fmt': fmt})}")
                for fmt in FORMATS
            ],
        }
        for table, label in form.fields["table"].choices  # type: ignore[attr-defined]
    ]
