"""Mini-program codes: WeChat's ``wxacode.getUnlimited`` behind a provider slot.

``MiniCodeProvider`` is the interface; ``WeChatMiniCodeClient`` calls the real
platform (``POST /wxa/getwxacodeunlimit`` on the shared ``WeChatApi``), taking one
slot of the 5,000-calls-a-minute budget (errcode 45009) through
``core.throttling.acquire`` first; ``MiniCodeSimulator`` renders a real QR code
PNG locally with ``qrcode``, so the demo and the tests scan.
"""

from __future__ import annotations

import io
from typing import Protocol

import qrcode
from django.conf import settings

from miniops.core import throttling
from miniops.core.providers import ProviderSlot
from miniops.core.wechat import PlatformError, WeChatApi

__all__ = ["MiniCodeProvider", "MiniCodeSimulator", "PlatformError", "WeChatMiniCodeClient"]

#: errcodes -> what they mean for us
PAGE_MISSING = {41030}
BUDGET = "wechat_wxacode"


class MiniCodeProvider(Protocol):
    def unlimited(self, *, scene: str, page: str, width: int) -> bytes:
        """PNG bytes of the mini-program code opening ``page`` with ``scene``."""
        ...


class WeChatMiniCodeClient:
    """The real platform. Needs ``WECHAT_APP_ID`` and ``WECHAT_APP_SECRET``."""

    def __init__(
        self, base_url: str | None = None, app_id: str | None = None, secret: str | None = None
    ) -> None:
        self.api = WeChatApi(base_url=base_url, app_id=app_id, secret=secret)

    def unlimited(self, *, scene: str, page: str, width: int) -> bytes:
        try:
            throttling.acquire(BUDGET, settings.MINIOPS_WXACODE_RATE, wait=10.0)
        except throttling.LimitTimeout as exc:
            raise PlatformError(45009, "local budget spent") from exc
        body = self.api.call(
            "/wxa/getwxacodeunlimit",
            json={
                "scene": scene,
                "page": page,
                "width": width,
                "check_path": settings.MINIOPS_WXACODE_CHECK_PATH,
                "env_version": settings.MINIOPS_WXACODE_ENV,
            },
            raw=True,
        )
        if not isinstance(body, bytes):  # a JSON answer with errcode 0 but no image
            raise PlatformError(-1, "no image in the answer")
        return body


class MiniCodeSimulator:
    """A real, scannable QR code of ``page?scene`` drawn locally."""

    calls = 0

    def unlimited(self, *, scene: str, page: str, width: int) -> bytes:
        type(self).calls += 1
        code = qrcode.QRCode(border=2, box_size=10)
        code.add_data(f"{page}?scene={scene}")
        code.make(fit=True)
        image = code.make_image().get_image().convert("RGB")
        image = image.resize((width, width))
        out = io.BytesIO()
        image.save(out, "PNG", optimize=True)
        return out.getvalue()


minicode_provider: ProviderSlot[MiniCodeProvider] = ProviderSlot(
    "wechat_minicode",
    interface=MiniCodeProvider,
    live="miniops.sharing.providers.WeChatMiniCodeClient",
    simulator="miniops.sharing.providers.MiniCodeSimulator",
)
