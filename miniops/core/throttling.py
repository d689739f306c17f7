"""API rate limits: fixed one-minute windows counted with atomic cache increments.

ninja's built-in throttles keep a list of timestamps per client and rewrite it on
every request, which costs more the higher the limit. Here each request is one
counter increment (one Redis round trip at scale), whatever the rate.
Signed-in callers are counted per identity (``request.auth.throttle_key``),
everyone else per client IP.
"""

from __future__ import annotations

import logging
import threading
import time

from django.http import HttpRequest
from ninja.throttling import BaseThrottle
from redis.exceptions import RedisError

from miniops.core import counters, localcache
from miniops.core.netutils import client_ip

logger = logging.getLogger("miniops.api")

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/m"`` -> (600, 60)."""
    count, _, period = rate.partition("/")
    seconds = _PERIODS.get(period.strip()[:1])
    if not count.strip().isdigit() or seconds is None:
        raise ValueError(f"rate must look like 600/m, got {rate!r}")
    return int(count), seconds


class WindowThrottle(BaseThrottle):
    def __init__(
        self, *, anon_rate: str, auth_rate: str, scope: str = "api", requires_header: str = ""
    ) -> None:
        self.anon = parse_rate(anon_rate)
        self.auth = parse_rate(auth_rate)
        self.scope = scope
        #: a header the operation requires: throttles run before parameters are read,
        #: so a request without it (refused by validation whatever the budget) is
        #: neither counted nor answered 429
        self.requires_header = requires_header
        # One throttle object serves every request thread; keep the wait per thread.
        self._local = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        if self.requires_header and not request.headers.get(self.requires_header):
            return True
        key = getattr(getattr(request, "auth", None), "throttle_key", None)
        limit, period = self.auth if key else self.anon
        ident = key or f"ip:{client_ip(request)}"
        now = time.time()
        window = int(now // period)
        # Generous limits are counted in batches (see counters.hit_batched): at most
        # limit/200 requests of slack per process, no Redis round trip on most calls.
        try:
            count = counters.hit_batched(
                f"thr:{self.scope}:{ident}:{window}", ttl=period + 1, batch=max(1, limit // 200)
            )
        except (RedisError, OSError) as exc:
            # Redis unreachable: the rate limit is off for the moment rather than
            # every endpoint failing; endpoints that need Redis answer 503 themselves.
            if localcache.first_time("throttle:redis-down", 10.0):
                logger.warning("rate limit not counted, Redis unreachable: %s", exc)
            return True
        if count > limit:
            self._local.wait = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)


# --- outbound limits: calls we make to a platform that rate-limits us ------------------------
class LimitTimeout(Exception):
    """No slot came free within the time the caller was willing to wait."""


def acquire(name: str, rate: str, *, wait: float = 30.0, sleep: float = 0.05) -> None:
    """Take one slot of the outbound budget ``name`` (``"5000/m"``), shared by every
    process through the cache (Redis at scale): WeChat counts calls per app, not per
    worker. Waits for the next window when this one is spent; raises
    ``LimitTimeout`` after ``wait`` seconds, so a caller can put its work back."""
    limit, period = parse_rate(rate)
    deadline = time.monotonic() + wait
    while True:
        now = time.time()
        window = int(now // period)
        if counters.hit(f"out:{name}:{window}", ttl=period + 1) <= limit:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LimitTimeout(name)
        next_window = (window + 1) * period - now
        time.sleep(max(sleep, min(next_window, remaining)))


def acquire_many(name: str, rate: str, n: int, *, wait: float = 30.0, sleep: float = 0.05) -> int:
    """Take up to ``n`` slots of the outbound budget ``name`` at once (one round trip
    per window instead of one per call, for a caller sending a batch). Returns how
    many were granted — all ``n`` unless ``wait`` seconds ran out first, in which
    case the caller does only that many and puts the rest back. Slots asked for past
    the window's limit are not granted (the counter still counts them: the window
    is spent either way)."""
    limit, period = parse_rate(rate)
    deadline = time.monotonic() + wait
    granted = 0
    while granted < n:
        need = n - granted
        now = time.time()
        window = int(now // period)
        count = counters.hit(f"out:{name}:{window}", ttl=period + 1, amount=need)
        granted += max(0, min(need, limit - (count - need)))
        if granted >= n:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        next_window = (window + 1) * period - now
        time.sleep(max(sleep, min(next_window, remaining)))
    return granted
