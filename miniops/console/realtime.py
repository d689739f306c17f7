"""Push an event to console browsers over the console WebSocket.

Domain code never imports this module: it calls
``miniops.core.events.notify_operators``, which hands the notice here once the
transaction has committed (registered in ``ConsoleConfig.ready``).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from miniops.console.consumers import BROADCAST_GROUP, operator_group


def _send(group: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "console.event", "payload": payload})


def publish(payload: dict[str, Any], operator_id: int | None) -> None:
    """The console's notice publisher (``core.events.register_notice_publisher``)."""
    _send(BROADCAST_GROUP if operator_id is None else operator_group(operator_id), payload)
