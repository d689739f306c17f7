"""Reads shared by the API, the consumers and the console."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from miniops.support.models import (
    AgentState,
    AgentStatus,
    Channel,
    Conversation,
    ConversationState,
    Message,
    QuickReply,
    SenderKind,
)

#: WeChat lets a mini-program answer a member who wrote from its contact button
#: within 48 hours of their last message, at most 5 times.
WECHAT_WINDOW = timedelta(hours=48)
WECHAT_REPLIES = 5
PAGE = 50


def message_dict(message: Message) -> dict[str, Any]:
    """A message as both sides see it (the wire format of docs/api.md)."""
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "seq": message.seq,
        "sender": message.sender,
        "agent": message.agent_id,
        "kind": message.kind,
        "text": message.text,
        "payload": message.payload,
        "client_id": message.client_id,
        "created_at": message.created_at.isoformat(),
    }


def messages_after(conversation_id: int, after: int, *, limit: int = PAGE) -> list[Message]:
    """Messages with ``seq > after``, oldest first (the resume and long-poll read)."""
    return list(
        Message.objects.filter(conversation_id=conversation_id, seq__gt=after).order_by("seq")[
            :limit
        ]
    )


def messages_before(
    conversation_id: int, before: int | None, *, limit: int = PAGE
) -> list[Message]:
    """One page of history going back from ``before`` (exclusive), oldest first."""
    query = Message.objects.filter(conversation_id=conversation_id)
    if before is not None:
        query = query.filter(seq__lt=before)
    return list(reversed(list(query.order_by("-seq")[:limit])))


def unread_for_member(conversation: Conversation) -> int:
    return (
        Message.objects.filter(conversation=conversation, seq__gt=conversation.member_read_seq)
        .exclude(sender=SenderKind.MEMBER)
        .count()
    )


def unread_for_agent(conversation: Conversation) -> int:
    return Message.objects.filter(
        conversation=conversation, seq__gt=conversation.agent_read_seq, sender=SenderKind.MEMBER
    ).count()


def active_conversation(member_id: int, channel: str = Channel.IN_APP) -> Conversation | None:
    return (
        Conversation.objects.filter(member_id=member_id, channel=channel)
        .exclude(state=ConversationState.CLOSED)
        .first()
    )


def member_conversations(member_id: int) -> QuerySet[Conversation]:
    return Conversation.objects.filter(member_id=member_id).order_by("-created_at", "-pk")


def agent_inbox(operator_id: int, *, supervisor: bool = False) -> QuerySet[Conversation]:
    """The agent's open conversations, then the waiting ones (oldest first)."""
    query = Q(assignee_id=operator_id, state=ConversationState.OPEN) | Q(
        state=ConversationState.WAITING
    )
    if supervisor:
        query |= Q(state=ConversationState.OPEN)
    return (
        Conversation.objects.filter(query)
        .select_related("member", "queue", "assignee", "order")
        .order_by("state", "waiting_since", "-last_message_at")
    )


def wechat_window(conversation: Conversation, *, now: datetime | None = None) -> dict[str, Any]:
    """What the composer shows for a WeChat contact-button conversation: until when
    and how many more replies may go out (``open`` False: none)."""
    if conversation.channel != Channel.WECHAT_KF:
        return {"applies": False, "open": True, "replies_left": None, "until": None}
    now = now or timezone.now()
    last = conversation.wx_last_member_at
    until = last + WECHAT_WINDOW if last else None
    left = max(0, WECHAT_REPLIES - conversation.wx_replies_used)
    is_open = bool(until and until > now and left > 0)
    return {
        "applies": True,
        "open": is_open,
        "replies_left": left if until and until > now else 0,
        "until": until.isoformat() if until else None,
    }


def quick_replies(operator_id: int, search: str = "") -> QuerySet[QuickReply]:
    query = QuickReply.objects.filter(Q(owner__isnull=True) | Q(owner_id=operator_id))
    if search:
        search = search.lstrip("/")
        query = query.filter(Q(shortcut__istartswith=search) | Q(title__icontains=search))
    return query.order_by("shortcut", "language", "pk")


def desk_counts() -> dict[str, Any]:
    waiting = Conversation.objects.filter(state=ConversationState.WAITING)
    per_queue = dict(waiting.values_list("queue__name").annotate(n=Count("pk")).order_by())
    online = AgentStatus.objects.filter(state=AgentState.ONLINE).count()
    return {"waiting": waiting.count(), "per_queue": per_queue, "agents_online": online}


def subscribe_offer(conversation: Conversation) -> dict[str, Any]:
    """Whether a subscribe message can reach the member instead of a chat reply:
    the push settings name a customer-service reply template (``configured``) and
    the member's consent allows a send of it now (``reachable``)."""
    from miniops.notifications import selectors as push
    from miniops.notifications.models import Consent

    template = push.push_settings().service_reply
    if template is None or not template.is_active:
        return {"configured": False, "reachable": False, "template": None}
    reachable = push.reachable_q(template) & Q(member_id=conversation.member_id)
    return {
        "configured": True,
        "reachable": Consent.objects.filter(reachable).exists(),
        "template": template.title,
    }
