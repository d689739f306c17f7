"""Coupon templates (issue, stop) and the coupons members hold."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display
from unfold.forms import BaseDialogForm
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from miniops.accounts.context import operator_of
from miniops.core import audiences
from miniops.core.console import (
    ConsoleModelAdmin,
    ReadOnlyConsoleAdmin,
    dialog_action,
    redirect,
    site,
)
from miniops.core.errors import DomainError
from miniops.core.money import MoneyError, fen_to_yuan, format_fen, yuan_to_fen
from miniops.core.permissions import P
from miniops.marketing.admin.common import (
    MANAGE,
    STATUS_BADGES,
    VIEW_ONLY,
    ValidatedForm,
    status_label,
)
from miniops.marketing.models import (
    Coupon,
    CouponTemplate,
)
from miniops.marketing.services import coupons, points

MONEY_KINDS = (CouponTemplate.Kind.FIXED, CouponTemplate.Kind.THRESHOLD)


def coupon_value(template: CouponTemplate) -> str:
    """``¥20.00`` off, ``15%`` off, or a dash for free shipping."""
    if template.kind in MONEY_KINDS:
        return format_fen(template.value)
    if template.kind == CouponTemplate.Kind.PERCENT:
        return f"{template.value}%"
    return "—"


# --- coupons ------------------------------------------------------------------------------
class CouponTemplateForm(ValidatedForm):
    """The value is yuan off for a fixed or threshold coupon, percent off for a
    percentage one (the model keeps fen or percent)."""

    validator = staticmethod(coupons.validate_template)
    value = forms.CharField(
        label=capfirst(_("value")),
        max_length=16,
        required=False,
        help_text=_("Yuan off (e.g. 20 or 19.90), or percent off (1-99) for a percentage coupon."),
        widget=UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk and instance.kind in MONEY_KINDS and not self.is_bound:
            self.initial["value"] = fen_to_yuan(instance.value)

    def clean_value(self) -> int:
        text = str(self.cleaned_data.get("value") or "0").strip()
        if self.data.get(self.add_prefix("kind")) in MONEY_KINDS:
            try:
                return int(yuan_to_fen(text))
            except MoneyError as exc:
                raise forms.ValidationError(
                    gettext("Enter an amount in yuan with at most two decimals.")
                ) from exc
        if not (text.isascii() and text.isdigit()):
            raise forms.ValidationError(gettext("Percent off between 1 and 99."))
        return int(text)

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
    """Whom to give the coupon: an audience picked from the list (member tags with
    their member counts; segments once that app offers them), and/or member ids."""

    audience = forms.ChoiceField(
        label=_("Audience"),
        required=False,
        widget=UnfoldAdminSelectWidget,
        help_text=_("Every member of a tag (or segment), with how many members it has."),
    )
    member_ids = forms.CharField(
        label=_("Member ids"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Separated by commas, spaces or new lines."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["audience"]
        field.choices = [("", "—")] + [
            (
                a.key,
                gettext("%(label)s (%(count)s members)")
                % {"label": a.label, "count": "?" if a.count is None else f"{a.count:,}"},
            )
            for a in audiences.choices()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw = str(data.get("member_ids") or "").replace(",", " ").split()
        good = [token for token in raw if token.isascii() and token.isdigit() and len(token) < 19]
        if len(good) != len(raw):
            self.add_error("member_ids", _("Member ids are whole numbers."))
        if len(good) > 10_000:
            self.add_error("member_ids", _("At most 10,000 members at once; use a tag."))
        data["ids"] = [int(token) for token in good]
        if not data["ids"] and not data.get("audience"):
            raise forms.ValidationError(_("Pick an audience or give member ids."))
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
    hide_refused_delete = True
    permissions = MANAGE
    form = CouponTemplateForm
    list_display = [
        "name",
        "kind",
        "value_display",
        "min_spend",
        "issued_of_total",
        "state",
        "is_active",
    ]
    list_filter = ["kind", "issue", "is_active"]
    search_fields = ["name"]
    autocomplete_fields = ["categories", "products", "excluded_products"]
    readonly_fields = ["issued_count"]
    actions_detail = ["issue_to_members", "end_now"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if obj is not None and not self.has_change_permission(request, obj):
            # read-only: the value in words (¥10.00 or 8.5折), not the stored fen/percent
            fields = ["value_display" if name == "value" else name for name in fields]
        return fields

    @display(description=_("value"), ordering="value")
    def value_display(self, obj: CouponTemplate) -> str:
        return coupon_value(obj)

    @display(description=_("issued"))
    def issued_of_total(self, obj: CouponTemplate) -> str:
        return f"{obj.issued_count} / {obj.total_quantity}"

    @display(description=_("status"), label=STATUS_BADGES)
    def state(self, obj: CouponTemplate) -> Any:
        return status_label(obj.status)

    @dialog_action(
        permission=P.MARKETING_MANAGE,
        description=_("Issue to members"),
        title=_("Issue this coupon"),
        text=_("Each member gets one; members at their limit are skipped."),
        url_path="issue",
        form_class=IssueDialogForm,
        submit=_("Issue"),
        icon="send",
    )
    def issue_to_members(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        template = get_object_or_404(CouponTemplate, pk=object_id)
        back = redirect(
            request, reverse("console:marketing_coupontemplate_change", args=[object_id])
        )
        audience = form.cleaned_data.get("audience") or ""
        try:
            members = set(audiences.member_ids(audience)) if audience else set()
            wanted = len(set(form.cleaned_data["ids"]) | members)
            left = coupons.remaining(template)
            if wanted > left:
                # Refused before anyone gets one: nobody is left out without knowing.
                messages.error(
                    request,
                    gettext(
                        "Only %(left)s coupons are left for %(wanted)s members: "
                        "nothing was issued. Raise the quantity or pick fewer members."
                    )
                    % {"left": f"{left:,}", "wanted": f"{wanted:,}"},
                )
                return back
            result = coupons.issue(
                template=template,
                member_ids=form.cleaned_data["ids"],
                audience=audience,
                actor=operator_of(request),
            )
        except DomainError as exc:
            messages.error(request, str(exc.message))
            return back
        text = gettext("%(issued)d issued, %(skipped)d skipped (already at their limit).") % {
            "issued": result["issued"],
            "skipped": result["skipped"],
        }
        if result["missed_ids"]:
            shown = ", ".join(str(i) for i in result["missed_ids"][:50])
            more = len(result["missed_ids"]) - 50
            text += " " + gettext("The coupon ran out; no coupon for members %(ids)s") % {
                "ids": shown + (f" (+{more})" if more > 0 else "")
            }
            messages.warning(request, text)
        else:
            messages.success(request, text)
        return back

    @dialog_action(
        permission=P.MARKETING_MANAGE,
        description=_("Stop now"),
        title=_("Stop this coupon campaign now?"),
        text=_("No more claims or issues; coupons already held stay valid."),
        url_path="end",
        icon="stop",
    )
    def end_now(self, request: HttpRequest, form: Any, object_id: Any) -> HttpResponseBase:
        template = get_object_or_404(CouponTemplate, pk=object_id)
        self.run_service(
            request,
            lambda: coupons.stop(template=template, actor=operator_of(request)),
            gettext("Stopped: no more claims; coupons already held stay valid."),
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

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        names = [field.name for field in self.model._meta.fields if field.name != "id"]
        return ["source_display" if name == "source" else name for name in names]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)

    @display(description=_("source"))
    def source_display(self, obj: Coupon) -> str:
        words = {
            "claim": _("Claimed by the member"),
            "issue": _("Issued by the shop"),
            "points": _("Redeemed with points"),
        }
        if obj.source.startswith("auto:"):
            return gettext("Issued automatically")
        return str(words.get(obj.source, obj.source))

    list_select_related = ["template", "member", "order"]
