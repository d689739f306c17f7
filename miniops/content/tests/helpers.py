"""Shared helpers for the content tests."""

from __future__ import annotations

import io
import uuid
from typing import Any

from django.test import Client
from PIL import Image

from miniops.content.models import LexiconEntry, Topic
from miniops.content.services import lexicon
from miniops.orders.tests.helpers import error_of, member_client, post
from miniops.testing import factories

__all__ = [
    "create_post",
    "error_of",
    "member_client",
    "post",
    "received_line",
    "upload",
    "word",
    "writer",
]


def writer(**fields: Any) -> tuple[Any, Client]:
    person = factories.member(**fields)
    return person, member_client(person)


def upload(client: Client) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 10, 10)).save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = "x.png"
    response = client.post("/api/v1/uploads/images", {"file": buffer})
    assert response.status_code == 201, response.content
    return str(response.json()["url"])


def create_post(
    client: Client, text: str = "今天买的外套很好看，颜色正，版型也好，推荐给大家", **body: Any
) -> Any:
    return post(
        client,
        "/api/v1/posts",
        {"text": text, **body},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def word(term: str, category: str = "custom", action: str = "review") -> LexiconEntry:
    entry = LexiconEntry.objects.create(
        term=term, normalized=lexicon.prescreen.normalize(term), category=category, action=action
    )
    bump_lexicon()
    return entry


def bump_lexicon() -> None:
    import time

    from django.core.cache import cache

    from miniops.core import localcache

    cache.set(lexicon.VERSION_KEY, time.time_ns(), timeout=None)
    localcache.forget(lexicon.VERSION_KEY)


def topic(name: str = "穿搭") -> Topic:
    return Topic.objects.create(name=name)


def received_line(buyer: Any) -> Any:
    """A line of an order ``buyer`` paid, got shipped and confirmed."""
    from miniops.marketing.tests.helpers import complete

    order = factories.order(buyer=buyer, paid=True)
    complete(order)
    return order.items.first()
