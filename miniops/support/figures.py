"""Service figures by business day: first-response and resolution times, SLA
attainment, CSAT, and the backlog per agent and per queue."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from statistics import mean
from typing import Any

from django.db.models import Count

from miniops.core.timeutils import local_date, range_bounds
from miniops.support.models import Conversation, ConversationState, Csat, SlaEvent, Ticket


def _minutes(seconds: list[float]) -> float | None:
    return round(mean(seconds) / 60, 1) if seconds else None


def daily(first: date, last: date) -> list[dict[str, Any]]:
    start, end = range_bounds(first, last)
    days: dict[date, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for c in Conversation.objects.filter(created_at__gte=start, created_at__lt=end).only(
        "created_at", "first_reply_at"
    ):
        day = days[local_date(c.created_at)]
        day["conversations"].append(1)
        if c.first_reply_at:
            day["conv_frt"].append((c.first_reply_at - c.created_at).total_seconds())
    breached = set(
        SlaEvent.objects.filter(level=SlaEvent.Level.BREACH).values_list("ticket_id", flat=True)
    )
    for t in Ticket.objects.filter(created_at__gte=start, created_at__lt=end).only(
        "created_at", "first_response_at", "resolved_at", "sla_policy"
    ):
        day = days[local_date(t.created_at)]
        day["tickets"].append(1)
        if t.first_response_at:
            day["ticket_frt"].append((t.first_response_at - t.created_at).total_seconds())
        if t.resolved_at:
            day["resolution"].append((t.resolved_at - t.created_at).total_seconds())
        if t.sla_policy_id:
            day["sla"].append(0 if t.pk in breached else 1)
    for r in Csat.objects.filter(created_at__gte=start, created_at__lt=end).only(
        "created_at", "rating"
    ):
        days[local_date(r.created_at)]["csat"].append(r.rating)
    rows = []
    current = first
    while current <= last:
        d: dict[str, list[Any]] = days.get(current) or {}
        csat = d.get("csat", [])
        sla = d.get("sla", [])
        rows.append(
            {
                "day": current,
                "conversations": len(d.get("conversations", [])),
                "first_response_minutes": _minutes(d.get("conv_frt", [])),
                "tickets": len(d.get("tickets", [])),
                "ticket_first_response_minutes": _minutes(d.get("ticket_frt", [])),
                "resolution_minutes": _minutes(d.get("resolution", [])),
                "sla_attainment": round(100 * sum(sla) / len(sla), 1) if sla else None,
                "csat_average": round(mean(csat), 2) if csat else None,
                "csat_satisfied": round(100 * sum(1 for x in csat if x >= 4) / len(csat), 1)
                if csat
                else None,
            }
        )
        current += timedelta(days=1)
    return rows


def backlog() -> dict[str, list[tuple[str, int]]]:
    live = Conversation.objects.exclude(state=ConversationState.CLOSED)
    per_agent = (
        live.filter(state=ConversationState.OPEN)
        .values_list("assignee__username")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )
    per_queue = live.values_list("queue__name").annotate(n=Count("pk")).order_by("-n")
    tickets = (
        Ticket.objects.filter(state__in=["open", "pending"])
        .values_list("assignee__username")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )
    return {
        "agents": [(name or "—", n) for name, n in per_agent],
        "queues": [(name, n) for name, n in per_queue],
        "tickets": [(name or "—", n) for name, n in tickets],
    }


def last_days(n: int = 7) -> tuple[date, date]:
    today = local_date()
    return today - timedelta(days=n - 1), today
