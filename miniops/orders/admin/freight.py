"""Freight templates with their rules and product links."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.admin import StackedInline, TabularInline

from miniops.core.console import (
    ConsoleModelAdmin,
    operator_has,
    site,
)
from miniops.core.permissions import P
from miniops.orders.models import (
    FreightRule,
    FreightTemplate,
    ProductFreight,
)


class FreightRuleInline(StackedInline):
    model = FreightRule
    extra = 0
    fields = ["provinces", "first_fee", "additional_fee", "no_delivery"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_VIEW)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)


class ProductFreightInline(TabularInline):
    """The products that ship with this template instead of the default one."""

    model = ProductFreight
    extra = 0
    fields = ["product"]
    autocomplete_fields = ["product"]
    verbose_name = _("product using this template")
    verbose_name_plural = _("products using this template")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_VIEW)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.ORDERS_SETTINGS)


@admin.register(FreightTemplate, site=site)
class FreightTemplateAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.ORDERS_VIEW,
        "add": P.ORDERS_SETTINGS,
        "change": P.ORDERS_SETTINGS,
        "delete": P.ORDERS_SETTINGS,
    }
    list_display = [
        "name",
        "charge_by",
        "first_units",
        "first_fee",
        "additional_units",
        "additional_fee",
        "free_over",
        "is_default",
    ]
    inlines = [FreightRuleInline, ProductFreightInline]
