"""WeChat subscribe messages behind a provider slot: the account's templates
(``getTemplateList``, the template library's keywords) and ``subscribeMessage.send``.

``SubscribeClient`` is the real platform on the shared ``WeChatApi`` (access
token, errcodes as ``PlatformError``); ``SubscribeSimulator`` answers locally for
the demo and tests (a fixed set of templates, every send accepted and kept in a
log). Tests and benchmarks run the real client against
``miniops.testing.fake_wechat`` with ``install_subscribe``.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from miniops.core.providers import ProviderSlot
from miniops.core.wechat import PlatformError, WeChatApi
from miniops.notifications import rules

__all__ = [
    "BAD_FIELD",
    "NO_CONSENT",
    "PlatformError",
    "RemoteTemplate",
    "SubscribeClient",
    "SubscribeProvider",
    "SubscribeSimulator",
    "subscribe_provider",
]

SEND_PATH = "/cgi-bin/message/subscribe/send"
LIST_PATH = "/wxaapi/newtmpl/gettemplate"

#: errcodes of subscribeMessage.send that mean something to the delivery ledger
NO_CONSENT = 43101
BAD_FIELD = 47003
BAD_OPENID = 40003
BAD_TEMPLATE = 40037
BAD_PAGE = 41030


@dataclass(frozen=True)
class RemoteTemplate:
    """A template as WeChat lists it. ``type`` 2 is one-time, 3 long-term."""

    wx_template_id: str
    title: str
    content: str
    example: str = ""
    type: int = 2
    keywords: list[dict[str, str]] = field(default_factory=list)


def _keywords(content: str) -> list[dict[str, str]]:
    """``物品名称:{{thing1.DATA}}`` -> [{"key": "thing1", "name": "物品名称", "rule": "thing"}]."""
    out = []
    for line in content.splitlines():
        keys = rules.keywords_of(line)
        for key in keys:
            try:
                rule = rules.rule_of(key)
            except ValueError:
                continue
            label = line.split("{{", 1)[0].strip().rstrip(":：").strip()
            out.append({"key": key, "name": label or key, "rule": rule})
    return out


def parse_template(item: dict[str, Any]) -> RemoteTemplate:
    content = str(item.get("content", ""))
    return RemoteTemplate(
        wx_template_id=str(item["priTmplId"]),
        title=str(item.get("title", ""))[:64],
        content=content,
        example=str(item.get("example", "")),
        type=int(item.get("type", 2) or 2),
        keywords=_keywords(content),
    )


class SubscribeProvider(Protocol):
    def list_templates(self) -> list[RemoteTemplate]: ...

    def send(
        self, *, openid: str, template_id: str, data: dict[str, str], page: str = ""
    ) -> str: ...


class SubscribeClient:
    """The real platform (``WECHAT_API_BASE``)."""

    def __init__(self, base_url: str | None = None, state: str = "formal") -> None:
        self.api = WeChatApi(base_url=base_url)
        self.state = state

    def list_templates(self) -> list[RemoteTemplate]:
        body = self.api.call(LIST_PATH, method="GET")
        return [parse_template(item) for item in body.get("data") or [] if item.get("priTmplId")]

    def send(self, *, openid: str, template_id: str, data: dict[str, str], page: str = "") -> str:
        body = self.api.call(
            SEND_PATH,
            json={
                "touser": openid,
                "template_id": template_id,
                "page": page,
                "data": {key: {"value": value} for key, value in data.items()},
                "miniprogram_state": self.state,
                "lang": "zh_CN",
            },
        )
        return str(body.get("msgid", ""))


#: the templates the simulator's account has (the demo syncs these)
SIMULATED_TEMPLATES = [
    {
        "priTmplId": "SIM-order-shipped",
        "title": "订单发货通知",
        "content": "订单号:{{character_string1.DATA}}\n商品名称:{{thing2.DATA}}\n"
        "快递公司:{{thing3.DATA}}\n发货时间:{{date4.DATA}}",
        "example": "订单号:MO2026120100001\n商品名称:无线耳机\n快递公司:顺丰速运\n"
        "发货时间:2026年12月1日 10:00",
        "type": 2,
    },
    {
        "priTmplId": "SIM-refund-done",
        "title": "退款成功通知",
        "content": "订单号:{{character_string1.DATA}}\n退款金额:{{amount2.DATA}}\n"
        "到账时间:{{date3.DATA}}",
        "type": 2,
    },
    {
        "priTmplId": "SIM-coupon-expiring",
        "title": "优惠券到期提醒",
        "content": "优惠券:{{thing1.DATA}}\n到期时间:{{date2.DATA}}\n温馨提示:{{thing3.DATA}}",
        "type": 2,
    },
    {
        "priTmplId": "SIM-coupon-received",
        "title": "优惠券到账通知",
        "content": "优惠券:{{thing1.DATA}}\n面额:{{amount2.DATA}}\n有效期至:{{date3.DATA}}\n"
        "备注:{{thing4.DATA}}",
        "type": 2,
    },
    {
        "priTmplId": "SIM-flash-reminder",
        "title": "秒杀开始提醒",
        "content": "活动名称:{{thing1.DATA}}\n开始时间:{{date2.DATA}}\n状态:{{phrase3.DATA}}",
        "type": 2,
    },
    {
        "priTmplId": "SIM-cart-reminder",
        "title": "购物车提醒",
        "content": "商品名称:{{thing1.DATA}}\n温馨提示:{{thing2.DATA}}",
        "type": 2,
    },
    {
        "priTmplId": "SIM-service-reply",
        "title": "客服回复通知",
        "content": "回复内容:{{thing1.DATA}}\n回复时间:{{time2.DATA}}",
        "type": 3,
    },
]


class SubscribeSimulator:
    """Every send is accepted and kept in ``sent`` (the demo's worker uses it)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def list_templates(self) -> list[RemoteTemplate]:
        return [parse_template(item) for item in SIMULATED_TEMPLATES]

    def send(self, *, openid: str, template_id: str, data: dict[str, str], page: str = "") -> str:
        if not openid:
            raise PlatformError(BAD_OPENID, "invalid openid")
        with self._lock:
            msgid = f"sim{next(self._ids)}"
            if len(self.sent) < 10_000:
                self.sent.append(
                    {"openid": openid, "template_id": template_id, "data": data, "page": page}
                )
        return msgid


subscribe_provider: ProviderSlot[SubscribeProvider] = ProviderSlot(
    "wechat_subscribe",
    interface=SubscribeProvider,
    live="miniops.notifications.providers.SubscribeClient",
    simulator="miniops.notifications.providers.SubscribeSimulator",
)
