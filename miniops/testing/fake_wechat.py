"""A local HTTP server that speaks WeChat's server API, for testing the real
clients (``miniops.core.wechat.WeChatApi`` and every provider built on it) and
for benchmarks.

It answers ``/cgi-bin/stable_token`` by itself, records every request, and lets
a test script the rest: a fixed answer, a sequence of answers (the last one
repeats), a function of the request, a delay (a slow platform) or a status code.

    def test_send(fake_wechat):
        fake_wechat.script("/cgi-bin/message/subscribe/send", {"errcode": 0})
        client = SubscribeClient(base_url=fake_wechat.url)
        ...
        assert fake_wechat.calls("/cgi-bin/message/subscribe/send")[0].json == {...}

``fake_wechat`` is a pytest fixture (``miniops.testing.fixtures``); ``FakeWeChat``
can also be started by hand (``with FakeWeChat() as server:``) in a bench script.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Call:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Answer:
    """What to send back: a JSON body (dict or list), ``bytes`` with a content type
    (an image), a status code, after an optional delay."""

    body: Any = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    status: int = 200
    content_type: str = "application/json"
    delay: float = 0.0


Script = Answer | dict[str, Any] | Callable[[Call], "Answer | dict[str, Any]"]


class FakeWeChat:
    """The server; ``url`` is its base URL once started."""

    TOKEN = "FAKE-ACCESS-TOKEN"  # noqa: S105 - a test value

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Script]] = {}
        self.requests: list[Call] = []
        self.tokens_issued = 0
        self.delay = 0.0
        self.keep_requests = True
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- scripting ---------------------------------------------------------------------
    def script(self, path: str, *answers: Script) -> None:
        """Answers for ``path``, in order; the last one repeats."""
        with self._lock:
            self._scripts[path] = list(answers)

    def calls(self, path: str | None = None) -> list[Call]:
        with self._lock:
            return [call for call in self.requests if path is None or call.path == path]

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.requests.clear()
            self.tokens_issued = 0
            self.delay = 0.0

    def _answer_for(self, call: Call) -> Answer:
        with self._lock:
            if self.keep_requests:
                self.requests.append(call)
            queue = self._scripts.get(call.path)
            if queue is None and call.path == "/cgi-bin/stable_token":
                self.tokens_issued += 1
                return Answer({"access_token": self.TOKEN, "expires_in": 7200})
            if not queue:
                return Answer({"errcode": 404, "errmsg": f"unscripted {call.path}"})
            script = queue.pop(0) if len(queue) > 1 else queue[0]
        answer = script(call) if callable(script) else script
        return answer if isinstance(answer, Answer) else Answer(answer)

    # --- serving -----------------------------------------------------------------------
    def start(self) -> FakeWeChat:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                call = Call(
                    method=self.command,
                    path=url.path,
                    query={key: values[0] for key, values in parse_qs(url.query).items()},
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length) if length else b"",
                )
                answer = fake._answer_for(call)
                pause = answer.delay or fake.delay
                if pause:
                    time.sleep(pause)
                if isinstance(answer.body, bytes | bytearray):
                    data = bytes(answer.body)
                elif isinstance(answer.body, str):
                    data = answer.body.encode()
                else:
                    data = json.dumps(answer.body, ensure_ascii=False).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a time-out test)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeWeChat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
