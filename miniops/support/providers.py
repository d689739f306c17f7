"""WeChat's customer-service message API (``customerServiceMessage.send``) behind
a provider slot: the real client on ``core.wechat.WeChatApi`` and a simulator.

WeChat refuses with 45015 ("response out of time limit", past 48 hours since the
member's last message) and 45047 (more than 5 replies); both become
``WindowClosed`` so the composer can say why and offer a subscribe message.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from miniops.core.providers import ProviderSlot
from miniops.core.wechat import PlatformError, WeChatApi

OUT_OF_TIME = 45015
OVER_LIMIT = 45047


class WindowClosed(Exception):
    def __init__(self, errcode: int) -> None:
        self.errcode = errcode
        super().__init__(f"WeChat refused the reply ({errcode})")


class CustomerServiceProvider(Protocol):
    def send(self, *, openid: str, msgtype: str, content: dict[str, Any]) -> None: ...


def wire_body(openid: str, msgtype: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"touser": openid, "msgtype": msgtype, msgtype: content}


class WeChatCustomerService:
    """The real one: ``POST /cgi-bin/message/custom/send``."""

    def __init__(self, api: WeChatApi | None = None) -> None:
        self.api = api or WeChatApi()

    def send(self, *, openid: str, msgtype: str, content: dict[str, Any]) -> None:
        try:
            self.api.call("/cgi-bin/message/custom/send", json=wire_body(openid, msgtype, content))
        except PlatformError as exc:
            if exc.errcode in (OUT_OF_TIME, OVER_LIMIT):
                raise WindowClosed(exc.errcode) from exc
            raise


class CustomerServiceSimulator:
    """Keeps what would have been sent (the demo and the tests read ``sent``)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def send(self, *, openid: str, msgtype: str, content: dict[str, Any]) -> None:
        with self._lock:
            self.sent.append(wire_body(openid, msgtype, content))
            del self.sent[:-200]


customer_service = ProviderSlot[CustomerServiceProvider](
    "wechat_customer_service",
    interface=CustomerServiceProvider,
    live="miniops.support.providers.WeChatCustomerService",
    simulator="miniops.support.providers.CustomerServiceSimulator",
)
