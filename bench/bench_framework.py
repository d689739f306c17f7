"""Framework floor on PostgreSQL + Redis, ``serve --workers 2``: the cost of one
request through the whole middleware stack. ``/healthz`` touches nothing;
``/api/v1/config`` goes through ninja (auth, throttle, parser, renderer) and
reads a cached value from Redis. Reported: throughput with wrk (32 connections,
10 s) and the config endpoint as a ratio of /healthz in the same run; p99 at a
fixed 500 req/s open-loop rate; resident memory per worker after the load."""

from __future__ import annotations

import lib


def run() -> dict:
    lib.ensure_tools()
    env = lib.services_env()
    lib.manage(env, "migrate", "--no-input", "-v0")
    rows = []
    with lib.server(env, workers=2) as srv:
        for path in ("/healthz", "/api/v1/config"):
            lib.warm(srv.base + path)
        health = lib.wrk(srv.base + "/healthz")
        config = lib.wrk(srv.base + "/api/v1/config")
        health_ol = lib.open_loop(srv.base, "/healthz", rate=500)
        config_ol = lib.open_loop(srv.base, "/api/v1/config", rate=500)
        rss = srv.rss_mb()
    rows.append(
        {
            "endpoint": "/healthz",
            "req/s": health["rps"],
            "ratio": "1.00 (baseline)",
            "p99 @500/s (ms)": health_ol["p99_ms"],
            "errors": health_ol["errors"] + health["non_2xx"],
        }
    )
    rows.append(
        {
            "endpoint": "/api/v1/config",
            "req/s": config["rps"],
            "ratio": f"{config['rps'] / health['rps']:.2f}",
            "p99 @500/s (ms)": config_ol["p99_ms"],
            "errors": config_ol["errors"] + config["non_2xx"],
        }
    )
    print(lib.table(rows, ["endpoint", "req/s", "ratio", "p99 @500/s (ms)", "errors"]))
    print(f"\nresident memory per worker after load: {rss} MB")
    result = {
        "rows": rows,
        "rss_mb": rss,
        "wrk": [health, config],
        "open_loop": [health_ol, config_ol],
    }
    lib.save("framework", result)
    return result
