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


# --- notices to operators' browsers -----------------------------------------------------
#: ``publisher(payload, operator_id)``: ``operator_id=None`` reaches every signed-in
#: operator. The console registers the one that pushes over its WebSocket, so domain
#: code says what happened without knowing how the console shows it.
NoticePublisher = Callable[[dict[str, Any], "int | None"], None]
_notice_publishers: list[NoticePublisher] = []


def register_notice_publisher(publisher: NoticePublisher) -> None:
    if publisher not in _notice_publishers:
        _notice_publishers.append(publisher)


def unregister_notice_publisher(publisher: NoticePublisher) -> None:
    if publisher in _notice_publishers:
        _notice_publishers.remove(publisher)


def _publish(payload: dict[str, Any], operator_id: int | None) -> None:
    for publisher in list(_notice_publishers):
        try:
            publisher(payload, operator_id)
        except Exception:  # a push is a courtesy: the row that caused it is the record
            logger.exception("notice publisher %r failed", publisher)


def notify_operators(payload: dict[str, Any], *, operator_id: int | None = None) -> None:
    """Tell operators' open consoles about ``payload`` (``{"type": ..., ...}``) once
    the transaction commits: one operator, or everyone when ``operator_id`` is None."""
    transaction.on_commit(lambda: _publish(dict(payload), operator_id))
