"""The mini-program's home page inside one process, without sockets: Django's
test client calls /healthz, ``GET /api/v1/home`` anonymous, the same as a
signed-in member (targeting checked, recommendations per member) and the product
list (the catalog's cached read, for reference) 3 x 1,000 times each,
interleaved, on PostgreSQL + Redis with the demo shop loaded; reports the median
microseconds per request and the ratio to /healthz."""

from __future__ import annotations

import json
import subprocess

import lib

SCRIPT = r"""
import json, statistics, time
import django
django.setup()
from django.test import Client
from miniops.members.models import Member
from miniops.testing import factories
c = Client()
top = c.get("/api/v1/categories").json()["items"][0]["id"]
member = Member.objects.filter(openid__startswith="oDEMO", tags__name="高价值").first()
access, _ = factories.member_tokens(member)
signed = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
calls = {
    "/healthz": (c, "/healthz"),
    "home (anonymous)": (c, "/api/v1/home"),
    "home (member, targeted)": (signed, "/api/v1/home"),
    "product list": (c, f"/api/v1/products?category={top}&limit=20"),
}
sections = len(signed.get("/api/v1/home").json()["sections"])
for client, path in calls.values():
    for _ in range(100):
        assert client.get(path).status_code == 200
timings = {name: [] for name in calls}
for _ in range(3):
    for name, (client, path) in calls.items():
        started = time.perf_counter()
        for _ in range(1000):
            client.get(path)
        timings[name].append((time.perf_counter() - started) / 1000 * 1e6)
print(json.dumps({"sections": sections, **{n: statistics.median(v) for n, v in timings.items()}}))
"""


def run() -> dict:
    env = lib.services_env("miniops_bench")
    lib.manage(env, "migrate", "--no-input", "-v0")
    lib.manage(env, "seed_demo", "--quiet-bar")
    env["DJANGO_SETTINGS_MODULE"] = "miniops.settings"
    env["MINIOPS_API_RATE_ANON"] = env["MINIOPS_API_RATE_AUTH"] = "100000000/minute"
    out = subprocess.run(
        [lib.PYTHON, "-c", SCRIPT],
        cwd=lib.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    micros = json.loads(out.strip().splitlines()[-1])
    sections = micros.pop("sections")
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
    print(f"\nsections on the member's home: {sections}")
    lib.save("cms", {"rows": rows, "sections": sections})
    return {"rows": rows}
