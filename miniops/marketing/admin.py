"""Marketing in the console: every tool with its status, participants, orders, GMV,
conversion and cost; actions audited and behind ``marketing.*`` permissions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.decorators import action, display
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminTextInputWidget

from miniops.accounts.context import operator_of
from miniops.core import audit
from miniops.core.console import (
    ConsoleModelAdmin,
    DetailSection,
    ReadOnlyConsoleAdmin,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError, InvalidInput
from miniops.core.exports import FORMATS, table_response
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.marketing import selectors
from miniops.marketing.models import (
    Coupon,
    CouponStatus,
    CouponTemplate,
    FlashItem,
    FlashSession,
    Group,
    GroupBuy,
    Level,
    LevelChange,
    MemberStanding,
    PointsEntry,
    RedeemItem,
    TimedDiscount,
)
from miniops.marketing.services import coupons, discounts, flash, groups, points

MANAGE: dict[str, str | None] = {
    "view": P.MARKETING_VIEW,
    "add": P.MARKETING_MANAGE,
    "change": P.MARKETING_MANAGE,
    "delete": P.MARKETING_MANAGE,
}
POINTS: dict[str, str | None] = {
    "view": P.MARKETING_VIEW,
    "add": P.MARKETING_POINTS,
    "change": P.MARKETING_POINTS,
    "delete": P.MARKETING_POINTS,
}
VIEW_ONLY: dict[str, str | None] = {
    "view": P.MARKETING_VIEW,
    "add": None,
    "change": None,
    "delete": None,
}


class ValidatedForm(forms.ModelForm):
    """Runs the service's rules on the instance the form would save."""

    validator: Any = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        instance = self.instance
        # Plain columns only: many-to-many fields (a coupon's categories) cannot
        # even be read on an instance that is not saved yet.
        columns = {field.name for field in instance._meta.concrete_fields}
        for name, value in data.items():
            if name in columns:
                try:
                    setattr(instance, name, value)
                except (TypeError, ValueError):
                    continue
        try:
            type(self).validator(instance)
        except InvalidInput as exc:
            for field, message in exc.fields.items():
                self.add_error(field if field in self.fields else None, str(message))
        return data


def _status_badge(status: str) -> str:
    return {"upcoming": "info", "running": "success", "ended": "warning"}.get(status, "info")


# --- coupons ------------------------------------------------------------------------------
class CouponTemplateForm(ValidatedForm):
    validator = staticmethod(coupons.validate_template)

    class Meta:
        model = CouponTemplate
        fields = [
            "name",
            "kind",
            "value",
            "max_discount",
            "min_spend",
            "scope",
            "categories",
            "products",
            "excluded_products",
            "valid_from",
            "valid_until",
            "valid_days",
            "total_quantity",
            "per_member_limit",
            "issue",
            "auto_rule",
            "auto_level",
            "level_only",
            "restore_on_refund",
            "is_active",
        ]


