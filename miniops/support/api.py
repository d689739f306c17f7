"""Client API (members) and management API for customer service.

The WebSocket (``/ws/support/member/``) is the main transport; these operations
are its HTTP fallback — send by POST, receive by long-poll with ``after`` — plus
tickets, ratings and the one-use socket ticket.
"""

import time
from datetime import datetime
from typing import Any, Literal

from django.db import close_old_connections
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from ninja.responses import Status

from miniops.accounts.apiauth import requires
from miniops.core.errors import NotFound
from miniops.core.openapi import errors
from miniops.core.pagination import Mapped, Pagination
from miniops.core.permissions import P
from miniops.core.schemas import ID, Id, StrictIn
from miniops.members.apiauth import me_of, member
from miniops.support import selectors, services
from miniops.support.consumers import TICKET_SECONDS, issue_ticket
from miniops.support.models import Conversation, Ticket, TicketEvent

router = Router(tags=["customer service"])
manage_router = Router(tags=["management: customer service"])

LONG_POLL_MAX = 25


class ConversationOut(Schema):
    id: int
    state: str
    channel: str
    queue: str
    order_id: int | None
    product_id: int | None
    last_seq: int
    agent_read_seq: int
    unread: int
    created_at: datetime
    closed_at: datetime | None


def _conversation(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.pk,
        "state": c.state,
        "channel": c.channel,
        "queue": c.queue.code,
        "order_id": c.order_id,
        "product_id": c.product_id,
        "last_seq": c.last_seq,
        "agent_read_seq": c.agent_read_seq,
        "unread": selectors.unread_for_member(c),
        "created_at": c.created_at,
        "closed_at": c.closed_at,
    }


class OpenIn(StrictIn):
    queue: str | None = Field(None, max_length=32, description="a queue code; default queue")
    order_id: Id | None = Field(None, description="one of the member's orders")
    product_id: Id | None = None


class MessageOut(Schema):
    id: int
    conversation: int
    seq: int = Field(description="1, 2, 3… within the conversation; resume with after=seq")
    sender: str
    agent: int | None
    kind: str
    text: str
    payload: dict[str, Any]
    client_id: str
    created_at: str


class MessagesOut(Schema):
    items: list[MessageOut]
    last_seq: int


class SendIn(StrictIn):
    kind: Literal["text", "image", "product", "order"] = "text"
    text: str = Field("", max_length=2000)
    client_id: str = Field(
        "", max_length=64, description="the client's id: a resend is stored once"
    )
    image: str | None = Field(None, max_length=255, description="name from /after-sales/images")
    order_id: Id | None = None
    product_id: Id | None = None


class ReadIn(StrictIn):
    seq: int = Field(..., ge=0, le=2**31 - 1)


class RateIn(StrictIn):
    rating: int = Field(..., ge=1, le=5)
    comment: str = Field("", max_length=200)


class WsTicketOut(Schema):
    ticket: str
    expires_in: int


def _mine(request: HttpRequest, conversation_id: int) -> Conversation:
    found = (
        Conversation.objects.select_related("queue")
        .filter(pk=conversation_id, member=me_of(request))
        .first()
    )
    if found is None:
        raise NotFound()
    return found


@router.post(
    "/support/conversations",
    response={200: ConversationOut, **errors(404)},
    auth=member(),
    summary="Open or resume the member's conversation",
)
def open_conversation(request: HttpRequest, payload: OpenIn) -> dict[str, Any]:
    conversation = services.open_conversation(
        member=me_of(request),
        queue=payload.queue,
        order_id=payload.order_id,
        product_id=payload.product_id,
    )
    return _conversation(Conversation.objects.select_related("queue").get(pk=conversation.pk))


@router.get("/support/conversations", response=list[ConversationOut], auth=member())
@paginate(Pagination)
def my_conversations(request: HttpRequest) -> Any:
    query = selectors.member_conversations(me_of(request).pk).select_related("queue")
    return Mapped(query, _conversation)


