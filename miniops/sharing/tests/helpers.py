"""Shared pieces of the sharing tests."""

from __future__ import annotations

from typing import Any

from django.test import Client

from miniops.testing import factories


def bearer(member: Any) -> dict[str, str]:
    access, _refresh = factories.member_tokens(member)
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def post(client: Client, path: str, body: dict[str, Any], member: Any = None) -> Any:
    headers = bearer(member) if member is not None else {}
    return client.post(path, body, content_type="application/json", **headers)


def card(client: Client, member: Any, **body: Any) -> Any:
    return post(client, "/api/v1/share/cards", body, member)


def resolve(client: Client, member: Any = None, **body: Any) -> Any:
    return post(client, "/api/v1/share/resolve", body, member)


def login(client: Client, **body: Any) -> Any:
    return client.post("/api/v1/auth/wechat-login", body, content_type="application/json")
