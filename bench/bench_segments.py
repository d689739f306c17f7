"""Segments on PostgreSQL (issue #14 §7): the live count of a rule with one
profile, one commerce and one behaviour condition, and 50 segments recomputed,
against DuckDB answering the same question on the raw events in the same run.

Dataset: ``bench/gen_events.py`` (``BENCH_EVENTS``, default 10,000,000; 200,000
members per 10M) in the database ``miniops_bench_segments_<size>`` (reused when
present; drop it when done), plus one paid order per ``order_paid`` event
(amount 10–665 yuan from a hash of the event id, dated at the event) and a
points balance per member, both written by SQL when the orders table is empty;
the event lake exported once (``lake.reset(); lake.export()``, timed).

Timed in one process, ``BENCH_SEGMENT_ROUNDS`` (20) rounds after two warm-ups,
p95 by nearest rank:

* ``preview cold``: ``services.preview(rule)`` with the behaviour leaf cache
  emptied first (DuckDB over the lake + storing its member set + the count and 20
  members on PostgreSQL) — an operator's first look at a new behaviour condition;
* ``preview warm``: the same with the leaf set cached (editing the profile or
  commerce part of the rule within the same minute);
* ``duckdb raw``: DuckDB counting the same members over a Parquet export of the
  raw events plus the members and orders (exported once, timed);

then 50 dynamic segments (profile, commerce, behaviour and RFM leaves mixed)
created and recomputed one after the other (first computation, all members
entering), and recomputed a second time (the steady state). Answers are checked
equal (app count vs DuckDB count).

    .venv/bin/python bench/bench_segments.py                  # 10M events
    BENCH_EVENTS=1000000 .venv/bin/python bench/bench_segments.py
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import gen_events
import lib

EVENTS = int(os.environ.get("BENCH_EVENTS", 10_000_000))
ROUNDS = int(os.environ.get("BENCH_SEGMENT_ROUNDS", 20))
SEGMENTS = 50

RULE = {
    "op": "and",
    "rules": [
        {"type": "profile", "field": "gender", "value": [1, 2]},
        {"type": "commerce", "metric": "orders", "op": "gte", "value": 1, "days": 90},
        {"type": "event", "event": "product_view", "mode": "did", "count": 3, "days": 30},
    ],
}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def seed_commerce(dsn: str) -> dict[str, Any]:
    """Orders from the ``order_paid`` events and a points balance per member."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_order")
        if cursor.fetchone()[0]:
            cursor.execute("SELECT count(*) FROM orders_order")
            return {"orders": cursor.fetchone()[0], "reused": True}
        started = time.perf_counter()
        cursor.execute(
            """
            INSERT INTO orders_order (number, member_id, status, goods_amount, shipping_fee,
                discount_amount, payable_amount, paid_amount, refunded_amount, pricing,
                recipient, phone, phone_index, province, city, district, address_detail,
                remark, created_at, paid_at, cancel_reason, carrier, tracking_no)
            SELECT 'B' || e.id, e.member_id, 'completed', e.amount, 0, 0, e.amount, e.amount,
                   0, '{}', '', '', '', '', '', '', '', '', e.ts, e.ts, '', '', ''
            FROM (SELECT id, member_id, ts, 1000 + (hashtext(id::text) & 65535) AS amount
                  FROM analytics_event
                  WHERE name = 'order_paid' AND member_id IS NOT NULL) AS e
            WHERE EXISTS (SELECT 1 FROM members_member m WHERE m.id = e.member_id)
            """
        )
        orders = cursor.rowcount
        cursor.execute(
            """
            INSERT INTO marketing_memberstanding (member_id, points, growth, sign_in_streak)
            SELECT id, (id * 37) % 1000, 0, 0 FROM members_member
            ON CONFLICT DO NOTHING
            """
        )
        cursor.execute("ANALYZE orders_order")
        cursor.execute("ANALYZE marketing_memberstanding")
        return {"orders": orders, "seconds": round(time.perf_counter() - started, 1)}


def fifty_rules() -> list[dict[str, Any]]:
    events = ["product_view", "add_to_cart", "page_view", "search", "order_paid"]
    rules: list[dict[str, Any]] = []
    for i in range(SEGMENTS):
        kind = i % 5
        if kind == 0:
            rule: dict[str, Any] = {
                "type": "event", "event": events[i % len(events)], "mode": "did",
                "count": 1 + i % 4, "days": (7, 14, 30, 60)[i % 4],
            }  # fmt: skip
        elif kind == 1:
            rule = {
                "op": "and",
                "rules": [
                    {"type": "profile", "field": "gender", "value": [i % 3]},
                    {"type": "commerce", "metric": "gmv", "op": "gte", "value": 50 * (1 + i % 7)},
                ],
            }
        elif kind == 2:
            rule = {"type": "rfm", "r": [1 + i % 3, 5], "m": [1 + i % 4, 5]}
        elif kind == 3:
            rule = {
                "op": "and",
                "rules": [
                    {"type": "commerce", "metric": "orders", "op": "gte", "value": 1 + i % 3},
                    {
                        "op": "not",
                        "rule": {
                            "type": "event",
                            "event": "add_to_cart",
                            "mode": "did",
                            "count": 1,
                            "days": (3, 7, 14)[i % 3],
                        },
                    },
                ],
            }
        else:
            rule = {
                "op": "or",
                "rules": [
                    {"type": "profile", "field": "points", "op": "gte", "value": 900 - i},
                    {"type": "event", "event": "search", "mode": "first_time", "days": 7 + i},
                    {"type": "commerce", "metric": "last_order",
                     "value": {"before_days": 30 + i}},
                ],
            }  # fmt: skip
        rules.append(rule)
    return rules


