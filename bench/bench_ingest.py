"""Event ingestion on PostgreSQL + Redis, ``serve --workers 2`` (database
``$BENCH_DATABASE``, default ``miniops_bench_analytics``):
``POST /api/v1/events/batch`` with 100 events per batch (one anonymous visitor's
session, every uuid new and random) against a raw COPY of rows of the same shape
into the same table (``analytics_event`` with its indexes, psycopg ``COPY … FROM
STDIN`` of pre-rendered text, one transaction of 200,000 rows, one connection) in
the same run. Per round (three, medians reported; the table emptied before each
measurement): the COPY, wrk (32 connections × 10 s, bench/events_post.lua) for
events/s, the COPY again (the ratio is taken against the mean of the two COPYs
around it: single COPYs of a few seconds swing 2× with the machine's other
tenants and PostgreSQL's checkpoints), then the open-loop generator
(bench/loadgen.c) at each rate of ``BENCH_INGEST_RATES`` (default 100 and 200
batches/s = 10,000 and 20,000 events/s) × 20 s for p95 / p99 latency.

Before the server starts, the in-process cost of one batch, without sockets:
``ingest.decode_batch`` in µs per event (with its parts), the storage write, the
live counters, ``services.ingest_batch`` and the whole request through Django's
test client, with the CPU of this process's PostgreSQL backend meanwhile.

Goals (issue #5): >= 30 % of COPY rows/s and >= 20,000 events/s; p95 < 50 ms
at a fixed rate; decode_batch < 2 µs per event."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import gen_events
import lib
import orjson

DATABASE = os.environ.get("BENCH_DATABASE") or "miniops_bench_analytics"
BATCH = 100
COPY_ROWS = 200_000
RATES = tuple(int(r) for r in os.environ.get("BENCH_INGEST_RATES", "100,200").split(","))
OPEN_SECONDS = 20
ROUNDS = 3
LUA = Path(__file__).with_name("events_post.lua")
PATH = "/api/v1/events/batch"
#: the events throttle read by settings.MINIOPS_EVENTS_RATE (default 600/m per client)
RATE_ENV = {"MINIOPS_EVENTS_RATE": "100000000/m"}
#: errors only: a refused batch logs one "django.request" warning
QUIET_ENV = {"LOG_LEVEL": "ERROR"}

INPROCESS = r"""
import cProfile, io, json, os, pstats, statistics, sys, time
from datetime import timedelta
import django
django.setup()
import msgspec
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from miniops.analytics import ingest, services, storage

bodies = [line.rstrip(b"\n") for line in open(sys.argv[1], "rb") if line.strip()]
body = bodies[0]
per_batch = len(json.loads(body)["events"])
horizon = timedelta(days=settings.MINIOPS_ANALYTICS_HORIZON_DAYS)
received = timezone.now()

def server_cpu():
    # CPU seconds of this connection's PostgreSQL backend (the machine's other
    # tenants use the same server: its other processes are not ours to count)
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def micros_per_event(call, loops=2000, repeat=5):
    for _ in range(200):
        call()
    values = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(loops):
            call()
        values.append((time.perf_counter() - started) / loops / per_batch * 1e6)
    return statistics.median(values)

out = {"events_per_batch": per_batch}
decode = lambda: ingest.decode_batch(body, member_id=None, received=received, horizon=horizon)
out["decode_batch"] = micros_per_event(decode)
out["decode_envelope"] = micros_per_event(lambda: ingest._batch_decoder.decode(body))
batch = ingest._batch_decoder.decode(body)
out["decode_events"] = micros_per_event(
    lambda: [ingest._event_decoder.decode(raw) for raw in batch.events]
)

class TypedBatch(msgspec.Struct, forbid_unknown_fields=False):
    sent_at: ingest.Millis
    events: list[ingest.EventIn]
    anonymous_id: ingest.Short = ""
    device: ingest.Device = msgspec.field(default_factory=ingest.Device)

typed = msgspec.json.Decoder(TypedBatch)
out["one_pass_typed_decode"] = micros_per_event(lambda: typed.decode(body))
events = [ingest._event_decoder.decode(raw) for raw in batch.events]
tz = __import__("miniops.core.timeutils", fromlist=["business_tz"]).business_tz()
from datetime import UTC, datetime
out["timestamps"] = micros_per_event(
    lambda: [datetime.fromtimestamp(e.ts / 1000, tz=UTC).astimezone(tz).date() for e in events]
)
profile = cProfile.Profile()
profile.enable()
for _ in range(2000):
    decode()
profile.disable()
text = io.StringIO()
pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(8)
out["decode_profile"] = text.getvalue()

def per_batch_ms(name, calls):
    cpu, server, wall = time.process_time(), server_cpu(), time.perf_counter()
    for call in calls:
        call()
    n = len(calls)
    out[name] = {
        "wall_ms": (time.perf_counter() - wall) / n * 1000,
        "python_cpu_ms": (time.process_time() - cpu) / n * 1000,
        "db_cpu_ms": (server_cpu() - server) / n * 1000,
    }

