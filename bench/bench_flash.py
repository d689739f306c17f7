"""Flash-sale sold-out answers: once an item is sold out, how fast do further
purchase attempts get their 409 ``sold_out``? PostgreSQL, ``serve --workers 2``,
the demo shop loaded; one item sold out beforehand; every attempt a new
Idempotency-Key by a signed-in member. Two configurations side by side in the same
run: the Redis gate (sold-out answered by ``FlashSoldOutMiddleware`` from the
gate, no database work) and the database-only path (no REDIS_URL: one read
answers). Baseline: ``GET /healthz`` of the same server, measured just before and
just after each attempts run (their mean). Five rounds of wrk (32 connections,
5 s each, bench/flash_post.lua), then the open-loop generator at 1,000
attempts/s for 15 s. Goal (issue #6): >= 70 % of /healthz, p99 < 50 ms."""

from __future__ import annotations

import json
import statistics
import urllib.request
from pathlib import Path

import lib

SETUP = r"""
import json
from datetime import timedelta
from django.utils import timezone
from miniops.catalog.models import Sku
from miniops.marketing.models import FlashItem, FlashSession
from miniops.marketing.services import flash
skus = Sku.objects.filter(is_active=True, product__status="on_sale", stock__gt=10)
sku = skus.order_by("id").first()
now = timezone.now()
session = FlashSession.objects.create(
    name="bench", starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=2)
)
item = FlashItem.objects.create(
    session=session, sku=sku, flash_price=max(1, sku.price // 2), stock=1, sold=1,
    per_member_limit=1,
)
flash.reset_gate(item.pk)
print(json.dumps({"item": item.pk}))
"""


ROUNDS = 5


def _post(url: str, body: dict, token: str | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def _measure(env: dict[str, str], label: str) -> dict:
    item = json.loads(lib.manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])["item"]
    rounds = []
    with lib.server(env, workers=2) as srv:
        login = _post(f"{srv.base}/api/v1/auth/wechat-login", {"code": f"bench-flash-{label}"})
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
        )["id"]
        script = Path(__file__).with_name("flash_post.lua")
        script_env = {"BENCH_TOKEN": token, "BENCH_ADDRESS": str(address), "BENCH_ITEM": str(item)}
        path = f"/api/v1/flash-sales/items/{item}/buy"
        body = Path(lib.BUILD) / f"flash-body-{label}.json"
        body.write_text(json.dumps({"quantity": 1, "address_id": address}))
        headers = [
            "Content-Type: application/json",
            f"Authorization: Bearer {token}",
            "Idempotency-Key: flash-{n}-" + label + login["refresh_token"][-6:],
        ]
        lib.warm(srv.base + "/healthz")
        lib.wrk(srv.base + path, seconds=3, script=script, env=script_env)
        for index in range(ROUNDS):
            lib.log(f"{label}: round {index + 1}/{ROUNDS}")
            # /healthz just before and just after the attempts: the baseline is
            # their mean, so load from other tenants that comes or goes during
            # the round weighs on both sides alike
            before = lib.wrk(srv.base + "/healthz", seconds=5)
            attempts = lib.wrk(srv.base + path, seconds=5, script=script, env=script_env)
            after = lib.wrk(srv.base + "/healthz", seconds=5)
            health = {"rps": (before["rps"] + after["rps"]) / 2}
            headers[-1] = f"Idempotency-Key: flash-r{index}-{{n}}-" + label
            open_loop = lib.open_loop(
                srv.base,
                path,
                rate=1000,
                seconds=15,
                connections=64,
                method="POST",
                body=body,
                headers=headers,
            )
            rounds.append({"health": health, "attempts": attempts, "open": open_loop})
    med = statistics.median
    return {
        "path": label,
        "attempts/s (wrk, median)": round(med(r["attempts"]["rps"] for r in rounds), 1),
        "/healthz req/s (median)": round(med(r["health"]["rps"] for r in rounds), 1),
        "ratio (median of rounds)": round(
            med(r["attempts"]["rps"] / r["health"]["rps"] for r in rounds), 3
        ),
        "ratio per round": " ".join(
            f"{r['attempts']['rps'] / r['health']['rps']:.2f}" for r in rounds
        ),
        "p99 @1000/s median / worst (ms)": (
            f"{med(r['open']['p99_ms'] for r in rounds):.1f} / "
            f"{max(r['open']['p99_ms'] for r in rounds):.1f}"
        ),
        "p50 @1000/s (ms)": round(med(r["open"]["p50_ms"] for r in rounds), 2),
        "5xx / errors": sum(r["open"]["status_5xx"] + r["open"]["errors"] for r in rounds),
        "units sold during the run (must be 0)": _sold_since(env, item),
    }


def _sold_since(env: dict[str, str], item: int) -> int:
    check = (
        "from miniops.marketing.models import FlashItem, FlashOrder;"
        f"i = FlashItem.objects.get(pk={item});"
        f"print(i.sold - 1 + FlashOrder.objects.filter(item_id={item}).count())"
    )
    return int(lib.manage(env, "shell", "-c", check).strip().splitlines()[-1])


def run() -> dict:
    lib.ensure_tools()
    env = lib.services_env("miniops_bench")
    lib.manage(env, "migrate", "--no-input", "-v0")
    lib.manage(env, "seed_demo", "--quiet-bar")
    gate = _measure(env, "redis-gate")
    db_env = dict(env)
    db_env.pop("REDIS_URL", None)
    database = _measure(db_env, "database-only")
    rows = [gate, database]
    print(lib.table(rows, list(gate)))
    lib.save("flash", {"rows": rows})
    return {"rows": rows}
