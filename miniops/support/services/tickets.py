"""Tickets (complaints): create, assign, reply, move through their states, and
the SLA evaluation that warns at 80 % and escalates breaches."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import audit, events, ledger
from miniops.core.errors import IllegalTransition, InvalidInput, NotFound
from miniops.core.permissions import P, require, require_if_operator
from miniops.support import sla
from miniops.support.models import (
    Conversation,
    Priority,
    SlaEvent,
    SlaMetric,
    SlaPolicy,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketState,
)

#: The state machine: where each state may go.
TRANSITIONS: dict[str, set[str]] = {
    TicketState.OPEN: {TicketState.PENDING, TicketState.RESOLVED},
    TicketState.PENDING: {TicketState.OPEN, TicketState.RESOLVED},
    TicketState.RESOLVED: {TicketState.CLOSED, TicketState.OPEN},
    TicketState.CLOSED: {TicketState.OPEN},
}
MAX_IMAGES = 6


def reopen_days() -> int:
    return int(getattr(settings, "MINIOPS_SUPPORT_REOPEN_DAYS", 7))


def policy_for(category: str, priority: str) -> SlaPolicy | None:
    """The most specific active policy: category and priority, then either, then any."""
    candidates = SlaPolicy.objects.filter(active=True).filter(
        Q(category=category) | Q(category=""), Q(priority=priority) | Q(priority="")
    )
    return max(
        candidates,
        key=lambda p: (bool(p.category), bool(p.priority), -p.pk),
        default=None,
    )


def _clean(subject: str, description: str, images: list[Any], member_id: int) -> None:
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 120:
        raise InvalidInput(fields={"subject": _("A subject of at most 120 characters.")})
    if not isinstance(description, str) or len(description) > 2000:
        raise InvalidInput(fields={"description": _("At most 2000 characters.")})
    if not isinstance(images, list) or len(images) > MAX_IMAGES:
        raise InvalidInput(fields={"images": _("At most %d images.") % MAX_IMAGES})
    prefix = f"uploads/members/{member_id}/"
    for name in images:
        if not isinstance(name, str) or not name.startswith(prefix) or ".." in name:
            raise InvalidInput(fields={"images": _("Upload the images first.")})


def create_ticket(
    *,
    member: Any,
    category: str,
    subject: str,
    description: str = "",
    images: list[str] | None = None,
    priority: str = Priority.NORMAL,
    order_id: int | None = None,
    conversation_id: int | None = None,
    actor: Any = None,
) -> Ticket:
    """A ticket filed by the member (``actor`` None) or by an agent from a
    conversation or an order (``support.manage_tickets``)."""
    require_if_operator(actor, P.SUPPORT_MANAGE_TICKETS)
    if category not in TicketCategory.values:
        raise InvalidInput(fields={"category": _("Unknown category.")})
    if priority not in Priority.values:
        raise InvalidInput(fields={"priority": _("Unknown priority.")})
    images = images or []
    _clean(subject, description, images, member.pk)
    from miniops.orders.models import Order

    if order_id is not None and not Order.objects.filter(pk=order_id, member=member).exists():
        raise NotFound(_("No such order."), fields={"order_id": _("No such order.")})
    if (
        conversation_id is not None
        and not Conversation.objects.filter(pk=conversation_id, member=member).exists()
    ):
        raise NotFound(_("No such conversation."), fields={"conversation_id": _("Not found.")})
    with transaction.atomic(), audit.acting_as(actor):
        now = timezone.now()
        ticket = Ticket.objects.create(
            member=member,
            category=category,
            priority=priority,
            subject=subject.strip(),
            description=description.strip(),
            images=images,
            order_id=order_id,
            conversation_id=conversation_id,
            created_by=actor,
            sla_policy=policy_for(category, priority),
            created_at=now,
            awaiting_since=now,
        )
        TicketEvent.objects.create(
            ticket=ticket,
            kind=TicketEvent.Kind.CREATED,
            to_state=ticket.state,
            actor=actor,
            by_member=actor is None,
            text=ticket.subject,
            at=now,
        )
        events.notify_operators(
            {"type": "support.ticket", "ticket": ticket.pk, "subject": ticket.subject}
        )
        return ticket


def _locked(ticket_id: int) -> Ticket:
    try:
        return Ticket.objects.select_for_update().get(pk=ticket_id)
    except Ticket.DoesNotExist as exc:
        raise NotFound(_("No such ticket.")) from exc


def _move(ticket: Ticket, to: str, *, actor: Any, by_member: bool = False, text: str = "") -> None:
    if to not in TRANSITIONS.get(ticket.state, set()):
        raise IllegalTransition(
            _("A ticket cannot go from %(a)s to %(b)s.")
            % {"a": ticket.get_state_display(), "b": TicketState(to).label}
        )
    now = timezone.now()
    if to == TicketState.OPEN and ticket.state in (TicketState.RESOLVED, TicketState.CLOSED):
        since = ticket.resolved_at or ticket.closed_at
        if since and since < now - timedelta(days=reopen_days()):
            raise IllegalTransition(
                _("Tickets can be reopened within %(n)d days.") % {"n": reopen_days()}
            )
        ticket.reopened += 1
        ticket.resolved_at = None
        ticket.closed_at = None
        ticket.awaiting_since = now
    if to == TicketState.RESOLVED:
        ticket.resolved_at = now
        ticket.awaiting_since = None
    if to == TicketState.CLOSED:
        ticket.closed_at = now
    before = ticket.state
    ticket.state = to
    ticket.save()
    TicketEvent.objects.create(
        ticket=ticket,
        kind=TicketEvent.Kind.STATE,
        from_state=before,
        to_state=to,
        actor=actor,
        by_member=by_member,
        text=text,
        at=now,
    )


def change_ticket_state(*, actor: Any, ticket_id: int, to: str, note: str = "") -> Ticket:
    require(actor, P.SUPPORT_MANAGE_TICKETS)
    if to not in TicketState.values:
        raise InvalidInput(fields={"to": _("Unknown state.")})
    with transaction.atomic(), audit.acting_as(actor):
        ticket = _locked(ticket_id)
        _move(ticket, to, actor=actor, text=note[:500])
        return ticket


def assign_ticket(*, actor: Any, ticket_id: int, assignee: Any) -> Ticket:
    require(actor, P.SUPPORT_MANAGE_TICKETS)
    if assignee is not None and not assignee.has_permission(P.SUPPORT_MANAGE_TICKETS):
        raise InvalidInput(fields={"assignee": _("This operator does not handle tickets.")})
    with transaction.atomic(), audit.acting_as(actor):
        ticket = _locked(ticket_id)
        ticket.assignee = assignee
        ticket.save()
        TicketEvent.objects.create(
            ticket=ticket,
            kind=TicketEvent.Kind.ASSIGNED,
            actor=actor,
            text=str(assignee or ""),
        )
        if assignee is not None:
            events.notify_operators(
                {"type": "support.ticket", "ticket": ticket.pk, "subject": ticket.subject},
                operator_id=assignee.pk,
            )
        return ticket


def reply_to_ticket(
    *,
    ticket_id: int,
    text: str,
    actor: Any = None,
    member: Any = None,
    internal: bool = False,
    pending: bool = False,
) -> TicketEvent:
    """An agent's reply (stops the response clocks; ``pending`` waits for the
    member), an internal note, or the member's follow-up (starts the next-response
    clock; reopens a resolved ticket within the reopen window)."""
    if not isinstance(text, str) or not text.strip() or len(text) > 2000:
        raise InvalidInput(fields={"text": _("Write at most 2000 characters.")})
    with transaction.atomic(), audit.acting_as(actor):
        ticket = _locked(ticket_id)
        now = timezone.now()
        if member is not None:
            if ticket.member_id != member.pk:
                raise NotFound(_("No such ticket."))
            if ticket.state == TicketState.CLOSED:
                raise IllegalTransition(_("This ticket is closed."))
            if ticket.state in (TicketState.PENDING, TicketState.RESOLVED):
                _move(ticket, TicketState.OPEN, actor=None, by_member=True)
            ticket.awaiting_since = ticket.awaiting_since or now
            ticket.save()
            return TicketEvent.objects.create(
                ticket=ticket, kind=TicketEvent.Kind.MEMBER, by_member=True, text=text.strip()
            )
        require(actor, P.SUPPORT_MANAGE_TICKETS)
        if ticket.state == TicketState.CLOSED:
            raise IllegalTransition(_("This ticket is closed."))
        kind = TicketEvent.Kind.NOTE if internal else TicketEvent.Kind.REPLY
        event = TicketEvent.objects.create(ticket=ticket, kind=kind, actor=actor, text=text.strip())
        if not internal:
            ticket.first_response_at = ticket.first_response_at or now
            ticket.awaiting_since = None
            ticket.last_reply_at = now
            ticket.save()
            if pending and ticket.state == TicketState.OPEN:
                _move(ticket, TicketState.PENDING, actor=actor)
        return event


# --- SLA ---------------------------------------------------------------------------------
def _team_leads() -> list[int]:
    from miniops.accounts.models import Operator

    return [
        op.pk
        for op in Operator.objects.filter(is_active=True).prefetch_related("roles")
        if op.has_permission(P.SUPPORT_SUPERVISE)
    ]


def _tell(row: SlaEvent) -> ledger.Outcome:
    ticket = row.ticket
    names = {"ticket": ticket.pk, "subject": ticket.subject, "metric": SlaMetric(row.metric).label}
    if row.level == SlaEvent.Level.WARNING:
        message = _(
            "SLA warning: ticket #%(ticket)s “%(subject)s” has used 80%% of its %(metric)s target."
        )
    else:
        message = _("SLA breached: ticket #%(ticket)s “%(subject)s” is past its %(metric)s target.")
    payload = {
        "type": "support.sla",
        "level": row.level,
        "metric": row.metric,
        "ticket": ticket.pk,
        "subject": ticket.subject,
        "message": message % names,
    }
    if row.level == SlaEvent.Level.WARNING:
        targets = [ticket.assignee_id] if ticket.assignee_id else _team_leads()
    else:
        leads = set(_team_leads())
        if ticket.assignee_id:
            leads.add(ticket.assignee_id)
        targets = sorted(leads)
        events.track(
            "support_sla_breached",
            member_id=ticket.member_id,
            properties={"ticket": ticket.pk, "metric": row.metric},
        )
    with transaction.atomic():
        for operator_id in targets:
            events.notify_operators(payload, operator_id=operator_id)
    return ledger.Outcome(reason="told", detail=f"{len(targets)} operators")


def evaluate_slas(*, now: datetime | None = None) -> dict[str, int]:
    """Find tickets at 80 % or past a target (one ledger row per ticket, metric,
    cycle and level, so each is told once), then tell the assignee (warning) or the
    team leads (breach)."""
    now = now or timezone.now()
    found = 0
    live = (
        Ticket.objects.filter(
            state__in=[TicketState.OPEN, TicketState.PENDING], sla_policy__isnull=False
        )
        .select_related("sla_policy__calendar")
        .prefetch_related("events")
    )
    for ticket in live.iterator(chunk_size=200):
        for metric, clock in sla.clocks(ticket, now=now).items():
            if not clock["running"] or ticket.state == TicketState.PENDING:
                continue
            levels = []
            if clock["ratio"] >= sla.WARNING_RATIO:
                levels.append(SlaEvent.Level.WARNING)
            if clock["ratio"] >= 1.0:
                levels.append(SlaEvent.Level.BREACH)
            for level in levels:
                key = f"sla:{ticket.pk}:{metric}:{clock['cycle']}:{level}"
                ledger.enqueue(SlaEvent, key=key, ticket=ticket, metric=metric, level=level)
                found += 1
    result = ledger.process(SlaEvent.objects.select_related("ticket"), _tell, limit=200)
    return {"checked": found, "told": result.done}
