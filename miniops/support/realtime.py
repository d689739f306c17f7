"""Fan-out of conversation events over the channel layer (Channels).

Groups:

* ``support.conv.<id>``: the member's sockets (and agents watching it);
* ``support.agent.<operator id>``: one agent's sockets (their conversations);
* ``support.desk``: every agent socket (waiting conversations, queue counts).

Services call ``publish_*`` once the transaction has committed, so a message is
in the database before anyone hears of it. The channel layer is the in-memory one
in the embedded default and channels-redis with ``REDIS_URL`` (several processes).
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger("miniops.support")

DESK_GROUP = "support.desk"


def conversation_group(conversation_id: int) -> str:
    return f"support.conv.{conversation_id}"


def agent_group(operator_id: int) -> str:
    return f"support.agent.{operator_id}"


def send(groups: list[str], event: dict[str, Any]) -> None:
    """``event`` to every group, in one pass of the event loop: called from a thread
    outside a running loop, each ``async_to_sync`` makes a loop of its own (and, with
    channels-redis, its own connection), so one per event rather than one per group."""
    layer = get_channel_layer()
    if layer is None or not groups:
        return

    async def fan_out() -> None:
        for group in groups:
            try:
                await layer.group_send(group, event)
            except Exception:  # a push is a courtesy: the row is the record, resume finds it
                logger.exception("support fan-out to %s failed", group)

    try:
        async_to_sync(fan_out)()
    except Exception:
        logger.exception("support fan-out failed")


def groups_for(conversation_id: int, assignee_id: int | None) -> list[str]:
    groups = [conversation_group(conversation_id)]
    groups.append(agent_group(assignee_id) if assignee_id else DESK_GROUP)
    return groups
