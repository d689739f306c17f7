"""SKUs with stock adjustment, import and export, and the stock ledger."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from unfold.contrib.filters.admin import RangeNumericFilter, RelatedDropdownFilter
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.catalog import selectors, services
from miniops.catalog.forms import StockDialogForm
from miniops.catalog.models import (
    Sku,
    StockLedger,
)
from miniops.catalog.resources import SkuRowResource
from miniops.core.console import (
    ConsoleModelAdmin,
    ReadOnlyConsoleAdmin,
    dialog_action,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.exports import EscapedImportExport
from miniops.core.money import format_fen
from miniops.core.permissions import P


@admin.register(Sku, site=site)
class SkuAdmin(EscapedImportExport, ImportExportMixin, ConsoleModelAdmin):
    """Every SKU with its stock; stock changes through the "Adjust stock" action
    only. Import and export the catalog here, one row per SKU (the file is written
    by the one export path: formula cells escaped, audited)."""

    permissions = {"view": P.CATALOG_VIEW, "add": None, "change": P.CATALOG_MANAGE, "delete": None}
    resource_classes = [SkuRowResource]
    export_permission = P.CATALOG_IMPORT_EXPORT
    export_name = "catalog"
    import_form_class = ImportForm
    export_form_class = ExportForm
    list_display = [
        "code",
        "product",
        "specs_display",
        "price_display",
        "stock",
        "stock_badge",
        "is_active",
    ]
    list_filter = [
        ("product__category", RelatedDropdownFilter),
        "is_active",
        ("stock", RangeNumericFilter),
    ]
    list_filter_submit = True
    search_fields = ["code", "product__title"]
    fields = [
        "product",
        "code",
        "specs_display",
        "price",
        "original_price",
        "stock",
        "weight_g",
        "is_active",
    ]
    readonly_fields = [
        "product",
        "code",
        "specs_display",
        "price",
        "original_price",
        "stock",
        "weight_g",
        "is_active",
    ]
    actions_detail = ["adjust_stock"]
    list_select_related = ["product"]

    url_permissions = {
        "import": P.CATALOG_IMPORT_EXPORT,
        "process_import": P.CATALOG_IMPORT_EXPORT,
        "export": P.CATALOG_IMPORT_EXPORT,
    }

    def has_import_permission(self, request: HttpRequest) -> bool:
        return operator_has(request, self.url_permissions["import"])

    def has_export_permission(self, request: HttpRequest) -> bool:
        return operator_has(request, self.url_permissions["export"])

    def get_export_queryset(self, request: HttpRequest) -> Any:
        # The export keeps the list's filters from the query string; one that names
        # no field is bad input (400), as on the list itself, not a server error.
        try:
            return super().get_export_queryset(request)
        except IncorrectLookupParameters as exc:
            raise BadRequest(str(exc)) from exc

    def get_import_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_import_resource_kwargs(request, **kwargs),
            "actor": operator_of(request),
        }

    @display(description=_("Specification"))
    def specs_display(self, obj: Sku) -> str:
        return " / ".join(f"{k}: {v}" for k, v in obj.spec_values.items()) or "—"

    @display(description=_("Price"), ordering="price")
    def price_display(self, obj: Sku) -> str:
        return format_fen(obj.price)

    @display(
        description=_("Stock state"),
        label={"sold_out": "danger", "low": "warning", "in_stock": "success"},
    )
    def stock_badge(self, obj: Sku) -> Any:
        from miniops.core.selectors import get_system_settings

        state = selectors.stock_state(obj.stock, get_system_settings().low_stock_threshold)
        labels = {"sold_out": _("Sold out"), "low": _("Low"), "in_stock": _("In stock")}
        return state, labels[state]

    @dialog_action(
        permission=P.CATALOG_MANAGE_STOCK,
        description=_("Adjust stock"),
        title=_("Adjust stock"),
        text=_("Every change is kept in the stock ledger with your name."),
        url_path="adjust-stock",
        form_class=StockDialogForm,
        submit=_("Save"),
        icon="inventory",
    )
    def adjust_stock(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        sku = get_object_or_404(Sku, pk=object_id)
        data = form.cleaned_data
        try:
            balance = services.adjust_stock(
                sku=sku,
                delta=data["delta"],
                reason=data["reason"],
                note=data.get("note", ""),
                actor=operator_of(request),
            )
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Stock is now %d.") % balance)
        return redirect(request, reverse("console:catalog_sku_change", args=[object_id]))


@admin.register(StockLedger, site=site)
class StockLedgerAdmin(ReadOnlyConsoleAdmin):
    permissions = {"view": P.CATALOG_VIEW, "add": None, "change": None, "delete": None}
    list_display = ["created_at", "sku", "delta", "balance", "reason", "reference", "actor", "note"]
    list_filter = ["reason"]
    search_fields = ["sku__code", "reference"]
    list_select_related = ["sku", "actor"]
    show_full_result_count = False

    def get_actions(self, request: HttpRequest) -> Any:
        return {}