@router.get(
    "/support/conversations/{conversation_id}/messages",
    response={200: MessagesOut},
    auth=member(),
    summary="History by cursor, or long-poll for what follows a seq",
)
def messages(
    request: HttpRequest,
    conversation_id: int = ID,
    after: int | None = Query(None, ge=0, le=2**31 - 1, description="seq already seen"),
    before: int | None = Query(None, ge=1, le=2**31 - 1, description="page back from seq"),
    wait: int = Query(0, ge=0, le=LONG_POLL_MAX, description="seconds to wait for news"),
    limit: int = Query(50, ge=1, le=200),
) -> dict[str, Any]:
    """With ``after``: messages after that seq, oldest first; with ``wait`` the call
    holds until one arrives or the seconds pass (the long-poll fallback). Without
    it: the page of history before ``before`` (or the latest)."""
    conversation = _mine(request, conversation_id)
    if after is None:
        rows = selectors.messages_before(conversation.pk, before, limit=limit)
    else:
        deadline = time.monotonic() + wait
        rows = selectors.messages_after(conversation.pk, after, limit=limit)
        while not rows and time.monotonic() < deadline:
            time.sleep(0.25)
            close_old_connections()
            rows = selectors.messages_after(conversation.pk, after, limit=limit)
    last = Conversation.objects.filter(pk=conversation.pk).values_list("last_seq", flat=True)
    return {"items": [selectors.message_dict(m) for m in rows], "last_seq": last.first() or 0}


@router.post(
    "/support/conversations/{conversation_id}/messages",
    response={201: MessageOut, 200: MessageOut, **errors(404, 409)},
    auth=member(),
    summary="Send a message (201; 200 when the client_id was stored already)",
)
def send(request: HttpRequest, payload: SendIn, conversation_id: int = ID) -> Status[Any]:
    card: dict[str, Any] = {}
    for key in ("image", "order_id", "product_id"):
        if getattr(payload, key) is not None:
            card[key] = getattr(payload, key)
    result = services.send_member_message(
        member=me_of(request),
        conversation_id=conversation_id,
        kind=payload.kind,
        text=payload.text,
        payload=card,
        client_id=payload.client_id,
    )
    return Status(201 if result.created else 200, selectors.message_dict(result.message))


@router.post(
    "/support/conversations/{conversation_id}/read",
    response={204: None, **errors(404)},
    auth=member(),
    summary="Mark messages read up to seq",
)
def read(request: HttpRequest, payload: ReadIn, conversation_id: int = ID) -> Status[None]:
    services.mark_read(member=me_of(request), conversation_id=conversation_id, seq=payload.seq)
    return Status(204, None)


@router.post(
    "/support/conversations/{conversation_id}/close",
    response={200: ConversationOut, **errors(404, 409)},
    auth=member(),
)
def close(request: HttpRequest, conversation_id: int = ID) -> dict[str, Any]:
    services.close(member=me_of(request), conversation_id=conversation_id)
    return _conversation(_mine(request, conversation_id))


@router.post(
    "/support/conversations/{conversation_id}/rating",
    response={201: None, **errors(404, 409)},
    auth=member(),
    summary="Rate a closed conversation (CSAT), once",
)
def rate(request: HttpRequest, payload: RateIn, conversation_id: int = ID) -> Status[None]:
    services.rate(
        member=me_of(request),
        conversation_id=conversation_id,
        rating=payload.rating,
        comment=payload.comment,
    )
    return Status(201, None)


@router.post(
    "/support/ws-ticket",
    response={200: WsTicketOut},
    auth=member(),
    summary="A one-use ticket for /ws/support/member/?ticket=",
)
def ws_ticket(request: HttpRequest) -> dict[str, Any]:
    return {"ticket": issue_ticket(me_of(request).pk), "expires_in": TICKET_SECONDS}


# --- tickets ------------------------------------------------------------------------------
class TicketIn(StrictIn):
    category: Literal["complaint", "refund", "delivery", "product", "account", "other"]
    subject: str = Field(..., min_length=1, max_length=120)
    description: str = Field("", max_length=2000)
    images: list[str] = Field(default_factory=list, max_length=6)
    order_id: Id | None = None
    conversation_id: Id | None = None


class TicketEventOut(Schema):
    kind: str
    text: str
    by_member: bool
    to_state: str
    at: datetime


class TicketOut(Schema):
    id: int
    category: str
    priority: str
    subject: str
    description: str
    images: list[str]
    state: str
    order_id: int | None
    conversation_id: int | None
    created_at: datetime
    resolved_at: datetime | None
    events: list[TicketEventOut]


class TicketCommentIn(StrictIn):
    text: str = Field(..., min_length=1, max_length=2000)


