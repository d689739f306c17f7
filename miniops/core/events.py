"""Server-side behaviour events: one explicit ``track(...)`` call, no signals.

Services call ``track("order_paid", member_id=..., properties={...})`` where a
business fact happens. Events are buffered per transaction and handed to the
registered sinks only after the transaction commits (a rolled-back order never
shows up in reports). The analytics app registers the sink that stores them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

logger = logging.getLogger("miniops.events")


@dataclass(frozen=True)
class ServerEvent:
    name: str
    member_id: int | None
    properties: dict[str, Any]
    at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)


Sink = Callable[[list[ServerEvent]], None]
_sinks: list[Sink] = []


def register_sink(sink: Sink) -> None:
    if sink not in _sinks:
        _sinks.append(sink)


def unregister_sink(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


#: Set while ``withheld()`` runs: events tracked then are dropped.
_withheld = False


@contextmanager
def withheld() -> Iterator[None]:
    """Track nothing for the sinks while inside: the demo seeder's services would
    record events dated at the moment of seeding, and it writes the history's
    events itself, dated from the tables."""
    global _withheld
    before, _withheld = _withheld, True
    try:
        yield
    finally:
        _withheld = before


def _deliver(events: list[ServerEvent]) -> None:
    for sink in list(_sinks):
        try:
            sink(events)
        except Exception:  # an analytics failure never breaks a sale
            logger.exception("event sink %r failed", sink)


def track(
    name: str,
    *,
    member_id: int | None = None,
    properties: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> ServerEvent:
    """Record that ``name`` happened; delivered to sinks after commit."""
    event = ServerEvent(name, member_id, dict(properties or {}), at or timezone.now())
    if not _withheld:
        transaction.on_commit(lambda: _deliver([event]))
    return event
