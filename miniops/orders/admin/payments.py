"""Payments, refunds and payment anomalies (read-only, with their actions)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.decorators import action, display

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ReadOnlyConsoleAdmin,
    operator_has,
    redirect,
    site,
)
from miniops.core.money import format_fen
from miniops.core.permissions import P
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
    list_display = ["created_at", "kind", "order", "out_trade_no", "detail", "resolved_at"]
    list_filter = ["kind", "resolved_at"]
    actions_detail = ["resolve"]

    def has_resolve_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_EXPORT)

    @action(
        description=_("Mark resolved"),
        url_path="resolve",
        permissions=["resolve"],
        icon="done",
        dialog={
            "title": _("Mark this anomaly resolved?"),
            "description": "",
            "form_class": OptionalNoteDialogForm,
            "form_submit_text": _("Resolve"),
        },
    )
    def resolve(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponse:
        from miniops.core import audit

        anomaly = get_object_or_404(PaymentAnomaly, pk=object_id)
        PaymentAnomaly.objects.filter(pk=anomaly.pk, resolved_at__isnull=True).update(
            resolved_at=timezone.now()
        )
        audit.record(
            actor=operator_of(request),
            action=audit.Action.UPDATE,
            instance=anomaly,
            changes={"resolved": [False, True]},
            additional={"note": form.cleaned_data.get("note", "")},
        )
        return redirect(request, reverse("console:orders_paymentanomaly_change", args=[object_id]))

    def get_actions(self, request: HttpRequest) -> Any:
        return {}
