"""Campaign results: treatment against the held-out control group.

Each delivery row is a unit (a member in one occurrence of the campaign), in the
group it was assigned when the campaign planned it. Outcomes are counted from the
row's creation over the campaign's attribution window (default 7 days):

* reached: the message was sent (or, for a coupon-only campaign, the coupon given);
* opened: an analytics event carrying the campaign's ``cid`` (``utm_campaign``);
* converted / orders / GMV: the member's paid orders in the window (GMV is paid
  minus refunded), whatever brought them — the comparison with the control group,
  who got nothing, is what isolates the campaign's effect;
* cost: the discount of the coupons this campaign issued that were used.

Incremental GMV per member is the difference of the two groups' means with
Welch's normal 95 % interval (``core.experiments.uplift``); incremental
conversion is the difference of proportions with the Wald interval
(``proportion_uplift``). Total incremental GMV is the per-member difference times
the treatment group's size; ROI is that divided by the cost.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.db.models import Sum

from miniops.core import experiments
from miniops.core.ledger import LedgerState
from miniops.notifications.models import Campaign, Delivery, Group


def _interval(result: experiments.Uplift, scale: float = 1.0) -> dict[str, Any]:
    return {
        "diff": result.diff * scale,
        "low": None if result.low is None else result.low * scale,
        "high": None if result.high is None else result.high * scale,
        "significant": result.significant,
        "method": result.method,
    }


def campaign_results(campaign: Campaign) -> dict[str, Any]:
    from miniops.analytics.models import Event
    from miniops.marketing.models import Coupon, CouponStatus
    from miniops.orders.models import Order

    window = timedelta(days=campaign.attribution_days)
    units = list(
        Delivery.objects.filter(campaign=campaign)
        .exclude(state=LedgerState.CANCELLED)
        .values("pk", "member_id", "group", "variant", "created_at", "state", "reason", "coupon_id")
    )
    groups: dict[str, dict[str, Any]] = {}
    empty = {"units": 0, "reached": 0, "opened": 0, "converted": 0, "orders": 0, "gmv": 0}
    if not units:
        return {
            "groups": {},
            "gmv": None,
            "conversion": None,
            "roi": None,
            "cost": 0,
            "variants": {},
        }
    start = min(u["created_at"] for u in units)
    end = max(u["created_at"] for u in units) + window
    member_ids = {u["member_id"] for u in units}
    orders: dict[int, list[tuple[Any, int]]] = defaultdict(list)
    for member_id, paid_at, paid, refunded in Order.objects.filter(
        member_id__in=member_ids, paid_at__gte=start, paid_at__lt=end
    ).values_list("member_id", "paid_at", "paid_amount", "refunded_amount"):
        orders[member_id].append((paid_at, int(paid or 0) - int(refunded or 0)))
    opens: dict[int, list[Any]] = defaultdict(list)
    for visitor, ts in Event.objects.filter(
        member_id__in=member_ids, utm_campaign=campaign.cid, ts__gte=start, ts__lt=end
    ).values_list("member_id", "ts"):
        if visitor is not None:
            opens[visitor].append(ts)
    values: dict[str, list[float]] = {Group.TREATMENT: [], Group.CONTROL: []}
    by_variant: dict[str, dict[str, Any]] = {}
    converted: dict[str, int] = defaultdict(int)
    for unit in units:
        lo, hi = unit["created_at"], unit["created_at"] + window
        mine = [amount for at, amount in orders.get(unit["member_id"], []) if lo <= at < hi]
        spent = sum(mine)
        stats = groups.setdefault(unit["group"], dict(empty))
        stats["units"] += 1
        reached = unit["state"] == LedgerState.DONE
        stats["reached"] += reached
        opened = any(lo <= ts < hi for ts in opens.get(unit["member_id"], []))
        stats["opened"] += opened
        stats["converted"] += bool(mine)
        stats["orders"] += len(mine)
        stats["gmv"] += spent
        values[unit["group"]].append(float(spent))
        converted[unit["group"]] += bool(mine)
        if unit["group"] == Group.TREATMENT and unit["variant"]:
            v = by_variant.setdefault(unit["variant"], dict(empty))
            v["units"] += 1
            v["reached"] += reached
            v["opened"] += opened
            v["converted"] += bool(mine)
            v["orders"] += len(mine)
            v["gmv"] += spent
    for stats in [*groups.values(), *by_variant.values()]:
        n = stats["units"] or 1
        stats["conversion"] = stats["converted"] / n
        stats["gmv_per_member"] = stats["gmv"] / n
    coupon_ids = [u["coupon_id"] for u in units if u["coupon_id"]]
    cost = (
        Coupon.objects.filter(pk__in=coupon_ids, status=CouponStatus.USED).aggregate(
            s=Sum("discount")
        )["s"]
        or 0
    )
    treated, control = values[Group.TREATMENT], values[Group.CONTROL]
    out: dict[str, Any] = {
        "groups": groups,
        "variants": by_variant,
        "cost": cost,
        "gmv": None,
        "incremental_gmv": None,
        "conversion": None,
        "roi": None,
        "window_days": campaign.attribution_days,
    }
    if treated and control:
        gmv = experiments.uplift(treated, control)
        out["gmv"] = _interval(gmv)
        out["incremental_gmv"] = _interval(gmv, scale=len(treated))
        out["conversion"] = _interval(
            experiments.proportion_uplift(
                converted[Group.TREATMENT], len(treated), converted[Group.CONTROL], len(control)
            )
        )
        out["roi"] = (gmv.diff * len(treated) / cost) if cost else None
    return out
