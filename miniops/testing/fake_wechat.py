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
            # One write per answer (headers and body buffered, flushed by the base
            # class after each request) on a socket without Nagle's algorithm:
            # headers and body as two small writes waited for the client's
            # delayed ACK, ~40 ms per keep-alive request.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

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


# --- subscribe messages --------------------------------------------------------------------
class SubscribeState:
    """WeChat's subscribe-message side, simulated with its rules, for tests and
    benchmarks: the account's templates (``/wxaapi/newtmpl/gettemplate``), the
    consent each openid gave per template (``grant``), and ``subscribe/send``
    answering as WeChat does:

    * 40003 unknown openid (empty), 40037 unknown template, 41030 bad page;
    * 47003 ``argument invalid! data.<key>.value invalid`` for a value breaking
      its keyword's rule (the same table as ``miniops.notifications.rules``);
    * 43101 when the openid has no consent left for a one-time template
      (``strict_consent``; each success takes one);
    * 45009 past ``rate_limit`` sends per second (one window for all callers);
    * ``busy`` sends in a row answered -1 (scripted outages).

    ``receipts`` is what WeChat accepted (openid, template, page, data): what a
    benchmark checks for duplicates and losses. ``refused`` counts errcodes.
    """

    SEND = "/cgi-bin/message/subscribe/send"
    LIST = "/wxaapi/newtmpl/gettemplate"

    def __init__(
        self,
        templates: list[dict[str, Any]] | None = None,
        *,
        rate_limit: int = 0,
        strict_consent: bool = False,
    ) -> None:
        from miniops.notifications.providers import SIMULATED_TEMPLATES

        self.templates = list(templates if templates is not None else SIMULATED_TEMPLATES)
        self.rate_limit = rate_limit
        self.strict_consent = strict_consent
        self.grants: dict[tuple[str, str], int] = {}
        self.receipts: list[dict[str, Any]] = []
        self.refused: dict[int, int] = {}
        self.busy = 0
        self._window = (0, 0)
        self._lock = threading.Lock()
        self._msgid = 0

    def grant(self, openid: str, template_id: str, n: int = 1) -> None:
        with self._lock:
            self.grants[(openid, template_id)] = self.grants.get((openid, template_id), 0) + n

    def _refuse(self, code: int, msg: str) -> dict[str, Any]:
        self.refused[code] = self.refused.get(code, 0) + 1
        return {"errcode": code, "errmsg": msg}

    def list_answer(self, call: Call) -> dict[str, Any]:
        return {"errcode": 0, "errmsg": "ok", "data": self.templates}

    def send_answer(self, call: Call) -> dict[str, Any]:
        from miniops.notifications import rules

        body = call.json or {}
        openid = str(body.get("touser", ""))
        template_id = str(body.get("template_id", ""))
        page = str(body.get("page", ""))
        data = body.get("data") or {}
        with self._lock:
            if self.busy > 0:
                self.busy -= 1
                return self._refuse(-1, "system error")
            if self.rate_limit:
                second = int(time.time())
                start, count = self._window
                if start != second:
                    start, count = second, 0
                count += 1
                self._window = (start, count)
                if count > self.rate_limit:
                    return self._refuse(45009, "reach max api daily quota limit")
            template = next((t for t in self.templates if t["priTmplId"] == template_id), None)
            if not openid:
                return self._refuse(40003, "invalid openid")
            if template is None:
                return self._refuse(40037, "invalid template_id")
            if page and (page.startswith("/") or " " in page or len(page) > 1024):
                return self._refuse(41030, "invalid page")
            keys = rules.keywords_of(str(template.get("content", "")))
            for key in keys:
                value = (data.get(key) or {}).get("value") if isinstance(data, dict) else None
                try:
                    if value is None or rules.check(key, str(value), shorten=False) != value:
                        raise rules.FieldRefused(key, "invalid")
                except rules.FieldRefused:
                    return self._refuse(47003, f"argument invalid! data.{key}.value invalid")
            one_time = int(template.get("type", 2)) == 2
            if self.strict_consent and one_time:
                left = self.grants.get((openid, template_id), 0)
                if left <= 0:
                    return self._refuse(43101, "user refuse to accept the msg")
                self.grants[(openid, template_id)] = left - 1
            self._msgid += 1
            self.receipts.append(
                {"openid": openid, "template_id": template_id, "page": page, "data": data}
            )
            return {"errcode": 0, "errmsg": "ok", "msgid": self._msgid}


