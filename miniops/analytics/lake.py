"""The event lake: a Parquet copy of the raw events that DuckDB queries for funnels
and event-specific retention (decision 0010).

The database stays the source of truth. Every rollup run appends the events
stored since the last export as a new Parquet part (ids above the checkpoint,
received more than a minute ago so no slower transaction can still commit a lower
id), and rewrites the small alias and member tables. Parts are listed in a
manifest replaced atomically; compaction merges small parts into one sorted by
day and keeps the replaced files for ten minutes, so a query that read the old
manifest can still finish. Web processes open an in-memory DuckDB connection per
thread and read the files the manifest lists: any number of readers, one writer
(the periodic task, under a lock).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
from django.conf import settings
from django.db import connection
from django.utils import timezone

from miniops.analytics.models import Event, FillState, VisitorAlias

logger = logging.getLogger("miniops.analytics")

CHECKPOINT = "lake"
SETTLE = timedelta(minutes=1)
CHUNK = 500_000
COMPACT_WHEN = 12  # parts
KEEP_REPLACED_SECONDS = 600
EXPORT_COLUMNS = (
    "id",
    "name",
    "source",
    "member_id",
    "anonymous_id",
    "session_id",
    "ts",
    "day",
    "path",
    "scene",
    "channel",
    "utm_source",
    "share_code",
    "platform",
    "properties",
)
_CSV_TYPES = {
    "id": "BIGINT",
    "name": "VARCHAR",
    "source": "VARCHAR",
    "member_id": "BIGINT",
    "anonymous_id": "VARCHAR",
    "session_id": "VARCHAR",
    "ts": "TIMESTAMPTZ",
    "day": "DATE",
    "path": "VARCHAR",
    "scene": "INTEGER",
    "channel": "VARCHAR",
    "utm_source": "VARCHAR",
    "share_code": "VARCHAR",
    "platform": "VARCHAR",
    "properties": "VARCHAR",
}


def lake_dir() -> Path:
    path = Path(settings.MINIOPS_ANALYTICS_LAKE_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _manifest_path() -> Path:
    return lake_dir() / "manifest.json"


def read_manifest() -> dict[str, Any]:
    try:
        return dict(json.loads(_manifest_path().read_text()))
    except (FileNotFoundError, ValueError):
        return {"parts": [], "replaced": [], "exported_until": 0, "version": 0}


def _write_manifest(manifest: dict[str, Any]) -> None:
    manifest["version"] = int(manifest.get("version", 0)) + 1
    manifest["generation"] = uuid.uuid4().hex  # unique even after a reset
    manifest["written_at"] = timezone.now().isoformat()
    tmp = _manifest_path().with_suffix(f".{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, _manifest_path())


# --- writing (the periodic task) ---------------------------------------------------------
def export(*, settled_only: bool = True) -> int:
    """Append the events stored since the last export; returns how many.
    ``settled_only=False`` (the demo seeder, tests) takes the latest minute too."""
    manifest = read_manifest()
    state, _ = FillState.objects.get_or_create(name=CHECKPOINT)
    done_until = max(int(state.done_until), int(manifest.get("exported_until", 0)))
    settled = timezone.now() - (SETTLE if settled_only else timedelta(0))
    total = 0
    while True:
        ids = Event.objects.filter(pk__gt=done_until, received_at__lt=settled).order_by("pk")
        last = ids.values_list("pk", flat=True)[CHUNK - 1 : CHUNK].first()
        if last is None:
            last = ids.values_list("pk", flat=True).order_by("-pk").first()
        if last is None:
            break
        name = f"events-{done_until + 1:012d}-{last:012d}.parquet"
        count = _write_part(done_until, last, settled, lake_dir() / name)
        manifest["parts"].append({"file": name, "rows": count})
        manifest["exported_until"] = last
        _write_manifest(manifest)
        done_until = last
        FillState.objects.filter(name=CHECKPOINT).update(
            done_until=last, last_run=timezone.now(), state="done"
        )
        total += count
    _write_dimensions()
    if len(manifest["parts"]) >= COMPACT_WHEN:
        compact()
    _remove_replaced()
    return total


def _write_part(after: int, last: int, settled: Any, target: Path) -> int:
    """Rows with after < id <= last as a Parquet file, via CSV (both databases
    stream CSV at C speed; DuckDB turns it into Parquet)."""
    tmp_csv = target.with_name(f"{target.stem}.{uuid.uuid4().hex}.csv")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Line breaks inside values are flattened: DuckDB's CSV reader trips on
            # a bare carriage return even inside quotes. (JSON escapes its own.)
            selected = ", ".join(
                f"translate({name}, E'\\r\\n', '  ')"
                if _CSV_TYPES[name] == "VARCHAR" and name != "properties"
                else name
                for name in EXPORT_COLUMNS
            )
            sql = (
                f"COPY (SELECT {selected} FROM analytics_event "
                f"WHERE id > {int(after)} AND id <= {int(last)} ORDER BY id) "
                "TO STDOUT WITH (FORMAT csv)"
            )
            with open(tmp_csv, "wb") as out, cursor.cursor.copy(sql) as copy:
                for block in copy:
                    out.write(block)
        else:
            # The same flattening in SQL, and times as the text they are stored
            # as (not parsed into datetimes only to be printed again): the rows go
            # to the CSV writer as they come, with no Python call per value.
            selected = ", ".join(
                f"replace(replace({name}, char(13), ' '), char(10), ' ')"
                if _CSV_TYPES[name] == "VARCHAR" and name != "properties"
                else f"CAST({name} AS TEXT)"
                if _CSV_TYPES[name] in {"TIMESTAMPTZ", "DATE"}
                else name
                for name in EXPORT_COLUMNS
            )
            cursor.execute(
                f"SELECT {selected} FROM analytics_event WHERE id > %s AND id <= %s ORDER BY id",
                [after, last],
            )
            with open(tmp_csv, "w", newline="") as out:
                writer = csv.writer(out)
                while rows := cursor.fetchmany(20_000):
                    writer.writerows(rows)
    types = ", ".join(f"'{name}': '{kind}'" for name, kind in _CSV_TYPES.items())
    tmp_parquet = target.with_name(f"{target.stem}.{uuid.uuid4().hex}.tmp.parquet")
    with duckdb.connect() as db:
        db.execute("SET TimeZone = 'UTC'")
        db.execute(
            f"COPY (SELECT * FROM read_csv('{tmp_csv}', {_CSV_OPTIONS}, columns = {{{types}}})) "
            f"TO '{tmp_parquet}' (FORMAT parquet, COMPRESSION zstd)"
        )
        count = _count(db, tmp_parquet)
    os.replace(tmp_parquet, target)
    tmp_csv.unlink(missing_ok=True)
    return count


def _count(db: duckdb.DuckDBPyConnection, path: Path) -> int:
    row = db.execute(f"SELECT COUNT(*) FROM read_parquet('{path}')").fetchone()
    return int(row[0]) if row else 0


_CSV_OPTIONS = (
    "header = false, auto_detect = false, delim = ',', nullstr = '', quote = '\"', "
    "escape = '\"', allow_quoted_nulls = false"
)


def _write_dimensions() -> None:
    """Aliases and members' registration days: small, rewritten every run."""
    from miniops.core.timeutils import business_tz
    from miniops.members.models import Member

    tz = business_tz()
    _rows_to_parquet(
        VisitorAlias.objects.values_list("anonymous_id", "member_id").iterator(chunk_size=20_000),
        {"anonymous_id": "VARCHAR", "member_id": "BIGINT"},
        lake_dir() / "aliases.parquet",
    )
    _rows_to_parquet(
        (
            (pk, registered.astimezone(tz).date().isoformat())
            for pk, registered in Member.objects.values_list("pk", "registered_at").iterator(
                chunk_size=20_000
            )
        ),
        {"member_id": "BIGINT", "registered_day": "DATE"},
        lake_dir() / "members.parquet",
    )


