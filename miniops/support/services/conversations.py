"""Conversations: open, send, read, assign, claim, transfer, note, close, reopen, rate.

Every message is written under a lock of its conversation row, numbered
``last_seq + 1``, and published to the channel layer only after the transaction
commits. A resend with a ``client_id`` already stored answers the stored message.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import audit
from miniops.core.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceUnavailable
from miniops.core.permissions import P, require
from miniops.core.wechat import PlatformError
from miniops.support import realtime, selectors
from miniops.support.models import (
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
from miniops.support.providers import WindowClosed, customer_service

MAX_TEXT = 2000
MAX_CLIENT_ID = 64
MEMBER_KINDS = {MessageKind.TEXT, MessageKind.IMAGE, MessageKind.PRODUCT, MessageKind.ORDER}
AGENT_KINDS = MEMBER_KINDS | {MessageKind.QUICK_REPLY, MessageKind.COUPON}


@dataclass(frozen=True)
class SendResult:
    message: Message
    #: False when the client id was already stored (a resend): nothing new happened
    created: bool


# --- helpers ------------------------------------------------------------------------------
def _is_supervisor(actor: Any) -> bool:
    return bool(getattr(actor, "is_operator", False) and actor.has_permission(P.SUPPORT_SUPERVISE))


def _locked(conversation_id: int) -> Conversation:
    try:
        return Conversation.objects.select_for_update().get(pk=conversation_id)
    except (Conversation.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound(_("No such conversation.")) from exc


def _clean_text(text: Any, *, required: bool) -> str:
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InvalidInput(fields={"text": _("Text must be a string.")})
    text = text.strip()
    if required and not text:
        raise InvalidInput(fields={"text": _("Write something first.")})
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            fields={"text": _("A message is at most %(n)d characters.") % {"n": MAX_TEXT}}
        )
    return text


def _clean_client_id(client_id: Any) -> str:
    if client_id in (None, ""):
        return ""
    if not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID:
        raise InvalidInput(fields={"client_id": _("client_id is a string of at most 64.")})
    return client_id


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(fields={field: _("Give a positive whole number.")})
    return value


def _order_card(member_id: int, order_id: Any) -> dict[str, Any]:
    from miniops.orders.models import Order

    order = Order.objects.filter(pk=_int(order_id, "order_id"), member_id=member_id).first()
    if order is None:  # someone else's order is "no such order" too
        raise NotFound(_("No such order."), fields={"order_id": _("No such order.")})
    return {
        "order_id": order.pk,
        "number": order.number,
        "status": order.status,
        "status_label": str(order.get_status_display()),
        "payable_amount": order.payable_amount,
    }


def _product_card(product_id: Any) -> dict[str, Any]:
    from miniops.catalog.models import Product, ProductStatus

    product = Product.objects.filter(
        pk=_int(product_id, "product_id"), status=ProductStatus.ON_SALE
    ).first()
    if product is None:
        raise NotFound(_("No such product."), fields={"product_id": _("No such product.")})
    return {
        "product_id": product.pk,
        "title": product.title,
        "min_price": product.min_price,
        "cover": product.cover,
    }


def _image(name: Any, *, prefix: str) -> dict[str, Any]:
    if not isinstance(name, str) or not name.startswith(prefix) or ".." in name:
        raise InvalidInput(fields={"image": _("Upload the image first and send its name.")})
    if not default_storage.exists(name):
        raise InvalidInput(fields={"image": _("Upload the image first and send its name.")})
    return {"image": name}


def _publish_message(message: Message, assignee_id: int | None) -> None:
    event = {"type": "support.message", "message": selectors.message_dict(message)}
    groups = realtime.groups_for(message.conversation_id, assignee_id)
    transaction.on_commit(lambda: realtime.send(groups, event))


def _publish_state(conversation: Conversation, *, extra: dict[str, Any] | None = None) -> None:
    event = {
        "type": "support.state",
        "conversation": conversation.pk,
        "state": conversation.state,
        "assignee": conversation.assignee_id,
        "queue": conversation.queue_id,
        **(extra or {}),
    }
    groups = [realtime.conversation_group(conversation.pk), realtime.DESK_GROUP]
    if conversation.assignee_id:
        groups.append(realtime.agent_group(conversation.assignee_id))
    transaction.on_commit(lambda: realtime.send(groups, event))


def _append(
    conversation: Conversation,
    *,
    sender: str,
    kind: str,
    text: str = "",
    payload: dict[str, Any] | None = None,
    client_id: str = "",
    agent: Any = None,
) -> SendResult:
    """Write one message into a locked conversation. A caller with a ``client_id``
    has asked ``_stored_resend`` first (under the same lock); the unique constraint
    stands behind it."""
    now = timezone.now()
    conversation.last_seq += 1
    message = Message.objects.create(
        conversation=conversation,
        seq=conversation.last_seq,
        sender=sender,
        agent=agent,
        kind=kind,
        text=text,
        payload=payload or {},
        client_id=client_id,
        created_at=now,
    )
    conversation.last_message_at = now
    fields = ["last_seq", "last_message_at"]
    if sender == SenderKind.MEMBER:
        conversation.member_read_seq = conversation.last_seq
        fields.append("member_read_seq")
        if conversation.channel == Channel.WECHAT_KF:
            conversation.wx_last_member_at = now
            conversation.wx_replies_used = 0
            fields += ["wx_last_member_at", "wx_replies_used"]
    elif sender == SenderKind.AGENT:
        conversation.agent_read_seq = conversation.last_seq
        fields.append("agent_read_seq")
        if conversation.first_reply_at is None:
            conversation.first_reply_at = now
            fields.append("first_reply_at")
    conversation.save(update_fields=fields)
    _publish_message(message, conversation.assignee_id)
    return SendResult(message, True)


def _stored_resend(conversation: Conversation, client_id: str) -> SendResult | None:
    """The answer to a resend: the message already stored under ``client_id`` in this
    conversation, or None when there is none (or no ``client_id``). Checked before a
    closed conversation refuses, so a resend after the close still gets its message."""
    if not client_id:
        return None
    existing = Message.objects.filter(conversation=conversation, client_id=client_id).first()
    return None if existing is None else SendResult(existing, False)


def _system(conversation: Conversation, text: str, **payload: Any) -> None:
    _append(
        conversation, sender=SenderKind.SYSTEM, kind=MessageKind.SYSTEM, text=text, payload=payload
    )


# --- members ------------------------------------------------------------------------------
def _default_queue() -> Queue:
    queue = Queue.objects.filter(active=True).order_by("-is_default", "sort", "pk").first()
    if queue is None:
        queue = Queue.objects.create(code="general", name=_("General"), is_default=True)
    return queue


def open_conversation(
    *,
    member: Any,
    queue: str | None = None,
    order_id: int | None = None,
    product_id: int | None = None,
    channel: str = Channel.IN_APP,
) -> Conversation:
    """The member's active conversation (resumed), or a new one waiting in
    ``queue``; ``order_id`` / ``product_id`` name what it is about."""
    if channel not in Channel.values:
        raise InvalidInput(fields={"channel": _("Unknown channel.")})
    chosen: Queue | None = None
    if queue:
        chosen = Queue.objects.filter(code=queue, active=True).first()
        if chosen is None:
            raise NotFound(_("No such queue."), fields={"queue": _("No such queue.")})
    order = _order_card(member.pk, order_id)["order_id"] if order_id is not None else None
    product = _product_card(product_id)["product_id"] if product_id is not None else None
    with transaction.atomic():
        current = (
            Conversation.objects.select_for_update()
            .filter(member=member, channel=channel)
            .exclude(state=ConversationState.CLOSED)
            .first()
        )
        if current is not None:
            changed = []
            if order is not None and current.order_id != order:
                current.order_id = order
                changed.append("order")
            if product is not None and current.product_id != product:
                current.product_id = product
                changed.append("product")
            if changed:
                current.save(update_fields=changed)
                _publish_state(current, extra={"order": current.order_id})
            return current
        now = timezone.now()
        try:
            with transaction.atomic():
                conversation = Conversation.objects.create(
                    member=member,
                    channel=channel,
                    queue=chosen or _default_queue(),
                    order_id=order,
                    product_id=product,
                    created_at=now,
                    waiting_since=now,
                    last_message_at=now,
                    wx_last_member_at=now if channel == Channel.WECHAT_KF else None,
                )
        except IntegrityError:  # opened by a parallel request a moment ago
            found = selectors.active_conversation(member.pk, channel)
            if found is None:
                raise
            return found
        _publish_state(conversation)
    transaction.on_commit(lambda: assign_waiting())
    return conversation


def _member_conversation(member: Any, conversation_id: Any) -> Conversation:
    conversation = _locked(conversation_id)
    if conversation.member_id != member.pk:
        raise NotFound(_("No such conversation."))
    return conversation


def _card(member_id: int, kind: str, payload: dict[str, Any], *, image_prefix: str) -> dict:
    if kind == MessageKind.IMAGE:
        return _image(payload.get("image"), prefix=image_prefix)
    if kind == MessageKind.ORDER:
        return _order_card(member_id, payload.get("order_id"))
    if kind == MessageKind.PRODUCT:
        return _product_card(payload.get("product_id"))
    return {}


def send_member_message(
    *,
    member: Any,
    conversation_id: int,
    kind: str = MessageKind.TEXT,
    text: str = "",
    payload: dict[str, Any] | None = None,
    client_id: str = "",
) -> SendResult:
    if kind not in MEMBER_KINDS:
        raise InvalidInput(fields={"kind": _("Members send text, image, product or order.")})
    payload = payload if isinstance(payload, dict) else {}
    text = _clean_text(text, required=kind == MessageKind.TEXT)
    client_id = _clean_client_id(client_id)
    with transaction.atomic():
        conversation = _member_conversation(member, conversation_id)
        stored = _stored_resend(conversation, client_id)
        if stored is not None:
            return stored
        if conversation.state == ConversationState.CLOSED:
            raise Conflict(_("This conversation is closed; open a new one."), code="closed")
        card = _card(member.pk, kind, payload, image_prefix=f"uploads/members/{member.pk}/")
        return _append(
            conversation,
            sender=SenderKind.MEMBER,
            kind=kind,
            text=text,
            payload=card,
            client_id=client_id,
        )


def rate(*, member: Any, conversation_id: int, rating: Any, comment: str = "") -> Csat:
    """The member's satisfaction rating of a closed conversation, once."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput(fields={"rating": _("Rate from 1 to 5.")})
    if not isinstance(comment, str) or len(comment) > 200:
        raise InvalidInput(fields={"comment": _("A comment is at most 200 characters.")})
    with transaction.atomic():
        conversation = _member_conversation(member, conversation_id)
        if conversation.state != ConversationState.CLOSED:
            raise Conflict(_("Rate the conversation once it is closed."), code="not_closed")
        if Csat.objects.filter(conversation=conversation).exists():
            raise Conflict(_("You have rated this conversation already."), code="rated")
        agent_id = (
            Handoff.objects.filter(conversation=conversation, to_agent__isnull=False)
            .order_by("-at", "-pk")
            .values_list("to_agent_id", flat=True)
            .first()
        )
        csat = Csat.objects.create(
            conversation=conversation, agent_id=agent_id, rating=rating, comment=comment.strip()
        )
        _publish_state(conversation, extra={"csat": rating})
        return csat


