"""Every write of customer service (see the rooms in docs/adding-an-app.md)."""

from miniops.support.services.conversations import (
    SendResult,
    add_note,
    assign_waiting,
    claim,
    close,
    delete_quick_reply,
    mark_read,
    open_conversation,
    rate,
    reopen,
    save_quick_reply,
    send_agent_message,
    send_member_message,
    set_agent_status,
    transfer,
)
from miniops.support.services.tickets import (
    assign_ticket,
    change_ticket_state,
    create_ticket,
    evaluate_slas,
    reply_to_ticket,
)
from miniops.support.services.wechat import receive_push, send_subscribe_instead

__all__ = [
    "SendResult",
    "add_note",
    "assign_ticket",
    "assign_waiting",
    "change_ticket_state",
    "claim",
    "close",
    "create_ticket",
    "delete_quick_reply",
    "evaluate_slas",
    "mark_read",
    "open_conversation",
    "rate",
    "receive_push",
    "reopen",
    "reply_to_ticket",
    "save_quick_reply",
    "send_agent_message",
    "send_member_message",
    "send_subscribe_instead",
    "set_agent_status",
    "transfer",
]
