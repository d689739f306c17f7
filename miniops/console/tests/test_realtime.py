"""The console WebSocket admits only verified operators and delivers pushes."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
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


def test_domain_notices_reach_the_console_after_commit_only() -> None:
    """``core.events.notify_operators`` is how domain code pushes: a rolled-back
    transaction pushes nothing, a committed one reaches every open console, and a
    notice for one operator reaches only that operator."""
    from django.db import transaction

    from miniops.core import events

    first = factories.operator_with_role("super_admin")
    second = factories.operator_with_role("super_admin")
    first_client = sign_in(Client(), first)
    second_client = sign_in(Client(), second)

    async def run() -> tuple[list[Any], list[Any]]:
        one, ok_one = await connect(session_cookie(first_client))
        two, ok_two = await connect(session_cookie(second_client))
        assert ok_one
        assert ok_two
        await one.receive_json_from(timeout=5)  # hello
        await two.receive_json_from(timeout=5)

        @database_sync_to_async
        def send() -> None:
            try:
                with transaction.atomic():
                    events.notify_operators({"type": "alert", "n": "rolled back"})
                    raise RuntimeError
            except RuntimeError:
                pass
            with transaction.atomic():
                events.notify_operators({"type": "alert", "n": "all"})
            with transaction.atomic():
                events.notify_operators({"type": "alert", "n": "one"}, operator_id=first.pk)

        await send()
        got_one = [await one.receive_json_from(timeout=5) for _ in range(2)]
        got_two = [await two.receive_json_from(timeout=5)]
        assert await two.receive_nothing(timeout=0.3)
        await one.disconnect()
        await two.disconnect()
        return got_one, got_two

    got_one, got_two = async_to_sync(run)()
    assert got_one == [{"type": "alert", "n": "all"}, {"type": "alert", "n": "one"}]
    assert got_two == [{"type": "alert", "n": "all"}]
