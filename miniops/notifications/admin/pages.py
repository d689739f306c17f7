"""The results page (treatment against control, with intervals and a chart) and
the task view (what is scheduled, running and waiting)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.accounts.context import operator_of
from miniops.core import exports
from miniops.core.console import DetailSection, site
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.notifications import selectors
from miniops.notifications.models import Campaign, Group
from miniops.notifications.results import campaign_results


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _interval_text(
    interval: dict[str, Any] | None, *, money: bool = False, pct: bool = False
) -> dict[str, str]:
    if not interval:
        return {"diff": "—", "range": "—", "significant": ""}

    def fmt(v: float | None) -> str:
        if v is None:
            return "—"
        if money:
            return format_fen(round(v))
        if pct:
            return f"{v * 100:+.1f} pp"
        return f"{v:.2f}"

    return {
        "diff": fmt(interval["diff"]),
        "range": f"{fmt(interval['low'])} … {fmt(interval['high'])}",
        "significant": "yes" if interval["significant"] else "",
    }


def _bars(groups: dict[str, Any], key: str, fmt: Any) -> list[dict[str, Any]]:
    values = {
        g: float(groups.get(g, {}).get(key, 0) or 0) for g in (Group.TREATMENT, Group.CONTROL)
    }
    top = max(values.values()) or 1.0
    return [
        {
            "group": g,
            "label": Group(g).label,
            "width": max(1, round(100 * v / top)),
            "text": fmt(v),
        }
        for g, v in values.items()
    ]


@site.register_page(
    name="notifications_results",
    route="notifications/results/",
    permission=P.NOTIFICATIONS_VIEW,
    title=_("Push campaign results"),
    icon="insights",
)
def results_page(request: HttpRequest) -> HttpResponseBase:
    raw = request.GET.get("campaign", "")
    campaign = (
        Campaign.objects.select_related("template", "coupon").filter(pk=int(raw)).first()
        if raw.isascii() and raw.isdigit() and len(raw) < 19
        else None
    )
    context: dict[str, Any] = {
        "campaigns": Campaign.objects.order_by("-created_at")[:100],
        "formats": exports.FORMATS,
    }
    fmt = request.GET.get("fmt", "")
    if campaign is not None and fmt in exports.FORMATS:
        return export_results(request, campaign, fmt)
    if campaign is not None:
        result = campaign_results(campaign)
        groups = result["groups"]
        rows = []
        for g in (Group.TREATMENT, Group.CONTROL):
            stats = groups.get(g)
            if not stats:
                continue
            rows.append(
                {
                    "label": Group(g).label,
                    "units": stats["units"],
                    "reached": stats["reached"],
                    "opened": stats["opened"],
                    "converted": stats["converted"],
                    "conversion": _pct(stats["conversion"]),
                    "orders": stats["orders"],
                    "gmv": format_fen(stats["gmv"]),
                    "gmv_per_member": format_fen(round(stats["gmv_per_member"])),
                }
            )
        variants = [
            {
                "name": name,
                "units": v["units"],
                "conversion": _pct(v["conversion"]),
                "gmv_per_member": format_fen(round(v["gmv_per_member"])),
            }
            for name, v in sorted(result["variants"].items())
        ]
        context.update(
            campaign=campaign,
            rows=rows,
            variants=variants,
            gmv=_interval_text(result["gmv"], money=True),
            incremental=_interval_text(result["incremental_gmv"], money=True),
            conversion=_interval_text(result["conversion"], pct=True),
            cost=format_fen(result["cost"]),
            roi="—" if result["roi"] is None else f"{result['roi']:.2f}",
            window=campaign.attribution_days,
            conversion_bars=_bars(
                {k: {"c": v["conversion"]} for k, v in groups.items()}, "c", _pct
            ),
            gmv_bars=_bars(
                {k: {"g": v["gmv_per_member"]} for k, v in groups.items()},
                "g",
                lambda v: format_fen(round(v)),
            ),
        )
    page = site.page_context(request, title=_("Push campaign results"), **context)
    return TemplateResponse(request, "notifications/results.html", page)


def _fen(value: float | None) -> Any:
    return None if value is None else exports.yuan(round(value))


def results_rows(campaign: Campaign) -> list[list[Any]]:
    """The results page as a table: one row per group and variant, then the
    incremental effect with its 95 % interval, the cost and the ROI."""
    result = campaign_results(campaign)
    rows: list[list[Any]] = []
    empty = [None, None, None]

    def stats_row(label: str, s: dict[str, Any]) -> list[Any]:
        return [
            label,
            s["units"],
            s["reached"],
            s["opened"],
            s["converted"],
            round(s["conversion"], 4),
            s["orders"],
            exports.yuan(s["gmv"]),
            _fen(s["gmv_per_member"]),
            *empty,
        ]

    for g in (Group.TREATMENT, Group.CONTROL):
        if g in result["groups"]:
            rows.append(stats_row(str(Group(g).label), result["groups"][g]))
    for name, stats in sorted(result["variants"].items()):
        rows.append(stats_row(gettext("Variant %s") % name, stats))
    blank = [None] * 8
    for label, interval, money in (
        (gettext("Incremental GMV per member"), result["gmv"], True),
        (gettext("Incremental GMV"), result["incremental_gmv"], True),
        (gettext("Incremental conversion"), result["conversion"], False),
    ):
        if interval:
            values = [interval["diff"], interval["low"], interval["high"]]
            rows.append(
                [
                    label,
                    *blank,
                    *[(_fen(v) if money else (None if v is None else round(v, 4))) for v in values],
                ]
            )
    rows.append([gettext("Coupon cost"), *blank, exports.yuan(result["cost"]), None, None])
    if result["roi"] is not None:
        rows.append([gettext("ROI"), *blank, round(result["roi"], 4), None, None])
    return rows


def export_results(request: HttpRequest, campaign: Campaign, fmt: str) -> HttpResponseBase:
    """The results table as CSV / XLSX, through the one export path."""
    return exports.export(
        name=f"campaign-{campaign.pk}-results",
        fmt=fmt,
        header=[
            gettext("Group"),
            gettext("Members"),
            gettext("Reached"),
            gettext("Opened"),
            gettext("Converted"),
            gettext("Conversion"),
            gettext("Orders"),
            gettext("GMV"),
            gettext("GMV per member"),
            gettext("Difference"),
            gettext("Interval low (95 percent)"),
            gettext("Interval high (95 percent)"),
        ],
        rows=results_rows(campaign),
        actor=operator_of(request),
        permission=P.NOTIFICATIONS_VIEW,
        model=Campaign,
        description=gettext("Campaign results export: %s") % campaign.name,
        additional={"campaign": campaign.pk},
    )


@site.register_page(
    name="notifications_tasks",
    route="notifications/tasks/",
    permission=P.NOTIFICATIONS_VIEW,
    title=_("Scheduled, running and waiting"),
    icon="schedule",
)
def tasks_page(request: HttpRequest) -> HttpResponseBase:
    page = site.page_context(
        request, title=_("Scheduled, running and waiting"), **selectors.task_view()
    )
    return TemplateResponse(request, "notifications/tasks.html", page)


# --- reminder requests ----------------------------------------------------------------------
@site.register_page(
    name="notifications_reminders",
    route="notifications/reminders/",
    permission=P.NOTIFICATIONS_VIEW,
    title=_("Reminder requests"),
    icon="notifications_active",
)
def reminders_page(request: HttpRequest) -> HttpResponseBase:
    """What members asked to be reminded of (a flash sale) or told about (a SKU
    back in stock): per target, the open requests, those a campaign answered and
    those closed without a message; one target's requests with their members
    (nicknames masked; the member page linked for roles that may open it)."""
    from miniops.core.console import operator_has
    from miniops.core.masking import mask_name
    from miniops.notifications.models import WatchKind

    kind = request.GET.get("kind", "")
    if kind not in WatchKind.values:
        kind = ""
    raw = request.GET.get("ref", "")
    ref = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
    context: dict[str, Any] = {
        "kinds": WatchKind.choices,
        "kind": kind,
        "summary": selectors.reminder_summary(kind=kind),
        "may_open_members": operator_has(request, P.MEMBERS_VIEW),
    }
    if kind and ref is not None:
        context["target"] = selectors.reminder_target(kind, ref) or {"label": f"#{ref}"}
        context["ref"] = ref
        context["show_requests"] = True
        context["requests"] = [
            {
                "row": row,
                "nickname": mask_name(row.member.nickname)
                if row.member.nickname
                else f"#{row.member_id}",
            }
            for row in selectors.reminder_requests(kind=kind, ref=ref)
        ]
    page = site.page_context(request, title=_("Reminder requests"), **context)
    return TemplateResponse(request, "notifications/reminders.html", page)


# --- member-360 -------------------------------------------------------------------------------
def _member_push(request: HttpRequest, member: Any) -> dict[str, Any]:
    return selectors.member_push(member.pk)


site.register_section(
    DetailSection(
        "members.member",
        "push",
        _("Push messages"),
        P.NOTIFICATIONS_VIEW,
        "notifications/member_push.html",
        _member_push,
        order=40,
    )
)
