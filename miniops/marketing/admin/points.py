"""Levels, the points ledger, level changes and the points shop."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.accounts.context import operator_of
from miniops.core.console import (
    ConsoleModelAdmin,
    ReadOnlyConsoleAdmin,
    dialog_action,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.permissions import P
from miniops.marketing.admin.common import POINTS, VIEW_ONLY
from miniops.marketing.admin.coupons import PointsAdjustForm
from miniops.marketing.models import (
    Level,
    LevelChange,
    PointsEntry,
    RedeemItem,
)
from miniops.marketing.services import points


# --- points and levels --------------------------------------------------------------------
class LevelForm(forms.ModelForm):
    class Meta:
        model = Level
        fields = [
            "name",
            "rank",
            "growth_threshold",
            "discount_percent",
            "points_multiplier",
            "free_shipping",
        ]

    def clean_discount_percent(self) -> int:
        value = int(self.cleaned_data["discount_percent"])
        if not 0 <= value <= 30:
            raise forms.ValidationError(_("0 to 30"))
        return value

    def clean_points_multiplier(self) -> Any:
        value = self.cleaned_data["points_multiplier"]
        if not 1 <= value <= 5:
            raise forms.ValidationError(_("Between 1 and 5."))
        return value


@admin.register(Level, site=site)
class LevelAdmin(ConsoleModelAdmin):
    permissions = POINTS
    form = LevelForm
    list_display = [
        "rank",
        "name",
        "growth_threshold",
        "discount_percent",
        "points_multiplier",
        "free_shipping",
    ]


@admin.register(PointsEntry, site=site)
class PointsEntryAdmin(ReadOnlyConsoleAdmin):
    permissions = VIEW_ONLY
    list_display = ["created_at", "member", "delta", "balance", "reason", "reference", "note"]
    list_filter = ["reason"]
    search_fields = ["member__nickname", "reference"]
    list_select_related = ["member"]
    actions_list = ["adjust_points"]

    @dialog_action(
        permission=P.MARKETING_POINTS,
        description=_("Adjust a member's points"),
        title=_("Adjust a member's points"),
        text=_("A correction or goodwill gesture: it goes into the ledger and the audit log."),
        url_path="adjust",
        form_class=PointsAdjustForm,
        submit=_("Adjust"),
        icon="tune",
    )
    def adjust_points(self, request: HttpRequest, form: Any) -> HttpResponseBase:
        data = form.cleaned_data
        try:
            entry = points.adjust(
                member_id=data["member_id"],
                delta=data["points"],
                note=data["note"],
                actor=operator_of(request),
            )
        except DomainError as exc:
            detail = "; ".join(str(message) for message in exc.fields.values())
            messages.error(request, f"{exc.message} {detail}".strip())
        else:
            messages.success(
                request,
                gettext("Done: the member now has %(balance)d points.")
                % {"balance": entry.balance},
            )
        return redirect(request, reverse("console:marketing_pointsentry_changelist"))


@admin.register(LevelChange, site=site)
class LevelChangeAdmin(ReadOnlyConsoleAdmin):
    permissions = VIEW_ONLY
    list_display = ["created_at", "member", "from_level", "to_level", "growth"]
    list_select_related = ["member", "from_level", "to_level"]


@admin.register(RedeemItem, site=site)
class RedeemItemAdmin(ConsoleModelAdmin):
    permissions = POINTS
    list_display = [
        "name",
        "points",
        "coupon_template",
        "sku",
        "stock",
        "per_member_limit",
        "is_active",
    ]
    autocomplete_fields = ["coupon_template", "sku"]
