"""The shared WeChat client against the local fake server: the token is fetched
once and refreshed when WeChat says it is stale, images come back as bytes, and
every failure is a PlatformError that says whether a retry may help."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.core.cache import cache

from miniops.core.wechat import PlatformError, WeChatApi
from miniops.testing.fake_wechat import Answer


@pytest.fixture
def api(fake_wechat: Any) -> WeChatApi:
    cache.delete(WeChatApi.TOKEN_CACHE_KEY)
    return WeChatApi(base_url=fake_wechat.url, app_id="wx0123456789abcdef", secret="s")


def test_the_token_is_fetched_once_and_sent_with_each_call(
    api: WeChatApi, fake_wechat: Any
) -> None:
    fake_wechat.script("/wxa/x", {"errcode": 0, "n": 1})
    assert api.call("/wxa/x", json={"a": 1})["n"] == 1
    assert api.call("/wxa/x", json={"a": 2})["n"] == 1
    assert fake_wechat.tokens_issued == 1
    calls = fake_wechat.calls("/wxa/x")
    assert [call.query["access_token"] for call in calls] == [fake_wechat.TOKEN] * 2
    assert calls[1].json == {"a": 2}


def test_a_stale_token_is_refreshed_once(api: WeChatApi, fake_wechat: Any) -> None:
    fake_wechat.script("/wxa/x", {"errcode": 40001, "errmsg": "invalid credential"}, {"ok": 1})
    assert api.call("/wxa/x")["ok"] == 1
    assert fake_wechat.tokens_issued == 2
    assert fake_wechat.calls("/cgi-bin/stable_token")[1].json["force_refresh"] is True


def test_a_token_that_stays_stale_is_an_error(api: WeChatApi, fake_wechat: Any) -> None:
    fake_wechat.script("/wxa/x", {"errcode": 42001, "errmsg": "expired"})
    with pytest.raises(PlatformError) as error:
        api.call("/wxa/x")
    assert error.value.errcode == 42001
    assert not error.value.retryable


def test_an_image_answer_is_bytes_and_an_error_answer_is_still_an_error(
    api: WeChatApi, fake_wechat: Any
) -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    fake_wechat.script(
        "/wxa/getwxacodeunlimit",
        Answer(png, content_type="image/png"),
        {"errcode": 45009, "errmsg": "reach max api daily quota limit"},
    )
    assert api.call("/wxa/getwxacodeunlimit", json={"scene": "a"}, raw=True) == png
    with pytest.raises(PlatformError) as error:
        api.call("/wxa/getwxacodeunlimit", json={"scene": "a"}, raw=True)
    assert error.value.retryable


@pytest.mark.parametrize(
    ("answer", "errcode"),
    [
        (Answer("<html>", status=502, content_type="text/html"), -1),
        (Answer("not json", content_type="text/plain"), -1),
        (Answer([1, 2]), -1),
        (Answer({"errcode": -1, "errmsg": "system busy"}), -1),
    ],
)
def test_broken_answers_are_platform_errors(
    api: WeChatApi, fake_wechat: Any, answer: Answer, errcode: int
) -> None:
    fake_wechat.script("/wxa/x", answer)
    with pytest.raises(PlatformError) as error:
        api.call("/wxa/x")
    assert error.value.errcode == errcode
    assert error.value.retryable


def test_no_answer_in_time_is_a_timeout(api: WeChatApi, fake_wechat: Any) -> None:
    fake_wechat.script("/wxa/x", Answer({"ok": 1}, delay=1.0))
    api.access_token()
    api.http = httpx.Client(base_url=fake_wechat.url, timeout=0.2)
    with pytest.raises(PlatformError) as error:
        api.call("/wxa/x")
    assert error.value.timed_out
    assert error.value.retryable


def test_the_token_is_kept_by_the_client_and_a_refused_one_read_again(
    api: WeChatApi, fake_wechat: Any
) -> None:
    fake_wechat.script("/wxa/x", {"errcode": 0})
    api.call("/wxa/x")
    cache.delete(WeChatApi.TOKEN_CACHE_KEY)
    api.call("/wxa/x")  # the instance's memo: no cache read, no new token
    assert fake_wechat.tokens_issued == 1
    # WeChat refuses the remembered token while another process already put a
    # fresh one in the cache: that one is used, no forced refresh
    cache.set(WeChatApi.TOKEN_CACHE_KEY, "FRESH")
    fake_wechat.script("/wxa/x", {"errcode": 40001, "errmsg": "invalid credential"}, {"ok": 1})
    assert api.call("/wxa/x")["ok"] == 1
    assert fake_wechat.tokens_issued == 1
    assert fake_wechat.calls("/wxa/x")[-1].query["access_token"] == "FRESH"
