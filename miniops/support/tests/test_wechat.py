"""WeChat's contact button: the real ``customerServiceMessage.send`` client against
the fake WeChat server (48 hours, 5 replies, its own 45015/45047 refusals), the
message push that opens a conversation and starts the window (signed, replays
refused, resends stored once), and the subscribe message offered past the window."""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from miniops.core.errors import Conflict, ServiceUnavailable
from miniops.core.wechat import WeChatApi
from miniops.support import selectors, services
from miniops.support.models import (
    Channel,
    Conversation,
    InternalNote,
    Message,
    MessageKind,
    SenderKind,
)
from miniops.support.providers import WeChatCustomerService, customer_service
from miniops.support.tests.helpers import agent, queue
from miniops.testing import factories
from miniops.testing.fake_wechat import CustomerServiceState, install_customer_service

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "push-token-test"
PUSH = "/api/v1/content/wechat/push"


@pytest.fixture
def wechat(fake_wechat: Any, settings: Any) -> Any:
    """The fake server answering customer-service sends, and the real client on it."""
    settings.WECHAT_MESSAGE_TOKEN = TOKEN
    state = install_customer_service(fake_wechat)
    client = WeChatCustomerService(
        WeChatApi(base_url=fake_wechat.url, app_id="wxtest", secret="s", timeout=httpx.Timeout(2.0))
    )
    with customer_service.override(client):
        yield state


def push(body: dict[str, Any], *, nonce: str, timestamp: int | None = None, token: str = TOKEN):
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hashlib.sha1("".join(sorted([token, stamp, nonce])).encode()).hexdigest()  # noqa: S324 - WeChat's scheme
    return Client().post(
        f"{PUSH}?signature={signature}&timestamp={stamp}&nonce={nonce}",
        json.dumps(body),
        content_type="application/json",
    )


def text_push(openid: str, content: str, msg_id: int) -> dict[str, Any]:
    return {
        "ToUserName": "gh_test",
        "FromUserName": openid,
        "CreateTime": int(time.time()),
        "MsgType": "text",
        "Content": content,
        "MsgId": msg_id,
    }


def wechat_conversation(state: CustomerServiceState) -> tuple[Any, Any, Conversation]:
    """A member who wrote from the contact button (through the push), and the agent
    who claimed the conversation."""
    queue()
    member = factories.member()
    assert push(text_push(member.openid, "在吗？", 1001), nonce="n-open").status_code == 200
    state.member_wrote(member.openid)
    conversation = Conversation.objects.get(member=member, channel=Channel.WECHAT_KF)
    helper = agent()
    services.claim(actor=helper, conversation_id=conversation.pk)
    return member, helper, conversation


def test_five_replies_go_through_wechat_then_the_composer_refuses(
    wechat: CustomerServiceState, fake_wechat: Any
) -> None:
    member, helper, conv = wechat_conversation(wechat)
    for i in range(5):
        services.send_agent_message(actor=helper, conversation_id=conv.pk, text=f"回复{i}")
    assert [r["text"]["content"] for r in wechat.receipts] == [f"回复{i}" for i in range(5)]
    assert fake_wechat.calls(CustomerServiceState.SEND)[0].json == {
        "touser": member.openid,
        "msgtype": "text",
        "text": {"content": "回复0"},
    }
    conv.refresh_from_db()
    window = selectors.wechat_window(conv)
    assert window["open"] is False
    assert window["replies_left"] == 0
    with pytest.raises(Conflict) as refused:
        services.send_agent_message(actor=helper, conversation_id=conv.pk, text="第六条")
    assert refused.value.code == "wechat_window_closed"
    assert len(fake_wechat.calls(CustomerServiceState.SEND)) == 5  # refused before calling
    assert not Message.objects.filter(text="第六条").exists()
    # the member writes again (a push): five more
    assert push(text_push(member.openid, "还在吗", 1002), nonce="n-again").status_code == 200
    wechat.member_wrote(member.openid)
    services.send_agent_message(actor=helper, conversation_id=conv.pk, text="在的")
    assert wechat.receipts[-1]["text"] == {"content": "在的"}


