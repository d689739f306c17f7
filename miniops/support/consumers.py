"""WebSocket consumers: members (mini-program) and agents (console inbox).

The protocol (docs/api.md, "Customer service WebSocket"): JSON text frames with a
``type``. Every message is persisted by a service before it is published; each
socket keeps the last ``seq`` it delivered per conversation, drops what it has
sent already and fills a gap from the database, so a client sees every message
once and in order, live or after ``resume``. Bad frames (not JSON, binary, over the
size limit, unknown type, too many per second) answer an ``error`` frame; the
socket stays open. Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from miniops.core.errors import DomainError
from miniops.core.permissions import P
from miniops.support import realtime, selectors, services
from miniops.support.models import Conversation, Queue

logger = logging.getLogger("miniops.support")

#: Database work of every socket of this process runs on this pool. Channels'
#: ``database_sync_to_async`` is thread-sensitive by default: without a
#: ``ThreadSensitiveContext`` every socket's queries queue on one thread per
#: process, so a process served one message at a time (about 10 a second on a
#: loaded machine). A socket still handles its own frames one after another.
_DB_THREADS = ThreadPoolExecutor(
    max_workers=int(getattr(settings, "MINIOPS_SUPPORT_DB_THREADS", 4)),
    thread_name_prefix="support-db",
)


def db(func: Any) -> Any:
    """``database_sync_to_async`` on the sockets' own thread pool."""
    return database_sync_to_async(func, thread_sensitive=False, executor=_DB_THREADS)


TICKET_PREFIX = "support:wsticket:"
TICKET_SECONDS = 60
AUTH_SECONDS = 10


def max_frame() -> int:
    return int(getattr(settings, "MINIOPS_SUPPORT_WS_MAX_BYTES", 16 * 1024))


def frame_rate() -> float:
    return float(getattr(settings, "MINIOPS_SUPPORT_WS_RATE", 10))


def issue_ticket(member_id: int) -> str:
    """A one-use ticket for ``?ticket=`` (clients that cannot send a first frame
    before the server speaks), valid for a minute."""
    ticket = secrets.token_urlsafe(24)
    cache.set(TICKET_PREFIX + ticket, member_id, timeout=TICKET_SECONDS)
    return ticket


def _redeem(ticket: str) -> int | None:
    if not ticket or len(ticket) > 64:
        return None
    key = TICKET_PREFIX + ticket
    member_id = cache.get(key)
    if member_id is None:
        return None
    cache.delete(key)
    return int(member_id)


