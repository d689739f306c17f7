"""Shared pieces of the orders console: permission sets, status colours, filters."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from miniops.core.permissions import P
from miniops.orders.models import (
    Order,
    OrderStatus,
)

VIEW_ONLY: dict[str, str | None] = {
    "view": P.ORDERS_VIEW,
    "add": None,
    "change": None,
    "delete": None,
}
STATUS_LABELS = {
    OrderStatus.UNPAID: "warning",
    OrderStatus.PAID: "info",
    OrderStatus.SHIPPED: "primary",
    OrderStatus.COMPLETED: "success",
    OrderStatus.CANCELLED: "default",
    OrderStatus.CLOSED: "danger",
}


class ProductFilter(admin.SimpleListFilter):
    title = _("product id")
    parameter_name = "product"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return []

    def has_output(self) -> bool:
        return False  # set through links (?product=<id>) from product pages

    def queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> QuerySet[Order]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(items__product_id=int(value)).distinct()
        return queryset


class MemberFilter(ProductFilter):
    title = _("member id")
    parameter_name = "member"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> QuerySet[Order]:
        value = self.value()
        return queryset.filter(member_id=int(value)) if value and value.isdigit() else queryset


#: What each kind of order event is called on the timeline.
EVENT_LABELS: dict[str, Any] = {
    "created": _("Order placed"),
    "status": _("Status changed"),
    "payment_started": _("Payment started"),
    "refunded": _("Refunded"),
    "note": _("Note added"),
}


#: Notes the system itself writes on the timeline, stored as codes in English;
#: shown in the operator's language. A note an operator typed is shown as typed.
SYSTEM_NOTES: dict[str, Any] = {
    "fully refunded": _("fully refunded"),
    "auto-confirmed": _("confirmed automatically"),
    "timeout": _("not paid in time"),
}


def note_words(note: str) -> str:
    return str(SYSTEM_NOTES[note]) if note in SYSTEM_NOTES else note


def event_label(kind: str) -> str:
    """An order event's kind in words (``after_sale_refunding`` -> "After-sale: Refunding")."""
    from miniops.orders.models import AfterSaleStatus

    if kind in EVENT_LABELS:
        return str(EVENT_LABELS[kind])
    if kind.startswith("after_sale_"):
        status = kind.removeprefix("after_sale_")
        try:
            return _("After-sale: %s") % AfterSaleStatus(status).label
        except ValueError:
            pass
    return kind


def status_words(status: str) -> str:
    from miniops.orders.models import OrderStatus

    try:
        return str(OrderStatus(status).label)
    except ValueError:
        return status
