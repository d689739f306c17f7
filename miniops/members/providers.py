"""WeChat mini-program platform: ``code2Session`` login and phone numbers.

``LoginProvider`` is the interface; ``WeChatLoginClient`` talks to the real
platform (httpx, 5 s timeouts, base URL ``WECHAT_API_BASE``); ``LoginSimulator``
answers locally for the demo and tests (deterministic openids per code; special
codes produce each platform error). Platform errors become ``PlatformError``;
``miniops.members.services`` maps them to API answers.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from django.conf import settings
from django.core.cache import cache

from miniops.core.providers import ProviderSlot

TIMEOUT = httpx.Timeout(5.0, connect=3.0)

#: errcodes -> what they mean for us
INVALID_CODE = {40029, 40163, 40125}  # invalid / already used code
RATE_LIMITED = {45011}
RISKY_USER = {40226}
BUSY = {-1}
TOKEN_EXPIRED = {40001, 42001, 40014}


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    session_key: str
    unionid: str = ""


@dataclass(frozen=True)
class PhoneInfo:
    phone: str  # with country code when not +86, as WeChat returns it
    pure_phone: str
    country_code: str


class PlatformError(Exception):
    """An answer from WeChat other than success, or no answer (``errcode`` None)."""

    def __init__(self, errcode: int | None, errmsg: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"WeChat error {errcode}: {errmsg}")

    @property
    def timed_out(self) -> bool:
        return self.errcode is None


class LoginProvider(Protocol):
    def code_to_session(self, code: str) -> WeChatSession: ...

    def phone_number(self, code: str) -> PhoneInfo: ...


class WeChatLoginClient:
    """The real platform. Needs ``WECHAT_APP_ID`` and ``WECHAT_APP_SECRET``."""

    TOKEN_CACHE_KEY = "wechat:access_token"  # noqa: S105 - a cache key, not a secret

    def __init__(
        self, base_url: str | None = None, app_id: str | None = None, secret: str | None = None
    ) -> None:
        self.base_url = (base_url or settings.WECHAT_API_BASE).rstrip("/")
        self.app_id = app_id or settings.WECHAT_APP_ID
        self.secret = secret or settings.WECHAT_APP_SECRET
        self.http = httpx.Client(base_url=self.base_url, timeout=TIMEOUT)
        self._token_lock = threading.Lock()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise PlatformError(None, "timeout") from exc
        except httpx.HTTPError as exc:
            raise PlatformError(-1, f"network: {exc}") from exc
        if response.status_code >= 500:
            raise PlatformError(-1, f"HTTP {response.status_code}")
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

    def code_to_session(self, code: str) -> WeChatSession:
        body = self._call(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.app_id,
                "secret": self.secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        if not body.get("openid") or not body.get("session_key"):
            raise PlatformError(-1, "no openid in answer")
        return WeChatSession(
            openid=str(body["openid"]),
            session_key=str(body["session_key"]),
            unionid=str(body.get("unionid", "")),
        )

    def access_token(self, *, force: bool = False) -> str:
        """The platform access token, shared through the cache by every process and
        refreshed five minutes before it expires (or at once with ``force``)."""
        token = None if force else cache.get(self.TOKEN_CACHE_KEY)
        if token:
            return str(token)
        with self._token_lock:
            token = None if force else cache.get(self.TOKEN_CACHE_KEY)
            if token:
                return str(token)
            body = self._call(
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
            return token

    def phone_number(self, code: str) -> PhoneInfo:
        for attempt in range(2):
            token = self.access_token(force=attempt > 0)
            try:
                body = self._call(
                    "POST",
                    "/wxa/business/getuserphonenumber",
                    params={"access_token": token},
                    json={"code": code},
                )
            except PlatformError as exc:
                if exc.errcode in TOKEN_EXPIRED and attempt == 0:
                    continue  # our cached token went stale: refresh once
                raise
            info = body.get("phone_info") or {}
            if not info.get("purePhoneNumber"):
                raise PlatformError(-1, "no phone in answer")
            return PhoneInfo(
                phone=str(info.get("phoneNumber", info["purePhoneNumber"])),
                pure_phone=str(info["purePhoneNumber"]),
                country_code=str(info.get("countryCode", "86")),
            )
        raise PlatformError(-1, "unreachable")


#: ``demo-1`` … ``demo-20000``: the simulator signs these codes in as the members
#: the demo seeder made (``manage.py seed_demo``), in the order they registered.
DEMO_MEMBER_CODE = "demo-{}"
_DEMO_CODE = re.compile(r"demo-([1-9][0-9]{0,6})")


def demo_openid(number: int) -> str:
    """The openid of the ``number``-th demo member (from 1): what the seeder
    stores and what the simulator answers for ``demo-<number>``."""
    digest = hashlib.sha256(f"miniops-demo-member:{number}".encode()).hexdigest()
    return f"oDEMO{number:07d}{digest[:8]}"


class LoginSimulator:
    """The platform, simulated: any code logs in as a stable person.

    ``code`` -> openid is deterministic (the same code always means the same
    member), so demos and tests can log in again; ``demo-<n>`` is the n-th
    seeded demo member (``demo_openid``). Special codes (also with a suffix
    after a colon, ``busy:2``): ``invalid`` (40029), ``used`` (40163),
    ``ratelimited`` (45011), ``risky`` (40226), ``busy`` (-1), ``timeout`` (no
    answer in time).
    """

    ERRORS = {
        "invalid": (40029, "invalid code"),
        "used": (40163, "code been used"),
        "ratelimited": (45011, "api minute-quota reach limit"),
        "risky": (40226, "high risk user"),
        "busy": (-1, "system error"),
    }

    def _fail_if_special(self, code: str) -> None:
        key = code.split(":", 1)[0]
        if key == "timeout":
            time.sleep(0.01)
            raise PlatformError(None, "timeout")
        if key in self.ERRORS:
            raise PlatformError(*self.ERRORS[key])

    def code_to_session(self, code: str) -> WeChatSession:
        self._fail_if_special(code)
        digest = hashlib.sha256(f"openid:{code}".encode()).hexdigest()
        demo = _DEMO_CODE.fullmatch(code)
        return WeChatSession(
            openid=demo_openid(int(demo[1])) if demo else f"oSIM{digest[:24]}",
            session_key=hashlib.sha256(f"sk:{code}:{time.time()}".encode()).hexdigest()[:24],
            unionid=f"uSIM{digest[24:48]}",
        )

    def phone_number(self, code: str) -> PhoneInfo:
        self._fail_if_special(code)
        number = int(hashlib.sha256(f"phone:{code}".encode()).hexdigest(), 16) % 10**8
        pure = f"139{number:08d}"
        return PhoneInfo(phone=pure, pure_phone=pure, country_code="86")


login_provider: ProviderSlot[LoginProvider] = ProviderSlot(
    "wechat_login",
    interface=LoginProvider,
    live="miniops.members.providers.WeChatLoginClient",
    simulator="miniops.members.providers.LoginSimulator",
)
