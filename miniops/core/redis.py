"""One Redis client per process, shared by the cache, counters and scripts.

Django's Redis cache builds a new ``redis.Redis`` object for every operation (and
a connection pool per thread); with redis-py 8 each construction rebuilds its
response-callback table, which cost ~0.13 ms per cache call here. The client is
thread-safe, so we build it once per process and server and reuse it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient

_clients: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}
_lock = threading.Lock()


def shared_client(url: str, **options: Any) -> Any:
    import redis

    key = (url, tuple(sorted(options.items())))
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                pool = redis.ConnectionPool.from_url(url, **options)
                client = _clients[key] = redis.Redis(connection_pool=pool)
    return client


def get_redis() -> Any | None:
    """The product's Redis (``REDIS_URL``), or ``None`` on the embedded default."""
    if not settings.REDIS_URL:
        return None
    return shared_client(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


class _SharedClient(DjangoRedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        this: Any = self  # django-stubs does not describe the private attributes
        index = this._get_connection_pool_index(write)
        options = {k: v for k, v in this._pool_options.items() if k != "parser_class"}
        return shared_client(this._servers[index], **options)


class RedisCache(DjangoRedisCache):
    """Django's Redis cache backend with one shared client per process."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _SharedClient
