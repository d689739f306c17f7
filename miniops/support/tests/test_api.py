"""The HTTP fallback and tickets through the client API."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from miniops.support import services
from miniops.support.models import Message
from miniops.support.tests.helpers import agent, queue
from miniops.testing import factories

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "/api/v1/support"


def member_client() -> tuple[Any, Client]:
    person = factories.member()
    access, _refresh = factories.member_tokens(person)
    return person, Client(HTTP_AUTHORIZATION=f"Bearer {access}")


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, body, content_type="application/json")


def test_send_by_post_and_read_by_cursor_and_long_poll() -> None:
    queue()
    _person, client = member_client()
    opened = post(client, f"{BASE}/conversations", {})
    assert opened.status_code == 200
    conv = opened.json()["id"]
    first = post(
        client, f"{BASE}/conversations/{conv}/messages", {"text": "你好", "client_id": "x1"}
    )
    again = post(
        client, f"{BASE}/conversations/{conv}/messages", {"text": "你好", "client_id": "x1"}
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    post(client, f"{BASE}/conversations/{conv}/messages", {"text": "在吗"})
    page = client.get(f"{BASE}/conversations/{conv}/messages", {"after": 0})
    assert [m["seq"] for m in page.json()["items"]] == [1, 2]
    history = client.get(f"{BASE}/conversations/{conv}/messages", {"before": 2})
    assert [m["seq"] for m in history.json()["items"]] == [1]
    # a long-poll with nothing new returns empty once the wait is over
    empty = client.get(f"{BASE}/conversations/{conv}/messages", {"after": 2, "wait": 1})
    assert empty.json()["items"] == []

    # and one that is waiting when the agent answers gets the answer
    helper = agent()
    services.claim(actor=helper, conversation_id=conv)
    last = Message.objects.filter(conversation_id=conv).order_by("-seq").first().seq
    got: list[Any] = []

    def poll() -> None:
        try:
            got.append(
                client.get(f"{BASE}/conversations/{conv}/messages", {"after": last, "wait": 10})
            )
        finally:
            connections.close_all()

    poller = threading.Thread(target=poll)
    poller.start()
    services.send_agent_message(actor=helper, conversation_id=conv, text="您好")
    poller.join()
    assert [m["text"] for m in got[0].json()["items"]] == ["您好"]


def test_bad_input_answers_the_shared_shape() -> None:
    queue()
    _person, client = member_client()
    other, other_client = member_client()
    conv = post(client, f"{BASE}/conversations", {}).json()["id"]
    cases = [
        ({"text": ""}, 400),
        ({"text": "x" * 2001}, 422),
        ({"kind": "order", "order_id": factories.order(buyer=other).pk}, 404),
        ({"kind": "coupon"}, 422),
        ({"text": 5}, 422),
    ]
    for body, status in cases:
        response = post(client, f"{BASE}/conversations/{conv}/messages", body)
        assert response.status_code == status, (body, response.json())
        assert set(response.json()) == {"error"}
    response = post(other_client, f"{BASE}/conversations/{conv}/messages", {"text": "hi"})
    assert response.status_code == 404
    post(client, f"{BASE}/conversations/{conv}/close", {})
    closed = post(client, f"{BASE}/conversations/{conv}/messages", {"text": "hi"})
    assert closed.status_code == 409
    assert post(client, f"{BASE}/conversations/{conv}/rating", {"rating": 5}).status_code == 201
    assert post(client, f"{BASE}/conversations/{conv}/rating", {"rating": 5}).status_code == 409
    assert Message.objects.filter(conversation_id=conv, sender="member").count() == 0


def test_a_member_files_and_follows_a_ticket() -> None:
    person, client = member_client()
    order = factories.order(buyer=person)
    made = post(
        client,
        f"{BASE}/tickets",
        {
            "category": "delivery",
            "subject": "没收到货",
            "order_id": order.pk,
        },
    )
    assert made.status_code == 201, made.json()
    ticket = made.json()["id"]
    follow = post(client, f"{BASE}/tickets/{ticket}/comments", {"text": "快一周了"})
    assert follow.status_code == 200
    assert [e["kind"] for e in follow.json()["events"]] == ["created", "member"]
    _other, other_client = member_client()
    assert other_client.get(f"{BASE}/tickets/{ticket}").status_code == 404
    ws = post(client, f"{BASE}/ws-ticket", {})
    assert ws.status_code == 200
    assert ws.json()["expires_in"] == 60
