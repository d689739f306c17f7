"""WeChat mini-program platform: ``code2Session`` login and phone numbers.

``LoginProvider`` is the interface; ``WeChatLoginClient`` talks to the real
platform (httpx, 5 s timeouts, base URL ``WECHAT_API_BASE``); ``LoginSimulator``
answers locally for the demo and tests (deterministic openids per code; special
codes produce each platform error). Platform errors become ``PlatformError``;
``miniops.members.services`` maps them to API answers. The HTTP side (access
token, error answers) is the shared ``miniops.core.wechat.WeChatApi``.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Protocol

from miniops.core.providers import ProviderSlot
from miniops.core.wechat import BUSY, PlatformError, WeChatApi

__all__ = [
    "BUSY",
    "INVALID_CODE",
    "RATE_LIMITED",
    "RISKY_USER",
    "LoginProvider",
    "LoginSimulator",
    "PhoneInfo",
    "PlatformError",
    "WeChatLoginClient",
    "WeChatSession",
    "login_provider",
]

#: errcodes -> what they mean for us
INVALID_CODE = {40029, 40163, 40125}  # invalid / already used code
RATE_LIMITED = {45011}
RISKY_USER = {40226}


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


class LoginProvider(Protocol):
    def code_to_session(self, code: str) -> WeChatSession: ...

    def phone_number(self, code: str) -> PhoneInfo: ...


class WeChatLoginClient:
    """The real platform. Needs ``WECHAT_APP_ID`` and ``WECHAT_APP_SECRET``."""

    def __init__(
        self, base_url: str | None = None, app_id: str | None = None, secret: str | None = None
    ) -> None:
        self.api = WeChatApi(base_url=base_url, app_id=app_id, secret=secret)

    def access_token(self, *, force: bool = False) -> str:
        return self.api.access_token(force=force)

    def code_to_session(self, code: str) -> WeChatSession:
        body = self.api.request(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.api.app_id,
                "secret": self.api.secret,
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

    def phone_number(self, code: str) -> PhoneInfo:
        body = self.api.call("/wxa/business/getuserphonenumber", json={"code": code})
        info = body.get("phone_info") or {}
        if not info.get("purePhoneNumber"):
            raise PlatformError(-1, "no phone in answer")
        return PhoneInfo(
            phone=str(info.get("phoneNumber", info["purePhoneNumber"])),
            pure_phone=str(info["purePhoneNumber"]),
            country_code=str(info.get("countryCode", "86")),
        )


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
