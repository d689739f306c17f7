"""The shop's interactions for training and evaluation: paid order lines,
browsing history, analytics product views and cart adds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

LOOKBACK_DAYS = 365
VIEW_LOOKBACK_DAYS = 90
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


@dataclass
class Interactions:
    """One row per (user, product, kind): user keys are strings ("m:12", "a:…")."""

    users: list[str]
    products: list[int]
    kinds: list[str]  # "view" | "cart" | "purchase"
    weights: list[float]
    ages_days: list[float]


def load_interactions(now: Any = None) -> Interactions:
    """Paid order lines, browsing history and the analytics product views and cart
    adds (member or anonymous id), deduplicated per (user, product, kind, day)."""
    from miniops.analytics.models import Event, VisitorAlias
    from miniops.members.models import BrowsingHistory
    from miniops.orders.models import OrderItem

    now = now or timezone.now()
    seen: set[tuple[str, int, str, Any]] = set()
    out = Interactions([], [], [], [], [])

    def add(user: str, product: int, kind: str, at: Any, weight: float | None = None) -> None:
        key = (user, product, kind, at.date())
        if key in seen:
            return
        seen.add(key)
        out.users.append(user)
        out.products.append(product)
        out.kinds.append(kind)
        out.weights.append(WEIGHTS[kind] if weight is None else weight)
        out.ages_days.append(max(0.0, (now - at).total_seconds() / 86400))

    for member_id, product_id, paid_at in (
        OrderItem.objects.filter(order__paid_at__gte=now - timedelta(days=LOOKBACK_DAYS))
        .values_list("order__member_id", "product_id", "order__paid_at")
        .iterator(chunk_size=5000)
    ):
        add(f"m:{member_id}", product_id, "purchase", paid_at)
    for member_id, product_id, viewed_at, views in (
        BrowsingHistory.objects.filter(viewed_at__gte=now - timedelta(days=VIEW_LOOKBACK_DAYS))
        .values_list("member_id", "product_id", "viewed_at", "views")
        .iterator(chunk_size=5000)
    ):
        add(f"m:{member_id}", product_id, "view", viewed_at, float(min(views, 5)))
    aliases = dict(VisitorAlias.objects.values_list("anonymous_id", "member_id"))
    for name, event_member, anonymous_id, props, ts in (
        Event.objects.filter(
            name__in=("product_view", "add_to_cart"),
            day__gte=(now - timedelta(days=VIEW_LOOKBACK_DAYS)).date(),
        )
        .values_list("name", "member_id", "anonymous_id", "properties", "ts")
        .iterator(chunk_size=5000)
    ):
        viewed = props.get("product_id") if isinstance(props, dict) else None
        if not isinstance(viewed, int) or isinstance(viewed, bool):
            continue
        member = event_member or aliases.get(anonymous_id)
        user = f"m:{member}" if member else f"a:{anonymous_id}"
        if user == "a:":
            continue
        add(user, viewed, "view" if name == "product_view" else "cart", ts)
    return out
