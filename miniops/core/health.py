"""Liveness and readiness.

``/healthz`` answers as soon as the process can serve a request and touches
nothing else (load balancers poll it). ``/readyz`` checks each dependency the
product needs — database, cache, task queue — and reports each one, answering 503
when any is down so traffic moves elsewhere.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b'{"status":"ok"}', content_type="application/json")


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was written")
    cache.delete(key)


def _check_queue() -> None:
    from huey.contrib.djhuey import HUEY

    HUEY.pending_count()


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "cache": _check_cache,
    "task_queue": _check_queue,
}


#: What the console calls each check (the JSON of /readyz keeps the keys).
CHECK_LABELS = {
    "database": gettext_lazy("Database"),
    "cache": gettext_lazy("Cache"),
    "task_queue": gettext_lazy("Task queue"),
}


def labelled(results: dict[str, Any]) -> dict[str, Any]:
    """The check results keyed by their label in the operator's language."""
    return {str(CHECK_LABELS.get(name, name)): result for name, result in results.items()}


def run_checks() -> tuple[bool, dict[str, Any]]:
    results: dict[str, Any] = {}
    healthy = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # each dependency reports its own failure
            healthy = False
            results[name] = {"ok": False, "error": type(exc).__name__}
        else:
            results[name] = {"ok": True}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return healthy, results


def readyz(request: HttpRequest) -> HttpResponse:
    healthy, results = run_checks()
    body: dict[str, Any] = {"status": "ok" if healthy else "unavailable", "checks": results}
    # Informational: the web tier serves without a worker, so this never fails readiness.
    try:
        from miniops.core.selectors import worker_last_seen

        body["worker_last_seen_seconds_ago"] = worker_last_seen()
    except Exception:
        body["worker_last_seen_seconds_ago"] = None
    return HttpResponse(
        orjson.dumps(body), status=200 if healthy else 503, content_type="application/json"
    )
