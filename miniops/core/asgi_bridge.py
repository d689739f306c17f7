"""Serve Django's synchronous request path to an ASGI server through a thread pool.

Why: on this stack Django's own ``ASGIHandler`` costs far more per request than
the views we run (it hops threads several times per request: request_started,
the middleware chain, request_finished). Measured on the same machine and server
(uvicorn, one process, ``wrk -t2 -c32``): an empty Django view answered
~980 req/s through ``ASGIHandler``, ~1,500 through asgiref's ``WsgiToAsgi`` and
~9,000 through this bridge. See docs/decisions/0005-asgi-wsgi-bridge.md.

The bridge reads the body (already size-limited by ``BodySizeLimitMiddleware``),
builds a PEP 3333 environ, runs Django's ``WSGIHandler`` in a worker thread, and
sends the response back. Ordinary responses are sent in one piece; streaming
responses (CSV exports, files) are sent chunk by chunk as the thread produces
them. WebSockets do not pass here: Channels serves them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger("miniops.asgi")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_SPOOL_BYTES = 2 * 1024 * 1024


class _Response:
    __slots__ = ("body", "headers", "status", "streamed")

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.streamed = False


class WsgiBridge:
    def __init__(self, app: WsgiApp, *, threads: int = 16) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"WsgiBridge serves HTTP only, not {scope['type']}")
        body = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - closed below
        try:
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body.write(message.get("body", b""))
                more = message.get("more_body", False)
            size = body.tell()
            body.seek(0)
            environ = build_environ(scope, body, size)
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(self.pool, self._run, environ, loop, send)
            if not response.streamed:
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": response.headers,
                    }
                )
                await send({"type": "http.response.body", "body": response.body})
        finally:
            body.close()

    def _run(
        self, environ: dict[str, Any], loop: asyncio.AbstractEventLoop, send: Any
    ) -> _Response:
        response = _Response()

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            response.status = int(status.split(" ", 1)[0])
            response.headers = [
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
            ]
            return lambda data: None  # the legacy write() callable: Django never uses it

        def push(message: dict[str, Any]) -> None:
            asyncio.run_coroutine_threadsafe(send(message), loop).result()

        result = self.app(environ, start_response)
        try:
            if getattr(result, "streaming", False):
                response.streamed = True
                push(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": response.headers,
                    }
                )
                for chunk in result:
                    if chunk:
                        push({"type": "http.response.body", "body": chunk, "more_body": True})
                push({"type": "http.response.body", "body": b""})
            else:
                response.body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return response


def build_environ(scope: dict[str, Any], body: Any, size: int) -> dict[str, Any]:
    """A PEP 3333 environ from an ASGI HTTP scope."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    path = scope.get("path", "/")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "")
        .encode("utf-8", "surrogateescape")
        .decode("latin-1"),
        "PATH_INFO": path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "80",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0] or "",
        "REMOTE_PORT": str(client[1] or ""),
        "CONTENT_LENGTH": str(size),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_LENGTH":
            continue  # the body we read is the truth
        key = "CONTENT_TYPE" if name == "CONTENT_TYPE" else f"HTTP_{name}"
        if key in environ:
            separator = "; " if key == "HTTP_COOKIE" else ","
            environ[key] = f"{environ[key]}{separator}{value}"
        else:
            environ[key] = value
    return environ
