"""The real WeChat client, tested against a local HTTP server that speaks WeChat's
JSON (not only against the simulator)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from miniops.members.providers import LoginSimulator, PlatformError, WeChatLoginClient
from miniops.testing.fake_wechat import Answer


class FakeWeChat:
    """The shared fake server, with the scripting these tests were written for."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def script(self, path: str, *answers: Any) -> None:
        def convert(answer: Any) -> Any:
            if isinstance(answer, tuple):
                status, payload = answer
                return Answer(payload, status=status)
            return Answer(answer)

        self.server.script(path, *[convert(answer) for answer in answers])

    @property
    def requests(self) -> list[tuple[str, dict[str, Any], Any]]:
        return [(call.path, call.query, call.json) for call in self.server.calls()]

    @property
    def delay(self) -> float:
        return float(self.server.delay)

    @delay.setter
    def delay(self, value: float) -> None:
        self.server.delay = value


@pytest.fixture
def wechat(fake_wechat: Any) -> tuple[FakeWeChat, str]:
    fake_wechat.script("/cgi-bin/stable_token", {"errcode": 404, "errmsg": "unscripted"})
    return FakeWeChat(fake_wechat), fake_wechat.url


def client(base: str) -> WeChatLoginClient:
    return WeChatLoginClient(base_url=base, app_id="wx0123456789abcdef", secret="s3cret")


def test_code_to_session_sends_the_documented_request(wechat: tuple[FakeWeChat, str]) -> None:
    fake, base = wechat
    fake.script("/sns/jscode2session", {"openid": "oABC", "session_key": "SK==", "unionid": "uXYZ"})
    session = client(base).code_to_session("the-code")
    assert (session.openid, session.session_key, session.unionid) == ("oABC", "SK==", "uXYZ")
    path, query, _ = fake.requests[0]
    assert path == "/sns/jscode2session"
    assert query == {
        "appid": "wx0123456789abcdef",
        "secret": "s3cret",
        "js_code": "the-code",
        "grant_type": "authorization_code",
    }


@pytest.mark.parametrize("errcode", [40029, 40163, 45011, 40226, -1])
def test_platform_errors_surface_with_their_code(
    wechat: tuple[FakeWeChat, str], errcode: int
) -> None:
    fake, base = wechat
    fake.script("/sns/jscode2session", {"errcode": errcode, "errmsg": "nope"})
    with pytest.raises(PlatformError) as error:
        client(base).code_to_session("x")
    assert error.value.errcode == errcode


@pytest.mark.parametrize(
    "answer",
    [(502, "Bad gateway"), (200, "<html>not json</html>"), (200, "[1, 2]"), (200, {"errcode": 0})],
)
def test_broken_answers_are_platform_errors(wechat: tuple[FakeWeChat, str], answer: Any) -> None:
    fake, base = wechat
    fake.script("/sns/jscode2session", answer)
    with pytest.raises(PlatformError) as error:
        client(base).code_to_session("x")
    assert error.value.errcode == -1


def test_a_slow_platform_times_out(wechat: tuple[FakeWeChat, str]) -> None:
    fake, base = wechat
    fake.delay = 1.0
    fake.script("/sns/jscode2session", {"openid": "o", "session_key": "k"})
    wx = client(base)
    wx.api.http = httpx.Client(base_url=base, timeout=0.2)
    with pytest.raises(PlatformError) as error:
        wx.code_to_session("x")
    assert error.value.timed_out


def test_the_production_timeout_is_at_most_five_seconds() -> None:
    wx = client("http://127.0.0.1:9")
    assert wx.api.http.timeout.read is not None
    assert wx.api.http.timeout.read <= 5
    assert wx.api.http.timeout.connect is not None
    assert wx.api.http.timeout.connect <= 5


def test_phone_number_uses_a_cached_access_token(wechat: tuple[FakeWeChat, str]) -> None:
    fake, base = wechat
    fake.script("/cgi-bin/stable_token", {"access_token": "TOKEN-1", "expires_in": 7200})
    fake.script(
        "/wxa/business/getuserphonenumber",
        {
            "errcode": 0,
            "phone_info": {
                "phoneNumber": "13800138000",
                "purePhoneNumber": "13800138000",
                "countryCode": "86",
            },
        },
    )
    wx = client(base)
    assert wx.phone_number("p1").pure_phone == "13800138000"
    assert wx.phone_number("p2").pure_phone == "13800138000"
    token_calls = [r for r in fake.requests if r[0] == "/cgi-bin/stable_token"]
    phone_calls = [r for r in fake.requests if r[0] == "/wxa/business/getuserphonenumber"]
    assert len(token_calls) == 1
    assert [c[1]["access_token"] for c in phone_calls] == ["TOKEN-1", "TOKEN-1"]
    assert [c[2] for c in phone_calls] == [{"code": "p1"}, {"code": "p2"}]


@pytest.mark.parametrize("expired_code", [40001, 42001])
def test_an_expired_access_token_is_refreshed_once(
    wechat: tuple[FakeWeChat, str], expired_code: int
) -> None:
    fake, base = wechat
    fake.script(
        "/cgi-bin/stable_token",
        {"access_token": "OLD", "expires_in": 7200},
        {"access_token": "NEW", "expires_in": 7200},
    )
    fake.script(
        "/wxa/business/getuserphonenumber",
        {"errcode": expired_code, "errmsg": "access_token expired"},
        {"errcode": 0, "phone_info": {"purePhoneNumber": "13900001111", "countryCode": "86"}},
    )
    assert client(base).phone_number("p").pure_phone == "13900001111"
    tokens = [r for r in fake.requests if r[0] == "/cgi-bin/stable_token"]
    assert [t[2]["force_refresh"] for t in tokens] == [False, True]
    calls = [
        r[1]["access_token"] for r in fake.requests if r[0] == "/wxa/business/getuserphonenumber"
    ]
    assert calls == ["OLD", "NEW"]


def test_a_token_still_refused_after_refresh_is_an_error(wechat: tuple[FakeWeChat, str]) -> None:
    fake, base = wechat
    fake.script("/cgi-bin/stable_token", {"access_token": "T", "expires_in": 7200})
    fake.script(
        "/wxa/business/getuserphonenumber", {"errcode": 40001, "errmsg": "invalid credential"}
    )
    with pytest.raises(PlatformError) as error:
        client(base).phone_number("p")
    assert error.value.errcode == 40001
    assert len([r for r in fake.requests if r[0] == "/wxa/business/getuserphonenumber"]) == 2


def test_simulator_is_deterministic_and_has_every_error() -> None:
    sim = LoginSimulator()
    assert sim.code_to_session("abc").openid == sim.code_to_session("abc").openid
    assert sim.code_to_session("abc").openid != sim.code_to_session("abd").openid
    for code, errcode in [
        ("invalid", 40029),
        ("used", 40163),
        ("ratelimited", 45011),
        ("risky", 40226),
        ("busy", -1),
    ]:
        with pytest.raises(PlatformError) as error:
            sim.code_to_session(code)
        assert error.value.errcode == errcode
    with pytest.raises(PlatformError) as error:
        sim.code_to_session("timeout")
    assert error.value.timed_out
    assert sim.phone_number("x").pure_phone.startswith("139")
