"""WeChat mini-program scene values (where a visit came from), with names."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

SCENES: dict[int, Any] = {
    1001: gettext_lazy("Discover: mini-program entry"),
    1005: gettext_lazy("WeChat home search box"),
    1006: gettext_lazy("Discover: mini-program search"),
    1007: gettext_lazy("Shared card in a one-to-one chat"),
    1008: gettext_lazy("Shared card in a group chat"),
    1011: gettext_lazy("Scanned a QR code"),
    1012: gettext_lazy("Long-pressed a QR code image"),
    1013: gettext_lazy("QR code from the photo album"),
    1014: gettext_lazy("Subscription message"),
    1017: gettext_lazy("Trial version"),
    1020: gettext_lazy("Official account profile"),
    1022: gettext_lazy("Pinned in chat"),
    1023: gettext_lazy("Android home-screen icon"),
    1024: gettext_lazy("Mini-program profile page"),
    1025: gettext_lazy("Scanned a barcode"),
    1035: gettext_lazy("Official account menu"),
    1036: gettext_lazy("Shared from an app"),
    1037: gettext_lazy("Opened from another mini-program"),
    1038: gettext_lazy("Returned from another mini-program"),
    1043: gettext_lazy("Official account template message"),
    1044: gettext_lazy("Shared card with shareTicket"),
    1045: gettext_lazy("Moments advertisement"),
    1047: gettext_lazy("Scanned a mini-program code"),
    1048: gettext_lazy("Long-pressed a mini-program code"),
    1053: gettext_lazy("Search results"),
    1058: gettext_lazy("Official account article"),
    1067: gettext_lazy("Official account article advertisement"),
    1074: gettext_lazy("Official account chat card"),
    1089: gettext_lazy("Pull-down in the chat list"),
    1095: gettext_lazy("Mini-program advertisement"),
    1096: gettext_lazy("Chat history"),
    1103: gettext_lazy("My mini-programs (Discover)"),
    1104: gettext_lazy("My mini-programs (pull-down)"),
    1154: gettext_lazy("Moments (single-page mode)"),
    1155: gettext_lazy("Opened from single-page mode"),
    1256: gettext_lazy("Recently used (menu)"),
}

#: scenes that mean "someone shared this with me"
SHARE_SCENES = frozenset({1007, 1008, 1036, 1044, 1096, 1154, 1155})


def scene_name(value: Any) -> str:
    if value in (None, ""):
        return _("Unknown")
    try:
        code = int(value)
    except (TypeError, ValueError):
        return str(value)
    name = SCENES.get(code)
    return f"{code} {name}" if name else _("Scene %d") % code