class IssueDialogForm(BaseDialogForm):
    member_ids = forms.CharField(
        label=_("Member ids"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Separated by commas, spaces or new lines."),
    )
    tag = forms.CharField(
        label=_("Or every member with the tag"),
        required=False,
        max_length=32,
        widget=UnfoldAdminTextInputWidget,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw = str(data.get("member_ids") or "").replace(",", " ").split()
        good = [token for token in raw if token.isascii() and token.isdigit() and len(token) < 19]
        if len(good) != len(raw):
            self.add_error("member_ids", _("Member ids are whole numbers."))
        if len(good) > 10_000:
            self.add_error("member_ids", _("At most 10,000 members at once; use a tag."))
        data["ids"] = [int(token) for token in good]
        if not data["ids"] and not data.get("tag"):
            raise forms.ValidationError(_("Give member ids or a tag."))
        return data


class PointsAdjustForm(BaseDialogForm):
    member_id = forms.IntegerField(
        label=_("Member id"), min_value=1, max_value=2**63 - 1, widget=UnfoldAdminTextInputWidget
    )
    points = forms.IntegerField(
        label=_("Points (negative to take away)"),
        min_value=-points.MAX_POINTS_CHANGE,
        max_value=points.MAX_POINTS_CHANGE,
        widget=UnfoldAdminTextInputWidget,
    )
    note = forms.CharField(label=_("Why"), max_length=255, widget=UnfoldAdminTextInputWidget)


@admin.register(CouponTemplate, site=site)
class CouponTemplateAdmin(ConsoleModelAdmin):
    permissions = MANAGE
    form = CouponTemplateForm
    list_display = ["name", "kind", "value", "min_spend", "issued_of_total", "state", "is_active"]
    list_filter = ["kind", "issue", "is_active"]
    search_fields = ["name"]
    autocomplete_fields = ["categories", "products", "excluded_products"]
    readonly_fields = ["issued_count"]
    actions_detail = ["issue_to_members", "end_now"]

    @display(description=_("issued"))
    def issued_of_total(self, obj: CouponTemplate) -> str:
        return f"{obj.issued_count} / {obj.total_quantity}"

    @display(description=_("status"), label=True)
    def state(self, obj: CouponTemplate) -> Any:
        return obj.get_status_display() if hasattr(obj, "get_status_display") else obj.status

    def has_issue_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE)

    @action(
        description=_("Issue to members"),
        url_path="issue",
        permissions=["issue"],
        icon="send",
        dialog={
            "title": _("Issue this coupon"),
            "description": _("Each member gets one; members at their limit are skipped."),
            "form_class": IssueDialogForm,
            "form_submit_text": _("Issue"),
        },
    )
    def issue_to_members(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        template = get_object_or_404(CouponTemplate, pk=object_id)
        try:
            result = coupons.issue(
                template=template,
                member_ids=form.cleaned_data["ids"],
                tag=form.cleaned_data.get("tag") or "",
                actor=operator_of(request),
            )
        except DomainError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(
                request,
                gettext("%(issued)d issued, %(skipped)d skipped.")
                % {"issued": result["issued"], "skipped": result["skipped"]},
            )
        return redirect(
            request, reverse("console:marketing_coupontemplate_change", args=[object_id])
        )

    def has_end_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE)

    @action(description=_("Stop now"), url_path="end", permissions=["end"], icon="stop")
    def end_now(self, request: HttpRequest, object_id: Any) -> HttpResponseBase:
        template = get_object_or_404(CouponTemplate, pk=object_id)
        coupons.stop(template=template, actor=operator_of(request))
        messages.success(
            request, gettext("Stopped: no more claims; coupons already held stay valid.")
        )
        return redirect(
            request, reverse("console:marketing_coupontemplate_change", args=[object_id])
        )


@admin.register(Coupon, site=site)
class CouponAdmin(ReadOnlyConsoleAdmin):
    permissions = VIEW_ONLY
    list_display = [
        "template",
        "member",
        "status",
        "valid_until",
        "order",
        "discount",
        "received_at",
    ]
    list_filter = ["status", "template"]
    search_fields = ["member__nickname", "template__name"]
    list_select_related = ["template", "member", "order"]


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

    def has_adjust_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_POINTS)

    @action(
        description=_("Adjust a member's points"),
        url_path="adjust",
        permissions=["adjust"],
        icon="tune",
        dialog={
            "title": _("Adjust a member's points"),
            "description": _(
                "A correction or goodwill gesture: it goes into the ledger and the audit log."
            ),
            "form_class": PointsAdjustForm,
            "form_submit_text": _("Adjust"),
        },
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

    def has_end_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return operator_has(request, P.MARKETING_MANAGE)

    @action(description=_("End now"), url_path="end", permissions=["end"], icon="stop")
    def end_early(self, request: HttpRequest, object_id: Any) -> HttpResponseBase:
        session = get_object_or_404(FlashSession, pk=object_id)
        try:
            flash.end_early(session=session, actor=operator_of(request))
            messages.success(request, gettext("Ended."))
        except DomainError as exc:
            messages.error(request, str(exc.message))
        return redirect(request, reverse("console:marketing_flashsession_change", args=[object_id]))


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


# --- results ------------------------------------------------------------------------------
RESULT_COLUMNS = {
    "coupons": [
        ("name", _("Coupon")),
        ("status", _("status")),
        ("issued", _("Issued")),
        ("used", _("Used")),
        ("use_rate", _("Use rate")),
        ("orders", _("Orders")),
        ("gmv", _("GMV")),
        ("cost", _("Discount cost")),
        ("roi", _("ROI")),
    ],
    "flash": [
        ("name", _("Flash sale")),
        ("status", _("status")),
        ("sold", _("Sold")),
        ("stock", _("Stock")),
        ("participants", _("Participants")),
        ("orders", _("Orders")),
        ("conversion", _("Paid ÷ ordered")),
        ("gmv", _("GMV")),
        ("cost", _("Discount cost")),
        ("roi", _("ROI")),
    ],
    "groups": [
        ("name", _("Group buy")),
        ("status", _("status")),
        ("groups", _("Groups")),
        ("succeeded", _("Succeeded")),
        ("failed", _("Failed")),
        ("participants", _("Participants")),
        ("conversion", _("Groups completed")),
        ("gmv", _("GMV")),
        ("cost", _("Discount cost")),
        ("roi", _("ROI")),
    ],
}
MONEY = {"gmv", "cost"}


@site.register_page(
    name="marketing_results",
    route="marketing/results/",
    permission=P.MARKETING_VIEW,
    title=_("Campaign results"),
    icon="insights",
)
def results_page(request: HttpRequest) -> HttpResponseBase:
    data = {
        "coupons": selectors.coupon_stats(),
        "flash": selectors.flash_stats(),
        "groups": selectors.group_stats(),
    }
    fmt, which = request.GET.get("fmt", ""), request.GET.get("table", "coupons")
    if fmt in FORMATS and which in data:
        if not operator_has(request, P.MARKETING_VIEW):
            raise PermissionError
        audit.record(
            actor=operator_of(request),
            action=audit.Action.ACCESS,
            model=CouponTemplate,
            object_repr=gettext("Campaign results export: %s") % which,
            additional={"export": fmt},
        )
        columns = RESULT_COLUMNS[which]
        return table_response(
            f"marketing-{which}",
            [label for _key, label in columns],
            ([row[key] for key, _label in columns] for row in data[which]),
            fmt=fmt,
        )
    tables = []
    for key, rows in data.items():
        columns = RESULT_COLUMNS[key]
        tables.append(
            {
                "key": key,
                "columns": [label for _k, label in columns],
                "rows": [
                    [
                        format_fen(row[k]) if k in MONEY else row[k] if row[k] is not None else "—"
                        for k, _label in columns
                    ]
                    for row in rows
                ],
            }
        )
    context = site.page_context(request, title=_("Campaign results"), tables=tables)
    return TemplateResponse(request, "marketing/results.html", context)


# --- member-360 -------------------------------------------------------------------------------
def _member_marketing(request: HttpRequest, member: Any) -> dict[str, Any]:
    standing = MemberStanding.objects.select_related("level").filter(member=member).first()
    return {
        "standing": standing,
        "summary": selectors.standing_summary(member.pk),
        "coupons": list(
            Coupon.objects.select_related("template")
            .filter(member=member, status=CouponStatus.UNUSED)
            .order_by("valid_until")[:10]
        ),
        "entries": list(PointsEntry.objects.filter(member=member).order_by("-created_at")[:10]),
    }


site.register_section(
    DetailSection(
        "members.member",
        "marketing",
        _("Level, points and coupons"),
        P.MARKETING_VIEW,
        "marketing/member_marketing.html",
        _member_marketing,
        order=15,
    )
)
