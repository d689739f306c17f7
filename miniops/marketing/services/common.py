"""Shared pieces of the marketing services."""

from __future__ import annotations

from typing import Any

from miniops.core.errors import Forbidden


def require(actor: Any, code: str) -> None:
    """Operators need ``code``; ``None`` (the system, a periodic task) may."""
    if (
        actor is not None
        and getattr(actor, "is_operator", False)
        and not actor.has_permission(code)
    ):
        raise Forbidden()
