"""WeChat content security behind a provider slot: ``msgSecCheck`` v2 for text
(answered at once) and ``mediaCheckAsync`` v2 for images (a ``trace_id`` now, the
verdict later at the message-push callback).

The live client talks to ``WECHAT_API_BASE`` through ``miniops.core.wechat``;
the simulator answers locally (a text containing ``风险测试`` is risky,
``人工测试`` needs review; an image address containing ``risky`` is risky) and
gives image verdicts at once. Any ``PlatformError`` is the caller's to handle:
content never publishes on a failure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from miniops.core.providers import ProviderSlot
from miniops.core.wechat import WeChatApi

#: WeChat's scenes: 1 profile, 2 comment, 3 forum, 4 social log
SCENES = {"post": 3, "comment": 2, "review": 2}
#: msgSecCheck accepts at most this many characters
TEXT_LIMIT = 2500


@dataclass(frozen=True)
class Verdict:
    suggest: str  # pass, review, risky
    label: str = "100"
    trace_id: str = ""
    detail: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class MediaTicket:
    trace_id: str
    #: the simulator answers at once; WeChat later, at the callback
    verdict: Verdict | None = None


class ContentCheckProvider(Protocol):
    def check_text(self, *, openid: str, scene: int, content: str) -> Verdict: ...

    def check_media(self, *, openid: str, scene: int, media_url: str) -> MediaTicket: ...


def parse_result(body: dict[str, Any]) -> Verdict:
    """``{"result": {"suggest", "label"}, "detail": [...], "trace_id"}`` as WeChat
    answers (and pushes) it; anything unexpected is ``review``, never ``pass``."""
    raw_result = body.get("result")
    result: dict[str, Any] = raw_result if isinstance(raw_result, dict) else {}
    suggest = str(result.get("suggest", "")).lower()
    if suggest not in {"pass", "review", "risky"}:
        suggest = "review"
    raw_detail = body.get("detail")
    detail: list[Any] = raw_detail if isinstance(raw_detail, list) else []
    return Verdict(
        suggest=suggest,
        label=str(result.get("label", ""))[:16],
        trace_id=str(body.get("trace_id", ""))[:64],
        detail=[item for item in detail if isinstance(item, dict)][:20],
    )


class WeChatContentCheck:
    """The real client."""

    def __init__(self, api: WeChatApi | None = None) -> None:
        self.api = api or WeChatApi()

    def check_text(self, *, openid: str, scene: int, content: str) -> Verdict:
        body = self.api.call(
            "/wxa/msg_sec_check",
            json={
                "version": 2,
                "openid": openid,
                "scene": scene,
                "content": content[:TEXT_LIMIT],
            },
        )
        return parse_result(body)

    def check_media(self, *, openid: str, scene: int, media_url: str) -> MediaTicket:
        body = self.api.call(
            "/wxa/media_check_async",
            json={
                "version": 2,
                "openid": openid,
                "scene": scene,
                "media_url": media_url,
                "media_type": 2,
            },
        )
        trace_id = str(body.get("trace_id", ""))
        if not trace_id:
            from miniops.core.wechat import PlatformError

            raise PlatformError(-1, "no trace_id")
        return MediaTicket(trace_id=trace_id[:64])


class ContentCheckSimulator:
    RISKY_WORD = "风险测试"
    REVIEW_WORD = "人工测试"

    def check_text(self, *, openid: str, scene: int, content: str) -> Verdict:
        trace = uuid.uuid4().hex
        if self.RISKY_WORD in content:
            return Verdict("risky", "20001", trace, [{"strategy": "content_model"}])
        if self.REVIEW_WORD in content:
            return Verdict("review", "21000", trace, [{"strategy": "content_model"}])
        return Verdict("pass", "100", trace)

    def check_media(self, *, openid: str, scene: int, media_url: str) -> MediaTicket:
        trace = f"sim-{uuid.uuid4().hex}"
        suggest = "risky" if "risky" in media_url else "pass"
        return MediaTicket(trace, Verdict(suggest, "100" if suggest == "pass" else "20002", trace))


content_check = ProviderSlot[ContentCheckProvider](
    "wechat_content_check",
    interface=ContentCheckProvider,
    live="miniops.content.providers.WeChatContentCheck",
    simulator="miniops.content.providers.ContentCheckSimulator",
)
