"""A member's timeline and the real-time snapshot."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from miniops.analytics import realtime
from miniops.analytics.models import Event


# --- member timeline ------------------------------------------------------------------------
def member_timeline(member_id: int, *, limit: int = 50) -> list[Event]:
    """The member's latest events, those sent before they signed in included."""
    from miniops.analytics.models import VisitorAlias

    aliases = list(
        VisitorAlias.objects.filter(member_id=member_id).values_list("anonymous_id", flat=True)
    )
    condition = Q(member_id=member_id)
    if aliases:
        condition |= Q(member_id__isnull=True, anonymous_id__in=aliases)
    return list(Event.objects.filter(condition).order_by("-ts", "-id")[:limit])


# --- real time --------------------------------------------------------------------------------
def realtime_snapshot(minutes: int = 60) -> dict[str, Any]:
    now = realtime.current_minute()
    span = list(range(now - minutes + 1, now + 1))
    series = {metric: realtime.series(metric, span) for metric in realtime.METRICS}
    return {
        "minutes": span,
        "series": series,
        "totals": {metric: realtime.total(metric, span) for metric in realtime.METRICS},
        "top_pages": realtime.top_pages(span[-5:], limit=10),
    }
