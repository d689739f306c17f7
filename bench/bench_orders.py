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


def run() -> dict:
    lib.ensure_tools()
    env = lib.services_env("miniops_bench")
    lib.manage(env, "migrate", "--no-input", "-v0")
    lib.manage(env, "seed_demo", "--quiet-bar")
    sku_ids = json.loads(lib.manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
    with lib.server(env, workers=2) as srv:
        token, salt = lib.member_sign_in(srv.base, "benchmark-buyer")
        address = lib.post_json(
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
        rounds = lib.write_rounds(
            srv.base,
            "/api/v1/orders",
            name="orders",
            script=Path(__file__).with_name("order_post.lua"),
            script_env={
                "BENCH_SKUS": ",".join(map(str, sku_ids)),
                "BENCH_TOKEN": token,
                "BENCH_ADDRESS": str(address["id"]),
            },
            token=token,
            salt=salt,
            bodies=bodies,
            rates={"orders_half": 100, "orders_open": 200},
        )
        rss = srv.rss_mb()
    med = statistics.median
    row = {
        **lib.ratio_row(rounds, "orders", "orders"),
        "order p99 @200/s median / worst (ms)": lib.latency(rounds, "orders_open"),
        "order p50 @200/s (ms)": round(med(r["orders_open"]["p50_ms"] for r in rounds), 1),
        "order p99 @100/s median / worst (ms)": lib.latency(rounds, "orders_half"),
        "/healthz p99 @200/s (ms)": round(med(r["health_open"]["p99_ms"] for r in rounds), 1),
        "non-2xx / errors": sum(
            r["orders"]["non_2xx"]
            + sum(
                r[label][k]
                for label in ("orders_open", "orders_half")
                for k in ("status_4xx", "status_5xx", "errors")
            )
            for r in rounds
        ),
    }
    print(lib.table([row], list(row)))
    print(f"\nresident memory per worker after load: {rss} MB")
    result = {"row": row, "rounds": rounds, "rss_mb": rss}
    lib.save("orders", result)
    return result
