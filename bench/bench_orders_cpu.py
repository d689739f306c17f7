"""CPU cost of placing an order, without sockets: Django's test client places 300
orders (one line each, fresh Idempotency-Key) on PostgreSQL + Redis with the demo
shop loaded, and /healthz 300 times as the baseline. Reports wall time, this
process's CPU time and the CPU time PostgreSQL and Redis spent meanwhile (from
/proc), per request, plus the queries per order."""

from __future__ import annotations

import json
import subprocess

import lib

SCRIPT = r"""
import json, os, time, uuid
import django
django.setup()
from django.conf import settings
from django.db import connection, reset_queries
from django.test import Client
from miniops.catalog.models import Sku

c = Client()
tok = c.post("/api/v1/auth/wechat-login", {"code": "bench-cpu-buyer"},
             content_type="application/json").json()["access_token"]
c = Client(HTTP_AUTHORIZATION=f"Bearer {tok}")
addr = c.post("/api/v1/me/addresses", {"recipient": "压测", "phone": "13800000000",
              "province": "上海", "city": "上海", "detail": "压测路1号"},
              content_type="application/json").json()["id"]
skus = list(Sku.objects.filter(stock__gt=1000).values_list("id", flat=True)[:50])

def order(i):
    response = c.post("/api/v1/orders", {"items": [{"sku_id": skus[i % len(skus)], "quantity": 1}],
                      "address_id": addr}, content_type="application/json",
                      HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 201, response.content

def health(i):
    c.get("/healthz")

def server_cpu():
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        if "(postgres)" in stat or "(redis-server)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")

out = {}
for name, call in (("healthz", health), ("order", order)):
    for i in range(20):
        call(i)
    server, wall, cpu = server_cpu(), time.perf_counter(), time.process_time()
    for i in range(300):
        call(i)
    out[name] = {
        "wall_ms": (time.perf_counter() - wall) / 300 * 1000,
        "python_cpu_ms": (time.process_time() - cpu) / 300 * 1000,
        "db_cpu_ms": (server_cpu() - server) / 300 * 1000,
    }
settings.DEBUG = True
reset_queries()
order(1)
out["order"]["queries"] = len(connection.queries)
print(json.dumps(out))
"""


def run() -> dict:
    env = lib.services_env("miniops_bench")
    lib.manage(env, "migrate", "--no-input", "-v0")
    lib.manage(env, "seed_demo", "--quiet-bar")
    env["DJANGO_SETTINGS_MODULE"] = "miniops.settings"
    env["MINIOPS_API_RATE_AUTH"] = "100000000/m"
    out = subprocess.run(
        [lib.PYTHON, "-c", SCRIPT], cwd=lib.ROOT, env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    rows = [
        {
            "request": name,
            "wall ms": round(values["wall_ms"], 2),
            "Python CPU ms": round(values["python_cpu_ms"], 2),
            "PostgreSQL + Redis CPU ms": round(values["db_cpu_ms"], 2),
            "queries": values.get("queries", ""),
        }
        for name, values in result.items()
    ]
    print(lib.table(rows, list(rows[0])))
    lib.save("orders_cpu", result)
    return result
