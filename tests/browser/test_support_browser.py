"""Customer service end to end: a member client (a WebSocket from a script) writes,
an agent in the console inbox receives it, answers with a quick reply, transfers
to a second agent who sees the whole history and closes; the member rates it.

Django's live server speaks no WebSocket, so the ASGI application runs here under
uvicorn in a thread, on the test database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from miniops.support.models import AgentStatus, Conversation, Csat, Message, QuickReply
from miniops.testing import factories

from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def asgi_server() -> Iterator[str]:
    import uvicorn

    from miniops.asgi import application

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            application, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


class MemberClient:
    """The mini-program's side: one socket in a thread of its own."""

    def __init__(self, base: str, token: str) -> None:
        self.url = base.replace("http://", "ws://") + "/ws/support/member/"
        self.token = token
        self.frames: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self.run(),), daemon=True
        )
        self.stop = False
        self.thread.start()

    async def run(self) -> None:
        import websockets

        async with websockets.connect(self.url, open_timeout=20) as ws:
            await ws.send(json.dumps({"type": "auth", "token": self.token}))
            while not self.stop:
                while self.outbox:
                    await ws.send(json.dumps(self.outbox.pop(0)))
                with contextlib.suppress(TimeoutError):
                    self.frames.append(json.loads(await asyncio.wait_for(ws.recv(), 0.1)))

    def send(self, frame: dict[str, Any]) -> None:
        self.outbox.append(frame)

    def wait_for(self, test: Any, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in list(self.frames):
                if test(frame):
                    return frame
            time.sleep(0.05)
        raise AssertionError(f"no such frame in {self.frames[-10:]}")


def signed_in_context(browser: Any, base: str, operator: Any) -> Any:
    client = Client()
    client.force_login(operator)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1500, "height": 900})
    context.add_cookies(
        [
            {
                "name": "miniops_session",
                "value": client.cookies["miniops_session"].value,
                "url": base,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def test_member_and_agents_talk_transfer_close_and_rate(browser: Any, asgi_server: str) -> None:
    base = asgi_server
    factories.support_queue()
    first = factories.operator_with_role(
        "customer_service", username="kefu1", display_name="陈客服"
    )
    second = factories.operator_with_role(
        "customer_service", username="kefu2", display_name="刘客服"
    )
    AgentStatus.objects.create(operator=first, state="online", capacity=5)
    AgentStatus.objects.create(operator=second, state="online", capacity=0)
    QuickReply.objects.create(shortcut="ship", title="发货时间", text="订单支付后48小时内发货。")
    member = factories.member(nickname="小鹿")
    token, _refresh = factories.member_tokens(member)

    # the first agent opens the inbox
    agent = signed_in_context(browser, base, first)
    agent.goto(f"{base}/console/support/inbox/")
    agent.wait_for_selector("#inbox-link:has-text('已连接')")

    # a member writes from the mini-program
    phone = MemberClient(base, token)
    phone.wait_for(lambda f: f["type"] == "hello")
    phone.send({"type": "open"})
    opened = phone.wait_for(lambda f: f["type"] == "conversation")
    conv = opened["conversation"]["id"]
    phone.send(
        {"type": "send", "conversation": conv, "text": "你好，我的订单还没发货", "client_id": "m1"}
    )
    phone.wait_for(lambda f: f["type"] == "ack")
    assert Conversation.objects.get(pk=conv).assignee_id == first.pk  # least loaded, online

    # the agent sees it arrive (the list refreshes live) and opens it
    agent.wait_for_selector(f"[data-conversation='{conv}']", timeout=5_000)
    agent.click(f"[data-conversation='{conv}']")
    agent.wait_for_selector("#chat-messages li:has-text('我的订单还没发货')", timeout=5_000)
    # and answers with a quick reply found with /
    agent.fill("#chat-input", "/sh")
    agent.dispatch_event("#chat-input", "input")
    agent.wait_for_selector("#chat-replies li[data-reply]")
    screenshot(agent, "support-01-quick-reply")
    agent.click("#chat-replies li[data-reply]")
    agent.click("#chat-send")
    reply = phone.wait_for(lambda f: f["type"] == "message" and f["message"]["sender"] == "agent")
    assert reply["message"]["kind"] == "quick_reply"
    assert "48小时" in reply["message"]["text"]

    # and transfers it to the second agent
    AgentStatus.objects.filter(operator=second).update(capacity=5)
    agent.reload()
    agent.wait_for_selector("#inbox-link:has-text('已连接')")
    agent.click(f"[data-conversation='{conv}']")
    agent.wait_for_selector("#chat-transfer:not(.hidden)")
    agent.select_option("#chat-transfer", f"agent:{second.pk}")
    phone.wait_for(lambda f: f["type"] == "message" and "刘客服" in f["message"]["text"])
    screenshot(agent, "support-02-transferred")

    # the second agent sees the whole history (nothing copied) and closes
    other = signed_in_context(browser, base, second)
    other.goto(f"{base}/console/support/inbox/")
    other.wait_for_selector("#inbox-link:has-text('已连接')")
    other.click(f"[data-conversation='{conv}']")
    other.wait_for_selector("#chat-messages li:has-text('我的订单还没发货')")
    other.wait_for_selector("#chat-messages li:has-text('48小时内发货')")
    other.wait_for_selector("#panel-member")
    screenshot(other, "support-03-second-agent")
    assert Message.objects.filter(conversation_id=conv, text__contains="还没发货").count() == 1
    other.wait_for_selector("#chat-close:not(.hidden)")
    other.click("#chat-close")
    phone.wait_for(lambda f: f["type"] == "state" and f.get("state") == "closed")

    # and the member rates it
    phone.send({"type": "rate", "conversation": conv, "rating": 5, "comment": "很快"})
    phone.wait_for(lambda f: f["type"] == "rated")
    phone.stop = True
    assert Csat.objects.get(conversation_id=conv).agent_id == second.pk
    agent.context.close()
    other.context.close()
