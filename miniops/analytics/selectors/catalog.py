"""What the data holds: the event names seen and the properties they carry, for
pickers (the funnel builder picks its steps from these)."""

from __future__ import annotations

from datetime import timedelta

from miniops.analytics.models import Event, EventDay
from miniops.analytics.selectors.funnels import FILTER_COLUMNS
from miniops.core.timeutils import local_date

#: how many recent events are read to learn the property names
PROPERTY_SAMPLE = 2000


def event_names() -> list[str]:
    """Every event name seen: the day rollups (all days) plus the raw events of
    today and yesterday, which the rollups may not hold yet; sorted."""
    recent = local_date() - timedelta(days=1)
    names = set(EventDay.objects.values_list("name", flat=True).distinct())
    names |= set(Event.objects.filter(day__gte=recent).values_list("name", flat=True).distinct())
    return sorted(names)


def event_properties() -> list[str]:
    """Property names a step filter can use: the event columns, then the JSON
    properties of the latest events (a sample), sorted."""
    keys: set[str] = set()
    for properties in (
        Event.objects.exclude(properties={})
        .order_by("-id")
        .values_list("properties", flat=True)[:PROPERTY_SAMPLE]
    ):
        if isinstance(properties, dict):
            keys.update(str(key) for key in properties if str(key).isidentifier())
    return sorted(FILTER_COLUMNS - {"session_id"}) + sorted(keys - FILTER_COLUMNS)
