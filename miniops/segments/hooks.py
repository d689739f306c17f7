"""Apps above segments (notifications' "entered a segment" campaigns, CMS,
recommendations) react to membership changes here, after the recompute that
made them has committed:

    hooks.register("entered", fn)   fn(segment_id=, member_ids=, at=)
    hooks.register("exited", fn)    fn(segment_id=, member_ids=, at=)

``member_ids`` is a list of ints (possibly long: a first recompute enters every
member). A hook that raises is logged and the others still run: the membership
is already committed, and the changes stay readable in ``SegmentChange``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("miniops.segments")

EVENTS = frozenset({"entered", "exited"})
_hooks: dict[str, list[Callable[..., object]]] = defaultdict(list)


def register(event: str, fn: Callable[..., object]) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown segment hook {event!r}")
    if fn not in _hooks[event]:
        _hooks[event].append(fn)


def unregister(event: str, fn: Callable[..., None]) -> None:
    if fn in _hooks[event]:
        _hooks[event].remove(fn)


def run(event: str, **kwargs: Any) -> None:
    for fn in list(_hooks[event]):
        try:
            fn(**kwargs)
        except Exception:
            logger.exception("segment hook %s failed", getattr(fn, "__name__", fn))
