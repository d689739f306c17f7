"""Group buys, their groups and time-limited discounts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ConsoleModelAdmin,
    ReadOnlyConsoleAdmin,
    dialog_action,
    redirect,
    site,
)
from miniops.core.permissions import P
from miniops.marketing.admin.common import (
    MANAGE,
    STATUS_BADGES,
    VIEW_ONLY,
    ValidatedForm,
    status_label,
)
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

    @display(description=_("status"), label=STATUS_BADGES)
    def state(self, obj: GroupBuy) -> Any:
        return status_label(obj.status)

    @dialog_action(
        permission=P.MARKETING_MANAGE,
        description=_("End now"),
        title=_("End this group buy now?"),
        text=_("No new groups can open; groups already forming keep their time."),
        url_path="end",
        icon="stop",
    )
    def end_early(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        group_buy = get_object_or_404(GroupBuy, pk=object_id)
        self.run_service(
            request,
            lambda: groups.end_early(group_buy=group_buy, actor=operator_of(request)),
            gettext("Ended: groups already forming keep their time."),
        )
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

    @display(description=_("status"), label=STATUS_BADGES)
    def state(self, obj: TimedDiscount) -> Any:
        return status_label(obj.status)

    @dialog_action(
        permission=P.MARKETING_MANAGE,
        description=_("End now"),
        title=_("End this discount now?"),
        text=_("Products go back to their usual price at once."),
        url_path="end",
        icon="stop",
    )
    def end_early(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        discount = get_object_or_404(TimedDiscount, pk=object_id)
        self.run_service(
            request,
            lambda: discounts.end_early(discount=discount, actor=operator_of(request)),
            gettext("Ended."),
        )
        return redirect(
            request, reverse("console:marketing_timeddiscount_change", args=[object_id])
        )
