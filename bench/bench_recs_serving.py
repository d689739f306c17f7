"""Serving recommendations over HTTP on PostgreSQL + Redis, ``serve --workers 2``,
the demo shop loaded and its model trained: ``GET /api/v1/recommendations?limit=10``
for 1,000 signed-in demo members who have orders or views (one member's token per
request, round robin, so a member comes back every 1,000 requests: the first list
of each member in a minute is computed, the others come from the 60-s cache, as in
a shop), and ``GET /api/v1/products/{id}/related?limit=10`` of one product, each
against ``GET /healthz`` of the same server in the same run. Every answer records
its impression (the analytics buffer). Throughput with wrk (32 connections, 5 s;
bench/recs_get.lua takes the tokens); latency with the open-loop generator at
500 req/s for 15 s (BENCH_HEADER_FILE: the same tokens), 5 s to drain after each;
3 interleaved rounds, medians. Nothing is warmed per member: the first round starts
with every member's list to compute. Goals (issue 15 §4): p99 < 20 ms at 500 req/s
and >= 50 % of /healthz throughput."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

import lib

TOKENS = r"""
import django
django.setup()
from django.db.models import Exists, OuterRef
from miniops.members.models import BrowsingHistory, Member
from miniops.members import services
from miniops.orders.models import Order
people = (
    Member.objects.filter(
        Exists(Order.objects.filter(member=OuterRef("pk"), paid_at__isnull=False))
        | Exists(BrowsingHistory.objects.filter(member=OuterRef("pk")))
    )
    .order_by("pk")
    .values_list("pk", flat=True)[:1000]
)
for member in Member.objects.filter(pk__in=list(people)):
    session = services._open_session(member, ip="127.0.0.1", user_agent="bench")
    print("Authorization: Bearer " + session.access_token)
"""


def run() -> dict:
    env = lib.demo_shop_env()
    env["DJANGO_SETTINGS_MODULE"] = "miniops.settings"
    lines = subprocess.run(
        [lib.PYTHON, "-c", TOKENS],
        cwd=lib.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    header_file = Path(lib.BUILD) / "recs-tokens.txt"
    header_file.write_text("\n".join(line for line in lines if line.startswith("Authorization")))
    members = sum(1 for line in lines if line.startswith("Authorization"))
    lib.log(f"{members} member tokens")
    rounds: list[dict[str, dict]] = []
    with lib.server(env, workers=2) as srv:
        with urllib.request.urlopen(f"{srv.base}/api/v1/products?limit=1") as answer:
            product = json.load(answer)["items"][0]["id"]
        paths = {
            "/healthz": ("/healthz", False),
            "related products": (f"/api/v1/products/{product}/related?limit=10", False),
            "recommendations (1,000 members)": ("/api/v1/recommendations?limit=10", True),
        }
        for path, _tokens in paths.values():
            lib.warm(srv.base + path, seconds=2)
        os.environ["BENCH_HEADER_FILE"] = str(header_file)
        for index in range(3):
            lib.log(f"round {index + 1}/3")
            measured: dict[str, dict] = {}
            for name, (path, tokens) in paths.items():
                script = Path(__file__).with_name("recs_get.lua") if tokens else None
                measured[name] = {
                    "wrk": lib.wrk(
                        srv.base + path,
                        seconds=5,
                        script=script,
                        env={"BENCH_PATH": path, "BENCH_HEADER_FILE": str(header_file)},
                    )
                }
            for name, (path, tokens) in paths.items():
                if not tokens:
                    os.environ.pop("BENCH_HEADER_FILE", None)
                else:
                    os.environ["BENCH_HEADER_FILE"] = str(header_file)
                measured[name]["open"] = lib.open_loop(srv.base, path, rate=500, seconds=15)
                time.sleep(5)  # let a backlog drain before the next measurement
            rounds.append(measured)
        os.environ.pop("BENCH_HEADER_FILE", None)
        rss = srv.rss_mb()
    med = statistics.median
    rows = []
    for name in paths:
        rps = [r[name]["wrk"]["rps"] for r in rounds]
        ratios = [r[name]["wrk"]["rps"] / r["/healthz"]["wrk"]["rps"] for r in rounds]
        p99 = [r[name]["open"]["p99_ms"] for r in rounds]
        rows.append(
            {
                "endpoint": name,
                "req/s (wrk, median)": round(med(rps), 1),
                "ratio to /healthz (median)": round(med(ratios), 2),
                "ratios per round": ", ".join(f"{v:.2f}" for v in ratios),
                "p50 @500/s (ms, median)": round(med(r[name]["open"]["p50_ms"] for r in rounds), 2),
                "p99 @500/s median / worst (ms)": f"{med(p99):.1f} / {max(p99):.1f}",
                "non-2xx / errors": sum(
                    r[name]["wrk"]["non_2xx"]
                    + sum(
                        r[name]["open"][k]
                        for k in ("status_4xx", "status_5xx", "errors", "timeouts")
                    )
                    for r in rounds
                ),
            }
        )
    print(lib.table(rows, list(rows[0])))
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\nresident memory per worker after load: {rss} MB; load average at the end: {load}")
    result = {"rows": rows, "rounds": rounds, "rss_mb": rss, "members": members}
    lib.save("recs_serving", result)
    return result


if __name__ == "__main__":
    run()
