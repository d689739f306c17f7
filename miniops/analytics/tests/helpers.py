"""Shared helpers for the analytics tests: wire-format batches, raw rows stored
directly (any day, any time), local times, and an independent recomputation of
the rollups from the raw events."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from django.test import Client
from django.utils import timezone

from miniops.analytics import ingest, storage
from miniops.analytics.models import Event, VisitorAlias

SHANGHAI = ZoneInfo("Asia/Shanghai")
BATCH_URL = "/api/v1/events/batch"
MANAGE = "/api/v1/manage/analytics"


# --- times -------------------------------------------------------------------------------
def ms(moment: datetime) -> int:
    """Epoch milliseconds, as the mini-program's ``Date.now()`` gives them."""
    return int(moment.timestamp() * 1000)


def now_ms() -> int:
    return ms(timezone.now())


def local(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """``day`` at hh:mm:ss in Asia/Shanghai, as an aware UTC datetime."""
    return datetime.combine(day, time(hour, minute, second), tzinfo=SHANGHAI).astimezone(UTC)


def today() -> date:
    return timezone.now().astimezone(SHANGHAI).date()


def days_ago(n: int) -> date:
    return today() - timedelta(days=n)


# --- the wire format -----------------------------------------------------------------------
def event(name: str = "page_view", ts: int | None = None, **fields: Any) -> dict[str, Any]:
    """One client event as the mini-program sends it."""
    return {"uuid": str(uuid.uuid4()), "name": name, "ts": now_ms() if ts is None else ts, **fields}


def batch(
    events: list[dict[str, Any]],
    *,
    sent_at: int | None = None,
    anonymous_id: str | None = "anon-1",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"sent_at": now_ms() if sent_at is None else sent_at, "events": events}
    if anonymous_id is not None:
        body["anonymous_id"] = anonymous_id
    body.update(extra)
    return body


def send(client: Client, body: Any, *, token: str | None = None, **headers: Any) -> Any:
    """POST a batch (a dict is encoded as JSON; bytes and str go as they are)."""
    if isinstance(body, dict | list):
        payload: bytes | str = orjson.dumps(body)
    else:
        payload = body
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post(BATCH_URL, payload, content_type="application/json", **headers)


def error_of(response: Any) -> dict[str, Any]:
    """The shared error shape, asserted."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["fields"], dict)
    return dict(body["error"])


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --- raw rows stored directly ----------------------------------------------------------------
def row(
    name: str = "page_view",
    *,
    at: datetime,
    member_id: int | None = None,
    anonymous_id: str = "",
    session_id: str = "",
    path: str = "",
    scene: int | None = None,
    channel: str = "",
    utm_source: str = "",
    share_code: str = "",
    platform: str = "",
    source: str = "client",
    properties: dict[str, Any] | None = None,
    received_at: datetime | None = None,
    uid: uuid.UUID | None = None,
) -> ingest.Row:
    """An ``ingest.Row`` (what a decoded batch gives) for any moment, however old."""
    return ingest.Row(
        uuid=uid or uuid.uuid4(),
        name=name,
        source=source,
        member_id=member_id,
        anonymous_id=anonymous_id,
        session_id=session_id,
        ts=at,
        day=ingest.local_day(at),
        received_at=received_at or timezone.now(),
        path=path,
        referrer="",
        scene=scene,
        channel=channel,
        utm_source=utm_source,
        utm_medium="",
        utm_campaign="",
        share_code=share_code,
        platform=platform,
        os="",
        model="",
        app_version="",
        network="",
        properties=properties or {},
    )


def store(*rows: ingest.Row) -> list[ingest.Row]:
    return storage.insert(list(rows))


# --- an independent recomputation from raw events ------------------------------------------------
def resolved_visitor(e: Event, aliases: dict[str, int]) -> str | None:
    if e.member_id is not None:
        return f"m{e.member_id}"
    if e.anonymous_id in aliases:
        return f"m{aliases[e.anonymous_id]}"
    if e.anonymous_id:
        return f"a{e.anonymous_id}"
    return None


def expected_rollups() -> dict[str, Any]:
    """What the rollups should say, computed naively in Python from every Event row."""
    aliases = dict(VisitorAlias.objects.values_list("anonymous_id", "member_id"))
    active: dict[date, set[str]] = defaultdict(set)
    pageviews: dict[date, int] = defaultdict(int)
    event_counts: dict[tuple[date, str, str], int] = defaultdict(int)
    event_visitors: dict[tuple[date, str, str], set[str]] = defaultdict(set)
    first_day: dict[str, date] = {}
    for e in Event.objects.all():
        visitor = resolved_visitor(e, aliases)
        key = (e.day, e.name, e.path)
        event_counts[key] += 1
        if visitor is not None:
            event_visitors[key].add(visitor)
        if e.source != "client":
            continue
        assert visitor is not None
        active[e.day].add(visitor)
        if e.name == "page_view":
            pageviews[e.day] += 1
        if visitor not in first_day or e.day < first_day[visitor]:
            first_day[visitor] = e.day
    return {
        "active": dict(active),
        "pageviews": dict(pageviews),
        "event_days": {k: (n, len(event_visitors[k])) for k, n in event_counts.items()},
        "first_day": first_day,
    }


def window_actives(active: dict[date, set[str]], day: date, length: int) -> int:
    seen: set[str] = set()
    for offset in range(length):
        seen |= active.get(day - timedelta(days=offset), set())
    return len(seen)


def seen(*names: str) -> None:
    """One event of each name, a minute ago: the funnel builder then offers them."""
    moment = timezone.now() - timedelta(minutes=1)
    store(*(row(name, at=moment, anonymous_id="seen") for name in names))