class Bucket:
    """Frames per second with a burst of twice the rate."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate * 2
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate * 2, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class _Base(AsyncWebsocketConsumer):
    side = ""

    async def connect(self) -> None:
        self.last_sent: dict[int, int] = {}
        self.watching: set[int] = set()
        self.groups_joined: set[str] = set()
        self.bucket = Bucket(frame_rate())
        await self.start()

    async def start(self) -> None:
        raise NotImplementedError

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections`` before every
        handler: that is a hop to the process's one thread-sensitive thread, so every
        frame and event of every socket in the process queued on it. All database work
        here goes through ``db``, whose threads close stale connections around each
        call, so the hop guarded nothing."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content, ensure_ascii=False, default=str))

    async def error(self, code: str, message: Any, *, ref: Any = None, **extra: Any) -> None:
        frame = {"type": "error", "code": code, "message": str(message), **extra}
        if ref is not None:
            frame["ref"] = ref
        await self.send_json(frame)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None:
            await self.error("binary_frame", _("Send JSON text frames."))
            return
        if text_data is None or len(text_data.encode()) > max_frame():
            await self.error("frame_too_large", _("The frame is too large."), limit=max_frame())
            return
        if not self.bucket.take():
            await self.error("rate_limited", _("Too many frames; slow down."))
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.error("bad_frame", _("The frame is not JSON."))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.error("bad_frame", _("A frame is an object with a type."))
            return
        ref = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
        try:
            await self.handle(frame["type"], frame)
        except DomainError as exc:
            await self.error(
                exc.code,
                exc.message,
                ref=ref,
                fields={key: str(value) for key, value in exc.fields.items()},
            )
        except Exception:  # a bug answers an error frame; the socket lives on
            logger.exception("support %s frame %s failed", self.side, frame.get("type"))
            await self.error("server_error", _("Something went wrong; try again."), ref=ref)

    async def handle(self, kind: str, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    # --- delivery in order, once ---------------------------------------------------------
    async def deliver(self, conversation_id: int, after: int) -> None:
        """Everything after ``after`` from the database, in pages."""
        while True:
            batch = await db(selectors.messages_after)(conversation_id, after, limit=200)
            for message in batch:
                await self._emit(selectors.message_dict(message))
            if len(batch) < 200:
                break
            after = batch[-1].seq
        self.last_sent.setdefault(conversation_id, after)

    async def catch_up(self) -> None:
        """Whatever the watched conversations stored after what this socket sent,
        before the ``pong``. The channel layer delivers at most once — channels-redis
        can lose an event when a socket in the same process closes mid-read, and
        drops the oldest past a channel's capacity — and a gap is otherwise filled
        only when a later message arrives, so the heartbeat fills it."""
        for conversation_id in list(self.watching):
            await self.deliver(conversation_id, self.last_sent.get(conversation_id, 0))

    async def _emit(self, message: dict[str, Any]) -> None:
        conv = message["conversation"]
        if message["seq"] <= self.last_sent.get(conv, 0):
            return
        self.last_sent[conv] = message["seq"]
        await self.send_json({"type": "message", "message": message})

    async def support_message(self, event: dict[str, Any]) -> None:
        message = event["message"]
        conv = message["conversation"]
        if conv not in self.watching:
            await self.unwatched(message)
            return
        last = self.last_sent.get(conv, 0)
        if message["seq"] <= last:
            return  # sent already (resume and live overlap)
        if message["seq"] > last + 1:
            await self.deliver(conv, last)  # a gap: fill it from the database
            return
        await self._emit(message)

    async def unwatched(self, message: dict[str, Any]) -> None:
        return None

    async def support_state(self, event: dict[str, Any]) -> None:
        await self.send_json({**event, "type": "state"})

    async def support_read(self, event: dict[str, Any]) -> None:
        if event.get("side") != self.side:
            await self.send_json({**event, "type": "read"})

    async def support_typing(self, event: dict[str, Any]) -> None:
        if event.get("channel") != self.channel_name:
            await self.send_json(
                {"type": "typing", "conversation": event["conversation"], "side": event["side"]}
            )

    async def typing(self, conversation_id: int) -> None:
        await self.channel_layer.group_send(
            realtime.conversation_group(conversation_id),
            {
                "type": "support.typing",
                "conversation": conversation_id,
                "side": self.side,
                "channel": self.channel_name,
            },
        )

    async def watch(self, conversation_id: int, after: Any) -> None:
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            after = 0
        await self.join(realtime.conversation_group(conversation_id))
        self.watching.add(conversation_id)
        self.last_sent[conversation_id] = after
        await self.deliver(conversation_id, after)


def _kind(frame: dict[str, Any]) -> str:
    kind = frame.get("kind", "text")
    return kind if isinstance(kind, str) else ""


def _int(frame: dict[str, Any], key: str) -> int:
    value = frame.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        from miniops.core.errors import InvalidInput

        raise InvalidInput(fields={key: _("Give a whole number.")})
    return value


class MemberConsumer(_Base):
    """``/ws/support/member/``: authenticate with ``{"type": "auth", "token": …}``
    as the first frame (within 10 s), or connect with ``?ticket=`` from
    ``POST /api/support/ws-ticket``."""

    side = "member"

    async def start(self) -> None:
        self.member: Any = None
        await self.accept()
        query = self.scope.get("query_string", b"").decode(errors="replace")
        ticket = next((part[7:] for part in query.split("&") if part.startswith("ticket=")), "")
        if ticket:
            member_id = await db(_redeem)(ticket)
            if member_id is None:
                await self.error("not_authenticated", _("The ticket is invalid or used."))
                await self.close(code=4401)
                return
            await self._signed_in(member_id)
            return
        self.auth_timer = asyncio.ensure_future(self._auth_deadline())

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(AUTH_SECONDS)
        if self.member is None:
            await self.error("not_authenticated", _("Authenticate first."))
            await self.close(code=4401)

    async def disconnect(self, code: int) -> None:
        timer = getattr(self, "auth_timer", None)
        if timer is not None:
            timer.cancel()
        await super().disconnect(code)

    async def _signed_in(self, member_id: int) -> None:
        from miniops.members.models import Member

        self.member = await db(Member.objects.get)(pk=member_id)
        current = await db(selectors.active_conversation)(member_id)
        await self.send_json(
            {
                "type": "hello",
                "member": member_id,
                "conversation": await db(_conversation_dict)(current) if current else None,
            }
        )

    async def handle(self, kind: str, frame: dict[str, Any]) -> None:
        if kind == "ping":
            await self.catch_up()
            await self.send_json({"type": "pong"})
            return
        if self.member is None:
            if kind != "auth" or not isinstance(frame.get("token"), str):
                await self.error("not_authenticated", _("Authenticate first."))
                return
            from miniops.members.apiauth import resolve

            principal = await db(resolve)(frame["token"])
            if principal is None or not principal.member_id:
                await self.error("not_authenticated", _("The token is invalid or expired."))
                await self.close(code=4401)
                return
            await self._signed_in(principal.member_id)
            return
        member = self.member
        if kind == "open":
            conversation = await db(services.open_conversation)(
                member=member,
                queue=frame.get("queue") if isinstance(frame.get("queue"), str) else None,
                order_id=frame.get("order_id"),
                product_id=frame.get("product_id"),
            )
            await self.send_json(
                {
                    "type": "conversation",
                    "conversation": await db(_conversation_dict)(conversation),
                }
            )
            await self.watch(conversation.pk, frame.get("after", 0))
        elif kind == "resume":
            conv = _int(frame, "conversation")
            await db(_own)(member.pk, conv)
            await self.watch(conv, frame.get("after", 0))
        elif kind == "send":
            conv = _int(frame, "conversation")
            result = await db(services.send_member_message)(
                member=member,
                conversation_id=conv,
                kind=_kind(frame),
                text=frame.get("text", ""),
                payload=frame.get("payload"),
                client_id=frame.get("client_id", ""),
            )
            await self.send_json(
                {
                    "type": "ack",
                    "client_id": result.message.client_id,
                    "id": result.message.pk,
                    "seq": result.message.seq,
                    "duplicate": not result.created,
                }
            )
            if conv in self.watching and not result.created:
                await self.deliver(conv, self.last_sent.get(conv, 0))
        elif kind == "read":
            conv = _int(frame, "conversation")
            await db(services.mark_read)(member=member, conversation_id=conv, seq=frame.get("seq"))
        elif kind == "typing":
            conv = _int(frame, "conversation")
            if conv in self.watching:
                await self.typing(conv)
        elif kind == "close":
            await db(services.close)(member=member, conversation_id=_int(frame, "conversation"))
        elif kind == "rate":
            await db(services.rate)(
                member=member,
                conversation_id=_int(frame, "conversation"),
                rating=frame.get("rating"),
                comment=frame.get("comment", "") or "",
            )
            await self.send_json({"type": "rated", "conversation": frame["conversation"]})
        elif kind == "auth":
            await self.error("bad_frame", _("Already signed in."))
        else:
            await self.error("unknown_type", _("Unknown frame type."))


def _own(member_id: int, conversation_id: int) -> None:
    from miniops.core.errors import NotFound

    if not Conversation.objects.filter(pk=conversation_id, member_id=member_id).exists():
        raise NotFound(_("No such conversation."))


def _conversation_dict(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "state": conversation.state,
        "queue": conversation.queue_id,
        "order": conversation.order_id,
        "product": conversation.product_id,
        "last_seq": conversation.last_seq,
        "agent_read_seq": conversation.agent_read_seq,
        "unread": selectors.unread_for_member(conversation),
    }


@db
def _agent_admitted(user: Any, session: Any) -> bool:
    from django_otp import DEVICE_ID_SESSION_KEY

    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_operator", False):
        return False
    if not user.is_active or not user.has_permission(P.SUPPORT_CHAT):
        return False
    return not (user.requires_2fa and not session.get(DEVICE_ID_SESSION_KEY))


class AgentConsumer(_Base):
    """``/ws/support/agent/``: a console session holding ``support.chat``."""

    side = "agent"

    async def start(self) -> None:
        self.user = self.scope.get("user")
        if not await _agent_admitted(self.user, self.scope.get("session", {})):
            await self.close(code=4403)
            return
        await self.join(realtime.agent_group(self.user.pk))
        await self.join(realtime.DESK_GROUP)
        await self.accept()
        await self.send_json({"type": "hello", "agent": self.user.pk})

    async def unwatched(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "notice", "message": message})

    async def handle(self, kind: str, frame: dict[str, Any]) -> None:
        user = self.user
        sync = db
        if kind == "ping":
            await self.catch_up()
            await self.send_json({"type": "pong"})
        elif kind == "watch":
            conv = _int(frame, "conversation")
            await sync(Conversation.objects.get)(pk=conv)
            await self.watch(conv, frame.get("after", 0))
        elif kind == "unwatch":
            conv = _int(frame, "conversation")
            self.watching.discard(conv)
            group = realtime.conversation_group(conv)
            if group in self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
                self.groups_joined.discard(group)
        elif kind == "send":
            conv = _int(frame, "conversation")
            result = await sync(services.send_agent_message)(
                actor=user,
                conversation_id=conv,
                kind=_kind(frame),
                text=frame.get("text", ""),
                payload=frame.get("payload"),
                client_id=frame.get("client_id", ""),
            )
            await self.send_json(
                {
                    "type": "ack",
                    "client_id": result.message.client_id,
                    "id": result.message.pk,
                    "seq": result.message.seq,
                    "duplicate": not result.created,
                }
            )
        elif kind == "read":
            await sync(services.mark_read)(
                actor=user, conversation_id=_int(frame, "conversation"), seq=frame.get("seq")
            )
        elif kind == "typing":
            conv = _int(frame, "conversation")
            if conv in self.watching:
                await self.typing(conv)
        elif kind == "status":
            status = await sync(services.set_agent_status)(actor=user, state=frame.get("state"))
            await self.send_json(
                {
                    "type": "status",
                    "state": status.state,
                    "capacity": status.capacity,
                    "load": status.load,
                }
            )
        elif kind in ("claim", "close", "reopen"):
            call = {"claim": services.claim, "close": services.close, "reopen": services.reopen}[
                kind
            ]
            conversation = await sync(call)(actor=user, conversation_id=_int(frame, "conversation"))
            await self.send_json({"type": "done", "action": kind, "conversation": conversation.pk})
        elif kind == "transfer":
            conv = _int(frame, "conversation")
            await sync(_transfer)(user, conv, frame)
            await self.send_json({"type": "done", "action": kind, "conversation": conv})
        elif kind == "note":
            await sync(services.add_note)(
                actor=user, conversation_id=_int(frame, "conversation"), text=frame.get("text")
            )
        else:
            await self.error("unknown_type", _("Unknown frame type."))

    async def support_note(self, event: dict[str, Any]) -> None:
        await self.send_json({**event, "type": "note"})

    async def support_agent(self, event: dict[str, Any]) -> None:
        await self.send_json({**event, "type": "agent"})


def _transfer(user: Any, conversation_id: int, frame: dict[str, Any]) -> None:
    from miniops.accounts.models import Operator
    from miniops.core.errors import NotFound

    to_agent = to_queue = None
    if isinstance(frame.get("to_agent"), int):
        to_agent = Operator.objects.filter(pk=frame["to_agent"], is_active=True).first()
        if to_agent is None:
            raise NotFound(_("No such agent."))
    elif isinstance(frame.get("to_queue"), int):
        to_queue = Queue.objects.filter(pk=frame["to_queue"], active=True).first()
        if to_queue is None:
            raise NotFound(_("No such queue."))
    reason = frame.get("reason", "") if isinstance(frame.get("reason"), str) else ""
    services.transfer(
        actor=user,
        conversation_id=conversation_id,
        to_agent=to_agent,
        to_queue=to_queue,
        reason=reason,
    )
