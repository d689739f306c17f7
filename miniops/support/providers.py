"""WeChat's customer-service message API (``customerServiceMessage.send``) behind
a provider slot: the real client on ``core.wechat.WeChatApi`` and a simulator.

An image goes out as WeChat's own copy: uploaded first as temporary media
(``customerServiceMessage.uploadTempMedia``, ``POST /cgi-bin/media/upload?type=image``;
kept by WeChat for 3 days) and sent by its ``media_id``.

WeChat refuses with 45015 ("response out of time limit", past 48 hours since the
member's last message) and 45047 (more than 5 replies); both become
``WindowClosed`` so the composer can say why and offer a subscribe message.
"""

from __future__ import annotations

import hashlib
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

    def upload_image(self, *, filename: str, data: bytes, content_type: str) -> str:
        """WeChat's ``media_id`` for the image, valid for 3 days."""
        ...


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

    def upload_image(self, *, filename: str, data: bytes, content_type: str) -> str:
        body = self.api.call(
            "/cgi-bin/media/upload",
            params={"type": "image"},
            files={"media": (filename, data, content_type)},
        )
        media_id = body.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise PlatformError(-1, "upload answered no media_id")
        return media_id


class CustomerServiceSimulator:
    """Keeps what would have been sent (the demo and the tests read ``sent``)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def upload_image(self, *, filename: str, data: bytes, content_type: str) -> str:
        media_id = "sim-media-" + hashlib.sha256(data).hexdigest()[:24]
        with self._lock:
            self.uploads.append({"filename": filename, "bytes": len(data), "media_id": media_id})
            del self.uploads[:-200]
        return media_id

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
