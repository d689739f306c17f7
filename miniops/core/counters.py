"""Atomic counters with an expiry: rate limits, per-minute live metrics.

On Redis one round trip (INCR + EXPIRE in a pipeline); on the embedded default the
local cache's atomic add/incr.
"""

from __future__ import annotations

import threading
import time

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


# --- approximate, batched counting for hot paths ------------------------------------------
_batched: dict[str, list[float]] = {}  # key -> [pending, last shared value, expires at]
_batched_lock = threading.Lock()


def hit_batched(key: str, ttl: int, *, batch: int) -> int:
    """Like ``hit`` but talks to Redis only every ``batch`` hits per process.

    For rate limits on the busiest endpoints: the count seen may lag the true one
    by up to ``batch`` per web process, so a client can exceed its limit by at most
    that much before being refused, in exchange for no round trip on most requests.
    """
    if batch <= 1 or get_redis() is None:
        return hit(key, ttl)
    now = time.monotonic()
    with _batched_lock:
        entry = _batched.get(key)
        if entry is None or entry[2] < now:
            if len(_batched) > 10_000:
                for stale in [k for k, v in _batched.items() if v[2] < now]:
                    del _batched[stale]
            entry = _batched[key] = [0, 0, now + ttl]
        entry[0] += 1
        if entry[0] < batch:
            return int(entry[1] + entry[0])
        flush, entry[0] = int(entry[0]), 0
    shared = hit(key, ttl, amount=flush)
    with _batched_lock:
        entry[1] = shared
        return int(shared + entry[0])
