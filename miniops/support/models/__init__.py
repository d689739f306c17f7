"""Customer service: conversations between members and agents, and tickets with SLAs."""

from auditlog.registry import auditlog

from miniops.support.models.conversations import (
    AgentState,
    AgentStatus,
    Channel,
    Conversation,
    ConversationState,
    Csat,
    Handoff,
    HandoffKind,
    InternalNote,
    Message,
    MessageKind,
    Queue,
    QuickReply,
    SenderKind,
)
from miniops.support.models.tickets import (
    BusinessCalendar,
    Priority,
    SlaEvent,
    SlaMetric,
    SlaPolicy,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketState,
)

__all__ = [
    "AgentState",
    "AgentStatus",
    "BusinessCalendar",
    "Channel",
    "Conversation",
    "ConversationState",
    "Csat",
    "Handoff",
    "HandoffKind",
    "InternalNote",
    "Message",
    "MessageKind",
    "Priority",
    "Queue",
    "QuickReply",
    "SenderKind",
    "SlaEvent",
    "SlaMetric",
    "SlaPolicy",
    "Ticket",
    "TicketCategory",
    "TicketEvent",
    "TicketState",
]

auditlog.register(Queue)
auditlog.register(AgentStatus, exclude_fields=["load", "last_seen_at", "last_assigned_at"])
auditlog.register(QuickReply)
auditlog.register(BusinessCalendar)
auditlog.register(SlaPolicy)
auditlog.register(
    Ticket,
    exclude_fields=["first_response_at", "awaiting_since", "last_reply_at", "updated_at"],
)
