"""The analytics reports of bench_reports.py on the embedded default (SQLite, no
services; ``MINIOPS_VAR_DIR`` sqlite-reports-<size> under ``$BENCH_SQLITE_DIR``,
default bench/.build; reused) over
~1M events (``BENCH_SQLITE_EVENTS``, default 1,000,000; 20,000 members) of the
90 days ending today: the same generator, rollups and lake build, the same three
reports timed 20 times against the same DuckDB SQL over one Parquet export.
Goals: the PostgreSQL goals, recorded here at 1M events."""

from __future__ import annotations

import os
from pathlib import Path

import bench_reports
import gen_events
import lib

EVENTS = int(os.environ.get("BENCH_SQLITE_EVENTS", 1_000_000))


def run() -> dict:
    label = gen_events.size_label(EVENTS)
    var_dir = Path(os.environ.get("BENCH_SQLITE_DIR") or lib.BUILD) / f"sqlite-reports-{label}"
    var_dir.mkdir(parents=True, exist_ok=True)
    env = lib.embedded_env(var_dir)
    env["MINIOPS_ANALYTICS_LAKE_DIR"] = str(var_dir / "lake")
    lib.manage(env, "migrate", "--no-input", "-v0")
    database = var_dir / "miniops.sqlite3"
    meta = gen_events.ensure_sqlite(database, gen_events.Spec(events=EVENTS))
    meta = bench_reports.ensure_rollups(
        env, meta, lambda **values: gen_events.update_meta_sqlite(database, **values)
    )
    parquet = bench_reports.export_parquet_sqlite(database, meta, var_dir / "events.parquet")
    lib.log(f"timing the reports ({bench_reports.ROUNDS} rounds after 2 warm-up rounds)")
    load_before = os.getloadavg()
    measured = bench_reports.time_reports(env, meta, parquet)
    measured["load"] = {"before": load_before, "after": os.getloadavg()}
    return bench_reports.report("reports_sqlite", "SQLite", meta, measured)
