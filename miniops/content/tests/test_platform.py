"""WeChat content security: the live client against the local fake WeChat
(pass, risky, errors, slowness), nothing published on a failure or a timeout,
and the signed image-verdict callback (forged, stale, replayed, unknown)."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from miniops.content.models import CaseStatus, ModerationCase, PlatformCheck, Post, Status
from miniops.content.providers import WeChatContentCheck, content_check
from miniops.content.services import publishing
from miniops.content.tests.helpers import create_post, upload, writer
from miniops.core.wechat import WeChatApi

pytestmark = pytest.mark.django_db
TOKEN = "push-token-test"
LONG = "这是一段足够长的帖子文字，会交给微信内容安全检查一下"


@pytest.fixture
def live(fake_wechat, settings):
    settings.WECHAT_MESSAGE_TOKEN = TOKEN
    client = WeChatContentCheck(
        WeChatApi(base_url=fake_wechat.url, app_id="wxtest", secret="s", timeout=httpx.Timeout(1.0))
    )
    with content_check.override(client):
        yield fake_wechat


def result(suggest, label="100"):
    return {
        "errcode": 0,
        "errmsg": "ok",
        "trace_id": "t-text",
        "result": {"suggest": suggest, "label": label},
        "detail": [],
    }


def test_a_pass_from_wechat_publishes(live):
    live.script("/wxa/msg_sec_check", result("pass"))
    _me, client = writer()
    pk = create_post(client, LONG).json()["id"]
    assert Post.objects.get(pk=pk).status == Status.PUBLISHED
    sent = live.calls("/wxa/msg_sec_check")[0].json
    assert sent["version"] == 2
    assert sent["scene"] == 3
    assert sent["openid"]


@pytest.mark.parametrize(
    "answer",
    [
        result("risky", "20002"),
        result("review", "21000"),
        {"errcode": -1, "errmsg": "system busy"},
        {"errcode": 45009, "errmsg": "rate limited"},
        {"errcode": 0, "errmsg": "ok", "result": {"suggest": "???"}},
    ],
)
def test_risky_review_or_errors_go_to_a_person(live, answer):
    live.script("/wxa/msg_sec_check", answer)
    _me, client = writer()
    pk = create_post(client, LONG).json()["id"]
    assert Post.objects.get(pk=pk).status == Status.PENDING
    case = ModerationCase.objects.get(kind="post", object_id=pk)
    assert case.status == CaseStatus.OPEN


def test_a_slow_platform_is_a_failure_not_a_pass(live):
    from miniops.testing.fake_wechat import Answer

    live.script("/wxa/msg_sec_check", Answer(result("pass"), delay=2.0))
    _me, client = writer()
    pk = create_post(client, LONG).json()["id"]
    assert Post.objects.get(pk=pk).status == Status.PENDING
    assert PlatformCheck.objects.get(object_id=pk, channel="text").verdict == "error"
    assert ModerationCase.objects.get(kind="post", object_id=pk).trigger == "provider_error"


def media_post(live):
    live.script("/wxa/msg_sec_check", result("pass"))
    live.script("/wxa/media_check_async", {"errcode": 0, "errmsg": "ok", "trace_id": "trace-1"})
    _me, client = writer()
    pk = create_post(client, LONG, images=[upload(client)]).json()["id"]
    return pk


def push(body, *, token=TOKEN, timestamp=None, nonce="n1", client=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324
    query = f"?signature={signature}&timestamp={timestamp}&nonce={nonce}"
    return (client or Client()).post(
        "/api/v1/content/wechat/push" + query, json.dumps(body), content_type="application/json"
    )


def verdict(trace="trace-1", suggest="pass"):
    return {
        "Event": "wxa_media_check",
        "trace_id": trace,
        "version": 2,
        "result": {"suggest": suggest, "label": "100"},
        "detail": [],
    }


def test_an_image_waits_for_its_signed_verdict(live):
    pk = media_post(live)
    assert Post.objects.get(pk=pk).status == Status.PENDING
    assert push(verdict()).status_code == 200
    assert Post.objects.get(pk=pk).status == Status.PUBLISHED


def test_forged_stale_replayed_and_unknown_pushes_change_nothing(live):
    pk = media_post(live)
    assert push(verdict(), token="wrong").status_code == 400
    assert push(verdict(), timestamp=int(time.time()) - 3600, nonce="n2").status_code == 400
    assert push(verdict(trace="nobody"), nonce="n3").status_code == 404
    assert PlatformCheck.objects.get(trace_id="trace-1").verdict == ""
    assert Post.objects.get(pk=pk).status == Status.PENDING
    assert push(verdict(suggest="risky"), nonce="n4").status_code == 200
    assert push(verdict(suggest="pass"), nonce="n4").status_code == 409  # replayed nonce
    assert push(verdict(suggest="pass"), nonce="n5").status_code == 409  # already answered
    assert PlatformCheck.objects.get(trace_id="trace-1").verdict == "risky"
    assert Post.objects.get(pk=pk).status == Status.PENDING
    # the server-address check answers echostr only when signed
    timestamp, nonce = str(int(time.time())), "e1"
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()  # noqa: S324
    ok = Client().get(
        f"/api/v1/content/wechat/push?signature={signature}&timestamp={timestamp}&nonce={nonce}&echostr=hello"
    )
    assert ok.content == b"hello"


def test_no_verdict_in_30_minutes_goes_to_a_person(live):
    pk = media_post(live)
    PlatformCheck.objects.filter(channel="media").update(
        requested_at=timezone.now() - timedelta(minutes=31)
    )
    assert publishing.expire_media_checks() == 1
    assert Post.objects.get(pk=pk).status == Status.PENDING
    case = ModerationCase.objects.get(kind="post", object_id=pk)
    assert case.trigger == "timeout"
    assert case.status == CaseStatus.OPEN
