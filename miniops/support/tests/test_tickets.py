"""Tickets: the state machine, reopen window, SLA clocks with business hours and
pauses, 80 % warnings and breaches told once."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from miniops.core import events
from miniops.core.errors import Forbidden, IllegalTransition, InvalidInput, NotFound
from miniops.support import services, sla
from miniops.support.models import (
    BusinessCalendar,
    SlaEvent,
    SlaPolicy,
    Ticket,
    TicketEvent,
    TicketState,
)
from miniops.testing import factories

pytestmark = pytest.mark.django_db(transaction=True)
SH = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=SH)


def test_business_seconds_count_only_opening_hours_in_the_calendar_zone() -> None:
    cal = BusinessCalendar(
        name="c",
        weekdays=[0, 1, 2, 3, 4],
        opens=dt.time(9),
        closes=dt.time(18),
        holidays=["2026-12-02"],
    )
    # Friday 17:00 -> Monday 10:00 (Shanghai): 1 h Friday + 1 h Monday
    assert sla.business_seconds(at(2026, 12, 4, 17), at(2026, 12, 7, 10), cal) == 2 * 3600
    # a holiday counts nothing
    assert sla.business_seconds(at(2026, 12, 2, 8), at(2026, 12, 2, 20), cal) == 0
    # no calendar: wall-clock time
    assert sla.business_seconds(at(2026, 12, 2, 8), at(2026, 12, 2, 9), None) == 3600
    # UTC inputs are read in the calendar's zone (01:00 UTC = 09:00 Shanghai)
    utc = dt.UTC
    assert (
        sla.business_seconds(
            dt.datetime(2026, 12, 3, 1, tzinfo=utc), dt.datetime(2026, 12, 3, 2, tzinfo=utc), cal
        )
        == 3600
    )


def test_state_machine_and_reopen_window() -> None:
    agent = factories.operator_with_role("customer_service")
    ticket = factories.ticket()
    with pytest.raises(IllegalTransition):
        services.change_ticket_state(actor=agent, ticket_id=ticket.pk, to=TicketState.CLOSED)
    services.change_ticket_state(actor=agent, ticket_id=ticket.pk, to=TicketState.PENDING)
    services.change_ticket_state(actor=agent, ticket_id=ticket.pk, to=TicketState.RESOLVED)
    services.change_ticket_state(actor=agent, ticket_id=ticket.pk, to=TicketState.OPEN)
    ticket.refresh_from_db()
    assert ticket.reopened == 1
    services.change_ticket_state(actor=agent, ticket_id=ticket.pk, to=TicketState.RESOLVED)
    Ticket.objects.filter(pk=ticket.pk).update(resolved_at=timezone.now() - timedelta(days=8))
    with pytest.raises(IllegalTransition):
        services.change_ticket_state(actor=agent, ticket_id=ticket.pk, to=TicketState.OPEN)
    analyst = factories.operator_with_role("analyst")
    with pytest.raises(Forbidden):
        services.change_ticket_state(actor=analyst, ticket_id=ticket.pk, to=TicketState.CLOSED)
    states = list(
        TicketEvent.objects.filter(ticket=ticket, kind="state").values_list("to_state", flat=True)
    )
    assert states == ["pending", "resolved", "open", "resolved"]


def test_member_follow_up_reopens_a_pending_ticket_and_bad_input_is_refused() -> None:
    member = factories.member()
    agent = factories.operator_with_role("customer_service")
    ticket = factories.ticket(member=member)
    services.reply_to_ticket(actor=agent, ticket_id=ticket.pk, text="请提供照片", pending=True)
    ticket.refresh_from_db()
    assert ticket.state == TicketState.PENDING
    assert ticket.first_response_at is not None
    services.reply_to_ticket(member=member, ticket_id=ticket.pk, text="照片已上传")
    ticket.refresh_from_db()
    assert ticket.state == TicketState.OPEN
    assert ticket.awaiting_since is not None
    with pytest.raises(NotFound):
        services.reply_to_ticket(member=factories.member(), ticket_id=ticket.pk, text="x")
    with pytest.raises(InvalidInput):
        factories.ticket(member=member, images=["uploads/members/999/x.jpg"])
    with pytest.raises(NotFound):
        factories.ticket(member=member, order_id=factories.order().pk)


def test_sla_clocks_pause_while_pending_and_warn_then_breach_once() -> None:
    told: list[tuple[dict, int | None]] = []

    def publisher(payload: dict, operator_id: int | None) -> None:
        told.append((payload, operator_id))

    events.register_notice_publisher(publisher)
    try:
        lead = factories.operator_with_role("ops_manager")
        agent = factories.operator_with_role("customer_service")
        SlaPolicy.objects.create(
            name="fast", first_response_minutes=60, next_response_minutes=60, resolution_minutes=600
        )
        ticket = factories.ticket()
        services.assign_ticket(actor=lead, ticket_id=ticket.pk, assignee=agent)
        created = timezone.now() - timedelta(minutes=50)
        Ticket.objects.filter(pk=ticket.pk).update(created_at=created)
        told.clear()
        services.evaluate_slas()
        warnings = [p for p, _op in told if p["type"] == "support.sla"]
        assert [(p["level"], p["metric"]) for p in warnings] == [("warning", "first_response")]
        assert told[0][1] == agent.pk
        # evaluated again: told nothing new
        told.clear()
        services.evaluate_slas()
        assert told == []
        # 70 minutes in: breached, the team lead hears it
        Ticket.objects.filter(pk=ticket.pk).update(
            created_at=timezone.now() - timedelta(minutes=70)
        )
        TicketEvent.objects.filter(ticket=ticket).update(at=timezone.now() - timedelta(minutes=70))
        services.evaluate_slas()
        breach = [(p, op) for p, op in told if p.get("level") == "breach"]
        assert {op for _p, op in breach} >= {lead.pk, agent.pk}
        assert SlaEvent.objects.filter(ticket=ticket, level="breach").count() == 1
    finally:
        events.unregister_notice_publisher(publisher)


def test_pending_time_does_not_count() -> None:
    SlaPolicy.objects.create(
        name="p", first_response_minutes=60, next_response_minutes=60, resolution_minutes=120
    )
    ticket = factories.ticket()
    now = timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(created_at=now - timedelta(minutes=100))
    TicketEvent.objects.create(
        ticket=ticket,
        kind="state",
        from_state="open",
        to_state="pending",
        at=now - timedelta(minutes=90),
    )
    TicketEvent.objects.create(
        ticket=ticket,
        kind="state",
        from_state="pending",
        to_state="open",
        at=now - timedelta(minutes=30),
    )
    ticket.refresh_from_db()
    clocks = sla.clocks(ticket, now=now)
    # 100 minutes since creation, 60 of them pending: 40 used
    assert abs(clocks["resolution"]["used"] - 40 * 60) < 5
