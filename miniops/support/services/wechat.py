"""WeChat's contact button: messages members write there (the message push) and,
once the 48-hour / 5-reply window is over, a subscribe message instead.

A push opens or resumes the member's contact-button conversation and starts the
window again (``wx_last_member_at``, 5 replies). WeChat resends a push it got no
answer to within 5 seconds: the message is stored with ``client_id
wx:<MsgId>``, so a resend is stored once. The push URL checks the signature and
refuses replays before any of this runs (``content.api.push_receive``, the
mini-program's one push URL, hands these pushes over through
``core.wechat_push``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core import audit
from miniops.core.errors import Conflict, InvalidInput
from miniops.core.permissions import P, require
from miniops.support import selectors
from miniops.support.models import (
    Channel,
    ConversationState,
    InternalNote,
    MessageKind,
    SenderKind,
)
from miniops.support.services.conversations import (
    MAX_TEXT,
    _agent_conversation,
    _append,
    _locked,
    _publish_state,
    _stored_resend,
    open_conversation,
)

logger = logging.getLogger("miniops.support")

#: the pushes customer service listens to (``core.wechat_push.register``)
MESSAGE_TYPES = ("text", "image", "miniprogrampage")
ENTER_EVENT = "user_enter_tempsession"


def _when(body: dict[str, Any]) -> datetime:
    """The push's ``CreateTime``, never later than now (the window counts from
    when the member wrote, and never grows from a clock ahead of ours)."""
    now = timezone.now()
    created = body.get("CreateTime")
    if isinstance(created, int | str) and str(created).isdigit():
        return min(now, datetime.fromtimestamp(int(created), tz=UTC))
    return now


def receive_push(body: dict[str, Any]) -> Any:
    """One contact-button push: a message (stored, like one from the
    mini-program) or the member entering the session. Returns the message, or
    None for the event or a push that names no member of ours (acknowledged and
    logged: WeChat would only send it again)."""
    from miniops.members.models import Member

    openid = body.get("FromUserName")
    member = Member.objects.filter(openid=openid).first() if isinstance(openid, str) else None
    if member is None:
        logger.info("contact-button push from an unknown openid, dropped")
        return None
    at = _when(body)
    conversation = open_conversation(member=member, channel=Channel.WECHAT_KF)
    kind = body.get("MsgType")
    with transaction.atomic():
        conversation = _locked(conversation.pk)
        if kind == "event":
            if conversation.wx_last_member_at is None or conversation.wx_last_member_at < at:
                conversation.wx_last_member_at = at
            conversation.wx_replies_used = 0
            conversation.save(update_fields=["wx_last_member_at", "wx_replies_used"])
            _publish_state(conversation, extra={"window": selectors.wechat_window(conversation)})
            return None
        msg_id = body.get("MsgId")
        client_id = f"wx:{msg_id}"[:64] if msg_id not in (None, "") else ""
        text, payload = "", {}
        if kind == "image":
            message_kind = MessageKind.IMAGE
            payload = {
                "image": f"wechat:{str(body.get('MediaId', ''))[:128]}",
                "wx_pic_url": str(body.get("PicUrl", ""))[:500],
            }
        elif kind == "miniprogrampage":
            message_kind = MessageKind.TEXT
            title = str(body.get("Title", ""))[:200]
            page = str(body.get("PagePath", ""))[:500]
            text = title or page
            payload = {"wx_page": page, "title": title}
        else:
            message_kind = MessageKind.TEXT
            text = str(body.get("Content", "")).strip()[:MAX_TEXT] or "…"
        stored = _stored_resend(conversation, client_id)
        if stored is not None:  # WeChat retries a push it thinks went unanswered
            return stored.message
        result = _append(
            conversation,
            sender=SenderKind.MEMBER,
            kind=message_kind,
            text=text,
            payload=payload,
            client_id=client_id,
        )
        if result.created and conversation.wx_last_member_at != at:
            conversation.wx_last_member_at = at
            conversation.save(update_fields=["wx_last_member_at"])
        return result.message


def register_push_handlers() -> None:
    from miniops.core import wechat_push

    for kind in (*MESSAGE_TYPES, ENTER_EVENT):
        wechat_push.register(kind, receive_push)


# --- past the window: a subscribe message -------------------------------------------------
def send_subscribe_instead(*, actor: Any, conversation_id: int, text: str) -> dict[str, Any]:
    """Reach a member the contact-button window no longer allows: the
    notifications app's customer-service reply notice (``service_reply`` in the
    push settings), planned on its delivery path, which checks the member's
    consent, quiet hours and caps. Refused when no template is set or the member
    gave no consent for it."""
    from miniops.notifications.services import campaigns

    require(actor, P.SUPPORT_CHAT)
    text = " ".join(str(text or "").split())
    if not text:
        raise InvalidInput(fields={"text": _("Write something first.")})
    with transaction.atomic():
        conversation = _agent_conversation(actor, conversation_id)
        if conversation.state == ConversationState.CLOSED:
            raise Conflict(_("This conversation is closed."), code="closed")
        offer = selectors.subscribe_offer(conversation)
        if not offer["configured"]:
            raise Conflict(
                _("No customer-service reply template is set in the push settings."),
                code="no_template",
            )
        if not offer["reachable"]:
            raise Conflict(
                _("The member has not agreed to customer-service reply notices."),
                code="no_consent",
            )
        occurrence = f"support:{conversation.pk}:{conversation.last_seq}"
        campaigns.transactional(
            "service_reply",
            member_id=conversation.member_id,
            occurrence=occurrence,
            context={"product": text[:20]},
        )
        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            instance=conversation,
            changes={},
            additional={"support": "subscribe_message", "occurrence": occurrence},
        )
        # for the agents (the member gets the notice itself, not a chat line)
        InternalNote.objects.create(
            conversation=conversation,
            author=actor,
            text=_("Subscribe message sent: %(text)s") % {"text": text[:200]},
        )
        return {"occurrence": occurrence, "template": offer["template"]}