# --- read receipts ------------------------------------------------------------------------
def mark_read(*, conversation_id: int, seq: Any, member: Any = None, actor: Any = None) -> int:
    """Move the reader's read mark forward to ``seq`` (never back); the other side
    hears a ``read`` event. Returns the mark."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise InvalidInput(fields={"seq": _("Give a message number.")})
    with transaction.atomic():
        if member is not None:
            conversation = _member_conversation(member, conversation_id)
            field = "member_read_seq"
        else:
            require(actor, P.SUPPORT_CHAT)
            conversation = _agent_conversation(actor, conversation_id, write=False)
            field = "agent_read_seq"
        seq = min(seq, conversation.last_seq)
        if seq > getattr(conversation, field):
            Conversation.objects.filter(pk=conversation.pk).update(**{field: seq})
            setattr(conversation, field, seq)
            event = {
                "type": "support.read",
                "conversation": conversation.pk,
                "side": "member" if member is not None else "agent",
                "seq": seq,
            }
            groups = realtime.groups_for(conversation.pk, conversation.assignee_id)
            transaction.on_commit(lambda: realtime.send(groups, event))
        return int(getattr(conversation, field))


# --- agents -------------------------------------------------------------------------------
def _agent_conversation(actor: Any, conversation_id: Any, *, write: bool = True) -> Conversation:
    conversation = _locked(conversation_id)
    mine = conversation.assignee_id == actor.pk
    if write and not mine and not _is_supervisor(actor):
        raise Forbidden(_("This conversation is assigned to someone else."))
    return conversation


def _status_of(operator: Any) -> AgentStatus:
    status, _created = AgentStatus.objects.get_or_create(operator=operator)
    return status


def set_agent_status(
    *, actor: Any, state: str, capacity: int | None = None, agent: Any = None
) -> AgentStatus:
    """Online / away / offline (one's own); a supervisor may set another agent's
    status and capacity. Going online takes waiting conversations."""
    require(actor, P.SUPPORT_CHAT)
    target = agent or actor
    if target.pk != actor.pk or capacity is not None:
        require(actor, P.SUPPORT_SUPERVISE)
    if state not in AgentState.values:
        raise InvalidInput(fields={"state": _("Online, away or offline.")})
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or not 0 <= capacity <= 100
    ):
        raise InvalidInput(fields={"capacity": _("Capacity is from 0 to 100.")})
    with transaction.atomic():
        status = _status_of(target)
        status = AgentStatus.objects.select_for_update().get(pk=status.pk)
        before = {"state": status.state, "capacity": status.capacity}
        status.state = state
        if capacity is not None:
            status.capacity = capacity
        status.last_seen_at = timezone.now()
        with audit.acting_as(actor):
            status.save()
        event = {"type": "support.agent", "agent": target.pk, "state": state, **before}
        transaction.on_commit(lambda: realtime.send([realtime.DESK_GROUP], event))
    if state == AgentState.ONLINE:
        transaction.on_commit(lambda: assign_waiting())
    return status


def _take_slot(agent_id: int, *, force: bool = False) -> bool:
    """Count one more conversation for the agent, if under capacity (atomic)."""
    query = AgentStatus.objects.filter(operator_id=agent_id)
    if not force:
        query = query.filter(load__lt=F("capacity"))
    return bool(query.update(load=F("load") + 1, last_assigned_at=timezone.now()))


def _free_slot(agent_id: int | None) -> None:
    if agent_id:
        AgentStatus.objects.filter(operator_id=agent_id, load__gt=0).update(load=F("load") - 1)


def _candidates(queue_id: int) -> list[int]:
    return list(
        AgentStatus.objects.filter(state=AgentState.ONLINE, load__lt=F("capacity"))
        .filter(Q(queues__isnull=True) | Q(queues=queue_id))
        .order_by("load", F("last_assigned_at").asc(nulls_first=True), "pk")
        .values_list("operator_id", flat=True)
        .distinct()[:20]
    )


def _assign_one() -> tuple[int, int] | bool | None:
    """Assign the oldest waiting conversation some online agent can take.
    ``None``: nothing waits; ``False``: nobody can take what waits."""
    with transaction.atomic():
        waiting = Conversation.objects.filter(
            state=ConversationState.WAITING, assignee__isnull=True
        ).order_by("waiting_since", "pk")
        if connection.features.has_select_for_update_skip_locked:
            waiting = waiting.select_for_update(skip_locked=True)
        any_waiting = False
        for conversation in waiting[:25]:
            any_waiting = True
            for agent_id in _candidates(conversation.queue_id):
                if not _take_slot(agent_id):
                    continue  # someone filled it meanwhile
                taken = Conversation.objects.filter(
                    pk=conversation.pk, state=ConversationState.WAITING, assignee__isnull=True
                ).update(
                    state=ConversationState.OPEN, assignee_id=agent_id, assigned_at=timezone.now()
                )
                if not taken:
                    _free_slot(agent_id)
                    break
                conversation.state = ConversationState.OPEN
                conversation.assignee_id = agent_id
                Handoff.objects.create(
                    conversation=conversation, kind=HandoffKind.ASSIGNED, to_agent_id=agent_id
                )
                _publish_state(conversation)
                return conversation.pk, agent_id
        return False if any_waiting else None


def assign_waiting(*, limit: int = 200) -> list[tuple[int, int]]:
    """Least-loaded online agent first, oldest waiting conversation first, capacity
    never exceeded; each conversation assigned once (conditional updates, and
    ``SKIP LOCKED`` on PostgreSQL so parallel assigners do not wait on each other)."""
    done: list[tuple[int, int]] = []
    for _i in range(limit):
        result = _assign_one()
        if not isinstance(result, tuple):
            break
        done.append(result)
    return done


def _record(actor: Any, conversation: Conversation, what: str, **changes: Any) -> None:
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=conversation,
        changes={key: [before, after] for key, (before, after) in changes.items()},
        additional={"support": what},
    )


def claim(*, actor: Any, conversation_id: int) -> Conversation:
    """Take a waiting conversation (or, as a supervisor, anyone's)."""
    require(actor, P.SUPPORT_CHAT)
    with transaction.atomic():
        conversation = _locked(conversation_id)
        if conversation.state == ConversationState.CLOSED:
            raise Conflict(_("This conversation is closed."), code="closed")
        if conversation.assignee_id == actor.pk:
            return conversation
        if conversation.state == ConversationState.OPEN and not _is_supervisor(actor):
            raise Conflict(_("Someone else has this conversation."), code="taken")
        _status_of(actor)
        if not _take_slot(actor.pk, force=_is_supervisor(actor)):
            raise Conflict(_("You are at your capacity."), code="capacity")
        previous = conversation.assignee_id
        _free_slot(previous)
        conversation.state = ConversationState.OPEN
        conversation.assignee = actor
        conversation.assigned_at = timezone.now()
        conversation.save(update_fields=["state", "assignee", "assigned_at"])
        Handoff.objects.create(
            conversation=conversation,
            kind=HandoffKind.CLAIMED,
            from_agent_id=previous,
            to_agent=actor,
            by=actor,
        )
        _record(actor, conversation, "claim", assignee=(previous, actor.pk))
        _system(conversation, _("%(agent)s is now helping you.") % {"agent": _agent_name(actor)})
        _publish_state(conversation, extra={"previous": previous})
        if previous:
            event = {
                "type": "support.state",
                "conversation": conversation.pk,
                "state": "moved",
                "assignee": actor.pk,
            }
            transaction.on_commit(lambda: realtime.send([realtime.agent_group(previous)], event))
        return conversation


def _agent_name(operator: Any) -> str:
    return str(getattr(operator, "display_name", "") or operator.get_username())


def transfer(
    *,
    actor: Any,
    conversation_id: int,
    to_agent: Any = None,
    to_queue: Queue | None = None,
    reason: str = "",
) -> Conversation:
    """Hand the conversation to another agent (online, under capacity) or back to a
    queue. Its messages stay where they are: the next agent reads the same history."""
    require(actor, P.SUPPORT_CHAT)
    if (to_agent is None) == (to_queue is None):
        raise InvalidInput(fields={"to": _("Choose an agent or a queue.")})
    if len(reason) > 200:
        raise InvalidInput(fields={"reason": _("At most 200 characters.")})
    with transaction.atomic():
        conversation = _agent_conversation(actor, conversation_id)
        if conversation.state == ConversationState.CLOSED:
            raise Conflict(_("This conversation is closed."), code="closed")
        previous = conversation.assignee_id
        if to_agent is not None:
            if to_agent.pk == previous:
                raise Conflict(_("The conversation is already theirs."), code="same_agent")
            if not (to_agent.is_active and to_agent.has_permission(P.SUPPORT_CHAT)):
                raise InvalidInput(fields={"to": _("This operator does not answer chats.")})
            status = _status_of(to_agent)
            if status.state == AgentState.OFFLINE:
                raise Conflict(_("This agent is offline."), code="offline")
            if not _take_slot(to_agent.pk):
                raise Conflict(_("This agent is at capacity."), code="capacity")
            _free_slot(previous)
            conversation.state = ConversationState.OPEN
            conversation.assignee = to_agent
            conversation.assigned_at = timezone.now()
            note = _("%(agent)s is now helping you.") % {"agent": _agent_name(to_agent)}
        else:
            assert to_queue is not None
            _free_slot(previous)
            conversation.state = ConversationState.WAITING
            conversation.assignee = None
            conversation.queue = to_queue
            conversation.waiting_since = timezone.now()
            note = _("You have been passed to %(queue)s; an agent will be with you shortly.") % {
                "queue": to_queue.name
            }
        conversation.save(
            update_fields=["state", "assignee", "assigned_at", "queue", "waiting_since"]
        )
        Handoff.objects.create(
            conversation=conversation,
            kind=HandoffKind.TRANSFERRED if to_agent is not None else HandoffKind.REQUEUED,
            from_agent_id=previous,
            to_agent=to_agent,
            to_queue=to_queue,
            by=actor,
            reason=reason,
        )
        _record(
            actor,
            conversation,
            "transfer",
            assignee=(previous, getattr(to_agent, "pk", None)),
            queue=(None, getattr(to_queue, "pk", None)),
        )
        _system(conversation, note)
        _publish_state(conversation, extra={"previous": previous})
        if previous:
            event = {
                "type": "support.state",
                "conversation": conversation.pk,
                "state": "moved",
                "assignee": conversation.assignee_id,
            }
            transaction.on_commit(lambda: realtime.send([realtime.agent_group(previous)], event))
    if to_queue is not None:
        transaction.on_commit(lambda: assign_waiting())
    return conversation


def add_note(*, actor: Any, conversation_id: int, text: str) -> InternalNote:
    """An internal note: agents see it, the member never does."""
    require(actor, P.SUPPORT_CHAT)
    text = _clean_text(text, required=True)
    with transaction.atomic():
        conversation = _agent_conversation(actor, conversation_id, write=False)
        note = InternalNote.objects.create(conversation=conversation, author=actor, text=text)
        audit.record(
            actor=actor,
            action=audit.Action.CREATE,
            instance=note,
            object_repr=f"note on #{conversation.pk}",
        )
        event = {
            "type": "support.note",
            "conversation": conversation.pk,
            "note": {
                "id": note.pk,
                "author": _agent_name(actor),
                "text": text,
                "created_at": note.created_at.isoformat(),
            },
        }
        groups = [realtime.agent_group(conversation.assignee_id or actor.pk)]
        if actor.pk != conversation.assignee_id:
            groups.append(realtime.agent_group(actor.pk))
        transaction.on_commit(lambda: realtime.send(groups, event))
        return note


def close(*, conversation_id: int, actor: Any = None, member: Any = None) -> Conversation:
    """Close (agent: theirs, or any as a supervisor; member: their own). The member
    is offered a satisfaction rating."""
    with transaction.atomic():
        if member is not None:
            conversation = _member_conversation(member, conversation_id)
        else:
            require(actor, P.SUPPORT_CHAT)
            conversation = _agent_conversation(actor, conversation_id)
        if conversation.state == ConversationState.CLOSED:
            raise Conflict(_("This conversation is closed already."), code="closed")
        before = conversation.state
        _free_slot(conversation.assignee_id)
        conversation.state = ConversationState.CLOSED
        conversation.closed_at = timezone.now()
        conversation.save(update_fields=["state", "closed_at"])
        Handoff.objects.create(
            conversation=conversation,
            kind=HandoffKind.CLOSED,
            from_agent_id=conversation.assignee_id,
            by=actor,
        )
        if actor is not None:
            _record(actor, conversation, "close", state=(before, "closed"))
        _system(conversation, _("This conversation is closed. How did we do?"), csat=True)
        _publish_state(conversation, extra={"csat_offered": True})
    transaction.on_commit(lambda: assign_waiting())
    return conversation


REOPEN_DAYS = 7


def reopen(*, actor: Any, conversation_id: int) -> Conversation:
    """Reopen a closed conversation (within ``REOPEN_DAYS``), with the agent who
    reopens it, unless the member has opened a new one since."""
    require(actor, P.SUPPORT_CHAT)
    with transaction.atomic():
        conversation = _locked(conversation_id)
        if conversation.state != ConversationState.CLOSED:
            raise Conflict(_("This conversation is not closed."), code="not_closed")
        if conversation.closed_at and conversation.closed_at < timezone.now() - timedelta(
            days=REOPEN_DAYS
        ):
            raise Conflict(_("Closed too long ago to reopen."), code="too_old")
        if selectors.active_conversation(conversation.member_id, conversation.channel):
            raise Conflict(_("The member has another conversation open."), code="member_busy")
        _status_of(actor)
        _take_slot(actor.pk, force=True)
        conversation.state = ConversationState.OPEN
        conversation.assignee = actor
        conversation.assigned_at = timezone.now()
        conversation.closed_at = None
        conversation.save(update_fields=["state", "assignee", "assigned_at", "closed_at"])
        Handoff.objects.create(
            conversation=conversation, kind=HandoffKind.REOPENED, to_agent=actor, by=actor
        )
        _record(actor, conversation, "reopen", state=("closed", "open"))
        _system(
            conversation, _("%(agent)s reopened this conversation.") % {"agent": _agent_name(actor)}
        )
        _publish_state(conversation)
        return conversation


def _coupon_card(template_id: Any) -> dict[str, Any]:
    from miniops.marketing.models import CouponTemplate

    template = CouponTemplate.objects.filter(pk=_int(template_id, "coupon_template_id")).first()
    if template is None:
        raise NotFound(_("No such coupon."), fields={"coupon_template_id": _("No such coupon.")})
    return {
        "coupon_template_id": template.pk,
        "name": template.name,
        "kind": template.kind,
        "value": template.value,
    }


def send_agent_message(
    *,
    actor: Any,
    conversation_id: int,
    kind: str = MessageKind.TEXT,
    text: str = "",
    payload: dict[str, Any] | None = None,
    client_id: str = "",
) -> SendResult:
    """An agent's message in a conversation they hold (a supervisor: any open one).
    A WeChat contact-button conversation goes out through WeChat too, inside its
    window; beyond it the send is refused and nothing is stored."""
    require(actor, P.SUPPORT_CHAT)
    if kind not in AGENT_KINDS:
        raise InvalidInput(fields={"kind": _("Unknown message kind.")})
    payload = payload if isinstance(payload, dict) else {}
    client_id = _clean_client_id(client_id)
    card: dict[str, Any] = {}
    if kind == MessageKind.QUICK_REPLY:
        reply_id = payload.get("quick_reply_id")
        reply = (
            selectors.quick_replies(actor.pk).filter(pk=reply_id).first()
            if isinstance(reply_id, int)
            else None
        )
        if reply is None:
            raise NotFound(_("No such quick reply."), fields={"quick_reply_id": _("Not found.")})
        text = reply.text
        card = {"quick_reply_id": reply.pk, "shortcut": reply.shortcut}
    elif kind == MessageKind.COUPON:
        card = _coupon_card(payload.get("coupon_template_id"))
    text = _clean_text(text, required=kind == MessageKind.TEXT)
    try:
        with transaction.atomic():
            conversation = _agent_conversation(actor, conversation_id)
            stored = _stored_resend(conversation, client_id)
            if stored is not None:
                return stored
            if conversation.state == ConversationState.CLOSED:
                raise Conflict(_("This conversation is closed."), code="closed")
            if conversation.state == ConversationState.WAITING:
                raise Conflict(_("Claim the conversation first."), code="not_claimed")
            if kind in (MessageKind.IMAGE, MessageKind.ORDER, MessageKind.PRODUCT):
                card = _card(conversation.member_id, kind, payload, image_prefix="uploads/")
            if conversation.channel == Channel.WECHAT_KF:
                _through_wechat(conversation, kind, text, card)
            return _append(
                conversation,
                sender=SenderKind.AGENT,
                agent=actor,
                kind=kind,
                text=text,
                payload=card,
                client_id=client_id,
            )
    except WindowClosed as exc:
        # WeChat counts differently from us (replies sent from elsewhere, a clock
        # apart): believe it, and show the window closed until the member writes.
        Conversation.objects.filter(pk=conversation_id).update(
            wx_replies_used=selectors.WECHAT_REPLIES
        )
        raise Conflict(
            _("WeChat refused the reply: the reply window is closed.")
            + " "
            + _("Send a subscribe message instead."),
            code="wechat_window_closed",
        ) from exc


#: WeChat keeps temporary media 3 days; reuse an upload for 2 of them
WECHAT_MEDIA_SECONDS = 2 * 24 * 3600


def _wechat_media_id(name: str) -> str:
    """WeChat's copy of an uploaded image (``uploadTempMedia``), once per image
    every two days: the same quick image to many members is one upload."""
    key = "support:wxmedia:" + hashlib.sha256(name.encode()).hexdigest()
    media_id = cache.get(key)
    if media_id:
        return str(media_id)
    with default_storage.open(name, "rb") as handle:
        data = handle.read()
    content_type = mimetypes.guess_type(name)[0] or "image/jpeg"
    media_id = customer_service.get().upload_image(
        filename=name.rsplit("/", 1)[-1], data=data, content_type=content_type
    )
    cache.set(key, media_id, timeout=WECHAT_MEDIA_SECONDS)
    return media_id


def _through_wechat(conversation: Conversation, kind: str, text: str, card: dict) -> None:
    """Send the reply through ``customerServiceMessage.send``, inside the window we
    count; WeChat's own refusal (45015/45047) surfaces as ``WindowClosed``."""
    window = selectors.wechat_window(conversation)
    if not window["open"]:
        raise Conflict(
            _(
                "WeChat's reply window is closed (48 hours, 5 replies after the member's last "
                "message). Send a subscribe message instead."
            ),
            code="wechat_window_closed",
        )
    try:
        if kind == MessageKind.IMAGE:  # WeChat's own copy first: the upload can fail too
            msgtype, content = "image", {"media_id": _wechat_media_id(card["image"])}
        elif kind == MessageKind.PRODUCT:
            msgtype, content = (
                "link",
                {
                    "title": card.get("title", ""),
                    "description": "",
                    "url": f"pages/product/detail?id={card.get('product_id')}",
                    "thumb_url": card.get("cover", ""),
                },
            )
        else:
            msgtype, content = (
                "text",
                {"content": text or card.get("number", "") or card.get("name", "")},
            )
        customer_service.get().send(
            openid=conversation.member.openid, msgtype=msgtype, content=content
        )
    except PlatformError as exc:
        if exc.retryable:
            raise ServiceUnavailable(
                _("WeChat did not take the reply; nothing was sent. Try again."),
                code="wechat_unavailable",
            ) from exc
        raise Conflict(
            _("WeChat refused the reply (%(code)s); nothing was sent.") % {"code": exc.errcode},
            code="wechat_refused",
        ) from exc
    Conversation.objects.filter(pk=conversation.pk).update(wx_replies_used=F("wx_replies_used") + 1)
    conversation.wx_replies_used += 1


# --- quick replies ------------------------------------------------------------------------
def save_quick_reply(
    *,
    actor: Any,
    shortcut: str,
    title: str,
    text: str,
    language: str = "zh-hans",
    shared: bool = False,
    reply: QuickReply | None = None,
) -> QuickReply:
    """A private quick reply (``support.chat``) or a shared one
    (``support.manage_settings``)."""
    require(actor, P.SUPPORT_MANAGE_SETTINGS if shared else P.SUPPORT_CHAT)
    if reply is not None and reply.owner_id not in (None, actor.pk):
        raise Forbidden()
    if reply is not None and reply.owner_id is None:
        require(actor, P.SUPPORT_MANAGE_SETTINGS)
    text = _clean_text(text, required=True)
    if not shortcut or len(shortcut) > 32 or not title or len(title) > 64:
        raise InvalidInput(fields={"shortcut": _("A shortcut and a title are needed.")})
    with transaction.atomic(), audit.acting_as(actor):
        reply = reply or QuickReply()
        reply.owner = None if shared else actor
        reply.shortcut = shortcut.lstrip("/")
        reply.title = title
        reply.text = text
        reply.language = language
        try:
            with transaction.atomic():
                reply.save()
        except IntegrityError as exc:
            raise Conflict(_("This shortcut is taken."), fields={"shortcut": _("Taken.")}) from exc
        return reply


def delete_quick_reply(*, actor: Any, reply: QuickReply) -> None:
    require(actor, P.SUPPORT_MANAGE_SETTINGS if reply.owner_id is None else P.SUPPORT_CHAT)
    if reply.owner_id not in (None, actor.pk):
        raise Forbidden()
    with transaction.atomic(), audit.acting_as(actor):
        reply.delete()
