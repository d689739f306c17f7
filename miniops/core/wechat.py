"""One client for WeChat's server API (``api.weixin.qq.com``), shared by every
provider that talks to it: login and phone numbers, content security, customer
service messages, subscribe messages, mini-program codes.

It knows what every call has in common and nothing about any one of them:

* the platform access token (``/cgi-bin/stable_token``), shared through the cache
  by every process, refreshed five minutes early, and refreshed once more when
  WeChat says it went stale (40001 / 42001 / 40014);
* ``errcode`` answers, network errors, 5xx and time-outs become ``PlatformError``
  (``errcode is None`` means no answer came: the call may or may not have had an
  effect);
* answers that are not JSON (a mini-program code is an image) come back as bytes
  when the caller asks for ``raw``.

Each domain's provider (``members.providers``, ``content.providers``, …) wraps
the calls it needs, maps the error codes that mean something to it, and offers a
simulator. Tests run the real client against ``miniops.testing.fake_wechat``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache

TIMEOUT = httpx.Timeout(5.0, connect=3.0)
#: how long an instance reuses the token it last saw without asking the cache; a
#: token WeChat replaced stays valid for five minutes after (stable_token)
TOKEN_MEMO_SECONDS = 30.0

#: errcodes shared by every API
BUSY = {-1}
TOKEN_EXPIRED = {40001, 42001, 40014}
RATE_LIMITED = {45009, 45011}


class PlatformError(Exception):
    """An answer from WeChat other than success, or no answer (``errcode`` None)."""

    def __init__(self, errcode: int | None, errmsg: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"WeChat error {errcode}: {errmsg}")

    @property
    def timed_out(self) -> bool:
        return self.errcode is None

    @property
    def retryable(self) -> bool:
        """Busy, rate-limited or no answer: the same call may succeed later."""
        return self.errcode is None or self.errcode in BUSY | RATE_LIMITED


class WeChatApi:
    """WeChat's server API for one mini-program (``WECHAT_APP_ID``)."""

    TOKEN_CACHE_KEY = "wechat:access_token"  # noqa: S105 - a cache key, not a secret

    def __init__(
        self,
        base_url: str | None = None,
        app_id: str | None = None,
        secret: str | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.base_url = (base_url or settings.WECHAT_API_BASE).rstrip("/")
        self.app_id = app_id or settings.WECHAT_APP_ID
        self.secret = secret or settings.WECHAT_APP_SECRET
        # One client per instance, shared by every thread that sends through it:
        # keep-alive connections in one pool (httpx's Client is thread-safe).
        self.http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self._token_lock = threading.Lock()
        #: (token, monotonic time it stops being used without asking the cache)
        self._token_memo: tuple[str, float] = ("", 0.0)

    # --- one request ----------------------------------------------------------------------
    def request(self, method: str, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        """One HTTP call; the JSON answer (a dict) or, with ``raw``, the bytes of a
        non-JSON answer. Raises ``PlatformError`` for anything but success."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise PlatformError(None, "timeout") from exc
        except httpx.HTTPError as exc:
            raise PlatformError(-1, f"network: {exc}") from exc
        if response.status_code >= 500:
            raise PlatformError(-1, f"HTTP {response.status_code}")
        content_type = response.headers.get("Content-Type", "")
        if raw and "json" not in content_type and not content_type.startswith("text/"):
            return response.content
        try:
            body = response.json()
        except ValueError as exc:
            raise PlatformError(-1, "not JSON") from exc
        if not isinstance(body, dict):
            raise PlatformError(-1, "unexpected answer")
        errcode = int(body.get("errcode", 0) or 0)
        if errcode != 0:
            raise PlatformError(errcode, str(body.get("errmsg", "")))
        return body

    # --- the access token --------------------------------------------------------------
    def access_token(self, *, force: bool = False, memo: bool = True) -> str:
        """The platform access token, shared through the cache by every process and
        refreshed five minutes before it expires (or at once with ``force``). Kept
        in this instance for up to ``TOKEN_MEMO_SECONDS`` (a batch of sends does
        not ask the cache each time); ``memo=False`` reads the cache."""
        if not force and memo:
            remembered, until = self._token_memo
            if remembered and time.monotonic() < until:
                return remembered
        token = None if force else cache.get(self.TOKEN_CACHE_KEY)
        if token:
            self._remember(str(token))
            return str(token)
        with self._token_lock:
            token = None if force else cache.get(self.TOKEN_CACHE_KEY)
            if token:
                self._remember(str(token))
                return str(token)
            body = self.request(
                "POST",
                "/cgi-bin/stable_token",
                json={
                    "grant_type": "client_credential",
                    "appid": self.app_id,
                    "secret": self.secret,
                    "force_refresh": force,
                },
            )
            token = str(body["access_token"])
            ttl = max(60, int(body.get("expires_in", 7200)) - 300)
            cache.set(self.TOKEN_CACHE_KEY, token, timeout=ttl)
            self._remember(token)
            return token

    def _remember(self, token: str) -> None:
        self._token_memo = (token, time.monotonic() + TOKEN_MEMO_SECONDS)

    def call(
        self,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        method: str = "POST",
        raw: bool = False,
        files: dict[str, Any] | None = None,
    ) -> Any:
        """A call that needs the access token; refreshed once if WeChat says the
        cached one went stale. ``files`` sends a multipart form (a media upload)."""
        failed = ""
        for attempt in range(2):
            if attempt == 0:
                token = self.access_token()
            else:
                # another process may have refreshed it already: the shared one,
                # unless it is the one WeChat just refused
                token = self.access_token(memo=False)
                if token == failed:
                    token = self.access_token(force=True)
            try:
                return self.request(
                    method,
                    path,
                    params={**(params or {}), "access_token": token},
                    json=json,
                    raw=raw,
                    files=files,
                )
            except PlatformError as exc:
                if exc.errcode in TOKEN_EXPIRED and attempt == 0:
                    failed = token
                    continue
                raise
        raise PlatformError(-1, "unreachable")  # pragma: no cover - the loop returns or raises
