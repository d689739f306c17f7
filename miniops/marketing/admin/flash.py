"""Flash sessions with their items."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.decorators import display

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ConsoleModelAdmin,
    dialog_action,
    operator_has,
    redirect,
    site,
)
from miniops.core.permissions import P
from miniops.marketing.admin.common import MANAGE
from miniops.marketing.models import (
    FlashItem,
    FlashSession,
)
from miniops.marketing.services import flash


# --- flash sales --------------------------------------------------------------------------
class FlashItemForm(forms.ModelForm):
    class Meta:
        model = FlashItem
        fields = ["sku", "flash_price", "stock", "per_member_limit"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        sku, price, stock = data.get("sku"), data.get("flash_price"), data.get("stock")
        if sku is not None and price is not None and not 0 < price < sku.price:
            self.add_error("flash_price", _("Above 0 and below the SKU's price."))
        if stock is not None and stock < (self.instance.sold or 0):
            self.add_error("stock", _("Not below what is already sold."))
        limit = data.get("per_member_limit")
        if limit is not None and not 1 <= limit <= 99:
            self.add_error("per_member_limit", _("Between 1 and 99."))
        return data


class FlashItemInline(TabularInline):
    model = FlashItem
    form = FlashItemForm
    extra = 0
    fields = ["sku", "flash_price", "stock", "sold", "per_member_limit"]
    readonly_fields = ["sold"]
    autocomplete_fields = ["sku"]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_VIEW)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE) and (
            obj is None or obj.status == "upcoming"
        )


class FlashSessionForm(forms.ModelForm):
    class Meta:
        model = FlashSession
        fields = ["name", "starts_at", "ends_at", "pay_minutes"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            self.add_error("ends_at", _("The end is before the start."))
        minutes = data.get("pay_minutes")
        if minutes is not None and not 1 <= minutes <= 60:
            self.add_error("pay_minutes", _("Between 1 and 60 minutes."))
        return data


@admin.register(FlashSession, site=site)
class FlashSessionAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    form = FlashSessionForm
    inlines = [FlashItemInline]
    list_display = ["name", "starts_at", "ends_at", "state", "sold_of_stock"]
    actions_detail = ["end_early"]

    @display(description=_("status"), label=True)
    def state(self, obj: FlashSession) -> str:
        return obj.status

    @display(description=_("sold"))
    def sold_of_stock(self, obj: FlashSession) -> str:
        items = list(obj.items.all())
        return f"{sum(i.sold for i in items)} / {sum(i.stock for i in items)}"

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        item_ids = list(form.instance.items.values_list("pk", flat=True))
        flash.forget(item_ids)
        for item_id in item_ids:  # stock may have changed: rebuild each gate
            flash.reset_gate(item_id)

    @dialog_action(
        permission=P.MARKETING_MANAGE,
        description=_("End now"),
        title=_("End this flash sale now?"),
        text=_("Nobody can buy from it any more; orders already placed are kept."),
        url_path="end",
        icon="stop",
    )
    def end_early(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        session = get_object_or_404(FlashSession, pk=object_id)
        self.run_service(
            request,
            lambda: flash.end_early(session=session, actor=operator_of(request)),
            gettext("Ended."),
        )
        return redirect(request, reverse("console:marketing_flashsession_change", args=[object_id]))
