"""Writing raw events in bulk, counted once however often a batch is resent.

PostgreSQL: the rows are COPYed into a per-connection temporary staging table and
moved with one ``INSERT … SELECT … ON CONFLICT (uuid) DO NOTHING RETURNING`` —
two statements per batch, whatever its size, and only the new rows come back.
SQLite: the uuids already stored are read first, then one ``INSERT OR IGNORE``
executemany writes the rest, one writer at a time per process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from miniops.analytics.ingest import COLUMNS, Row
from miniops.analytics.models import DirtyDay, Event

TABLE = Event._meta.db_table
DIRTY = DirtyDay._meta.db_table
STAGE = "analytics_event_stage"
_STAGE_DDL = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} (
    uuid uuid, name varchar(64), source varchar(6), member_id bigint,
    anonymous_id varchar(64), session_id varchar(64), ts timestamptz, day date,
    received_at timestamptz, path varchar(200), referrer varchar(200), scene integer,
    channel varchar(64), utm_source varchar(64), utm_medium varchar(64),
    utm_campaign varchar(64), share_code varchar(64), platform varchar(16),
    os varchar(32), model varchar(64), app_version varchar(32), network varchar(16),
    properties jsonb
) ON COMMIT DELETE ROWS
"""
_COLUMN_LIST = ", ".join(COLUMNS)


def insert(rows: Sequence[Row]) -> list[Row]:
    """Store ``rows``; returns those that were new (not seen before by uuid)."""
    if not rows:
        return []
    if connection.vendor == "postgresql":
        return _insert_postgresql(rows)
    return _insert_generic(rows)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def _insert_postgresql(rows: Sequence[Row]) -> list[Row]:
    from psycopg.types.json import Jsonb

    try:
        return _copy(rows, Jsonb)
    except Exception:
        # The staging table may have been created in the transaction that failed.
        pg = getattr(connection, "connection", None)
        if pg is not None:
            pg._miniops_stage = False
        raise


def _copy(rows: Sequence[Row], Jsonb: Any) -> list[Row]:
    # Inside a caller's transaction the staging table may come from a part of it
    # that later rolls back, and ON COMMIT has not emptied it: make sure it exists
    # and is empty. In our own transaction (the request path) the per-connection
    # flag saves that round trip.
    nested = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        pg = raw.connection
        if nested:
            raw.execute(_STAGE_DDL)
            raw.execute(f"DELETE FROM {STAGE}")
        elif not getattr(pg, "_miniops_stage", False):
            raw.execute(_STAGE_DDL)
            pg._miniops_stage = True
        with raw.copy(f"COPY {STAGE} ({_COLUMN_LIST}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    (
                        row.uuid,
                        row.name,
                        row.source,
                        row.member_id,
                        row.anonymous_id,
                        row.session_id,
                        row.ts,
                        row.day,
                        row.received_at,
                        row.path,
                        row.referrer,
                        row.scene,
                        row.channel,
                        row.utm_source,
                        row.utm_medium,
                        row.utm_campaign,
                        row.share_code,
                        row.platform,
                        row.os,
                        row.model,
                        row.app_version,
                        row.network,
                        Jsonb(row.properties, dumps=_dumps),
                    )
                )
        raw.execute(
            f"WITH stored AS (INSERT INTO {TABLE} ({_COLUMN_LIST}) "
            f"SELECT {_COLUMN_LIST} FROM {STAGE} ON CONFLICT (uuid) DO NOTHING "
            "RETURNING uuid, day), "
            f"dirty AS (INSERT INTO {DIRTY} (day, marked_at) SELECT DISTINCT day, now() "
            "FROM stored ON CONFLICT (day) DO NOTHING) "
            "SELECT uuid FROM stored"
        )
        stored = {record[0] for record in raw.fetchall()}
    if len(stored) == len(rows):
        return list(rows)
    return [row for row in rows if row.uuid in stored]


#: One writer at a time per process on SQLite: the file has one write lock, and
#: threads that wait for it in SQLite's busy handler sleep and retry instead of
#: queueing (under load some waited out the busy timeout). A Python lock queues.
_sqlite_writer = threading.Lock()


def _insert_generic(rows: Sequence[Row]) -> list[Row]:
    uuids = [row.uuid for row in rows]
    ops = connection.ops
    with _sqlite_writer, transaction.atomic():
        known = set(Event.objects.filter(uuid__in=uuids).values_list("uuid", flat=True))
        fresh = [row for row in rows if row.uuid not in known]
        if fresh:
            # One executemany, not bulk_create: the ORM's per-value preparation
            # was most of a batch's cost.
            values = [
                (
                    row.uuid.hex,
                    row.name,
                    row.source,
                    row.member_id,
                    row.anonymous_id,
                    row.session_id,
                    ops.adapt_datetimefield_value(row.ts),
                    ops.adapt_datefield_value(row.day),
                    ops.adapt_datetimefield_value(row.received_at),
                    row.path,
                    row.referrer,
                    row.scene,
                    row.channel,
                    row.utm_source,
                    row.utm_medium,
                    row.utm_campaign,
                    row.share_code,
                    row.platform,
                    row.os,
                    row.model,
                    row.app_version,
                    row.network,
                    _dumps(row.properties),
                )
                for row in fresh
            ]
            marks = ", ".join(["%s"] * len(COLUMNS))
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT OR IGNORE INTO {TABLE} ({_COLUMN_LIST}) VALUES ({marks})", values
                )
        mark_days({row.day for row in fresh})
    return fresh


def mark_days(days: set[Any]) -> None:
    """Ask the rollups to rebuild ``days`` (the rollup task deletes the marks it
    takes before rebuilding, so a mark written meanwhile is never lost)."""
    if days:
        now = timezone.now()
        DirtyDay.objects.bulk_create(
            [DirtyDay(day=day, marked_at=now) for day in days], ignore_conflicts=True
        )
