"""Apps above the catalog react to what happens to products without the catalog
importing them (the members app keeps a member's browsing history):

    hooks.register("viewed", fn)    fn(member_id=, product_id=)   a member opened a product page

A hook runs in the request that caused it; one that fails is logged and does not
break the page.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("miniops.catalog")

EVENTS = frozenset({"viewed"})
_hooks: dict[str, list[Callable[..., None]]] = defaultdict(list)


def register(event: str, fn: Callable[..., None]) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown catalog hook {event!r}")
    if fn not in _hooks[event]:
        _hooks[event].append(fn)


def run(event: str, **kwargs: Any) -> None:
    for fn in list(_hooks[event]):
        try:
            fn(**kwargs)
        except Exception:  # a history row is a courtesy; the page is what was asked for
            logger.exception("catalog hook %s failed", event)
