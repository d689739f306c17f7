"""Apps above members react to operators' changes to members:

    hooks.register("tags_changed", fn)   fn(member_ids=)   tags added or removed in bulk
    hooks.register("status_changed", fn) fn(member=)       blocked or unblocked

Called inside the service's transaction; a hook must not fail the change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

EVENTS = frozenset({"tags_changed", "status_changed"})
_hooks: dict[str, list[Callable[..., None]]] = defaultdict(list)


def register(event: str, fn: Callable[..., None]) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown member hook {event!r}")
    if fn not in _hooks[event]:
        _hooks[event].append(fn)


def run(event: str, **kwargs: Any) -> None:
    for fn in list(_hooks[event]):
        fn(**kwargs)
