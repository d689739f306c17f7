"""Group buys, their groups and time-limited discounts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action, display

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ConsoleModelAdmin,
    ReadOnlyConsoleAdmin,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.permissions import P
from miniops.marketing.admin.common import MANAGE, VIEW_ONLY, ValidatedForm
from miniops.marketing.models import (
    Group,
    GroupBuy,
    TimedDiscount,
)
from miniops.marketing.services import discounts, groups


# --- group buys and discounts ---------------------------------------------------------------
class GroupBuyForm(ValidatedForm):
    validator = staticmethod(groups.validate)

    class Meta:
        model = GroupBuy
        fields = [
            "name",
            "sku",
            "group_price",
            "group_size",
            "hours_to_fill",
            "per_member_limit",
            "starts_at",
            "ends_at",
        ]


@admin.register(GroupBuy, site=site)
class GroupBuyAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    form = GroupBuyForm
    list_display = ["name", "sku", "group_price", "group_size", "starts_at", "ends_at", "state"]
    autocomplete_fields = ["sku"]
    actions_detail = ["end_early"]

    @display(description=_("status"), label=True)
    def state(self, obj: GroupBuy) -> str:
        return obj.status

    def has_end_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE)

    @action(description=_("End now"), url_path="end", permissions=["end"], icon="stop")
    def end_early(self, request: HttpRequest, object_id: Any) -> HttpResponseBase:
        group_buy = get_object_or_404(GroupBuy, pk=object_id)
        try:
            groups.end_early(group_buy=group_buy, actor=operator_of(request))
            messages.success(request, gettext("Ended: groups already forming keep their time."))
        except DomainError as exc:
            messages.error(request, str(exc.message))
        return redirect(request, reverse("console:marketing_groupbuy_change", args=[object_id]))


@admin.register(Group, site=site)
class GroupAdmin(ReadOnlyConsoleAdmin):
    permissions = VIEW_ONLY
    list_display = ["code", "group_buy", "leader", "status", "paid_count", "expires_at"]
    list_filter = ["status", "group_buy"]
    list_select_related = ["group_buy", "leader"]


class TimedDiscountForm(ValidatedForm):
    validator = staticmethod(discounts.validate)

    class Meta:
        model = TimedDiscount
        fields = ["name", "product", "sku", "percent_off", "price", "starts_at", "ends_at"]


@admin.register(TimedDiscount, site=site)
class TimedDiscountAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    form = TimedDiscountForm
    list_display = [
        "name",
        "product",
        "sku",
        "percent_off",
        "price",
        "starts_at",
        "ends_at",
        "state",
    ]
    autocomplete_fields = ["product", "sku"]
    actions_detail = ["end_early"]

    @display(description=_("status"), label=True)
    def state(self, obj: TimedDiscount) -> str:
        return obj.status

    def has_end_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE)

    @action(description=_("End now"), url_path="end", permissions=["end"], icon="stop")
    def end_early(self, request: HttpRequest, object_id: Any) -> HttpResponseBase:
        discount = get_object_or_404(TimedDiscount, pk=object_id)
        try:
            discounts.end_early(discount=discount, actor=operator_of(request))
            messages.success(request, gettext("Ended."))
        except DomainError as exc:
            messages.error(request, str(exc.message))
        return redirect(
            request, reverse("console:marketing_timeddiscount_change", args=[object_id])
        )
