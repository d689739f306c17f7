"""Payments, refunds and payment anomalies (read-only, with their actions)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ReadOnlyConsoleAdmin,
    dialog_action,
    redirect,
    site,
)
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.orders import services
from miniops.orders.admin.common import VIEW_ONLY
from miniops.orders.forms import (
    OptionalNoteDialogForm,
)
from miniops.orders.models import (
    Payment,
    PaymentAnomaly,
    Refund,
)


@admin.register(Payment, site=site)
class PaymentAdmin(ReadOnlyConsoleAdmin):
    permissions = VIEW_ONLY
    list_display = [
        "out_trade_no",
        "order",
        "status",
        "amount_display",
        "transaction_id",
        "created_at",
        "paid_at",
    ]
    list_filter = ["status", ("paid_at", RangeDateTimeFilter)]
    search_fields = ["out_trade_no", "transaction_id", "order__number"]
    list_select_related = ["order"]
    show_full_result_count = False

    @display(description=_("Amount"))
    def amount_display(self, obj: Payment) -> str:
        return format_fen(obj.amount)

    def get_actions(self, request: HttpRequest) -> Any:
        return {}


@admin.register(Refund, site=site)
class RefundAdmin(ReadOnlyConsoleAdmin):
    permissions = VIEW_ONLY
    list_display = [
        "out_refund_no",
        "order",
        "status",
        "amount_display",
        "reason",
        "created_at",
        "succeeded_at",
    ]
    list_filter = ["status"]
    search_fields = ["out_refund_no", "order__number", "refund_id"]
    list_select_related = ["order"]

    @display(description=_("Amount"))
    def amount_display(self, obj: Refund) -> str:
        return format_fen(obj.amount)

    def get_actions(self, request: HttpRequest) -> Any:
        return {}


@admin.register(PaymentAnomaly, site=site)
class PaymentAnomalyAdmin(ReadOnlyConsoleAdmin):
    permissions = {"view": P.ORDERS_EXPORT, "add": None, "change": None, "delete": None}
    list_display = [
        "created_at",
        "kind",
        "order",
        "out_trade_no",
        "detail",
        "resolved_at",
        "resolved_by",
        "resolution_note",
    ]
    list_filter = ["kind", "resolved_at"]
    list_select_related = ["order", "resolved_by"]
    actions_detail = ["resolve"]

    @dialog_action(
        permission=P.ORDERS_RECONCILE,
        description=_("Mark resolved"),
        title=_("Mark this anomaly resolved?"),
        text=_("Say how it was settled; the note is kept with your name."),
        url_path="resolve",
        form_class=OptionalNoteDialogForm,
        submit=_("Resolve"),
        icon="done",
    )
    def resolve(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        anomaly = get_object_or_404(PaymentAnomaly, pk=object_id)
        self.run_service(
            request,
            lambda: services.resolve_anomaly(
                anomaly=anomaly, note=form.cleaned_data.get("note", ""), actor=operator_of(request)
            ),
            _("Marked resolved."),
        )
        return redirect(request, reverse("console:orders_paymentanomaly_change", args=[object_id]))

    def get_actions(self, request: HttpRequest) -> Any:
        return {}
