"""A per-process memo with a short lifetime, in front of the shared cache.

For hot, rarely-changing reads (platform config, category tree, product pages):
each web process keeps a value for a few seconds, so most requests do not even
ask Redis. A change is seen everywhere within ``ttl`` seconds; the process that
made it drops its copy at once (``forget``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_store: dict[str, tuple[float, Any]] = {}
_lock = threading.Lock()
_MAX_ENTRIES = 10_000


def get_or_load(key: str, ttl: float, load: Callable[[], T]) -> T:
    now = time.monotonic()
    hit = _store.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]  # type: ignore[no-any-return,unused-ignore]
    value = load()
    with _lock:
        if len(_store) >= _MAX_ENTRIES:
            _store.clear()
        _store[key] = (now + ttl, value)
    return value


def get(key: str) -> Any:
    """The value under ``key`` if it is still fresh, else None."""
    hit = _store.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    return None


def put(key: str, ttl: float, value: Any) -> None:
    with _lock:
        if len(_store) >= _MAX_ENTRIES:
            _store.clear()
        _store[key] = (time.monotonic() + ttl, value)


def forget(prefix: str = "") -> None:
    with _lock:
        for key in [k for k in _store if k.startswith(prefix)]:
            del _store[key]


def first_time(key: str, ttl: float) -> bool:
    """True the first time ``key`` is seen in ``ttl`` seconds in this process (to do
    something at most once per interval, e.g. mark a day for rebuilding)."""
    now = time.monotonic()
    with _lock:
        hit = _store.get(key)
        if hit is not None and hit[0] > now:
            return False
        if len(_store) >= _MAX_ENTRIES:
            _store.clear()
        _store[key] = (now + ttl, True)
        return True
