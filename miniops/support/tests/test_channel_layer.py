"""The channel layer survives sockets that stay quiet (channels-redis)."""

from __future__ import annotations

import asyncio
import os

import pytest
from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer

redis_only = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="channels-redis only")


@redis_only
def test_the_redis_read_timeout_outlasts_the_layers_blocking_pop() -> None:
    layer = get_channel_layer()
    pool = layer.create_pool(0)
    timeout = pool.connection_kwargs.get("socket_timeout")
    # None would wait forever on a dead Redis; anything at or under the blocking pop
    # kills every quiet socket (redis-py's default equals it: 5 s).
    assert timeout is not None
    assert timeout > layer.brpop_timeout


@redis_only
def test_a_receive_with_nothing_to_read_waits_past_the_blocking_pop() -> None:
    # A layer of its own: the process-wide one may still hold a receive that a consumer
    # test left on another event loop, and channels-redis allows one loop per layer.
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)

    async def run() -> str:
        channel = await layer.new_channel()
        try:
            await asyncio.wait_for(layer.receive(channel), timeout=layer.brpop_timeout + 1.5)
        except TimeoutError:
            return "still waiting"  # ours: nothing came, and the read did not fail
        return "received"

    assert async_to_sync(run)() == "still waiting"


@redis_only
def test_a_socket_may_hold_more_unread_events_than_channels_redis_allows_by_default() -> None:
    # channels-redis drops the oldest event past ``capacity`` (default 100) without a
    # word; an agent with dozens of busy conversations passed it in the benchmark.
    assert get_channel_layer().capacity >= 1000


@redis_only
def test_the_layer_opens_more_redis_connections_than_redis_py_allows_by_default() -> None:
    # redis-py ≥ 8 raises "Too many connections" past 100 in an asyncio pool instead
    # of waiting; 500 members reconnecting at once passed it in the benchmark.
    pool = get_channel_layer().create_pool(0)
    assert pool.max_connections >= 1000
