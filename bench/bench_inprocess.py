"""Per-request cost inside one process, without sockets: Django's test client
calls /healthz, the product list and a product page 3 x 2,000 times each
(interleaved) on PostgreSQL + Redis with the demo shop loaded; reports the median
microseconds per request and the ratio to /healthz. Separates the framework and
our code from the network and the load generator."""

from __future__ import annotations

import json
import subprocess

import lib

SCRIPT = r"""
import json, os, statistics, time
import django
django.setup()
from django.test import Client
c = Client()
top = c.get("/api/v1/categories").json()["items"][0]["id"]
listing = f"/api/v1/products?category={top}&limit=20"
page = f"/api/v1/products/{c.get(listing).json()['items'][0]['id']}"
paths = {"/healthz": "/healthz", "product list": listing, "product detail": page}
for path in paths.values():
    for _ in range(200):
        c.get(path)
timings = {name: [] for name in paths}
for _ in range(3):
    for name, path in paths.items():
        started = time.perf_counter()
        for _ in range(2000):
            c.get(path)
        timings[name].append((time.perf_counter() - started) / 2000 * 1e6)
print(json.dumps({name: statistics.median(values) for name, values in timings.items()}))
"""


def run() -> dict:
    env = lib.services_env("miniops_bench")
    lib.manage(env, "migrate", "--no-input", "-v0")
    lib.manage(env, "seed_demo", "--quiet-bar")
    env["DJANGO_SETTINGS_MODULE"] = "miniops.settings"
    out = subprocess.run(
        [lib.PYTHON, "-c", SCRIPT],
        cwd=lib.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    micros = json.loads(out.strip().splitlines()[-1])
    base = micros["/healthz"]
    rows = [
        {
            "endpoint": name,
            "µs per request": round(value),
            "ratio (healthz cost / this cost)": f"{base / value:.2f}",
        }
        for name, value in micros.items()
    ]
    print(lib.table(rows, list(rows[0])))
    lib.save("inprocess", {"rows": rows})
    return {"rows": rows}
