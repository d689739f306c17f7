"""The ASGI guard refuses oversized bodies before Django buffers them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from miniops.core.asgi_limits import BodySizeLimitMiddleware


class RecordingApp:
    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    queue = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/x", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_declared_length_over_the_limit_is_refused_without_calling_the_app() -> None:
    inner = RecordingApp()
    sent = call(BodySizeLimitMiddleware(inner, max_bytes=100), [(b"content-length", b"101")], [b""])
    assert not inner.called
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"


def test_streamed_body_over_the_limit_is_refused() -> None:
    inner = RecordingApp()
    sent = call(BodySizeLimitMiddleware(inner, max_bytes=100), [], [b"x" * 60, b"x" * 60])
    assert sent[0]["status"] == 413


def test_bad_content_length_is_400() -> None:
    inner = RecordingApp()
    sent = call(BodySizeLimitMiddleware(inner, max_bytes=100), [(b"content-length", b"abc")], [b""])
    assert sent[0]["status"] == 400
    assert not inner.called


def test_body_within_the_limit_passes_through_unchanged() -> None:
    inner = RecordingApp()
    sent = call(
        BodySizeLimitMiddleware(inner, max_bytes=100), [(b"content-length", b"100")], [b"y" * 100]
    )
    assert inner.body == b"y" * 100
    assert sent[0]["status"] == 200


def test_the_refusal_speaks_the_language_asked_for() -> None:
    def message(language: bytes) -> str:
        headers = [(b"content-length", b"101"), (b"accept-language", language)]
        sent = call(BodySizeLimitMiddleware(RecordingApp(), max_bytes=100), headers, [b""])
        return str(json.loads(sent[1]["body"])["error"]["message"])

    assert message(b"en") == "The request body is too large."
    chinese = message(b"zh-CN,zh;q=0.9")
    assert chinese != "The request body is too large."
    assert not any("a" <= ch.lower() <= "z" for ch in chinese), chinese
