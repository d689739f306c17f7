"""Other apps (marketing: coupons, points, flash sales, group buys) react to an
order's life inside the same database transaction as the change itself, so a
coupon is used if and only if its order exists, and comes back if and only if the
order is released.

    hooks.register("placed", fn)    fn(order=, quote=)        order created, stock reserved
    hooks.register("status", fn)    fn(order=, from_=, to=)   every status transition
    hooks.register("released", fn)  fn(order=)                unpaid order cancelled or timed out
    hooks.register("refunded", fn)  fn(order=, refund=)       a refund succeeded
    hooks.register("refund_pending", fn)  fn(refund=)         the platform took a refund; its
                                                              result comes later by notice

A hook that raises a ``DomainError`` refuses the change (the transaction rolls
back); anything else is a bug and propagates. The orders app's own jobs listen
here too (``orders.tasks``: the unpaid timeout, the simulator's refund notice), so
services never import their tasks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

EVENTS = frozenset({"placed", "status", "released", "refunded", "refund_pending"})
_hooks: dict[str, list[Callable[..., None]]] = defaultdict(list)


def register(event: str, fn: Callable[..., None]) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown order hook {event!r}")
    if fn not in _hooks[event]:
        _hooks[event].append(fn)


def run(event: str, **kwargs: Any) -> None:
    for fn in list(_hooks[event]):
        fn(**kwargs)
