"""Catalog reads on PostgreSQL + Redis, ``serve --workers 2``, demo shop loaded:
the first page of a category (``GET /api/v1/products?category=<top>``) and a
product page (``GET /api/v1/products/{id}``), each against ``GET /healthz`` of the
same server in the same run. Throughput with wrk (32 connections, 10 s); p99 with
the open-loop generator at 1,000 req/s for 15 s; resident memory of each worker
after the load. Goals (issue #3): list and detail >= 70 % of /healthz throughput,
p99 < 50 ms at 1,000 req/s, <= 150 MB per worker."""

from __future__ import annotations

import json
import urllib.request

import lib


def run() -> dict:
    env = lib.demo_shop_env()
    rows = []
    with lib.server(env, workers=2) as srv:
        with urllib.request.urlopen(f"{srv.base}/api/v1/categories") as answer:
            top = json.load(answer)["items"][0]["id"]
        with urllib.request.urlopen(
            f"{srv.base}/api/v1/products?category={top}&limit=20"
        ) as answer:
            product_id = json.load(answer)["items"][0]["id"]
        paths = {
            "/healthz": "/healthz",
            "product list (category page 1)": f"/api/v1/products?category={top}&limit=20",
            "product detail": f"/api/v1/products/{product_id}",
        }
        for path in paths.values():
            lib.warm(srv.base + path)
        measured = lib.interleaved(srv.base, paths, rounds=3, rate=1000)
        rss = srv.rss_mb()
    for name, m in measured.items():
        rows.append(
            {
                "endpoint": name,
                "req/s (median)": m["rps_median"],
                "ratio to /healthz (median of rounds)": m["ratio_median"],
                "ratios per round": m["ratio_all"],
                "p99 @1000/s median / worst (ms)": f"{m['p99_median_ms']} / {m['p99_worst_ms']}",
                "errors": m["errors"],
            }
        )
    print(lib.table(rows, list(rows[0])))
    print(f"\nresident memory per worker after load: {rss} MB")
    result = {"rows": rows, "rss_mb": rss, "measured": measured}
    lib.save("catalog", result)
    return result