fresh = iter(bodies[1:])
decoded = [
    ingest.decode_batch(next(fresh), member_id=None, received=timezone.now(), horizon=horizon)[0]
    for _ in range(300)
]
storage.insert(decoded.pop())
per_batch_ms("storage_insert", [lambda rows=rows: storage.insert(rows) for rows in decoded[:250]])
count_live = getattr(services, "count_live", None) or services._count_live
per_batch_ms("count_live", [lambda rows=rows: count_live(rows) for rows in decoded[:250]])
chunk = [next(fresh) for _ in range(300)]
per_batch_ms(
    "ingest_batch", [lambda b=b: services.ingest_batch(b, member_id=None) for b in chunk]
)
client = Client()
for _ in range(50):
    client.get("/healthz")
per_batch_ms("healthz_test_client", [lambda: client.get("/healthz")] * 300)
chunk = [next(fresh) for _ in range(300)]

def post(b):
    response = client.post("/api/v1/events/batch", b, content_type="application/json")
    assert response.status_code == 200, response.content

per_batch_ms("request_test_client", [lambda b=b: post(b) for b in chunk])
print(json.dumps(out))
"""


def nonce() -> str:
    return f"{random.getrandbits(32):08x}"


def write_bodies(path: Path, count: int, seed: int | None = None) -> Path:
    """``count`` distinct batches, one JSON body a line (the open-loop generator
    sends line i % count with request i)."""
    rng = random.Random(seed)
    sent_at = int(time.time() * 1000)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        for _ in range(count):
            body = orjson.dumps(gen_events.client_batch(rng, sent_at_ms=sent_at, events=BATCH))
            assert len(body) < 60_000, len(body)  # loadgen reads lines up to 64 KB
            out.write(body + b"\n")
    return path


def open_loop_post(base: str, *, rate: int, seconds: float, body: Path) -> dict[str, Any]:
    return lib.open_loop(
        base,
        PATH,
        rate=rate,
        seconds=seconds,
        method="POST",
        body=body,
        headers=["Content-Type: application/json"],
    )


def post_one(base: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(base + PATH, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as answer:
        return dict(json.load(answer))


# --- the database side -------------------------------------------------------------------
def empty(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE analytics_event, analytics_dirtyday")


def count(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM analytics_event").fetchone()
        return int(row[0]) if row else 0


def copy_payload(rows: int) -> list[bytes]:
    """COPY text for ``rows`` events shaped like the batches (rendered before timing)."""
    rng = random.Random()
    clock = gen_events.Clock("+00")
    sent_at = int(time.time() * 1000)
    lines: list[str] = []
    while len(lines) < rows:
        batch = gen_events.client_batch(rng, sent_at_ms=sent_at, events=BATCH)
        for row in gen_events.batch_rows(batch, null="\\N", suffix="+00", clock=clock):
            lines.append("\t".join(row))
    blocks, step = [], 5000
    for start in range(0, rows, step):
        blocks.append(("\n".join(lines[start : start + step]) + "\n").encode())
    return blocks


def copy_baseline(dsn: str, rows: int = COPY_ROWS) -> dict[str, Any]:
    import psycopg

    blocks = copy_payload(rows)
    sql = f"COPY analytics_event ({', '.join(gen_events.COLUMNS)}) FROM STDIN"
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(sql) as copy:
            for block in blocks:
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def inprocess(env: dict[str, str], bodies: Path) -> dict[str, Any]:
    env = {**env, "DJANGO_SETTINGS_MODULE": "miniops.settings"}
    out = subprocess.run(
        [lib.PYTHON, "-c", INPROCESS, str(bodies)],
        cwd=lib.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def inprocess_rows(m: dict[str, Any]) -> list[dict[str, Any]]:
    per = m["events_per_batch"]
    rows = [
        {"step": "ingest.decode_batch (goal < 2 µs/event)", "µs/event": m["decode_batch"]},
        {"step": "  batch envelope (msgspec, events kept raw)", "µs/event": m["decode_envelope"]},
        {"step": "  each event decoded on its own (msgspec)", "µs/event": m["decode_events"]},
        {"step": "  ts → UTC datetime → local day", "µs/event": m["timestamps"]},
        {"step": "  (one typed msgspec pass, compared)", "µs/event": m["one_pass_typed_decode"]},
    ]
    for row in rows:
        row["µs/event"] = round(row["µs/event"], 2)
        row["ms/batch"] = round(row["µs/event"] * per / 1000, 3)
    for key, label in (
        ("storage_insert", "storage.insert (COPY to stage + INSERT … ON CONFLICT)"),
        ("count_live", "services.count_live (Redis pipeline)"),
        ("ingest_batch", "services.ingest_batch (all of the above)"),
        ("request_test_client", "POST through Django's test client"),
        ("healthz_test_client", "GET /healthz through the test client"),
    ):
        v = m[key]
        rows.append(
            {
                "step": label,
                "µs/event": round(v["wall_ms"] * 1000 / per, 2) if "healthz" not in key else "",
                "ms/batch": round(v["wall_ms"], 3),
                "Python CPU ms": round(v["python_cpu_ms"], 3),
                "PostgreSQL backend CPU ms": round(v["db_cpu_ms"], 3),
            }
        )
    return rows


def run() -> dict:
    lib.ensure_tools()
    load_before = os.getloadavg()
    lib.log(f"load average before: {load_before}")
    env = {**lib.services_env(DATABASE), **RATE_ENV, **QUIET_ENV}
    lib.manage(env, "migrate", "--no-input", "-v0")
    dsn = env["DATABASE_URL"]
    empty(dsn)
    lib.log("in-process cost of a batch (Django test client, no sockets)")
    bodies = write_bodies(lib.BUILD / "event-bodies-inprocess.jsonl", 1000)
    measured = inprocess(env, bodies)
    print(lib.table(inprocess_rows(measured), ["step", "µs/event", "ms/batch", "Python CPU ms",
                                                 "PostgreSQL backend CPU ms"]))  # fmt: skip
    print("\ncProfile of decode_batch (2,000 batches of 100):\n")
    print("\n".join(measured["decode_profile"].strip().splitlines()[-14:]))
    rounds = []
    with lib.server(env, workers=2) as srv:
        url = srv.base + PATH
        first = post_one(srv.base, write_bodies(lib.BUILD / "one.jsonl", 1).read_bytes().strip())
        assert first["accepted"] == BATCH, first
        assert not first["refused"], first
        lib.wrk(url, seconds=3, script=LUA, env={"BENCH_NONCE": nonce()})
        for index in range(ROUNDS):
            lib.log(f"round {index + 1}/{ROUNDS}")
            empty(dsn)
            copy_before = copy_baseline(dsn)
            empty(dsn)
            wrk = lib.wrk(url, seconds=10, script=LUA, env={"BENCH_NONCE": nonce()})
            stored = count(dsn)
            empty(dsn)
            copy_after = copy_baseline(dsn)
            copy = {
                "rows_per_s": round((copy_before["rows_per_s"] + copy_after["rows_per_s"]) / 2),
                "before": copy_before,
                "after": copy_after,
            }
            open_loop = {}
            for rate in RATES:
                empty(dsn)
                body = write_bodies(lib.BUILD / f"event-bodies-{rate}.jsonl", rate * OPEN_SECONDS)
                time.sleep(1)
                open_loop[rate] = open_loop_post(
                    srv.base, rate=rate, seconds=OPEN_SECONDS, body=body
                )
                open_loop[rate]["stored"] = count(dsn)
            events_per_s = wrk["rps"] * BATCH
            rounds.append(
                {
                    "copy": copy,
                    "wrk": wrk,
                    "stored_after_wrk": stored,
                    "events_per_s": round(events_per_s),
                    "ratio": round(events_per_s / copy["rows_per_s"], 3),
                    "open_loop": open_loop,
                }
            )
            lib.log(
                f"  COPY {copy_before['rows_per_s']:,} / {copy_after['rows_per_s']:,} rows/s "
                f"(before / after), endpoint {events_per_s:,.0f} events/s "
                f"({stored:,} stored), p95 "
                + ", ".join(
                    f"{r}/s: {open_loop[r]['p95_ms']} ms ({open_loop[r]['stored']:,} stored)"
                    for r in RATES
                )
            )
        rss = srv.rss_mb()
    empty(dsn)
    med = statistics.median
    ratio = med(r["ratio"] for r in rounds)
    ratios = ", ".join(str(r["ratio"]) for r in rounds)
    row: dict[str, Any] = {
        "COPY rows/s (median of the rounds' before/after means)": (
            f"{med(r['copy']['rows_per_s'] for r in rounds):,.0f}"
        ),
        "endpoint events/s (wrk, median)": f"{med(r['events_per_s'] for r in rounds):,.0f}",
        "ratio to COPY (median; per round)": f"**{ratio:.2f}** ({ratios})",
    }
    for rate in RATES:
        p95 = [r["open_loop"][rate]["p95_ms"] for r in rounds]
        p99 = [r["open_loop"][rate]["p99_ms"] for r in rounds]
        row[f"p95 @{rate} batches/s median / worst (ms)"] = f"{med(p95):.1f} / {max(p95):.1f}"
        row[f"p99 @{rate}/s median (ms)"] = f"{med(p99):.1f}"
    row["wrk non-2xx"] = sum(r["wrk"]["non_2xx"] for r in rounds)
    for rate in RATES:
        row[f"@{rate}/s errors / timeouts"] = " / ".join(
            str(sum(r["open_loop"][rate][k] for r in rounds for k in keys))
            for keys in (("status_4xx", "status_5xx", "errors"), ("timeouts",))
        )
    print()
    print(lib.table([row], list(row)))
    print(f"\nresident memory per worker after load: {rss} MB")
    load = {"before": load_before, "after": os.getloadavg()}
    print(f"load average before / after: {load['before']} / {load['after']}")
    result = {"row": row, "rounds": rounds, "inprocess": measured, "rss_mb": rss, "load": load}
    lib.save("ingest", result)
    return result
