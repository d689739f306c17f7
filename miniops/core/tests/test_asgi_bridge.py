"""The ASGI -> Django bridge: the request arrives whole, the response leaves whole
(or streamed, chunk by chunk)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from miniops.core.asgi_bridge import WsgiBridge, build_environ


def scope(**extra: Any) -> dict[str, Any]:
    base = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/商品",
        "query_string": b"a=1&b=%E4%B8%AD",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"999"),
            (b"x-forwarded-for", b"1.1.1.1"),
            (b"x-forwarded-for", b"2.2.2.2"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
        ],
        "client": ("10.0.0.9", 5555),
        "server": ("shop.example.com", 443),
        "scheme": "https",
    }
    base.update(extra)
    return base


def test_environ_follows_pep_3333() -> None:
    environ = build_environ(scope(), io.BytesIO(b"{}"), 2)
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["PATH_INFO"] == "/api/v1/商品".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "a=1&b=%E4%B8%AD"
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == "2"  # what was read, not what was claimed
    assert environ["HTTP_X_FORWARDED_FOR"] == "1.1.1.1,2.2.2.2"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["REMOTE_ADDR"] == "10.0.0.9"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["SERVER_NAME"] == "shop.example.com"


def run(app: Any, body_chunks: list[bytes], **scope_extra: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(body_chunks) - 1}
        for i, chunk in enumerate(body_chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope(**scope_extra), receive, send))
    return sent


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Len", str(len(body)))])
    return [b"got:", body]


def test_body_is_reassembled_and_response_sent_whole() -> None:
    sent = run(WsgiBridge(echo_app, threads=2), [b"hello ", b"world"])
    assert sent[0]["status"] == 201
    assert (b"x-len", b"11") in sent[0]["headers"]
    assert sent[1]["body"] == b"got:hello world"
    assert len(sent) == 2


class Streaming(list):
    streaming = True
    closed = False

    def close(self) -> None:
        Streaming.closed = True


def streaming_app(environ: dict[str, Any], start_response: Any) -> Streaming:
    start_response("200 OK", [("Content-Type", "text/csv")])
    return Streaming([b"a,b\n", b"1,2\n", b"3,4\n"])


def test_streaming_responses_are_sent_chunk_by_chunk_and_closed() -> None:
    sent = run(WsgiBridge(streaming_app, threads=2), [b""])
    assert sent[0]["type"] == "http.response.start"
    chunks = [m["body"] for m in sent[1:]]
    assert chunks == [b"a,b\n", b"1,2\n", b"3,4\n", b""]
    assert all(m.get("more_body") for m in sent[1:-1])
    assert Streaming.closed


def test_client_gone_before_the_body_arrives_runs_nothing() -> None:
    called = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        called.append(1)
        return []

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(WsgiBridge(app)(scope(), receive, send))
    assert called == []
    assert sent == []
