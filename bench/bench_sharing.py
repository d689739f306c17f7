"""Share-code resolution (issue 15 §4): ``POST /api/v1/share/resolve`` with a
random code of 2,000 links, as an anonymous visitor (each call records a visit and
a ``share_opened`` event), against ``GET /healthz`` in the same process and run.
Django's test client, no sockets (the network and the load generator are the
framework benchmark's business); each call timed on its own, 3 interleaved rounds
of 2,000 calls per endpoint; p50 and p99 per round, medians reported. Before the
rounds every code is resolved once, as in a process that has been serving for a
while; those first resolves (the process memo empty: Redis, or PostgreSQL and then
Redis) are reported apart as the cold path. PostgreSQL + Redis (its own database,
``miniops_bench_sharing``). ``BENCH_FLUSH_SECONDS`` sets the visit and event
buffers' interval (default 1 s)."""

from __future__ import annotations

import json
import os
import subprocess

import lib

SCRIPT = r"""
import json, os, random, statistics, time
import django
django.setup()
from django.test import Client
from miniops.members.models import Member
from miniops.sharing.models import ShareLink
from miniops.sharing.services import links

sharer = Member.objects.filter(openid="bench-sharer").first() or Member.objects.create(
    openid="bench-sharer", nickname="bench")
have = ShareLink.objects.filter(sharer=sharer).count()
for index in range(have, 2000):
    links.share(member=sharer, target_type="page", page=f"pages/bench/p{index}")
codes = list(ShareLink.objects.filter(sharer=sharer).values_list("code", flat=True))
c = Client()
rng = random.Random(15)

def healthz():
    return c.get("/healthz")

def resolve():
    return c.post("/api/v1/share/resolve",
                  {"code": rng.choice(codes), "anonymous_id": f"bench-{rng.randint(1, 10**9)}"},
                  content_type="application/json")

calls = {"/healthz": healthz, "share resolve": resolve}
for _ in range(200):
    assert healthz().status_code == 200
# a process that has been up: each code resolved once (memo, then Redis or
# PostgreSQL) — timed apart as the cold path
cold = []
for code in codes:
    started = time.perf_counter()
    response = c.post("/api/v1/share/resolve", {"code": code, "anonymous_id": "bench-warm"},
                      content_type="application/json")
    cold.append((time.perf_counter() - started) * 1000)
    assert response.status_code == 200, response.content
cold.sort()
rounds = {name: [] for name in calls}
for _ in range(3):
    for name, call in calls.items():
        times = []
        for _ in range(2000):
            started = time.perf_counter()
            response = call()
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content
        times.sort()
        rounds[name].append({"p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99)]})
rounds["share resolve, first time in the process (cold)"] = [
    {"p50": cold[len(cold) // 2], "p99": cold[int(len(cold) * 0.99)]}]
print(json.dumps(rounds))
"""


def run() -> dict:
    env = lib.services_env("miniops_bench_sharing")
    env["MINIOPS_ANALYTICS_FLUSH_SECONDS"] = os.environ.get("BENCH_FLUSH_SECONDS", "1")
    lib.manage(env, "migrate", "--no-input", "-v0")
    env["DJANGO_SETTINGS_MODULE"] = "miniops.settings"
    out = subprocess.run(
        [lib.PYTHON, "-c", SCRIPT],
        cwd=lib.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rounds = json.loads(out.strip().splitlines()[-1])

    def median(name: str, key: str) -> float:
        values = sorted(r[key] for r in rounds[name])  # (cold: one round)
        return values[len(values) // 2]

    base = median("/healthz", "p99")
    rows = [
        {
            "endpoint": name,
            "p50 ms (median of 3)": f"{median(name, 'p50'):.2f}",
            "p99 ms (median of 3)": f"{median(name, 'p99'):.2f}",
            "p99 per round": ", ".join(f"{r['p99']:.2f}" for r in rounds[name]),
            "p99 ratio to /healthz": f"{median(name, 'p99') / base:.2f}",
        }
        for name in rounds
    ]
    print(lib.table(rows, list(rows[0])))
    lib.save("sharing", {"rows": rows, "rounds": rounds})
    return {"rows": rows}


if __name__ == "__main__":
    run()