def main() -> int:
    os.environ.setdefault("BENCH_DATABASE", "miniops_bench_segments")
    database = gen_events.database_for(EVENTS)
    env = lib.services_env(database)
    lake_dir = lib.BUILD / f"lake-{database}"
    env["MINIOPS_ANALYTICS_LAKE_DIR"] = str(lake_dir)
    lib.manage(env, "migrate", "--no-input", "-v0")
    dsn = env["DATABASE_URL"]
    meta = gen_events.ensure_postgres(dsn, gen_events.Spec(events=EVENTS))
    commerce = seed_commerce(dsn)
    lib.log(f"orders: {commerce}")
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "miniops.settings"
    import django

    django.setup()
    import duckdb
    from django.db import connection
    from django.utils import timezone

    from miniops.analytics import lake
    from miniops.segments import services
    from miniops.segments.models import LeafSet, Segment

    figures: dict[str, Any] = {"dataset": meta, "commerce": commerce}
    manifest = lake.read_manifest()
    if not manifest.get("parts"):
        started = time.perf_counter()
        lake.reset()
        lake.export(settled_only=False)
        figures["lake_export_s"] = round(time.perf_counter() - started, 1)
        manifest = lake.read_manifest()
    parts = [str(lake_dir / part["file"]) for part in manifest["parts"]]

    # the baseline's own copies of members and orders
    export_started = time.perf_counter()
    members_pq = lib.BUILD / f"{database}-members.parquet"
    orders_pq = lib.BUILD / f"{database}-orders.parquet"
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    duck.execute(f"SET threads = {max(1, min(4, os.cpu_count() or 1))}")
    for query, target, columns in (
        (
            "SELECT id, gender FROM members_member",
            members_pq,
            "{'id': 'BIGINT', 'gender': 'INTEGER'}",
        ),
        (
            "SELECT member_id, paid_at FROM orders_order WHERE paid_at IS NOT NULL",
            orders_pq,
            "{'member_id': 'BIGINT', 'paid_at': 'TIMESTAMPTZ'}",
        ),
    ):
        csv_path = target.with_suffix(".csv")
        with (
            connection.cursor() as cursor,
            open(csv_path, "wb") as out,
            cursor.cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy,
        ):
            for block in copy:
                out.write(block)
        duck.execute(
            f"COPY (SELECT * FROM read_csv('{csv_path}', header = false, columns = {columns})) "
            f"TO '{target}' (FORMAT parquet)"
        )
        csv_path.unlink()
    figures["baseline_export_s"] = round(time.perf_counter() - export_started, 1)
    files = ", ".join(f"'{p}'" for p in parts)
    now = timezone.now().replace(second=0, microsecond=0)
    baseline_sql = f"""
        SELECT count(*) FROM read_parquet('{members_pq}') m
        WHERE m.gender IN (1, 2)
          AND EXISTS (SELECT 1 FROM read_parquet('{orders_pq}') o
                      WHERE o.member_id = m.id AND o.paid_at >= ?)
          AND m.id IN (SELECT member_id FROM read_parquet([{files}])
                       WHERE name = 'product_view' AND ts >= ? AND ts <= ?
                       GROUP BY member_id HAVING count(*) >= 3)
    """

    def baseline() -> int:
        row = duck.execute(
            baseline_sql, [now - timedelta(days=90), now - timedelta(days=30), now]
        ).fetchone()
        return int(row[0]) if row else 0

    def cold() -> Any:
        LeafSet.objects.all().delete()
        return services.preview(RULE, actor=None)

    def warm() -> Any:
        return services.preview(RULE, actor=None)

    timings: dict[str, list[float]] = {"preview_cold": [], "preview_warm": [], "duckdb_raw": []}
    answers: dict[str, int] = {}
    load_before = os.getloadavg()
    for round_no in range(ROUNDS + 2):
        for name, fn in (("preview_cold", cold), ("preview_warm", warm), ("duckdb_raw", baseline)):
            started = time.perf_counter()
            answer = fn()
            elapsed = (time.perf_counter() - started) * 1000
            count = answer if isinstance(answer, int) else answer.count
            if not isinstance(answer, int) and answer.error:
                raise RuntimeError(answer.error)
            answers[name] = count
            if round_no >= 2:
                timings[name].append(elapsed)
    figures["live_count"] = {
        name: {"p50_ms": round(statistics.median(v), 1), "p95_ms": round(p95(v), 1)}
        for name, v in timings.items()
    }
    figures["answers"] = answers
    figures["answers_equal"] = len(set(answers.values())) == 1

    # 50 segments
    Segment.objects.filter(name__startswith="bench-").delete()
    LeafSet.objects.all().delete()
    created = [
        services.create_segment(actor=None, name=f"bench-{i:02d}", rules=rule, compute=False)
        for i, rule in enumerate(fifty_rules())
    ]
    per_segment = []
    started = time.perf_counter()
    for segment in created:
        one = time.perf_counter()
        run = services.recompute(segment.pk, actor=None, reason="bench")
        if run.error:
            raise RuntimeError(f"{segment.name}: {run.error}")
        per_segment.append((time.perf_counter() - one) * 1000)
    first = time.perf_counter() - started
    started = time.perf_counter()
    for segment in created:
        services.recompute(segment.pk, actor=None, reason="bench")
    second = time.perf_counter() - started
    members_total = sum(Segment.objects.filter(name__startswith="bench-").values_list(
        "member_count", flat=True))  # fmt: skip
    figures["fifty"] = {
        "first_s": round(first, 1),
        "second_s": round(second, 1),
        "slowest_ms": round(max(per_segment)),
        "median_ms": round(statistics.median(per_segment)),
        "memberships": members_total,
    }
    figures["load"] = {"before": load_before, "after": os.getloadavg()}
    lib.save("segments", figures)
    print(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
