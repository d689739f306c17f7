"""The agent inbox: status, queues, conversations, the chat with live updates, and
beside it the member-360 card, recent orders and the order under discussion.

The page and its fragments are reads (GET); everything the agent does — send,
claim, transfer, note, close, status — goes over the agent WebSocket to the
services, which check the permission again and write the audit rows.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from miniops.accounts.models import Operator
from miniops.core.console import operator_has, site
from miniops.core.money import format_fen
from miniops.core.permissions import P
from miniops.support import selectors
from miniops.support.models import AgentStatus, Conversation, InternalNote, Queue


def _me(request: HttpRequest) -> int:
    return int(request.user.pk or 0)


def _status(request: HttpRequest) -> AgentStatus | None:
    return AgentStatus.objects.filter(operator_id=_me(request)).first()


def _conversations(request: HttpRequest) -> list[dict[str, Any]]:
    supervisor = operator_has(request, P.SUPPORT_SUPERVISE)
    rows = []
    for c in selectors.agent_inbox(_me(request), supervisor=supervisor)[:100]:
        rows.append(
            {
                "c": c,
                "mine": c.assignee_id == _me(request),
                "unread": selectors.unread_for_agent(c),
            }
        )
    return rows


@site.register_page(
    name="support_inbox",
    route="support/inbox/",
    permission=P.SUPPORT_CHAT,
    title=_("Inbox"),
    icon="forum",
)
def inbox_page(request: HttpRequest) -> HttpResponseBase:
    replies = [
        {
            "id": r.pk,
            "shortcut": r.shortcut,
            "title": r.title,
            "text": r.text,
            "language": r.language,
            "shared": r.owner_id is None,
        }
        for r in selectors.quick_replies(_me(request))
    ]
    agents = [
        {"id": s.operator_id, "name": str(s.operator), "state": str(s.get_state_display())}
        for s in AgentStatus.objects.select_related("operator").exclude(operator_id=_me(request))
    ]
    queues = [{"id": q.pk, "name": q.name} for q in Queue.objects.filter(active=True)]
    strings = {
        "connected": gettext("Connected"),
        "disconnected": gettext("Reconnecting…"),
        "typing": gettext("The member is typing…"),
        "read": gettext("Read"),
        "confirm_close": gettext("Close this conversation? The member is asked to rate it."),
        "confirm_transfer": gettext("Transfer this conversation?"),
        "window": gettext("WeChat window: %(left)s replies left, until %(until)s"),
        "window_closed": gettext(
            "WeChat's reply window is closed: send a subscribe message instead."
        ),
        "note_saved": gettext("Note saved (agents only)."),
        "claim": gettext("Claim"),
        "pick": gettext("Pick a conversation on the left."),
    }
    context = site.page_context(
        request,
        title=_("Inbox"),
        status=_status(request),
        conversations=_conversations(request),
        ws_path="/ws/support/agent/",
        # the console's own channel: SLA warnings and breaches, alerts
        console_ws_path="/ws/console/",
        list_url=reverse("console:support_inbox_list"),
        panel_url=reverse("console:support_inbox_panel"),
        replies=replies,
        agents=agents,
        queues=queues,
        strings=strings,
        me=_me(request),
        counts=selectors.desk_counts(),
    )
    return TemplateResponse(request, "support/inbox.html", context)


@site.register_page(
    name="support_inbox_list",
    route="support/inbox/list/",
    permission=P.SUPPORT_CHAT,
    title=_("Inbox"),
    icon="forum",
)
def inbox_list(request: HttpRequest) -> HttpResponseBase:
    context = {"conversations": _conversations(request), "counts": selectors.desk_counts()}
    return TemplateResponse(request, "support/_inbox_list.html", context)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 18 else None


@site.register_page(
    name="support_inbox_panel",
    route="support/inbox/panel/",
    permission=P.SUPPORT_CHAT,
    title=_("Inbox"),
    icon="forum",
)
def inbox_panel(request: HttpRequest) -> HttpResponseBase:
    """The side panel of one conversation: member-360 (masked as on the member
    page), recent orders, the order under discussion, notes, the WeChat window."""
    from miniops.members.selectors import masked_profile
    from miniops.orders.models import Order

    conversation_id = _int(request.GET.get("conversation"))
    conversation = (
        Conversation.objects.select_related("member", "order", "queue", "assignee")
        .filter(pk=conversation_id)
        .first()
        if conversation_id
        else None
    )
    context: dict[str, Any] = {"conversation": conversation}
    if conversation is not None:
        member = conversation.member
        window = selectors.wechat_window(conversation)
        orders = list(Order.objects.filter(member=member).order_by("-created_at")[:5])
        context.update(
            profile=masked_profile(member) if operator_has(request, P.MEMBERS_VIEW) else None,
            member_url=reverse("console:members_member_change", args=[member.pk])
            if operator_has(request, P.MEMBERS_VIEW)
            else "",
            orders=[(o, format_fen(o.payable_amount)) for o in orders]
            if operator_has(request, P.ORDERS_VIEW)
            else [],
            order=conversation.order if operator_has(request, P.ORDERS_VIEW) else None,
            notes=list(
                InternalNote.objects.filter(conversation=conversation).select_related("author")
            ),
            window=window,
            window_until=parse_datetime(window["until"]) if window["until"] else None,
            offer=selectors.subscribe_offer(conversation) if window["applies"] else {},
            mine=conversation.assignee_id == _me(request),
            may_ticket=operator_has(request, P.SUPPORT_MANAGE_TICKETS),
            agents=Operator.objects.filter(support_status__isnull=False).exclude(pk=_me(request)),
        )
    return TemplateResponse(request, "support/_inbox_panel.html", context)
