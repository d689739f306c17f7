"""Console pages for sharing: the report (with charts and exports), the rules,
rewards (the blocked ones with their reasons), order attributions and links, and
the member-360 card."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.accounts.context import operator_of
from miniops.core import exports
from miniops.core.console import (
    ConsoleModelAdmin,
    DetailSection,
    ReadOnlyConsoleAdmin,
    operator_has,
    site,
)
from miniops.core.exports import FORMATS
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.sharing import selectors, services
from miniops.sharing.models import (
    Attribution,
    OrderAttribution,
    Reward,
    ShareLink,
    ShareRules,
    TargetType,
)
from miniops.sharing.services.attribution import RULE_FIELDS, reward_blocked_label

COLORS = ["#3b82f6", "#f97316", "#10b981", "#a855f7"]
MAX_DAYS = 366


# --- the report ------------------------------------------------------------------------------
class RangeForm(forms.Form):
    start = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        label=_("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError(_("The start is after the end."))
            if (end - start).days > MAX_DAYS:
                raise forms.ValidationError(_("At most a year at once."))
        return data


def _range(request: HttpRequest) -> tuple[RangeForm, date, date]:
    start, end = selectors.default_range()
    form = RangeForm({"start": request.GET.get("start", start), "end": request.GET.get("end", end)})
    if form.is_valid():
        return form, form.cleaned_data["start"], form.cleaned_data["end"]
    return form, start, end


def _target_label(row: dict[str, Any]) -> str:
    kind = (
        str(TargetType(row["target_type"]).label)
        if row["target_type"] in TargetType.values
        else row["target_type"]
    )
    return f"{kind}: {row['page']}" if row["page"] else f"{kind} #{row['target_id']}"


TABLES = {
    "targets": (
        lambda: [_("Target"), _("Shares"), _("Visits"), _("Registrations"), _("Orders"), _("GMV")],
        lambda report: [
            [
                _target_label(r),
                r["shares"],
                r["visits"],
                r["registrations"],
                r["orders"],
                format_fen(r["gmv"]),
            ]
            for r in report.by_target
        ],
    ),
    "sharers": (
        lambda: [
            _("Sharer"),
            _("Member id"),
            _("Shares"),
            _("Visits"),
            _("Registrations"),
            _("Orders"),
            _("GMV"),
        ],
        lambda report: [
            [
                r["nickname"],
                r["sharer_id"],
                r["shares"],
                r["visits"],
                r["registrations"],
                r["orders"],
                format_fen(r["gmv"]),
            ]
            for r in report.by_sharer
        ],
    ),
    "daily": (
        lambda: [
            _("Day"),
            _("Sharing members"),
            _("New members from shares"),
            _("K-factor"),
            _("Cycle time (hours)"),
        ],
        lambda report: [
            [
                d["day"].isoformat(),
                d["sharers"],
                d["new_members"],
                d["k_factor"],
                "" if d["cycle_hours"] is None else d["cycle_hours"],
            ]
            for d in report.daily
        ],
    ),
}


def _export(request: HttpRequest, report: selectors.Report) -> HttpResponseBase | None:
    fmt = request.GET.get("fmt", "")
    if fmt not in FORMATS:
        return None
    table = request.GET.get("table", "targets")
    if table not in TABLES:
        table = "targets"
    header, rows = TABLES[table]
    return exports.export(
        name=f"sharing-{table}",
        fmt=fmt,
        header=[str(h) for h in header()],
        rows=rows(report),
        actor=operator_of(request),
        permission=P.SHARING_VIEW,
        model=ShareLink,
        description=gettext("Sharing report export: %s") % table,
        additional={
            "table": table,
            "start": report.start.isoformat(),
            "end": report.end.isoformat(),
        },
    )


def _chart(labels: list[str], datasets: list[tuple[str, list[Any]]]) -> str:
    return orjson.dumps(
        {
            "labels": labels,
            "datasets": [
                {
                    "label": label,
                    "data": data,
                    "borderColor": COLORS[i % 4],
                    "backgroundColor": COLORS[i % 4],
                }
                for i, (label, data) in enumerate(datasets)
            ],
        }
    ).decode()


FUNNEL_LABELS = {
    "shares": _("Shares"),
    "visits": _("Visits"),
    "registrations": _("Registrations"),
    "orders": _("Orders"),
}


@site.register_page(
    name="sharing_report",
    route="sharing/report/",
    permission=P.SHARING_VIEW,
    title=_("Sharing report"),
    icon="share",
)
def report_page(request: HttpRequest) -> HttpResponseBase:
    form, start, end = _range(request)
    report = selectors.report(start, end)
    exported = _export(request, report)
    if exported is not None:
        return exported
    funnel = [
        {
            "label": FUNNEL_LABELS[name],
            "value": value,
            "rate": f"{value / report.funnel[0][1] * 100:.1f}%" if report.funnel[0][1] else "—",
        }
        for name, value in report.funnel
    ]
    labels = [d["day"].strftime("%m-%d") for d in report.daily]
    context = site.page_context(
        request,
        title=_("Sharing report"),
        form=form,
        report=report,
        totals=report.totals,
        gmv=format_fen(report.totals["gmv"]),
        funnel=funnel,
        targets=[
            {**r, "label": _target_label(r), "gmv_text": format_fen(r["gmv"])}
            for r in report.by_target
        ],
        sharers=[{**r, "gmv_text": format_fen(r["gmv"])} for r in report.by_sharer],
        funnel_chart=_chart(
            [str(f["label"]) for f in funnel], [(gettext("Count"), [f["value"] for f in funnel])]
        ),
        k_chart=_chart(
            labels,
            [
                (gettext("K-factor"), [d["k_factor"] for d in report.daily]),
                (gettext("Cycle time (hours)"), [d["cycle_hours"] for d in report.daily]),
            ],
        ),
        query=request.GET.urlencode(),
        can_export=operator_has(request, P.SHARING_VIEW),
    )
    response = TemplateResponse(request, "sharing/report.html", context)
    if not form.is_valid():
        response.status_code = 400
    return response


# --- the rules ---------------------------------------------------------------------------------
@admin.register(ShareRules, site=site)
class ShareRulesAdmin(ConsoleModelAdmin):
    permissions = {
        "view": P.SHARING_VIEW,
        "add": None,
        "change": P.SHARING_MANAGE,
        "delete": None,
    }
    fields = list(RULE_FIELDS)
    list_display = ["__str__", "model", "window_days", "reward_kind", "freeze_days", "levels"]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        if request.method != "GET" or not self.has_view_permission(request):
            raise PermissionDenied  # one row, edited on its page: nothing to do in bulk
        row = services.rules()
        return HttpResponseRedirect(reverse("console:sharing_sharerules_change", args=[row.pk]))

    def save_model(self, request: HttpRequest, obj: ShareRules, form: Any, change: bool) -> None:
        values = {
            name: form.cleaned_data[name] for name in form.changed_data if name in RULE_FIELDS
        }
        services.update_rules(actor=operator_of(request), **values)
        obj.refresh_from_db()


# --- rewards, attributions, links --------------------------------------------------------------
@admin.register(Reward, site=site)
class RewardAdmin(ReadOnlyConsoleAdmin):
    permissions = {"view": P.SHARING_VIEW, "add": None, "change": None, "delete": None}
    list_display = [
        "created_at",
        "beneficiary",
        "invitee",
        "trigger",
        "level",
        "kind",
        "points",
        "clawed_points",
        "status",
        "why",
        "due_at",
        "variant",
    ]
    list_filter = ["status", "trigger", "reason", "level", "kind"]
    #: the ledger key repeats the trigger's code name: not shown
    exclude = ["key"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [f.name for f in self.model._meta.fields if f.name != "key"]

    search_fields = ["key", "beneficiary__nickname", "invitee__nickname", "order__number"]
    list_select_related = ["beneficiary", "invitee"]

    @admin.display(description=_("reason"))
    def why(self, obj: Reward) -> str:
        return reward_blocked_label(obj.reason) if obj.reason else ""


@admin.register(OrderAttribution, site=site)
class OrderAttributionAdmin(ReadOnlyConsoleAdmin):
    permissions = {"view": P.SHARING_VIEW, "add": None, "change": None, "delete": None}
    list_display = ["order", "sharer", "link", "model", "window_days", "touched_at", "source"]
    list_filter = ["model", "source"]
    search_fields = ["order__number", "sharer__nickname", "link__code"]
    list_select_related = ["order", "sharer", "link"]


@admin.register(ShareLink, site=site)
class ShareLinkAdmin(ReadOnlyConsoleAdmin):
    permissions = {"view": P.SHARING_VIEW, "add": None, "change": None, "delete": None}
    list_display = ["code", "sharer", "target_type", "target_id", "page", "shares", "created_at"]
    list_filter = ["target_type"]
    search_fields = ["code", "sharer__nickname"]
    list_select_related = ["sharer"]


# --- member 360 -------------------------------------------------------------------------------
def _member_sharing(request: HttpRequest, member: Any) -> dict[str, Any]:
    attribution = Attribution.objects.select_related("sharer").filter(invitee=member).first()
    return {
        "attribution": attribution,
        "blocked_label": reward_blocked_label(attribution.blocked_reason) if attribution else "",
        "links": ShareLink.objects.filter(sharer=member).count(),
        "invited": Attribution.objects.filter(sharer=member, blocked_reason="").count(),
        "rewards": list(
            Reward.objects.select_related("invitee")
            .filter(beneficiary=member)
            .order_by("-created_at")[:10]
        ),
    }


site.register_section(
    DetailSection(
        "members.member",
        "sharing",
        _("Sharing and referral"),
        P.SHARING_VIEW,
        "sharing/member_sharing.html",
        _member_sharing,
        order=40,
    )
)
