from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from miniops.core import localcache
from miniops.core.audit import acting_as
from miniops.core.errors import InvalidInput
from miniops.core.models import SystemSettings
from miniops.core.selectors import HEARTBEAT_CACHE_KEY, SETTINGS_CACHE_KEY, get_system_settings


@transaction.atomic
def update_system_settings(
    *, actor: Any, instance: SystemSettings | None = None, **changes: Any
) -> SystemSettings:
    """Save platform settings (validated) and drop the cached public config on commit.

    The console passes its already-validated ``instance``; other callers pass
    field changes. Either way the row is fully validated before saving.
    """
    row = instance or get_system_settings()
    for name, value in changes.items():
        if name in {"id", "updated_at"} or not hasattr(row, name):
            raise ValueError(f"unknown setting {name!r}")
        setattr(row, name, value)
    try:
        row.full_clean()
    except ValidationError as exc:
        raise InvalidInput(fields={k: " ".join(v) for k, v in exc.message_dict.items()}) from exc
    with acting_as(actor):
        row.save()
    transaction.on_commit(_drop_cached_config)
    return row


def record_worker_heartbeat() -> None:
    """A background worker is alive: remember when (read by /readyz)."""
    import time

    cache.set(HEARTBEAT_CACHE_KEY, time.time(), timeout=3600)


def _drop_cached_config() -> None:
    cache.delete(SETTINGS_CACHE_KEY)
    localcache.forget(SETTINGS_CACHE_KEY)
