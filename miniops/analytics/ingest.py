"""Decoding and checking a batch of client events — fast, and one event at a time.

A batch is decoded once with msgspec; each event is kept as raw bytes and decoded
on its own, so one bad event is refused with its index and reason while the rest
of the batch is kept. Client clocks are corrected with the batch's ``sent_at``:
an event stamped ``ts`` on a phone whose clock says ``sent_at`` when the server
receives the batch at ``received`` happened at ``received - (sent_at - ts)``.

Wire format (times are epoch milliseconds, as ``Date.now()`` gives them)::

    {"sent_at": 1764067200000,
     "anonymous_id": "a-7c1f…",            # the mini-program's own id, until login
     "device": {"platform": "ios", "os": "iOS 17.4", "model": "iPhone15,2",
                "app_version": "1.4.0", "network": "wifi"},
     "events": [{"uuid": "…", "name": "page_view", "ts": 1764067199000,
                 "session_id": "s-…", "path": "pages/product/detail",
                 "referrer": "pages/index/index", "scene": 1007,
                 "channel": "moments", "utm_source": "", "utm_medium": "",
                 "utm_campaign": "", "share_code": "", "properties": {"product_id": 12}}]}

Every field of an event except ``uuid``, ``name`` and ``ts`` may be left out;
``anonymous_id`` and ``device`` may also be given per event.
"""

from __future__ import annotations

import re
import uuid as uuid_module
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import msgspec

from miniops.core.timeutils import business_tz

MAX_BATCH_BYTES = 512 * 1024
MAX_EVENTS = 500
MAX_EVENT_BYTES = 32 * 1024
#: events stamped further ahead than this (after skew correction) are refused
MAX_FUTURE = timedelta(minutes=10)

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.:$-]*$")]
Short = Annotated[str, msgspec.Meta(max_length=64)]
Tiny = Annotated[str, msgspec.Meta(max_length=32)]
Path = Annotated[str, msgspec.Meta(max_length=200)]
Millis = Annotated[int, msgspec.Meta(ge=0, le=32503680000000)]  # up to year 3000
Scene = Annotated[int, msgspec.Meta(ge=0, le=99999)]


class Device(msgspec.Struct, forbid_unknown_fields=False):
    platform: Annotated[str, msgspec.Meta(max_length=16)] = ""
    os: Tiny = ""
    model: Short = ""
    app_version: Tiny = ""
    network: Annotated[str, msgspec.Meta(max_length=16)] = ""


class EventIn(msgspec.Struct, forbid_unknown_fields=False):
    uuid: uuid_module.UUID
    name: Name
    ts: Millis
    session_id: Short = ""
    anonymous_id: Short | None = None
    path: Path = ""
    referrer: Path = ""
    scene: Scene | None = None
    channel: Short = ""
    utm_source: Short = ""
    utm_medium: Short = ""
    utm_campaign: Short = ""
    share_code: Short = ""
    device: Device | None = None
    properties: dict[str, Any] = {}


class BatchIn(msgspec.Struct, forbid_unknown_fields=False):
    sent_at: Millis
    events: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_EVENTS)]
    anonymous_id: Short = ""
    device: Device = msgspec.field(default_factory=Device)


_batch_decoder = msgspec.json.Decoder(BatchIn)
_event_decoder = msgspec.json.Decoder(EventIn)


class BatchError(ValueError):
    """The batch as a whole is unusable (not JSON, wrong shape, too many events)."""


@dataclass(slots=True)
class Row:
    """One event ready to store: the columns of ``analytics.Event``."""

    uuid: uuid_module.UUID
    name: str
    source: str
    member_id: int | None
    anonymous_id: str
    session_id: str
    ts: datetime
    day: date
    received_at: datetime
    path: str
    referrer: str
    scene: int | None
    channel: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    share_code: str
    platform: str
    os: str
    model: str
    app_version: str
    network: str
    properties: dict[str, Any]


COLUMNS = tuple(Row.__slots__)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def local_day(moment: datetime) -> date:
    return moment.astimezone(business_tz()).date()


def _reason(exc: msgspec.ValidationError) -> str:
    return str(exc)


def _clean(value: Any) -> bool:
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_clean(k) and _clean(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_clean(v) for v in value)
    return True


def _storable(event: EventIn) -> bool:
    """No NUL and no lone surrogate anywhere: PostgreSQL stores neither (the slow
    path, taken only when the raw bytes contain such an escape)."""
    return _clean(msgspec.to_builtins(event, str_keys=True))


MAX_DEPTH = 8
INT64 = 2**63
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


_FLAT = (str, bool, float, type(None))


def _properties_problem(properties: dict[str, Any]) -> str | None:
    """As ``_deep_properties_problem``, with a fast pass for the usual flat object."""
    for value in properties.values():
        kind = type(value)
        if kind in _FLAT or (kind is int and -INT64 <= value < INT64):
            continue
        return _deep_properties_problem(properties)
    return None


