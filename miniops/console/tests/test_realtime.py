"""The console WebSocket admits only verified operators and delivers pushes."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing.websocket import WebsocketCommunicator
from django.test import Client

from miniops.asgi import application
from miniops.console.consumers import BROADCAST_GROUP
from miniops.testing import factories
from miniops.testing.fixtures import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(client: Client) -> bytes:
    return f"miniops_session={client.cookies['miniops_session'].value}".encode()


async def connect(cookie: bytes | None) -> tuple[WebsocketCommunicator, bool]:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


def test_anonymous_socket_is_refused() -> None:
    async def run() -> bool:
        communicator, connected = await connect(None)
        await communicator.disconnect()
        return connected

    assert async_to_sync(run)() is False


def test_operator_awaiting_totp_is_refused() -> None:
    operator = factories.operator_with_role("super_admin")
    client = Client()
    client.force_login(operator)

    async def run() -> bool:
        communicator, connected = await connect(session_cookie(client))
        await communicator.disconnect()
        return connected

    assert async_to_sync(run)() is False


def test_verified_operator_receives_pushes() -> None:
    operator = factories.operator_with_role("super_admin")
    client = sign_in(Client(), operator)

    async def run() -> list[Any]:
        communicator, connected = await connect(session_cookie(client))
        assert connected
        hello = await communicator.receive_json_from(timeout=5)
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from(timeout=5)
        layer = get_channel_layer()
        await layer.group_send(
            BROADCAST_GROUP, {"type": "console.event", "payload": {"type": "alert", "n": 1}}
        )
        pushed = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return [hello, pong, pushed]

    hello, pong, pushed = async_to_sync(run)()
    assert hello == {"type": "hello", "operator": operator.username}
    assert pong == {"type": "pong"}
    assert pushed == {"type": "alert", "n": 1}