def _rows_to_parquet(rows: Any, types: dict[str, str], target: Path) -> None:
    tmp_csv = target.with_name(f"{target.stem}.{uuid.uuid4().hex}.csv")
    tmp_parquet = target.with_name(f"{target.stem}.{uuid.uuid4().hex}.parquet")
    with open(tmp_csv, "w", newline="") as out:
        csv.writer(out, quoting=csv.QUOTE_NONNUMERIC).writerows(rows)
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in types.items())
    with duckdb.connect() as db:
        db.execute(
            f"COPY (SELECT * FROM read_csv('{tmp_csv}', {_CSV_OPTIONS}, columns = {{{columns}}})) "
            f"TO '{tmp_parquet}' (FORMAT parquet)"
        )
    os.replace(tmp_parquet, target)
    tmp_csv.unlink(missing_ok=True)


def compact() -> None:
    """Merge every part into one file sorted by day, then by visitor."""
    manifest = read_manifest()
    parts = [lake_dir() / part["file"] for part in manifest["parts"]]
    if len(parts) < 2:
        return
    first = manifest["parts"][0]["file"].split("-")[1]
    last = manifest["parts"][-1]["file"].split("-")[2].split(".")[0]
    name = f"events-{first}-{last}-c{int(time.time())}.parquet"
    tmp = lake_dir() / f"{name}.{uuid.uuid4().hex}.tmp.parquet"
    files = ", ".join(f"'{part}'" for part in parts)
    with duckdb.connect() as db:
        db.execute("SET TimeZone = 'UTC'")
        db.execute(
            f"COPY (SELECT * FROM read_parquet([{files}]) "
            "ORDER BY day, member_id, anonymous_id, ts) "
            f"TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 262144)"
        )
        rows = _count(db, tmp)
    os.replace(tmp, lake_dir() / name)
    now = time.time()
    manifest["replaced"] = list(manifest.get("replaced", [])) + [
        {"file": part["file"], "at": now} for part in manifest["parts"]
    ]
    manifest["parts"] = [{"file": name, "rows": rows}]
    _write_manifest(manifest)


