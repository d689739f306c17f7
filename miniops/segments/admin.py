"""Console pages of segments: the list, the rule builder with its live count
(the ``segments_preview`` page answers the builder's POSTs), the detail page's
actions (recompute, snapshot, include / exclude), the export, and the
member-360 card listing a member's segments."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.forms import BaseDialogForm

from miniops.accounts.context import operator_of
from miniops.core import exports
from miniops.core.console import (
    ConsoleModelAdmin,
    DetailSection,
    dialog_action,
    operator_has,
    redirect,
    site,
)
from miniops.core.errors import DomainError, InvalidInput
from miniops.core.exports import FORMATS
from miniops.core.masking import mask_name
from miniops.core.permissions import P
from miniops.segments import rules as r
from miniops.segments import selectors, services
from miniops.segments.models import OverrideMode, Segment, SegmentKind

EXAMPLE_RULES = {
    "op": "and",
    "rules": [
        {"type": "commerce", "metric": "orders", "op": "gte", "value": 1, "days": 90},
    ],
}


BUILDER_LABELS = {
    "level": _("Membership level"),
    "tags": _("Tags"),
    "channel": _("Registration channel"),
    "city": _("City (default address)"),
    "province": _("Province (default address)"),
    "gender": _("Gender"),
    "birthday_month": _("Birthday month"),
    "registered": _("Registered"),
    "points": _("Points balance"),
    "orders": _("Paid orders"),
    "gmv": _("GMV (yuan)"),
    "aov": _("Average order value (yuan)"),
    "last_order": _("Last order"),
    "bought": _("Bought"),
    "products": _("product ids"),
    "coupon": _("Coupon"),
    "held": _("holds"),
    "used": _("used"),
    "refunded": _("Had a refund"),
    "event": _("Behaviour (event)"),
    "event_name": _("event name"),
    "did": _("did"),
    "did_not": _("did not do"),
    "first_time": _("did for the first time"),
    "stopped": _("stopped doing"),
    "times": _("at least (times)"),
    "days": _("in the last (days)"),
    "where": _("where"),
    "property": _("property"),
    "value": _("property value"),
    "rfm": _("RFM quintiles"),
    "in": _("is one of"),
    "not_in": _("is none of"),
    "any": _("any of"),
    "all": _("all of"),
    "none": _("none of"),
    "unknown": _("Unknown"),
    "male": _("Male"),
    "female": _("Female"),
    "within_days": _("within the last (days)"),
    "before_days": _("more than (days) ago"),
    "after": _("on or after"),
    "before": _("before"),
    "comma_list": _("values, separated by commas"),
    "and": _("all of these (AND)"),
    "or": _("any of these (OR)"),
    "not": _("NOT"),
    "match": _("Members matching"),
    "remove": _("remove"),
    "add_condition": _("add condition"),
    "add_group": _("add group"),
    "counting": _("Counting…"),
    "failed": _("The preview could not be reached."),
    "members": _("members"),
    "query_time": _("query %s ms"),
}


class RuleBuilderWidget(forms.Textarea):
    template_name = "segments/rule_builder_widget.html"

    def get_context(self, name: str, value: Any, attrs: Any) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["preview_url"] = reverse("console:segments_preview")
        context["labels"] = BUILDER_LABELS
        return context

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False, indent=1)
        if isinstance(value, str):
            try:
                return json.dumps(json.loads(value), ensure_ascii=False, indent=1)
            except ValueError:
                return value
        return None if value is None else str(value)


class SegmentForm(forms.ModelForm):
    rules = forms.CharField(
        label=_("rules"),
        widget=RuleBuilderWidget(attrs={"rows": 12, "class": "font-mono text-xs w-full"}),
        help_text=_("Built with the editor above; the JSON is what is stored."),
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "kind", "refresh_minutes", "is_active", "rules"]

    def clean_rules(self) -> dict[str, Any]:
        try:
            return r.dump(r.parse(self.cleaned_data["rules"]))
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc.message)) from None


class RecomputeForm(BaseDialogForm):
    pass


class SnapshotForm(BaseDialogForm):
    name = forms.CharField(label=_("name of the static segment"), max_length=80)


class OverrideForm(BaseDialogForm):
    members = forms.CharField(
        label=_("member ids"),
        help_text=_("Separated by commas, spaces or new lines; at most 10000."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    mode = forms.ChoiceField(
        label=_("mode"),
        choices=[*OverrideMode.choices, ("none", _("Remove the override"))],
    )

    def clean_members(self) -> list[int]:
        raw = self.cleaned_data["members"].replace(",", " ").split()
        if not raw or not all(part.isdigit() for part in raw) or len(raw) > 10_000:
            raise forms.ValidationError(_("Member ids: numbers, at most 10000."))
        return [int(part) for part in raw]


@admin.register(Segment, site=site)
class SegmentAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.SEGMENTS_VIEW,
        "add": P.SEGMENTS_MANAGE,
        "change": P.SEGMENTS_MANAGE,
        "delete": P.SEGMENTS_MANAGE,
    }
    form = SegmentForm
    list_display = [
        "name",
        "kind",
        "member_count",
        "computed_at",
        "compute_ms",
        "state",
        "is_active",
    ]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]
    actions_detail = ["recompute_now", "take_snapshot", "override_members"]
    readonly_fields = [
        "member_count",
        "version",
        "computed_at",
        "compute_ms",
        "state",
        "last_error",
        "error_count",
        "exports",
        "sample",
        "changes",
        "runs",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        main = (None, {"fields": ["name", "description", "kind", "refresh_minutes", "is_active"]})
        builder = (_("Rules"), {"fields": ["rules"]})
        if obj is None:
            return [main, builder]
        state = (
            _("Membership"),
            {
                "fields": [
                    "member_count",
                    "version",
                    "computed_at",
                    "compute_ms",
                    "state",
                    "last_error",
                    "error_count",
                    "exports",
                    "sample",
                    "changes",
                    "runs",
                ]
            },
        )
        return [main, builder, state]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("kind")
        if not self.has_change_permission(request, obj):
            fields += ["name", "description", "kind", "refresh_minutes", "is_active", "rules"]
        return fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"rules": json.dumps(EXAMPLE_RULES)}

    @admin.display(description=_("state"))
    def state(self, obj: Segment) -> str:
        if obj.last_error:
            return str(_("Failing (%(n)s in a row)") % {"n": obj.error_count})
        if obj.dirty_since:
            return str(_("Inputs changed, recompute queued"))
        if obj.computed_at is None:
            return str(_("Not computed yet"))
        return str(_("Up to date"))

    @admin.display(description=_("export"))
    def exports(self, obj: Segment) -> str:
        url = reverse("console:segments_export")
        return format_html(
            '<a class="underline" href="{}?segment={}&fmt=csv">CSV</a> · '
            '<a class="underline" href="{}?segment={}&fmt=xlsx">XLSX</a>',
            url,
            obj.pk,
            url,
            obj.pk,
        )

    @admin.display(description=_("members (newest 20, masked)"))
    def sample(self, obj: Segment) -> str:
        from miniops.members.models import Member

        members = Member.objects.filter(pk__in=selectors.member_ids(obj.pk)).order_by("-pk")[:20]
        return (
            format_html_join(
                ", ",
                '<a class="underline" href="{}">{}</a>',
                (
                    (
                        reverse("console:members_member_change", args=[m.pk]),
                        mask_name(m.nickname) if m.nickname else f"#{m.pk}",
                    )
                    for m in members
                ),
            )
            or "—"
        )

    @admin.display(description=_("latest entries and exits"))
    def changes(self, obj: Segment) -> str:
        rows = selectors.recent_changes(segment_id=obj.pk, limit=20)
        return (
            format_html_join(
                "<br>",
                "{} · {} · #{}",
                (
                    (c.at.strftime("%Y-%m-%d %H:%M"), c.get_kind_display(), c.member_id)
                    for c in rows
                ),
            )
            or "—"
        )

    @admin.display(description=_("latest runs"))
    def runs(self, obj: Segment) -> str:
        rows = obj.runs.all()[:10]
        return (
            format_html_join(
                "<br>",
                "{} · v{} · {} ms · {} (+{} / −{}) {} {}",
                (
                    (
                        run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                        run.version or "—",
                        run.elapsed_ms,
                        run.member_count,
                        run.entered,
                        run.exited,
                        run.reason,
                        run.error[:120],
                    )
                    for run in rows
                ),
            )
            or "—"
        )

    # --- saving through the services ------------------------------------------------------
    def save_model(self, request: HttpRequest, obj: Segment, form: Any, change: bool) -> None:
        data = form.cleaned_data
        actor = operator_of(request)
        if change:
            saved = services.update_segment(
                actor=actor,
                segment=obj,
                name=data["name"],
                description=data.get("description", ""),
                rules=data["rules"],
                refresh_minutes=data["refresh_minutes"],
                is_active=data["is_active"],
            )
        else:
            saved = services.create_segment(
                actor=actor,
                name=data["name"],
                description=data.get("description", ""),
                kind=data["kind"],
                rules=data["rules"],
                refresh_minutes=data["refresh_minutes"],
            )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Segment) -> None:
        services.delete_segment(actor=operator_of(request), segment=obj)

    def _back(self, request: HttpRequest, object_id: Any) -> Any:
        return redirect(request, reverse("console:segments_segment_change", args=[object_id]))

    @dialog_action(
        permission=P.SEGMENTS_MANAGE,
        description=_("Recompute now"),
        title=_("Recompute this segment now?"),
        text=_(
            "A new membership version is written and swapped in; entries and exits are recorded."
        ),
        url_path="recompute",
        form_class=RecomputeForm,
        icon="refresh",
    )
    def recompute_now(self, request: HttpRequest, form: Any, object_id: Any) -> Any:
        segment = selectors.get(int(object_id))
        self.run_service(
            request,
            lambda: services.recompute(segment.pk, actor=operator_of(request), reason="manual"),
            _("Recomputed."),
        )
        return self._back(request, object_id)

    @dialog_action(
        permission=P.SEGMENTS_MANAGE,
        description=_("Snapshot as static"),
        title=_("Freeze today's members as a static segment"),
        url_path="snapshot",
        form_class=SnapshotForm,
        icon="photo_camera",
    )
    def take_snapshot(self, request: HttpRequest, form: Any, object_id: Any) -> Any:
        segment = selectors.get(int(object_id))
        try:
            frozen = services.snapshot(
                actor=operator_of(request), segment=segment, name=form.cleaned_data["name"]
            )
        except DomainError as exc:
            from django.contrib import messages

            messages.error(request, str(exc.message))
            return self._back(request, object_id)
        return self._back(request, frozen.pk)

    @dialog_action(
        permission=P.SEGMENTS_MANAGE,
        description=_("Include / exclude members"),
        title=_("Always include or always exclude members"),
        text=_("Applied on top of the rules at every recompute."),
        url_path="override",
        form_class=OverrideForm,
        icon="person_add",
    )
    def override_members(self, request: HttpRequest, form: Any, object_id: Any) -> Any:
        segment = selectors.get(int(object_id))
        mode = form.cleaned_data["mode"]
        self.run_service(
            request,
            lambda: services.set_override(
                actor=operator_of(request),
                segment=segment,
                member_ids=form.cleaned_data["members"],
                mode=None if mode == "none" else mode,
            ),
            _("Overrides saved and the segment recomputed."),
        )
        return self._back(request, object_id)


# --- the live preview (the builder's POSTs) --------------------------------------------------
def _catalog() -> dict[str, Any]:
    from miniops.catalog.models import Category
    from miniops.marketing.models import CouponTemplate, Level
    from miniops.members.models import MemberTag

    return {
        "levels": [{"id": x.pk, "name": x.name} for x in Level.objects.order_by("rank")],
        "tags": [{"id": x.pk, "name": x.name} for x in MemberTag.objects.order_by("name")[:200]],
        "categories": [
            {"id": x.pk, "name": x.name} for x in Category.objects.order_by("level", "name")[:200]
        ],
        "templates": [
            {"id": x.pk, "name": x.name} for x in CouponTemplate.objects.order_by("-pk")[:100]
        ],
    }


@site.register_page(
    name="segments_preview",
    route="segments/preview/",
    permission=P.SEGMENTS_VIEW,
    title=_("Segment preview"),
    icon="groups",
)
def preview_page(request: HttpRequest) -> HttpResponseBase:
    """GET: what the builder offers (levels, tags, categories, coupons). POST
    (``rules``): the live count, 20 masked members, the time, or the error."""
    if request.method != "POST":
        return JsonResponse({"catalog": _catalog()})
    result = services.preview(request.POST.get("rules", ""), actor=operator_of(request))
    return JsonResponse(
        {
            "count": result.count,
            "sample": [
                {**row, "registered_at": row["registered_at"].date().isoformat()}
                for row in result.sample
            ],
            "elapsed_ms": result.elapsed_ms,
            "lake_ms": result.lake_ms,
            "error": result.error,
            "fields": result.fields,
        },
        status=200 if result.error is None else 400,
        json_dumps_params={"ensure_ascii": False},
    )


# --- export ----------------------------------------------------------------------------------
@site.register_page(
    name="segments_export",
    route="segments/export/",
    permission=P.SEGMENTS_EXPORT,
    title=_("Export segment members"),
    icon="download",
)
def export_page(request: HttpRequest) -> HttpResponseBase:
    fmt, raw = request.GET.get("fmt", ""), request.GET.get("segment", "")
    if fmt in FORMATS and raw.isdigit():
        if not operator_has(request, P.SEGMENTS_EXPORT):
            raise PermissionDenied
        segment = selectors.get(int(raw))
        from miniops.members.models import Member

        unmasked = operator_has(request, P.MEMBERS_VIEW_SENSITIVE)
        members = Member.objects.filter(pk__in=selectors.member_ids(segment.pk)).order_by("pk")
        return exports.export(
            name=f"segment-{segment.pk}",
            fmt=fmt,
            header=[
                gettext("Member id"),
                gettext("Nickname"),
                gettext("City"),
                gettext("Registered"),
            ],
            rows=(
                [
                    m.pk,
                    m.nickname if unmasked else mask_name(m.nickname),
                    m.city,
                    m.registered_at,
                ]
                for m in members.iterator(chunk_size=2000)
            ),
            actor=operator_of(request),
            permission=P.SEGMENTS_EXPORT,
            model=Segment,
            description=gettext("Segment members export: %s") % segment.name,
            additional={"segment": segment.pk, "members": segment.member_count},
        )
    context = site.page_context(
        request, title=_("Export segment members"), segments=list(selectors.active())
    )
    return TemplateResponse(request, "segments/export.html", context)


# --- member-360 -------------------------------------------------------------------------------
def _member_segments(request: HttpRequest, member: Any) -> dict[str, Any]:
    return {
        "segments": list(selectors.segments_of(member.pk)),
        "changes": selectors.recent_changes(member_id=member.pk, limit=10),
    }


site.register_section(
    DetailSection(
        "members.member",
        "segments",
        _("Segments"),
        P.SEGMENTS_VIEW,
        "segments/member_segments.html",
        _member_segments,
        order=30,
    )
)

__all__ = ["SegmentAdmin", "SegmentKind"]
