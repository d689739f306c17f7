"""Push an event to console browsers (after the transaction commits)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from miniops.console.consumers import BROADCAST_GROUP, operator_group


def _send(group: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "console.event", "payload": payload})


def notify_operator(operator_id: int, payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: _send(operator_group(operator_id), payload))


def broadcast(payload: dict[str, Any]) -> None:
    transaction.on_commit(lambda: _send(BROADCAST_GROUP, payload))