def _remove_replaced() -> None:
    manifest = read_manifest()
    keep, now = [], time.time()
    for entry in manifest.get("replaced", []):
        if now - float(entry["at"]) > KEEP_REPLACED_SECONDS:
            (lake_dir() / entry["file"]).unlink(missing_ok=True)
        else:
            keep.append(entry)
    if keep != manifest.get("replaced", []):
        manifest["replaced"] = keep
        _write_manifest(manifest)


def reset() -> None:
    """Forget the lake (tests, ``analytics_rebuild --lake``): the next export
    starts from the first event."""
    for path in lake_dir().glob("*"):
        if path.is_file():
            path.unlink()
    FillState.objects.filter(name=CHECKPOINT).delete()
    _local.__dict__.clear()


# --- reading (web processes) ------------------------------------------------------------------
_local = threading.local()


@contextmanager
def connect() -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the views ``ev`` (events with their resolved
    ``visitor`` and ``mid``) and ``members``; None of the lake exists yet → the
    views are empty."""
    manifest = read_manifest()
    version = manifest.get("generation") or manifest.get("version", 0)
    db = getattr(_local, "db", None)
    if db is None:
        db = duckdb.connect()
        db.execute("SET TimeZone = 'UTC'")
        db.execute("SET enable_progress_bar = false")  # never draw on a web process's stdout
        db.execute(f"SET threads = {max(1, min(4, os.cpu_count() or 1))}")
        _local.db = db
        _local.version = None
    if _local.version != version:
        _define_views(db, manifest)
        _local.version = version
    yield db


def _define_views(db: duckdb.DuckDBPyConnection, manifest: dict[str, Any]) -> None:
    base = lake_dir()
    parts = [str(base / part["file"]) for part in manifest["parts"]]
    columns = ", ".join(f"NULL::{kind} AS {name}" for name, kind in _CSV_TYPES.items())
    if parts:
        files = ", ".join(f"'{part}'" for part in parts)
        source = f"SELECT * FROM read_parquet([{files}])"
    else:
        source = f"SELECT {columns} WHERE false"
    aliases = base / "aliases.parquet"
    alias_source = (
        f"SELECT * FROM read_parquet('{aliases}')"
        if aliases.exists()
        else "SELECT NULL::VARCHAR AS anonymous_id, NULL::BIGINT AS member_id WHERE false"
    )
    members = base / "members.parquet"
    member_source = (
        f"SELECT * FROM read_parquet('{members}')"
        if members.exists()
        else "SELECT NULL::BIGINT AS member_id, NULL::DATE AS registered_day WHERE false"
    )
    db.execute(f"CREATE OR REPLACE TEMP VIEW raw_events AS {source}")
    db.execute(f"CREATE OR REPLACE TEMP VIEW aliases AS {alias_source}")
    db.execute(f"CREATE OR REPLACE TEMP VIEW members AS {member_source}")
    db.execute(
        """
        CREATE OR REPLACE TEMP VIEW ev AS
        SELECT e.*, COALESCE(e.member_id, a.member_id) AS mid,
               CASE WHEN e.member_id IS NOT NULL THEN 'm' || e.member_id
                    WHEN a.member_id IS NOT NULL THEN 'm' || a.member_id
                    WHEN e.anonymous_id <> '' THEN 'a' || e.anonymous_id END AS visitor
        FROM raw_events e
        LEFT JOIN aliases a ON e.member_id IS NULL AND a.anonymous_id = e.anonymous_id
        """
    )


def freshness() -> str | None:
    """When the lake was last written (ISO), for "data up to" notes."""
    return read_manifest().get("written_at")
