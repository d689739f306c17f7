"""Registration and traffic channels in words.

The mini-program sends a channel code (``organic``, ``kol_live``) with a sign-up or
a visit; the console shows it by name. A code not listed here shows as it came.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

CHANNELS: dict[str, Any] = {
    "organic": _("Organic"),
    "share": _("Shared by a member"),
    "wechat_ads": _("WeChat ads"),
    "douyin": _("Douyin"),
    "xiaohongshu": _("Xiaohongshu"),
    "kol_live": _("KOL live stream"),
    "offline_qr": _("Offline QR code"),
    "sms": _("SMS"),
}


def channel_label(code: str | None) -> str:
    if not code:
        return "—"
    return str(CHANNELS.get(code, code))
