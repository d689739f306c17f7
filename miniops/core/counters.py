"""Atomic counters with an expiry: rate limits, per-minute live metrics.

On Redis one round trip (INCR + EXPIRE in a pipeline); on the embedded default the
local cache's atomic add/incr.
"""

from __future__ import annotations

from django.core.cache import cache

from miniops.core.redis import get_redis


def hit(key: str, ttl: int, amount: int = 1) -> int:
    """Add ``amount`` to counter ``key`` (created at 0, expiring ``ttl`` seconds after
    creation) and return the new value."""
    client = get_redis()
    if client is not None:
        full_key = cache.make_key(key)
        pipe = client.pipeline(transaction=False)
        pipe.incrby(full_key, amount)
        pipe.expire(full_key, ttl, nx=True)
        value, _ = pipe.execute()
        return int(value)
    cache.add(key, 0, timeout=ttl)
    try:
        return int(cache.incr(key, amount))
    except ValueError:  # expired between add and incr
        cache.set(key, amount, timeout=ttl)
        return amount


def read(key: str) -> int:
    client = get_redis()
    if client is not None:
        value = client.get(cache.make_key(key))
        return int(value) if value is not None else 0
    return int(cache.get(key) or 0)
