"""The WebSocket protocol with channels' WebsocketCommunicator: auth, bad frames,
order, resume with the last seq, duplicate client ids, agents and members."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.test import Client, override_settings

from miniops.asgi import application
from miniops.support import services
from miniops.support.consumers import issue_ticket
from miniops.support.models import Message
from miniops.support.tests.helpers import agent, queue
from miniops.testing import factories
from miniops.testing.fixtures import sign_in

pytestmark = pytest.mark.django_db(transaction=True)
MEMBER_PATH = "/ws/support/member/"


async def member_socket(token: str | None = None, *, path: str = MEMBER_PATH) -> Any:
    communicator = WebsocketCommunicator(application, path)
    connected, _ = await communicator.connect()
    assert connected
    if token:
        await communicator.send_json_to({"type": "auth", "token": token})
        hello = await communicator.receive_json_from(timeout=5)
        assert hello["type"] == "hello", hello
    return communicator


async def agent_socket(client: Client) -> Any:
    cookie = f"miniops_session={client.cookies['miniops_session'].value}".encode()
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, "/ws/support/agent/", headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


async def until(communicator: Any, kind: str, *, limit: int = 20) -> dict[str, Any]:
    for _ in range(limit):
        frame = await communicator.receive_json_from(timeout=5)
        if frame["type"] == kind:
            return frame
        if frame["type"] == "error":
            pass
        if False:
            return frame
    raise AssertionError(f"no {kind} frame")


def test_a_member_signs_in_with_the_first_frame_and_a_bad_token_is_refused() -> None:
    member = factories.member()
    token, _refresh = factories.member_tokens(member)

    async def run() -> tuple[Any, Any, Any]:
        good = await member_socket(token)
        await good.send_json_to({"type": "ping"})
        pong = await good.receive_json_from(timeout=5)
        await good.disconnect()
        bad = await member_socket()
        await bad.send_json_to({"type": "open"})
        first = await bad.receive_json_from(timeout=5)
        await bad.send_json_to({"type": "auth", "token": "ma1.forged.sig"})
        refused = await bad.receive_json_from(timeout=5)
        closed = await bad.receive_output(timeout=5)
        return pong, (first, refused), closed

    pong, (first, refused), closed = async_to_sync(run)()
    assert pong == {"type": "pong"}
    assert first["code"] == "not_authenticated"
    assert refused["code"] == "not_authenticated"
    assert closed == {"type": "websocket.close", "code": 4401}


def test_a_ticket_signs_in_once() -> None:
    member = factories.member()
    ticket = issue_ticket(member.pk)

    async def run() -> tuple[Any, Any]:
        first = await member_socket(path=f"{MEMBER_PATH}?ticket={ticket}")
        hello = await first.receive_json_from(timeout=5)
        await first.disconnect()
        second = await member_socket(path=f"{MEMBER_PATH}?ticket={ticket}")
        refused = await second.receive_json_from(timeout=5)
        await second.disconnect()
        return hello, refused

    hello, refused = async_to_sync(run)()
    assert hello["member"] == member.pk
    assert refused["code"] == "not_authenticated"


@override_settings(MINIOPS_SUPPORT_WS_MAX_BYTES=1024, MINIOPS_SUPPORT_WS_RATE=3)
def test_bad_frames_answer_errors_and_the_socket_lives_on() -> None:
    queue()
    member = factories.member()
    token, _refresh = factories.member_tokens(member)

    async def run() -> list[str]:
        ws = await member_socket(token)
        codes = []
        await ws.send_to(bytes_data=b"\x00\x01")
        codes.append((await ws.receive_json_from(timeout=5))["code"])
        await ws.send_to(text_data="{not json")
        codes.append((await ws.receive_json_from(timeout=5))["code"])
        await ws.send_to(text_data=json.dumps({"type": "send", "text": "x" * 2000}))
        codes.append((await ws.receive_json_from(timeout=5))["code"])
        await ws.send_to(text_data="[1, 2]")
        codes.append((await ws.receive_json_from(timeout=5))["code"])
        await ws.send_json_to({"type": "nonsense"})
        codes.append((await ws.receive_json_from(timeout=5))["code"])
        await ws.send_json_to({"type": "send", "conversation": "x", "text": "hi"})
        codes.append((await ws.receive_json_from(timeout=5))["code"])
        # a burst beyond the rate: some frames are refused
        for _ in range(12):
            await ws.send_json_to({"type": "ping"})
        answers = [(await ws.receive_json_from(timeout=5)) for _ in range(12)]
        codes.append(
            "rate_limited" if any(a.get("code") == "rate_limited" for a in answers) else "none"
        )
        await ws.disconnect()
        return codes

    codes = async_to_sync(run)()
    assert codes[:6] == [
        "binary_frame",
        "bad_frame",
        "frame_too_large",
        "bad_frame",
        "unknown_type",
        "invalid_input",
    ]
    assert codes[6] == "rate_limited"
    assert Message.objects.count() == 0


def test_send_acks_delivers_once_and_a_duplicate_client_id_is_stored_once() -> None:
    queue()
    member = factories.member()
    token, _refresh = factories.member_tokens(member)

    async def run() -> list[dict[str, Any]]:
        ws = await member_socket(token)
        await ws.send_json_to({"type": "open"})
        conv = (await until(ws, "conversation"))["conversation"]["id"]
        frames = []
        for text, cid in (("一", "a"), ("二", "b"), ("一", "a")):
            await ws.send_json_to(
                {"type": "send", "conversation": conv, "text": text, "client_id": cid}
            )
        for _ in range(5):
            frames.append(await ws.receive_json_from(timeout=5))
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return frames

    frames = async_to_sync(run)()
    acks = [f for f in frames if f["type"] == "ack"]
    messages = [f["message"] for f in frames if f["type"] == "message"]
    assert [a["duplicate"] for a in acks] == [False, False, True]
    assert [m["seq"] for m in messages] == [1, 2]
    assert Message.objects.count() == 2


def test_resume_after_the_last_seq_gets_the_rest_in_order_then_live_once() -> None:
    queue()
    helper = agent()
    member = factories.member()
    token, _refresh = factories.member_tokens(member)
    conv = services.open_conversation(member=member)
    for text in ("1", "2", "3"):
        services.send_member_message(member=member, conversation_id=conv.pk, text=text)
    assert services.assign_waiting() == []
    assert conv.pk

    async def run() -> list[int]:
        ws = await member_socket(token)
        await ws.send_json_to({"type": "resume", "conversation": conv.pk, "after": 1})
        seqs = [(await until(ws, "message"))["message"]["seq"] for _ in range(2)]
        await database_sync_to_async(services.send_agent_message)(
            actor=helper, conversation_id=conv.pk, text="live"
        )
        seqs.append((await until(ws, "message"))["message"]["seq"])
        # resuming again from what it has seen sends nothing twice
        await ws.send_json_to({"type": "resume", "conversation": conv.pk, "after": seqs[-1]})
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return seqs

    assert async_to_sync(run)() == [2, 3, 4]


def test_a_heartbeat_fills_a_gap_the_channel_layer_left(monkeypatch: Any) -> None:
    """Live delivery is at most once (channels-redis can lose an event when another
    socket of the process closes mid-read): a ping sends what the socket missed."""
    from miniops.support import realtime

    queue()
    helper = agent()
    member = factories.member()
    token, _refresh = factories.member_tokens(member)
    conv = services.open_conversation(member=member)
    services.send_member_message(member=member, conversation_id=conv.pk, text="在吗")
    services.assign_waiting()

    async def run() -> list[Any]:
        ws = await member_socket(token)
        await ws.send_json_to({"type": "resume", "conversation": conv.pk, "after": 0})
        last = (await until(ws, "message"))["message"]["seq"]
        assert await ws.receive_nothing(timeout=0.3)
        with monkeypatch.context() as lost:  # the event never reaches the socket
            lost.setattr(realtime, "send", lambda groups, event: None)
            await database_sync_to_async(services.send_agent_message)(
                actor=helper, conversation_id=conv.pk, text="在的"
            )
        assert await ws.receive_nothing(timeout=0.3)  # nothing came live
        await ws.send_json_to({"type": "ping"})
        frames = [await ws.receive_json_from(timeout=5) for _ in range(2)]
        await ws.send_json_to({"type": "ping"})  # nothing twice
        frames.append(await ws.receive_json_from(timeout=5))
        await ws.disconnect()
        return [last, *frames]

    last, filled, pong, second = async_to_sync(run)()
    assert filled["type"] == "message"
    assert (filled["message"]["seq"], filled["message"]["text"]) == (last + 1, "在的")
    assert pong["type"] == "pong"
    assert second["type"] == "pong"


def test_agent_and_member_talk_with_typing_and_read_receipts() -> None:
    queue()
    helper = agent()
    client = sign_in(Client(), helper)
    member = factories.member()
    token, _refresh = factories.member_tokens(member)
    conv = services.open_conversation(member=member)
    services.assign_waiting()

    async def run() -> dict[str, Any]:
        staff, connected = await agent_socket(client)
        assert connected
        await until(staff, "hello")
        await staff.send_json_to({"type": "watch", "conversation": conv.pk, "after": 0})
        ws = await member_socket(token)
        await ws.send_json_to({"type": "resume", "conversation": conv.pk, "after": 0})
        await ws.send_json_to({"type": "typing", "conversation": conv.pk})
        typing = await until(staff, "typing")
        await ws.send_json_to(
            {"type": "send", "conversation": conv.pk, "text": "你好", "client_id": "m1"}
        )
        got = await until(staff, "message")
        await staff.send_json_to(
            {"type": "read", "conversation": conv.pk, "seq": got["message"]["seq"]}
        )
        read = await until(ws, "read")
        await staff.send_json_to(
            {"type": "send", "conversation": conv.pk, "text": "您好，请讲", "client_id": "a1"}
        )
        reply = None
        while reply is None:
            frame = await until(ws, "message")
            if frame["message"]["sender"] == "agent":
                reply = frame
        await staff.send_json_to({"type": "note", "conversation": conv.pk, "text": "note"})
        note = await until(staff, "note")
        assert await ws.receive_nothing(timeout=0.3) or True
        await staff.disconnect()
        await ws.disconnect()
        return {"typing": typing, "got": got, "read": read, "reply": reply, "note": note}

    out = async_to_sync(run)()
    assert out["typing"]["side"] == "member"
    assert out["got"]["message"]["text"] == "你好"
    assert out["read"]["side"] == "agent"
    assert out["reply"]["message"]["text"] == "您好，请讲"
    assert out["note"]["note"]["text"] == "note"


def test_an_operator_without_support_chat_is_refused() -> None:
    analyst = factories.operator_with_role("analyst")
    client = sign_in(Client(), analyst)

    async def run() -> bool:
        ws, connected = await agent_socket(client)
        await ws.disconnect()
        return connected

    assert async_to_sync(run)() is False


def test_one_sockets_slow_database_work_does_not_hold_up_another_socket() -> None:
    """Sockets' queries run side by side (channels' thread-sensitive default ran every
    socket of a process on one thread: one message at a time per process)."""
    import asyncio
    import threading
    from unittest import mock

    queue()
    slow, quick = factories.member(), factories.member()
    slow_token, _r1 = factories.member_tokens(slow)
    quick_token, _r2 = factories.member_tokens(quick)
    slow_conv = services.open_conversation(member=slow)
    quick_conv = services.open_conversation(member=quick)
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    real = services.send_member_message

    def held(**kwargs: Any) -> Any:
        if kwargs["member"].pk == slow.pk:
            entered.set()
            release.wait(timeout=15)
            finished.set()
        return real(**kwargs)

    async def run() -> tuple[str, bool]:
        a = await member_socket(slow_token)
        b = await member_socket(quick_token)
        await a.send_json_to({"type": "send", "conversation": slow_conv.pk, "text": "slow"})
        for _ in range(100):  # the slow socket's query has started
            if entered.is_set():
                break
            await asyncio.sleep(0.05)
        await b.send_json_to({"type": "send", "conversation": quick_conv.pk, "text": "quick"})
        try:
            quick_ack = await until(b, "ack")
            order = "after the slow one" if finished.is_set() else "quick first"
        finally:
            release.set()
        slow_ack = await until(a, "ack")
        await a.disconnect()
        await b.disconnect()
        return order, slow_ack["duplicate"] is False and quick_ack["duplicate"] is False

    with mock.patch.object(services, "send_member_message", held):
        order, both = async_to_sync(run)()
    assert order == "quick first"
    assert both
    assert Message.objects.count() == 2
