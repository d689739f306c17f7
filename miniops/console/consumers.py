"""Real-time channel to the console (Channels): live counters, alerts, chat.

Only signed-in operators who passed two-factor (when required) may connect. Each
joins its own group and the broadcast group; domains push with
``miniops.core.events.notify_operators``, which ``miniops.console.realtime`` delivers.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django_otp import DEVICE_ID_SESSION_KEY

BROADCAST_GROUP = "console.broadcast"


def operator_group(operator_id: int) -> str:
    return f"console.operator.{operator_id}"


@database_sync_to_async
def _admitted(user: Any, session: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_operator", False):
        return False
    if not user.is_active:
        return False
    return not (user.requires_2fa and not session.get(DEVICE_ID_SESSION_KEY))


class ConsoleConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if not await _admitted(user, self.scope.get("session", {})):
            await self.close(code=4403)
            return
        self.groups_joined = [operator_group(user.pk), BROADCAST_GROUP]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "operator": user.username})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def console_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event.get("payload", {}))
