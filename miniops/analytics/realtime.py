"""Per-minute live counters for the real-time monitor and alerts.

With Redis: ``INCRBY`` counters, HyperLogLogs for unique visitors and sorted sets
for the pages being viewed, one pipeline per batch of events; counters are kept
eight days so an alert can compare with the same minute last week. Without Redis
(the embedded default runs one process) they live in this process's memory.
Minutes are epoch minutes (UTC); events older than two hours are not counted live.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.core.cache import cache

from miniops.core.redis import get_redis

METRICS = ("visitors", "pageviews", "orders", "payments", "payment_failures", "api_5xx")
KEEP_SECONDS = 8 * 86400 + 3600
PAGES_KEEP_SECONDS = 2 * 3600
LIVE_MINUTES = 120

_lock = threading.Lock()
_counts: dict[tuple[str, int], int] = {}
_visitors: dict[int, set[str]] = {}
_pages: dict[int, Counter[str]] = {}
_last_prune = [0.0]


def current_minute() -> int:
    return int(time.time() // 60)


def minute_of(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def _key(kind: str, minute: int) -> str:
    return cache.make_key(f"rt:{kind}:{minute}")


class Batch:
    """Collects increments for one request, then writes them in one go."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, int]] = Counter()
        self.visitors: dict[int, set[str]] = {}
        self.pages: dict[int, Counter[str]] = {}

    def add(self, metric: str, minute: int, amount: int = 1) -> None:
        self.counts[(metric, minute)] += amount

    def visitor(self, minute: int, visitor: str) -> None:
        self.visitors.setdefault(minute, set()).add(visitor)

    def page(self, minute: int, path: str) -> None:
        self.pages.setdefault(minute, Counter())[path] += 1

    def flush(self) -> None:
        if not (self.counts or self.visitors or self.pages):
            return
        client = get_redis()
        if client is not None:
            pipe = client.pipeline(transaction=False)
            for (metric, minute), amount in self.counts.items():
                key = _key(metric, minute)
                pipe.incrby(key, amount)
                pipe.expire(key, KEEP_SECONDS, nx=True)
            for minute, members in self.visitors.items():
                key = _key("visitors", minute)
                pipe.pfadd(key, *members)
                pipe.expire(key, KEEP_SECONDS, nx=True)
            for minute, pages in self.pages.items():
                key = _key("pages", minute)
                for path, amount in pages.items():
                    pipe.zincrby(key, amount, path)
                pipe.expire(key, PAGES_KEEP_SECONDS, nx=True)
            pipe.execute()
            return
        with _lock:
            for counter_key, amount in self.counts.items():
                _counts[counter_key] = _counts.get(counter_key, 0) + amount
            for minute, members in self.visitors.items():
                _visitors.setdefault(minute, set()).update(members)
            for minute, pages in self.pages.items():
                _pages.setdefault(minute, Counter()).update(pages)
            _prune()


def _prune() -> None:
    now = time.time()
    if now - _last_prune[0] < 60:
        return
    _last_prune[0] = now
    oldest = int(now // 60) - KEEP_SECONDS // 60
    for counter_key in [k for k in _counts if k[1] < oldest]:
        del _counts[counter_key]
    for minute in [m for m in _visitors if m < oldest]:
        del _visitors[minute]
    pages_oldest = int(now // 60) - PAGES_KEEP_SECONDS // 60
    for minute in [m for m in _pages if m < pages_oldest]:
        del _pages[minute]


def record(metric: str, amount: int = 1, *, minute: int | None = None) -> None:
    batch = Batch()
    batch.add(metric, current_minute() if minute is None else minute, amount)
    batch.flush()


def is_live(minute: int) -> bool:
    return minute > current_minute() - LIVE_MINUTES


# --- reading ------------------------------------------------------------------------------
def series(metric: str, minutes: Iterable[int]) -> list[int]:
    """The value of ``metric`` in each of ``minutes`` (unique visitors per minute for
    ``visitors``)."""
    minutes = list(minutes)
    client = get_redis()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for minute in minutes:
            if metric == "visitors":
                pipe.pfcount(_key("visitors", minute))
            else:
                pipe.get(_key(metric, minute))
        return [int(value or 0) for value in pipe.execute()]
    with _lock:
        if metric == "visitors":
            return [len(_visitors.get(minute, ())) for minute in minutes]
        return [_counts.get((metric, minute), 0) for minute in minutes]


def total(metric: str, minutes: Iterable[int]) -> int:
    """``metric`` over a span of minutes (distinct visitors across it for ``visitors``)."""
    minutes = list(minutes)
    if metric != "visitors":
        return sum(series(metric, minutes))
    client = get_redis()
    if client is not None:
        return int(client.pfcount(*[_key("visitors", minute) for minute in minutes]))
    with _lock:
        seen: set[str] = set()
        for minute in minutes:
            seen |= _visitors.get(minute, set())
        return len(seen)


def top_pages(minutes: Iterable[int], limit: int = 10) -> list[tuple[str, int]]:
    minutes = list(minutes)
    merged: Counter[str] = Counter()
    client = get_redis()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for minute in minutes:
            pipe.zrevrange(_key("pages", minute), 0, 49, withscores=True)
        for entries in pipe.execute():
            for path, score in entries:
                merged[path.decode() if isinstance(path, bytes) else path] += int(score)
    else:
        with _lock:
            for minute in minutes:
                merged.update(_pages.get(minute, Counter()))
    return merged.most_common(limit)


def reset_local() -> None:
    """Tests: forget in-process counters."""
    with _lock:
        _counts.clear()
        _visitors.clear()
        _pages.clear()
