"""Reads for the sharing report: totals, per target and per sharer, the
share → visit → register → order funnel, daily K-factor and cycle time."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from miniops.core.timeutils import local_date
from miniops.members.models import Member
from miniops.sharing.models import (
    Attribution,
    OrderAttribution,
    Reward,
    RewardStatus,
    ShareAct,
    ShareVisit,
)

METRICS = ("shares", "visits", "registrations", "orders", "gmv")


@dataclass
class Report:
    start: date
    end: date
    totals: dict[str, int]
    by_target: list[dict[str, Any]]
    by_sharer: list[dict[str, Any]]
    daily: list[dict[str, Any]]
    funnel: list[tuple[str, int]] = field(default_factory=list)


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def default_range() -> tuple[date, date]:
    today = local_date()
    return today - timedelta(days=29), today


def _grouped(key: str) -> dict[Any, dict[str, int]]:
    return defaultdict(lambda: dict.fromkeys(METRICS, 0))


def report(start: date, end: date, *, top: int = 20) -> Report:
    """Everything the sharing report shows for local days ``start``..``end``."""
    since, until = _bounds(start, end)
    acts = ShareAct.objects.filter(at__gte=since, at__lt=until)
    visits = ShareVisit.objects.filter(at__gte=since, at__lt=until)
    registrations = Attribution.objects.filter(
        bound_at__gte=since, bound_at__lt=until, blocked_reason=""
    )
    orders = OrderAttribution.objects.filter(order__paid_at__gte=since, order__paid_at__lt=until)
    gmv_expr = Sum("order__paid_amount") - Sum("order__refunded_amount")

    targets = _grouped("target")
    sharers = _grouped("sharer")
    link_keys = ("link__target_type", "link__target_id", "link__page")
    sources: list[tuple[str, Any, str]] = [
        ("shares", acts, "link__sharer_id"),
        ("visits", visits, "link__sharer_id"),
        ("registrations", registrations, "sharer_id"),
        ("orders", orders, "sharer_id"),
    ]
    for metric, queryset, sharer_key in sources:
        annotations: dict[str, Any] = {"n": Count("pk")}
        if metric == "orders":
            annotations["gmv"] = gmv_expr
        grouped: Any = queryset.values(*link_keys, sharer_key).annotate(**annotations)
        for row in grouped:
            key = tuple(row[name] for name in link_keys)
            if key[0]:  # a legacy referrer_id has no link, hence no target
                targets[key][metric] += row["n"]
                targets[key]["gmv"] += row.get("gmv") or 0
            sharers[row[sharer_key]][metric] += row["n"]
            sharers[row[sharer_key]]["gmv"] += row.get("gmv") or 0

    totals = {
        "shares": acts.count(),
        "visits": visits.count(),
        "registrations": registrations.count(),
        "orders": orders.count(),
        "gmv": orders.aggregate(gmv=gmv_expr)["gmv"] or 0,
        "sharers": acts.values("link__sharer_id").distinct().count(),
        "blocked": Reward.objects.filter(
            status=RewardStatus.BLOCKED, created_at__gte=since, created_at__lt=until
        ).count(),
    }
    by_target = sorted(
        ({"target_type": k[0], "target_id": k[1], "page": k[2], **v} for k, v in targets.items()),
        key=lambda r: (-r["gmv"], -r["registrations"], -r["visits"], -r["shares"]),
    )
    names = dict(Member.objects.filter(pk__in=list(sharers)).values_list("pk", "nickname"))
    by_sharer = sorted(
        (
            {"sharer_id": k, "nickname": names.get(k, "") or f"#{k}", **v}
            for k, v in sharers.items()
        ),
        key=lambda r: (-r["registrations"], -r["gmv"], -r["visits"], -r["shares"]),
    )[:top]
    funnel = [
        ("shares", totals["shares"]),
        ("visits", totals["visits"]),
        ("registrations", totals["registrations"]),
        ("orders", totals["orders"]),
    ]
    return Report(
        start=start,
        end=end,
        totals=totals,
        by_target=by_target[:top],
        by_sharer=by_sharer,
        daily=daily(start, end),
        funnel=funnel,
    )


def daily(start: date, end: date) -> list[dict[str, Any]]:
    """Per local day: sharing members, new members attributed to shares, the
    K-factor (attributed new members ÷ sharing members) and the cycle time (median
    hours from the link's creation to the invitee's registration)."""
    since, until = _bounds(start, end)
    sharing = defaultdict(int)
    for row in (
        ShareAct.objects.filter(at__gte=since, at__lt=until)
        .annotate(day=TruncDate("at"))
        .values("day")
        .annotate(n=Count("link__sharer_id", distinct=True))
    ):
        sharing[row["day"]] = row["n"]
    invited: dict[date, int] = defaultdict(int)
    cycles: dict[date, list[float]] = defaultdict(list)
    attributions = (
        Attribution.objects.filter(bound_at__gte=since, bound_at__lt=until, blocked_reason="")
        .filter(Q(is_new_member=True))
        .select_related("link", "invitee")
        .only("bound_at", "link__created_at", "invitee__registered_at")
    )
    tz = timezone.get_current_timezone()
    for found in attributions:
        day = found.bound_at.astimezone(tz).date()
        invited[day] += 1
        if found.link is not None:
            hours = (found.invitee.registered_at - found.link.created_at).total_seconds() / 3600
            cycles[day].append(max(0.0, hours))
    days = []
    current = start
    while current <= end:
        sharers = sharing.get(current, 0)
        new = invited.get(current, 0)
        days.append(
            {
                "day": current,
                "sharers": sharers,
                "new_members": new,
                "k_factor": round(new / sharers, 3) if sharers else 0.0,
                "cycle_hours": round(statistics.median(cycles[current]), 1)
                if cycles.get(current)
                else None,
            }
        )
        current += timedelta(days=1)
    return days


def order_attribution(order_id: int) -> OrderAttribution | None:
    return (
        OrderAttribution.objects.select_related("sharer", "link").filter(order_id=order_id).first()
    )


def rewards_of_order(order_id: int) -> list[Reward]:
    return list(Reward.objects.select_related("beneficiary").filter(order_id=order_id))
