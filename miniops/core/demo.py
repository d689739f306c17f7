"""Demo platform settings."""

from __future__ import annotations

from collections.abc import Callable

from miniops.core.models import SystemSettings

STEPS = 1


def seed(*, progress: Callable[[int], object]) -> None:
    SystemSettings.objects.update_or_create(
        id=1,
        defaults={
            "platform_name": "小鹿优选",
            "theme_primary": "#07C160",
            "theme_secondary": "#FA5151",
            "miniprogram_app_id": "wx5e1d0a7c3b9f2a41",
            "cs_phone": "400-820-1234",
            "cs_wechat": "xiaolu_kefu",
            "cs_email": "kefu@example.com",
            "cs_hours": "09:00–21:00",
        },
    )
    progress(1)
