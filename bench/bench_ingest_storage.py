"""Where the time of a stored batch goes, and what other ways of writing it would
cost (evidence for issue #5; changes nothing in the app). In one Django process on
PostgreSQL (database ``$BENCH_DATABASE``, default ``miniops_bench_analytics``),
400 batches of 100 decoded events each, per variant, interleaved in rounds of 100;
wall time, this process's CPU and the CPU of its PostgreSQL backend meanwhile (from
/proc), per batch:

- ``storage.insert`` as it is: COPY (psycopg ``write_row``) into a temporary
  staging table, then one ``INSERT … SELECT … ON CONFLICT (uuid) DO NOTHING
  RETURNING`` with the dirty-day marks, in a transaction;
- the same statements, the COPY text rendered with ``str.join`` instead; or with
  the column types declared first (``copy.set_types``), in text and in binary;
- one autocommit statement: ``INSERT … SELECT FROM unnest(<one array per
  column>) ON CONFLICT (uuid) DO NOTHING RETURNING uuid, day`` (no temporary
  table, no transaction block, no dirty-day CTE);
- a plain COPY of the rows into ``analytics_event`` (no deduplication: the floor).
"""

from __future__ import annotations

import json
import subprocess

import bench_ingest
import lib

SCRIPT = r"""
import json, os, statistics, sys, time
from datetime import timedelta
import django
django.setup()
from django.db import connection, transaction
from django.utils import timezone
from miniops.analytics import ingest, storage

bodies = [line.rstrip(b"\n") for line in open(sys.argv[1], "rb") if line.strip()]
horizon = timedelta(days=7)
batches = [ingest.decode_batch(b, member_id=None, received=timezone.now(), horizon=horizon)[0]
           for b in bodies]
cols = ingest.COLUMNS
col_list = ", ".join(cols)
TYPES = ["uuid", "varchar", "varchar", "bigint", "varchar", "varchar", "timestamptz", "date",
         "timestamptz", "varchar", "varchar", "integer", "varchar", "varchar", "varchar",
         "varchar", "varchar", "varchar", "varchar", "varchar", "varchar", "varchar", "jsonb"]
import orjson
from psycopg.types.json import set_json_dumps

def server_cpu():
    # CPU seconds of this connection's PostgreSQL backend (other tenants of the
    # server are not counted)
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def esc(value):
    if value is None:
        return "\\N"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return text

def text_copy(rows):
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        pg = raw.connection
        if not getattr(pg, "_miniops_stage", False):
            raw.execute(storage._STAGE_DDL)
            pg._miniops_stage = True
        lines = []
        for r in rows:
            lines.append("\t".join([
                str(r.uuid), esc(r.name), r.source, esc(r.member_id), esc(r.anonymous_id),
                esc(r.session_id), r.ts.isoformat(), r.day.isoformat(),
                r.received_at.isoformat(), esc(r.path), esc(r.referrer), esc(r.scene),
                esc(r.channel), esc(r.utm_source), esc(r.utm_medium), esc(r.utm_campaign),
                esc(r.share_code), esc(r.platform), esc(r.os), esc(r.model),
                esc(r.app_version), esc(r.network), esc(orjson.dumps(r.properties).decode()),
            ]))
        with raw.copy(f"COPY {storage.STAGE} ({col_list}) FROM STDIN") as copy:
            copy.write("\n".join(lines) + "\n")
        raw.execute(
            f"WITH stored AS (INSERT INTO {storage.TABLE} ({col_list}) "
            f"SELECT {col_list} FROM {storage.STAGE} ON CONFLICT (uuid) DO NOTHING "
            "RETURNING uuid, day), "
            f"dirty AS (INSERT INTO {storage.DIRTY} (day, marked_at) SELECT DISTINCT day, now() "
            "FROM stored ON CONFLICT (day) DO NOTHING) "
            "SELECT uuid FROM stored"
        )
        raw.fetchall()

UNNEST = (f"INSERT INTO {storage.TABLE} ({col_list}) SELECT * FROM unnest("
          + ", ".join(f"%s::{t}[]" for t in TYPES)
          + ") ON CONFLICT (uuid) DO NOTHING RETURNING uuid, day")

def unnest(rows):
    arrays = [[getattr(r, c) for r in rows] for c in cols]
    arrays[-1] = [orjson.dumps(p).decode() for p in arrays[-1]]
    with connection.cursor() as cursor:
        cursor.cursor.execute(UNNEST, arrays)
        cursor.cursor.fetchall()

def typed_copy(rows, binary=False):
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        pg = raw.connection
        if not getattr(pg, "_miniops_stage", False):
            raw.execute(storage._STAGE_DDL)
            pg._miniops_stage = True
        set_json_dumps(lambda obj: orjson.dumps(obj).decode(), context=pg)  # as storage
        fmt = " (FORMAT BINARY)" if binary else ""
        with raw.copy(f"COPY {storage.STAGE} ({col_list}) FROM STDIN{fmt}") as copy:
            copy.set_types(TYPES)
            for r in rows:
                copy.write_row((
                    r.uuid, r.name, r.source, r.member_id, r.anonymous_id, r.session_id, r.ts,
                    r.day, r.received_at, r.path, r.referrer, r.scene, r.channel, r.utm_source,
                    r.utm_medium, r.utm_campaign, r.share_code, r.platform, r.os, r.model,
                    r.app_version, r.network, r.properties,
                ))
        raw.execute(
            f"WITH stored AS (INSERT INTO {storage.TABLE} ({col_list}) "
            f"SELECT {col_list} FROM {storage.STAGE} ON CONFLICT (uuid) DO NOTHING "
            "RETURNING uuid, day), "
            f"dirty AS (INSERT INTO {storage.DIRTY} (day, marked_at) SELECT DISTINCT day, now() "
            "FROM stored ON CONFLICT (day) DO NOTHING) "
            "SELECT uuid FROM stored"
        )
        raw.fetchall()

def plain_copy(rows):
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {storage.TABLE} ({col_list}) FROM STDIN") as copy:
            from psycopg.types.json import Jsonb
            for r in rows:
                copy.write_row([*(getattr(r, c) for c in cols[:-1]), Jsonb(r.properties)])

variants = {
    "storage.insert (as it is)": storage.insert,
    "same SQL, COPY text by str.join": text_copy,
    "same SQL, write_row after copy.set_types (text)": typed_copy,
    "same SQL, set_types + FORMAT BINARY": lambda rows: typed_copy(rows, binary=True),
    "one INSERT … FROM unnest(arrays) ON CONFLICT, autocommit": unnest,
    "plain COPY into analytics_event (no dedup; floor)": plain_copy,
}
for call in variants.values():  # warm up: staging table, prepared types
    call(batches.pop())
stats = {name: [0.0, 0.0, 0.0, 0] for name in variants}
per_round = 100
while len(batches) >= per_round * len(variants):
    for name, call in variants.items():
        chunk = [batches.pop() for _ in range(per_round)]
        server, cpu, wall = server_cpu(), time.process_time(), time.perf_counter()
        for rows in chunk:
            call(rows)
        s = stats[name]
        s[0] += time.perf_counter() - wall
        s[1] += time.process_time() - cpu
        s[2] += server_cpu() - server
        s[3] += len(chunk)
print(json.dumps({name: {"wall_ms": s[0] / s[3] * 1000, "python_cpu_ms": s[1] / s[3] * 1000,
                         "pg_cpu_ms": s[2] / s[3] * 1000, "batches": s[3]}
                  for name, s in stats.items()}))
"""


