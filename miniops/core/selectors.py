from __future__ import annotations

from typing import Any

from django.core.cache import cache

from miniops.core import localcache, media
from miniops.core.models import SystemSettings

SETTINGS_CACHE_KEY = "core:system_settings:v1"
HEARTBEAT_CACHE_KEY = "core:worker_heartbeat"


def worker_last_seen() -> float | None:
    """Seconds since a background worker last ran a job, or None if never seen."""
    import time

    seen = cache.get(HEARTBEAT_CACHE_KEY)
    return None if seen is None else round(time.time() - float(seen), 1)


def get_system_settings() -> SystemSettings:
    settings_row, _ = SystemSettings.objects.get_or_create(id=1)
    return settings_row


def public_config() -> dict[str, Any]:
    """What the mini-program reads at start-up (``GET /api/v1/config``): a few
    seconds in this process, then the shared cache, then the database."""
    return localcache.get_or_load(SETTINGS_CACHE_KEY, 5.0, _shared_public_config)


def _shared_public_config() -> dict[str, Any]:
    cached = cache.get(SETTINGS_CACHE_KEY)
    if cached is not None:
        return cached
    row = get_system_settings()
    config = {
        "platform_name": row.platform_name,
        "logo_url": media.public_url(row.logo.name) if row.logo else None,
        "theme": {"primary": row.theme_primary, "secondary": row.theme_secondary},
        "miniprogram_app_id": row.miniprogram_app_id or None,
        "customer_service": {
            "phone": row.cs_phone or None,
            "wechat": row.cs_wechat or None,
            "email": row.cs_email or None,
            "hours": row.cs_hours or None,
        },
    }
    cache.set(SETTINGS_CACHE_KEY, config, timeout=300)
    return config