def _ticket(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.pk,
        "category": t.category,
        "priority": t.priority,
        "subject": t.subject,
        "description": t.description,
        "images": t.images,
        "state": t.state,
        "order_id": t.order_id,
        "conversation_id": t.conversation_id,
        "created_at": t.created_at,
        "resolved_at": t.resolved_at,
        "events": [
            {
                "kind": e.kind,
                "text": e.text,
                "by_member": e.by_member,
                "to_state": e.to_state,
                "at": e.at,
            }
            for e in t.events.all()
            if e.kind != TicketEvent.Kind.NOTE
        ],
    }


def _my_ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    found = Ticket.objects.filter(pk=ticket_id, member=me_of(request)).first()
    if found is None:
        raise NotFound()
    return found


@router.post(
    "/support/tickets",
    response={201: TicketOut, **errors(404)},
    auth=member(),
    summary="File a complaint or ticket",
)
def file_ticket(request: HttpRequest, payload: TicketIn) -> Status[Any]:
    ticket = services.create_ticket(
        member=me_of(request),
        category=payload.category,
        subject=payload.subject,
        description=payload.description,
        images=payload.images,
        order_id=payload.order_id,
        conversation_id=payload.conversation_id,
    )
    return Status(201, _ticket(ticket))


@router.get("/support/tickets", response=list[TicketOut], auth=member())
@paginate(Pagination)
def my_tickets(request: HttpRequest) -> Any:
    query = Ticket.objects.filter(member=me_of(request)).prefetch_related("events")
    return Mapped(query, _ticket)


@router.get("/support/tickets/{ticket_id}", response={200: TicketOut}, auth=member())
def my_ticket(request: HttpRequest, ticket_id: int = ID) -> dict[str, Any]:
    return _ticket(_my_ticket(request, ticket_id))


@router.post(
    "/support/tickets/{ticket_id}/comments",
    response={200: TicketOut, **errors(409)},
    auth=member(),
    summary="Add to the ticket (reopens a resolved one within the reopen window)",
)
def comment(request: HttpRequest, payload: TicketCommentIn, ticket_id: int = ID) -> dict[str, Any]:
    ticket = _my_ticket(request, ticket_id)
    services.reply_to_ticket(ticket_id=ticket.pk, text=payload.text, member=me_of(request))
    return _ticket(Ticket.objects.get(pk=ticket.pk))


# --- management ---------------------------------------------------------------------------
class ManageConversationOut(Schema):
    id: int
    member_id: int
    state: str
    channel: str
    queue: str
    assignee_id: int | None
    order_id: int | None
    last_seq: int
    created_at: datetime
    first_reply_at: datetime | None
    closed_at: datetime | None


@manage_router.get(
    "/support/conversations",
    response=list[ManageConversationOut],
    auth=requires(P.SUPPORT_VIEW),
)
@paginate(Pagination)
def manage_conversations(
    request: HttpRequest,
    state: Literal["waiting", "open", "closed"] | None = None,
) -> Any:
    query = Conversation.objects.select_related("queue").order_by("-created_at", "-pk")
    if state:
        query = query.filter(state=state)
    return Mapped(
        query,
        lambda c: {
            "id": c.pk,
            "member_id": c.member_id,
            "state": c.state,
            "channel": c.channel,
            "queue": c.queue.code,
            "assignee_id": c.assignee_id,
            "order_id": c.order_id,
            "last_seq": c.last_seq,
            "created_at": c.created_at,
            "first_reply_at": c.first_reply_at,
            "closed_at": c.closed_at,
        },
    )


class ManageTicketOut(Schema):
    id: int
    member_id: int
    category: str
    priority: str
    subject: str
    state: str
    assignee_id: int | None
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None


@manage_router.get(
    "/support/tickets", response=list[ManageTicketOut], auth=requires(P.SUPPORT_VIEW)
)
@paginate(Pagination)
def manage_tickets(
    request: HttpRequest,
    state: Literal["open", "pending", "resolved", "closed"] | None = None,
) -> Any:
    query = Ticket.objects.order_by("-created_at", "-pk")
    if state:
        query = query.filter(state=state)
    return Mapped(
        query,
        lambda t: {
            "id": t.pk,
            "member_id": t.member_id,
            "category": t.category,
            "priority": t.priority,
            "subject": t.subject,
            "state": t.state,
            "assignee_id": t.assignee_id,
            "created_at": t.created_at,
            "first_response_at": t.first_response_at,
            "resolved_at": t.resolved_at,
        },
    )
