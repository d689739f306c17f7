"""Per-minute live counters for the real-time monitor and alerts.

With Redis: ``INCRBY`` counters, HyperLogLogs for unique visitors and sorted sets
for the pages being viewed, one pipeline per batch of events; counters are kept
eight days so an alert can compare with the same minute last week. Without Redis
(the embedded default) the figures are read from the events table itself — the
volumes of a one-process installation make that cheap, and nothing is lost when
the process restarts — except API server errors, which are not events and are
counted in this process's memory. Minutes are epoch minutes (UTC); events older
than two hours are not counted live.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache

from miniops.core.redis import get_redis
from miniops.core.timeutils import business_tz

METRICS = (
    "visitors",
    "pageviews",
    "orders",
    "payments",
    "payment_failures",
    "api_5xx",
    "sla_breaches",
)
MEMORY_METRICS = frozenset({"api_5xx"})
#: without Redis: metric -> (event source, event name)
EVENT_METRICS = {
    "pageviews": ("client", "page_view"),
    "orders": ("server", "order_created"),
    "payments": ("server", "order_paid"),
    "payment_failures": ("server", "payment_failed"),
    # customer service: a ticket past an SLA target (support.services.tickets)
    "sla_breaches": ("server", "support_sla_breached"),
}
KEEP_SECONDS = 8 * 86400 + 3600
PAGES_KEEP_SECONDS = 2 * 3600
LIVE_MINUTES = 120

_lock = threading.Lock()
_counts: dict[tuple[str, int], int] = {}
_last_prune = [0.0]


def local_day(moment: datetime) -> Any:
    return moment.astimezone(business_tz()).date()


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
        with _lock:  # only what is not an event: API server errors
            for (metric, minute), amount in self.counts.items():
                if metric in MEMORY_METRICS:
                    _counts[(metric, minute)] = _counts.get((metric, minute), 0) + amount
            _prune()


def _prune() -> None:
    now = time.time()
    if now - _last_prune[0] < 60:
        return
    _last_prune[0] = now
    oldest = int(now // 60) - KEEP_SECONDS // 60
    for counter_key in [k for k in _counts if k[1] < oldest]:
        del _counts[counter_key]


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
    if metric in MEMORY_METRICS:
        with _lock:
            return [_counts.get((metric, minute), 0) for minute in minutes]
    if not minutes:
        return []
    per_minute = _from_events(metric, min(minutes), max(minutes))
    return [len(per_minute[m]) if metric == "visitors" else per_minute[m] for m in minutes]


def total(metric: str, minutes: Iterable[int]) -> int:
    """``metric`` over a span of minutes (distinct visitors across it for ``visitors``)."""
    minutes = list(minutes)
    if metric != "visitors":
        return sum(series(metric, minutes))
    client = get_redis()
    if client is not None:
        return int(client.pfcount(*[_key("visitors", minute) for minute in minutes]))
    if not minutes:
        return 0
    wanted = set(minutes)
    per_minute = _from_events("visitors", min(minutes), max(minutes))
    seen: set[str] = set()
    for minute, visitors in per_minute.items():
        if minute in wanted:
            seen |= visitors
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
    elif minutes:
        merged = _from_events("pages", min(minutes), max(minutes))
    return merged.most_common(limit)


def _from_events(metric: str, first: int, last: int) -> Any:
    """The embedded default: minute -> count (a set of visitors for ``visitors``; a
    Counter of paths for ``pages``) from the events with ``ts`` in those minutes."""
    from miniops.analytics.models import Event

    start = datetime.fromtimestamp(first * 60, tz=UTC)
    end = datetime.fromtimestamp((last + 1) * 60, tz=UTC)
    events = Event.objects.filter(ts__gte=start, ts__lt=end, day__gte=local_day(start))
    if metric == "visitors":
        visitors: dict[int, set[str]] = defaultdict(set)
        for ts, member_id, anonymous_id in events.filter(source="client").values_list(
            "ts", "member_id", "anonymous_id"
        ):
            key = f"m{member_id}" if member_id is not None else f"a{anonymous_id}"
            visitors[minute_of(ts)].add(key)
        return visitors
    if metric == "pages":
        pages: Counter[str] = Counter(
            events.filter(source="client", name="page_view")
            .exclude(path="")
            .values_list("path", flat=True)
        )
        return pages
    source, name = EVENT_METRICS[metric]
    counts: dict[int, int] = defaultdict(int)
    for (ts,) in events.filter(source=source, name=name).values_list("ts"):
        counts[minute_of(ts)] += 1
    return counts


def reset_local() -> None:
    """Tests: forget in-process counters."""
    with _lock:
        _counts.clear()