@pytest.mark.parametrize(
    ("errcode", "setup"),
    [
        (45047, lambda s, openid: s.used.__setitem__(openid, 5)),  # replies sent elsewhere
        (45015, lambda s, openid: setattr(s, "offset", 49 * 3600)),  # WeChat's clock: over
    ],
)
def test_wechats_own_refusal_stores_nothing_and_closes_the_window(
    wechat: CustomerServiceState, errcode: int, setup: Any
) -> None:
    member, helper, conv = wechat_conversation(wechat)
    setup(wechat, member.openid)
    conv.refresh_from_db()
    assert selectors.wechat_window(conv)["open"] is True  # we thought it open
    before = conv.last_seq
    with pytest.raises(Conflict) as refused:
        services.send_agent_message(actor=helper, conversation_id=conv.pk, text="晚了")
    assert refused.value.code == "wechat_window_closed"
    assert wechat.refused == {errcode: 1}
    conv.refresh_from_db()
    assert conv.last_seq == before
    assert not Message.objects.filter(text="晚了").exists()
    assert selectors.wechat_window(conv)["open"] is False  # believed until the member writes


def test_wechat_busy_is_a_503_and_nothing_is_stored_or_counted(
    wechat: CustomerServiceState,
) -> None:
    _member, helper, conv = wechat_conversation(wechat)
    wechat.busy = 1
    with pytest.raises(ServiceUnavailable):
        services.send_agent_message(actor=helper, conversation_id=conv.pk, text="忙")
    conv.refresh_from_db()
    assert conv.wx_replies_used == 0
    assert not Message.objects.filter(text="忙").exists()
    services.send_agent_message(actor=helper, conversation_id=conv.pk, text="好了")
    assert len(wechat.receipts) == 1


def test_a_push_opens_the_conversation_and_a_resend_is_stored_once(
    wechat: CustomerServiceState,
) -> None:
    queue()
    member = factories.member()
    assert push(text_push(member.openid, "我的快递呢", 77), nonce="a").status_code == 200
    conv = Conversation.objects.get(member=member, channel=Channel.WECHAT_KF)
    assert conv.state == "waiting"
    window = selectors.wechat_window(conv)
    assert window["open"] is True
    assert window["replies_left"] == 5
    # WeChat got no answer in time and sends it again (a new nonce, the same MsgId)
    assert push(text_push(member.openid, "我的快递呢", 77), nonce="b").status_code == 200
    member_messages = Message.objects.filter(conversation=conv, sender=SenderKind.MEMBER)
    assert [(m.text, m.client_id) for m in member_messages] == [("我的快递呢", "wx:77")]
    # an image and a mini-program card land in the same conversation
    image = {**text_push(member.openid, "", 78), "MsgType": "image", "MediaId": "M1"}
    image["PicUrl"] = "https://mmbiz.example/pic"
    assert push(image, nonce="c").status_code == 200
    card = {**text_push(member.openid, "", 79), "MsgType": "miniprogrampage"}
    card.update(Title="这件商品", PagePath="pages/product/detail?id=3")
    assert push(card, nonce="d").status_code == 200
    kinds = list(member_messages.values_list("kind", "text"))
    assert kinds[1:] == [(MessageKind.IMAGE, ""), (MessageKind.TEXT, "这件商品")]


def test_forged_stale_and_replayed_pushes_change_nothing(wechat: CustomerServiceState) -> None:
    queue()
    member = factories.member()
    body = text_push(member.openid, "hi", 5)
    assert push(body, nonce="x", token="wrong").status_code == 400
    assert push(body, nonce="y", timestamp=int(time.time()) - 3600).status_code == 400
    assert not Conversation.objects.exists()
    assert push(body, nonce="z").status_code == 200
    assert push(body, nonce="z").status_code == 409  # the same nonce again
    assert Message.objects.filter(sender=SenderKind.MEMBER).count() == 1
    # a push from an openid we do not know is acknowledged and dropped
    assert push(text_push("oUNKNOWN", "hi", 6), nonce="w").status_code == 200
    assert Conversation.objects.count() == 1


def test_entering_the_session_starts_the_window_again(wechat: CustomerServiceState) -> None:
    member, _helper, conv = wechat_conversation(wechat)
    Conversation.objects.filter(pk=conv.pk).update(wx_replies_used=5)
    conv.refresh_from_db()
    assert selectors.wechat_window(conv)["open"] is False
    enter = {
        "ToUserName": "gh_test",
        "FromUserName": member.openid,
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": "user_enter_tempsession",
        "SessionFrom": "order",
    }
    assert push(enter, nonce="enter").status_code == 200
    conv.refresh_from_db()
    assert selectors.wechat_window(conv)["replies_left"] == 5
    assert Conversation.objects.filter(member=member).count() == 1


def _service_reply_template(member: Any, *, consent: bool) -> Any:
    template = factories.message_template("SIM-service-reply")
    settings_row = factories.push_settings()
    settings_row.service_reply = template
    settings_row.save()
    if consent:
        factories.consent(member, template)
    return template


