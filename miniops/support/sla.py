"""Business time: how much of a span falls inside a calendar's opening hours, in
the calendar's time zone, and the SLA clocks of a ticket (paused while pending)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from miniops.support.models import BusinessCalendar, SlaMetric, Ticket, TicketEvent, TicketState

WARNING_RATIO = 0.8


def business_seconds(
    start: dt.datetime, end: dt.datetime, calendar: BusinessCalendar | None
) -> float:
    """Seconds of ``[start, end)`` inside opening hours (all of it without a calendar)."""
    if end <= start:
        return 0.0
    if calendar is None:
        return (end - start).total_seconds()
    zone = ZoneInfo(calendar.time_zone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    holidays = {str(day) for day in calendar.holidays or []}
    weekdays = set(calendar.weekdays or [])
    total = 0.0
    day = local_start.date()
    while day <= local_end.date():
        if day.weekday() in weekdays and day.isoformat() not in holidays:
            opens = dt.datetime.combine(day, calendar.opens, tzinfo=zone)
            closes = dt.datetime.combine(day, calendar.closes, tzinfo=zone)
            lo, hi = max(opens, local_start), min(closes, local_end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += dt.timedelta(days=1)
    return total


def pending_spans(ticket: Ticket, events: list[TicketEvent], now: dt.datetime) -> list[tuple]:
    """The spans the ticket spent pending (its SLA clocks stop there)."""
    spans = []
    since: dt.datetime | None = None
    for event in events:
        if event.kind != TicketEvent.Kind.STATE:
            continue
        if event.to_state == TicketState.PENDING and since is None:
            since = event.at
        elif event.from_state == TicketState.PENDING and since is not None:
            spans.append((since, event.at))
            since = None
    if since is not None:
        spans.append((since, now))
    return spans


def elapsed(
    start: dt.datetime, end: dt.datetime, calendar: BusinessCalendar | None, paused: list[tuple]
) -> float:
    total = business_seconds(start, end, calendar)
    for lo, hi in paused:
        lo, hi = max(lo, start), min(hi, end)
        if hi > lo:
            total -= business_seconds(lo, hi, calendar)
    return max(0.0, total)


def clocks(ticket: Ticket, *, now: dt.datetime) -> dict[str, dict[str, Any]]:
    """For each metric the ticket's policy sets: the business seconds used, the
    target, the ratio, and whether it is still running."""
    policy = ticket.sla_policy
    if policy is None:
        return {}
    events = list(ticket.events.all())
    paused = pending_spans(ticket, events, now)
    calendar = policy.calendar
    result: dict[str, dict[str, Any]] = {}

    def clock(metric: str, start: dt.datetime | None, stop: dt.datetime | None, minutes: int):
        if start is None or not minutes:
            return
        used = elapsed(start, stop or now, calendar, paused)
        target = minutes * 60.0
        result[metric] = {
            "used": used,
            "target": target,
            "ratio": used / target,
            "running": stop is None,
            "cycle": start.isoformat(),
        }

    clock(
        SlaMetric.FIRST_RESPONSE,
        ticket.created_at,
        ticket.first_response_at,
        policy.first_response_minutes,
    )
    if ticket.first_response_at is not None and ticket.awaiting_since is not None:
        clock(SlaMetric.NEXT_RESPONSE, ticket.awaiting_since, None, policy.next_response_minutes)
    clock(SlaMetric.RESOLUTION, ticket.created_at, ticket.resolved_at, policy.resolution_minutes)
    return result
