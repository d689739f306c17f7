"""The results page (treatment against control, with intervals and a chart) and
the task view (what is scheduled, running and waiting)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from miniops.core.console import site
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
    context: dict[str, Any] = {"campaigns": Campaign.objects.order_by("-created_at")[:100]}
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