def _deep_properties_problem(properties: dict[str, Any]) -> str | None:
    """Why ``properties`` cannot be stored, or None: nesting deeper than MAX_DEPTH,
    or an integer outside 64 bits (neither JSON column type takes it)."""
    stack: list[tuple[Any, int]] = [(properties, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                return f"properties nest deeper than {MAX_DEPTH} levels"
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                return f"properties nest deeper than {MAX_DEPTH} levels"
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
            return "an integer in properties does not fit in 64 bits"
    return None


def _decode_outer(body: bytes) -> tuple[BatchIn, bool]:
    """The batch, and whether lone surrogates were replaced by NUL escapes."""
    try:
        return _batch_decoder.decode(body), False
    except msgspec.ValidationError as exc:
        raise BatchError(_reason(exc)) from None
    except RecursionError:
        raise BatchError("the body is nested too deeply") from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        if _LONE_SURROGATE.search(body):
            # One event's broken emoji must not lose the batch: mark it so that
            # only that event is refused (NUL is refused per event below).
            try:
                return _batch_decoder.decode(_LONE_SURROGATE.sub(rb"\\u0000", body)), True
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
                pass
        raise BatchError("the body is not valid JSON in UTF-8") from None


def decode_batch(
    body: bytes,
    *,
    member_id: int | None,
    received: datetime,
    horizon: timedelta,
) -> tuple[list[Row], list[dict[str, Any]]]:
    """(rows to store, refusals ``{"index", "reason"}``) for a request body."""
    if len(body) > MAX_BATCH_BYTES:
        raise BatchError(f"a batch is at most {MAX_BATCH_BYTES // 1024} KB")
    batch, rescued = _decode_outer(body)
    suspicious = rescued or b"\\u0000" in body or b"\\ud" in body or b"\\uD" in body
    if suspicious and not _clean(msgspec.to_builtins([batch.anonymous_id, batch.device])):
        raise BatchError("NUL or a lone surrogate in anonymous_id or device")
    received_ms = received.timestamp() * 1000
    skew_ms = received_ms - batch.sent_at
    oldest_ms = received_ms - horizon.total_seconds() * 1000
    newest_ms = received_ms + MAX_FUTURE.total_seconds() * 1000
    device = batch.device
    rows: list[Row] = []
    refused: list[dict[str, Any]] = []
    seen: set[uuid_module.UUID] = set()
    tz = business_tz()
    offsets: dict[int, int] = {}
    for index, raw in enumerate(batch.events):
        if len(raw) > MAX_EVENT_BYTES:
            refused.append({"index": index, "reason": "an event is at most 32 KB"})
            continue
        try:
            event = _event_decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError) as exc:
            refused.append({"index": index, "reason": str(exc)[:200]})
            continue
        except RecursionError:
            refused.append({"index": index, "reason": "nested too deeply"})
            continue
        if suspicious and not _storable(event):
            refused.append({"index": index, "reason": "NUL or a lone surrogate in a string"})
            continue
        problem = _properties_problem(event.properties) if event.properties else None
        if problem is not None:
            refused.append({"index": index, "reason": problem})
            continue
        corrected_ms = event.ts + skew_ms
        if corrected_ms > newest_ms:
            refused.append({"index": index, "reason": "ts is in the future"})
            continue
        if corrected_ms < oldest_ms:
            refused.append({"index": index, "reason": "ts is older than the accepted horizon"})
            continue
        if event.uuid in seen:
            refused.append({"index": index, "reason": "uuid repeated in this batch"})
            continue
        seen.add(event.uuid)
        anonymous_id = event.anonymous_id if event.anonymous_id is not None else batch.anonymous_id
        if member_id is None and not anonymous_id:
            refused.append({"index": index, "reason": "no member token and no anonymous_id"})
            continue
        ts = datetime.fromtimestamp(corrected_ms / 1000, tz=UTC)
        quarter = int(corrected_ms // 900_000)
        offset_ms = offsets.get(quarter)
        if offset_ms is None:  # the zone offset, once per quarter hour (DST-safe)
            utc_offset = ts.astimezone(tz).utcoffset() or timedelta(0)
            offset_ms = offsets[quarter] = int(utc_offset.total_seconds() * 1000)
        d = event.device or device
        rows.append(
            Row(  # positional, in COLUMNS order (23 keywords cost more than the rest)
                event.uuid,
                event.name,
                "client",
                member_id,
                anonymous_id,
                event.session_id,
                ts,
                date.fromordinal(_EPOCH_ORDINAL + int((corrected_ms + offset_ms) // 86_400_000)),
                received,
                event.path,
                event.referrer,
                event.scene,
                event.channel,
                event.utm_source,
                event.utm_medium,
                event.utm_campaign,
                event.share_code,
                d.platform,
                d.os,
                d.model,
                d.app_version,
                d.network,
                event.properties,
            )
        )
    return rows, refused
