"""ASGI guard: refuse oversized request bodies before Django buffers them.

Django's ASGI handler reads the whole body (spooling to disk) before the view
runs, and only then compares it with ``DATA_UPLOAD_MAX_MEMORY_SIZE``. This layer
answers 413 in the shared error shape as soon as ``Content-Length`` or the bytes
actually received pass ``MINIOPS_MAX_REQUEST_BYTES``.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.utils import translation
from django.utils.translation import gettext

from miniops.core.responses import error_body, language_for

Scope = dict[str, Any]
Message = dict[str, Any]


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(scope, send, 400, "malformed_request")
                    return
                if declared > self.max_bytes:
                    await self._reject(scope, send, 413, "payload_too_large")
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._reject(scope, send, 413, "payload_too_large")

    @staticmethod
    async def _reject(scope: Scope, send: Any, status: int, code: str) -> None:
        asked = next(
            (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"accept-language"),
            None,
        )
        with translation.override(language_for(asked)):
            message = (
                gettext("The Content-Length header is not a number.")
                if status == 400
                else gettext("The request body is too large.")
            )
        body = orjson.dumps(error_body(code, message))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