def test_the_panel_shows_the_window_and_offers_a_subscribe_message(
    wechat: CustomerServiceState, console_as: Any
) -> None:
    from miniops.notifications.models import Delivery

    queue()
    client = console_as("customer_service")
    helper = client.operator
    agent_status = services.set_agent_status(actor=helper, state="online")
    assert agent_status.state == "online"
    member = factories.member()
    assert push(text_push(member.openid, "在吗", 9), nonce="p1").status_code == 200
    conv = Conversation.objects.get(member=member)
    services.claim(actor=helper, conversation_id=conv.pk)
    _service_reply_template(member, consent=True)
    panel = client.get(f"/console/support/inbox/panel/?conversation={conv.pk}")
    assert 'data-window-left="5"' in panel.content.decode()
    assert 'id="panel-subscribe"' not in panel.content.decode()
    Conversation.objects.filter(pk=conv.pk).update(wx_replies_used=5)
    panel = client.get(f"/console/support/inbox/panel/?conversation={conv.pk}").content.decode()
    assert 'data-window-open="0"' in panel
    assert 'id="panel-subscribe"' in panel
    url = f"/console/support/conversation/{conv.pk}/subscribe/"
    assert client.get(url).status_code == 200  # the dialog; nothing sent
    assert not Delivery.objects.exists()
    answer = client.post(url, {"_form_submitted": "on", "text": "您的退款已处理"})
    assert answer.status_code == 302
    delivery = Delivery.objects.get(member_id=member.pk)
    assert delivery.campaign.trigger == "service_reply"
    assert delivery.context == {"product": "您的退款已处理"}
    assert InternalNote.objects.filter(conversation=conv, text__contains="您的退款已处理").exists()


def test_no_consent_no_subscribe_message(wechat: CustomerServiceState) -> None:
    from miniops.notifications.models import Delivery

    member, helper, conv = wechat_conversation(wechat)
    _service_reply_template(member, consent=False)
    with pytest.raises(Conflict) as refused:
        services.send_subscribe_instead(actor=helper, conversation_id=conv.pk, text="你好")
    assert refused.value.code == "no_consent"
    assert not Delivery.objects.exists()


def _image(colour: str) -> tuple[str, bytes]:
    data = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(data, "PNG")
    name = default_storage.save(
        f"uploads/support/{uuid.uuid4().hex}.png", ContentFile(data.getvalue())
    )
    return name, data.getvalue()


def test_an_image_goes_out_as_wechats_own_copy_uploaded_once(
    wechat: CustomerServiceState, fake_wechat: Any
) -> None:
    _member, helper, conv = wechat_conversation(wechat)
    name, data = _image("#2a6")
    for _ in range(2):
        services.send_agent_message(
            actor=helper, conversation_id=conv.pk, kind="image", payload={"image": name}
        )
    uploads = fake_wechat.calls(CustomerServiceState.UPLOAD)
    assert len(uploads) == 1  # the second send reuses WeChat's copy
    assert uploads[0].query["type"] == "image"
    assert wechat.media == {"fake-media-1": data}  # the bytes WeChat got are the image's
    assert [r["image"] for r in wechat.receipts] == [{"media_id": "fake-media-1"}] * 2
    assert Message.objects.filter(conversation=conv, kind=MessageKind.IMAGE).count() == 2


def test_an_image_wechat_would_not_take_is_neither_sent_nor_stored(
    wechat: CustomerServiceState, fake_wechat: Any
) -> None:
    _member, helper, conv = wechat_conversation(wechat)
    name, _data = _image("#a26")
    fake_wechat.script(CustomerServiceState.UPLOAD, {"errcode": -1, "errmsg": "system error"})
    with pytest.raises(ServiceUnavailable):
        services.send_agent_message(
            actor=helper, conversation_id=conv.pk, kind="image", payload={"image": name}
        )
    fake_wechat.script(CustomerServiceState.UPLOAD, {"errcode": 40004, "errmsg": "invalid media"})
    with pytest.raises(Conflict) as refused:
        services.send_agent_message(
            actor=helper, conversation_id=conv.pk, kind="image", payload={"image": name}
        )
    assert refused.value.code == "wechat_refused"
    conv.refresh_from_db()
    assert conv.wx_replies_used == 0
    assert wechat.receipts == []
    assert not Message.objects.filter(conversation=conv, kind=MessageKind.IMAGE).exists()