def install_subscribe(server: FakeWeChat, **options: Any) -> SubscribeState:
    """Make ``server`` answer the subscribe-message endpoints with a fresh
    ``SubscribeState`` (returned, for the test to grant consent and read receipts)."""
    state = SubscribeState(**options)
    server.script(SubscribeState.LIST, state.list_answer)
    server.script(SubscribeState.SEND, state.send_answer)
    return state


# --- customer-service messages -------------------------------------------------------------
class CustomerServiceState:
    """WeChat's customer-service message side (``/cgi-bin/message/custom/send``),
    simulated with its rules: an openid may be answered for 48 hours after their
    last message to the account (``member_wrote``) and at most 5 times in that
    window (each accepted send takes one; the member writing again gives 5 back).

    * 40003 unknown openid (empty), 40008 a ``msgtype`` WeChat does not know;
    * 45015 ``response out of time limit or subscription is canceled``: nothing
      from the member, or the 48 hours are over;
    * 45047 ``out of response count limit``: the 5 replies are spent;
    * ``busy`` sends in a row answered -1;
    * ``/cgi-bin/media/upload?type=image`` takes a multipart ``media`` part and
      answers a ``media_id``; an image send naming another answers 40007.

    ``receipts`` is what WeChat accepted; ``refused`` counts errcodes. ``now`` can
    be moved forward (a test's clock) instead of waiting 48 hours.
    """

    SEND = "/cgi-bin/message/custom/send"
    UPLOAD = "/cgi-bin/media/upload"
    WINDOW = 48 * 3600
    REPLIES = 5
    MSGTYPES = frozenset({"text", "image", "link", "miniprogrampage"})

    def __init__(self) -> None:
        self.last_wrote: dict[str, float] = {}
        self.used: dict[str, int] = {}
        self.receipts: list[dict[str, Any]] = []
        self.refused: dict[int, int] = {}
        self.busy = 0
        self.offset = 0.0
        self.media: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self.offset

    def member_wrote(self, openid: str, at: float | None = None) -> None:
        with self._lock:
            self.last_wrote[openid] = self.now() if at is None else at
            self.used[openid] = 0

    def _refuse(self, code: int, msg: str) -> dict[str, Any]:
        self.refused[code] = self.refused.get(code, 0) + 1
        return {"errcode": code, "errmsg": msg}

    def send_answer(self, call: Call) -> dict[str, Any]:
        body = call.json or {}
        openid = str(body.get("touser", ""))
        msgtype = str(body.get("msgtype", ""))
        with self._lock:
            if self.busy > 0:
                self.busy -= 1
                return self._refuse(-1, "system error")
            if not openid:
                return self._refuse(40003, "invalid openid")
            if msgtype not in self.MSGTYPES or not isinstance(body.get(msgtype), dict):
                return self._refuse(40008, "invalid message type")
            if msgtype == "image" and body["image"].get("media_id") not in self.media:
                return self._refuse(40007, "invalid media_id")
            wrote = self.last_wrote.get(openid)
            if wrote is None or self.now() - wrote > self.WINDOW:
                return self._refuse(45015, "response out of time limit or subscription is canceled")
            if self.used.get(openid, 0) >= self.REPLIES:
                return self._refuse(45047, "out of response count limit")
            self.used[openid] = self.used.get(openid, 0) + 1
            self.receipts.append({"openid": openid, "msgtype": msgtype, msgtype: body[msgtype]})
            return {"errcode": 0, "errmsg": "ok"}

    def upload_answer(self, call: Call) -> dict[str, Any]:
        """The ``media`` part of a multipart form, kept under a new ``media_id``."""
        content_type = next(
            (value for key, value in call.headers.items() if key.lower() == "content-type"), ""
        )
        if call.query.get("type") != "image" or "multipart/form-data" not in content_type:
            return self._refuse(40004, "invalid media type")
        boundary = content_type.split("boundary=")[-1].strip().encode()
        for part in call.body.split(b"--" + boundary):
            head, _, data = part.partition(b"\r\n\r\n")
            if b'name="media"' in head and data:
                with self._lock:
                    media_id = f"fake-media-{len(self.media) + 1}"
                    self.media[media_id] = data.rstrip(b"\r\n")
                return {"type": "image", "media_id": media_id, "created_at": int(self.now())}
        return self._refuse(41005, "media data missing")


def install_customer_service(server: FakeWeChat) -> CustomerServiceState:
    """Make ``server`` answer ``customerServiceMessage.send`` with a fresh
    ``CustomerServiceState`` (returned, for the test to say who wrote and when)."""
    state = CustomerServiceState()
    server.script(CustomerServiceState.SEND, state.send_answer)
    server.script(CustomerServiceState.UPLOAD, state.upload_answer)
    return state
