"""Event ingestion on the embedded default — SQLite in WAL mode, local-memory cache,
no ``DATABASE_URL`` / ``REDIS_URL`` (a fresh ``MINIOPS_VAR_DIR``, ``ingest-sqlite``
under ``$BENCH_SQLITE_DIR``, default bench/.build): ``POST /api/v1/events/batch``
with 100 events per batch through ``serve`` with its default single web worker (and
with two, as context), against a raw insert of rows of the same shape into the same
table (``analytics_event`` with its indexes: Python's sqlite3 ``executemany`` in one
transaction, 200,000 rows, the app's pragmas) in the same run. Per round (three,
medians; the table emptied before each measurement): the raw insert, wrk
(32 connections × 10 s, bench/events_post.lua) with one worker, then with two
workers; latency with the open-loop generator at ``BENCH_SQLITE_RATE`` (10)
batches/s × 20 s on one worker. Goal (issue #5): >= 5,000 events/s on the embedded default."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

import bench_ingest
import gen_events
import lib

VAR_DIR = Path(os.environ.get("BENCH_SQLITE_DIR") or lib.BUILD) / "ingest-sqlite"
ROWS = 200_000
#: batches/s for the latency run: below one worker's capacity here (~15 batches/s)
RATE = int(os.environ.get("BENCH_SQLITE_RATE", 10))
OPEN_SECONDS = 20
ROUNDS = 3


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=20)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=20000")
    return conn


def empty(path: Path) -> None:
    conn = _connect(path)
    try:
        conn.execute("DELETE FROM analytics_event")
        conn.execute("DELETE FROM analytics_dirtyday")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def count(path: Path) -> int:
    conn = _connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM analytics_event").fetchone()[0])
    finally:
        conn.close()


def insert_baseline(path: Path, rows: int = ROWS) -> dict[str, Any]:
    """The same kind of rows as the batches, as Django stores them on SQLite (uuid
    as 32 hex digits, UTC times as text), inserted with executemany."""
    rng = random.Random()
    clock = gen_events.Clock("")
    sent_at = int(time.time() * 1000)
    values: list[list[Any]] = []
    while len(values) < rows:
        batch = gen_events.client_batch(rng, sent_at_ms=sent_at, events=bench_ingest.BATCH)
        for row in gen_events.batch_rows(batch, null=None, suffix="", clock=clock):
            row[0] = row[0].replace("-", "")
            values.append(row)
    values = values[:rows]
    sql = (
        f"INSERT INTO analytics_event ({', '.join(gen_events.COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(gen_events.COLUMNS))})"
    )
    conn = _connect(path)
    try:
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, values)
        conn.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def run() -> dict:
    lib.ensure_tools()
    load_before = os.getloadavg()
    lib.log(f"load average before: {load_before}")
    shutil.rmtree(VAR_DIR, ignore_errors=True)
    VAR_DIR.mkdir(parents=True)
    env = {**lib.embedded_env(VAR_DIR), **bench_ingest.RATE_ENV, **bench_ingest.QUIET_ENV}
    lib.manage(env, "migrate", "--no-input", "-v0")
    database = VAR_DIR / "miniops.sqlite3"
    path = bench_ingest.PATH
    script = bench_ingest.LUA
    rounds: list[dict[str, Any]] = [{} for _ in range(ROUNDS)]
    rss: dict[int, list[float]] = {}
    for workers in (1, 2):
        with lib.server(env, workers=workers) as srv:
            body = bench_ingest.write_bodies(lib.BUILD / "one.jsonl", 1).read_bytes().strip()
            first = bench_ingest.post_one(srv.base, body)
            assert first["accepted"] == bench_ingest.BATCH, first
            lib.wrk(
                srv.base + path, seconds=3, script=script, env={"BENCH_NONCE": bench_ingest.nonce()}
            )
            for index, measured in enumerate(rounds):
                lib.log(f"{workers} worker(s), round {index + 1}/{ROUNDS}")
                if workers == 1:
                    empty(database)
                    measured["insert"] = insert_baseline(database)
                empty(database)
                nonce = bench_ingest.nonce()
                wrk = lib.wrk(
                    srv.base + path, seconds=10, script=script, env={"BENCH_NONCE": nonce}
                )
                measured[f"wrk_{workers}"] = wrk
                measured[f"stored_{workers}"] = count(database)
                measured[f"events_per_s_{workers}"] = round(wrk["rps"] * bench_ingest.BATCH)
                if workers == 1:
                    empty(database)
                    bodies = bench_ingest.write_bodies(
                        lib.BUILD / "event-bodies-sqlite.jsonl", RATE * OPEN_SECONDS
                    )
                    time.sleep(1)
                    measured["open_loop"] = bench_ingest.open_loop_post(
                        srv.base, rate=RATE, seconds=OPEN_SECONDS, body=bodies
                    )
                lib.log(
                    f"  {measured[f'events_per_s_{workers}']:,} events/s "
                    f"({measured[f'stored_{workers}']:,} stored)"
                )
            rss[workers] = srv.rss_mb()
    empty(database)
    med = statistics.median
    baseline = med(r["insert"]["rows_per_s"] for r in rounds)
    row: dict[str, Any] = {"raw insert rows/s (median)": f"{baseline:,.0f}"}
    for workers in (1, 2):
        values = [r[f"events_per_s_{workers}"] for r in rounds]
        ratios = [r[f"events_per_s_{workers}"] / r["insert"]["rows_per_s"] for r in rounds]
        row[f"events/s, {workers} worker{'s' if workers > 1 else ''} (median; per round)"] = (
            f"**{med(values):,.0f}** ({', '.join(f'{v:,}' for v in values)})"
        )
        row[f"ratio to raw insert, {workers} w."] = f"{med(ratios):.2f}"
    p95 = [r["open_loop"]["p95_ms"] for r in rounds]
    row[f"p95 @{RATE} batches/s, 1 worker, median / worst (ms)"] = (
        f"{med(p95):.1f} / {max(p95):.1f}"
    )
    row["wrk non-2xx"] = sum(r["wrk_1"]["non_2xx"] + r["wrk_2"]["non_2xx"] for r in rounds)
    row["open loop 5xx + errors / timeouts"] = " / ".join(
        str(sum(r["open_loop"][k] for r in rounds for k in keys))
        for keys in (("status_4xx", "status_5xx", "errors"), ("timeouts",))
    )
    print(lib.table([row], list(row)))
    print(f"\nresident memory per worker after load: {rss} MB")
    load = {"before": load_before, "after": os.getloadavg()}
    print(f"load average before / after: {load['before']} / {load['after']}")
    result = {"row": row, "rounds": rounds, "rss_mb": rss, "load": load}
    lib.save("ingest_sqlite", result)
    return result