def run() -> dict:
    env = {**lib.services_env(bench_ingest.DATABASE), "DJANGO_SETTINGS_MODULE": "miniops.settings"}
    lib.manage(env, "migrate", "--no-input", "-v0")
    bench_ingest.empty(env["DATABASE_URL"])
    bodies = bench_ingest.write_bodies(lib.BUILD / "event-bodies-storage.jsonl", 2420)
    out = subprocess.run(
        [lib.PYTHON, "-c", SCRIPT, str(bodies)],
        cwd=lib.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    bench_ingest.empty(env["DATABASE_URL"])
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    base = measured["storage.insert (as it is)"]

    def cpu(v: dict[str, float]) -> float:
        return v["python_cpu_ms"] + v["pg_cpu_ms"]

    rows = [
        {
            "write of 100 events": name,
            "wall ms": round(v["wall_ms"], 2),
            "Python CPU ms": round(v["python_cpu_ms"], 2),
            "PostgreSQL CPU ms": round(v["pg_cpu_ms"], 2),
            "CPU ms (both)": round(v["python_cpu_ms"] + v["pg_cpu_ms"], 2),
            "CPU vs as it is": f"{cpu(v) / cpu(base):.2f}",
        }
        for name, v in measured.items()
    ]
    print(lib.table(rows, list(rows[0])))
    lib.save("ingest_storage", {"rows": rows, "measured": measured})
    return {"rows": rows}
