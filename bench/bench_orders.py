"""Placing orders on PostgreSQL + Redis, ``serve --workers 2``, demo shop loaded:
``POST /api/v1/orders`` (one line, stock reserved by conditional update, unique
Idempotency-Key each) against ``GET /healthz`` of the same server in the same run.
Throughput with wrk (32 connections, 10 s, the wrk script bench/order_post.lua);
latency with the open-loop generator at 100 orders/s, then at 200 orders/s (the
goal), 20 s each (and /healthz at 200/s). Orders spread over 200 SKUs whose stock
is topped up first.
Goal (issue #4): p99 < 200 ms at 200 orders/s."""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from pathlib import Path

import lib

SETUP = r"""
import json
from miniops.catalog import services
from miniops.catalog.models import Sku, StockReason
skus = list(Sku.objects.filter(is_active=True, product__status="on_sale").order_by("id")[:200])
for sku in skus:
    services.set_stock(
        sku=sku, quantity=1_000_000, reason=StockReason.CORRECTION, actor=None, note="bench"
    )
print(json.dumps([s.pk for s in skus]))
"""


def _post(url: str, body: dict, token: str | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def run() -> dict:
    lib.ensure_tools()
    env = lib.services_env("miniops_bench")
    lib.manage(env, "migrate", "--no-input", "-v0")
    lib.manage(env, "seed_demo", "--quiet-bar")
    sku_ids = json.loads(lib.manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
    rounds = []
    with lib.server(env, workers=2) as srv:
        login = _post(f"{srv.base}/api/v1/auth/wechat-login", {"code": "benchmark-buyer"})
        token = login["access_token"]
        address = _post(
            f"{srv.base}/api/v1/me/addresses",
            {
                "recipient": "压测",
                "phone": "13800000000",
                "province": "上海",
                "city": "上海",
                "detail": "压测路1号",
            },
            token,
        )
        bodies = Path(lib.BUILD) / "order-bodies.jsonl"
        bodies.write_text(
            "".join(
                json.dumps({"items": [{"sku_id": sku, "quantity": 1}], "address_id": address["id"]})
                + "\n"
                for sku in sku_ids
            )
        )
        script_env = {
            "BENCH_SKUS": ",".join(map(str, sku_ids)),
            "BENCH_TOKEN": token,
            "BENCH_ADDRESS": str(address["id"]),
        }
        script = Path(__file__).with_name("order_post.lua")
        lib.warm(srv.base + "/healthz")
        lib.wrk(srv.base + "/api/v1/orders", seconds=3, script=script, env=script_env)
        headers = [
            "Content-Type: application/json",
            f"Authorization: Bearer {token}",
            "Idempotency-Key: bench-{n}-" + login["refresh_token"][-8:],
        ]
        for index in range(3):
            lib.log(f"round {index + 1}/3")
            health = lib.wrk(srv.base + "/healthz")
            orders = lib.wrk(srv.base + "/api/v1/orders", script=script, env=script_env)
            health_open = lib.open_loop(srv.base, "/healthz", rate=200, seconds=20)
            headers[-1] = f"Idempotency-Key: bench-h{index}-{{n}}-" + login["refresh_token"][-8:]
            orders_half = lib.open_loop(
                srv.base,
                "/api/v1/orders",
                rate=100,
                seconds=20,
                connections=64,
                method="POST",
                body=bodies,
                headers=headers,
            )
            headers[-1] = f"Idempotency-Key: bench-r{index}-{{n}}-" + login["refresh_token"][-8:]
            orders_open = lib.open_loop(
                srv.base,
                "/api/v1/orders",
                rate=200,
                seconds=20,
                connections=64,
                method="POST",
                body=bodies,
                headers=headers,
            )
            time.sleep(5)  # let the overloaded server drain before the next round
            rounds.append(
                {
                    "health": health,
                    "orders": orders,
                    "health_open": health_open,
                    "orders_open": orders_open,
                    "orders_half": orders_half,
                }
            )
        rss = srv.rss_mb()
    med = statistics.median
    row = {
        "orders/s (wrk, median)": round(med(r["orders"]["rps"] for r in rounds), 1),
        "/healthz req/s (median)": round(med(r["health"]["rps"] for r in rounds), 1),
        "ratio (median of rounds)": round(
            med(r["orders"]["rps"] / r["health"]["rps"] for r in rounds), 3
        ),
        "order p99 @200/s median / worst (ms)": (
            f"{med(r['orders_open']['p99_ms'] for r in rounds):.1f} / "
            f"{max(r['orders_open']['p99_ms'] for r in rounds):.1f}"
        ),
        "order p50 @200/s (ms)": round(med(r["orders_open"]["p50_ms"] for r in rounds), 1),
        "order p99 @100/s median / worst (ms)": (
            f"{med(r['orders_half']['p99_ms'] for r in rounds):.1f} / "
            f"{max(r['orders_half']['p99_ms'] for r in rounds):.1f}"
        ),
        "/healthz p99 @200/s (ms)": round(med(r["health_open"]["p99_ms"] for r in rounds), 1),
        "non-2xx / errors": sum(
            r["orders"]["non_2xx"]
            + r["orders_open"]["status_4xx"]
            + r["orders_open"]["status_5xx"]
            + r["orders_open"]["errors"]
            + sum(r["orders_half"][k] for k in ("status_4xx", "status_5xx", "errors"))
            for r in rounds
        ),
    }
    print(lib.table([row], list(row)))
    print(f"\nresident memory per worker after load: {rss} MB")
    result = {"row": row, "rounds": rounds, "rss_mb": rss}
    lib.save("orders", result)
    return result
