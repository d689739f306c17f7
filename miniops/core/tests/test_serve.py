"""``manage.py serve`` runs the web server and, on the embedded default, the worker
in the same process: a job queued from outside is consumed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="embedded default only")
def test_serve_runs_web_and_embedded_worker(tmp_path: Path) -> None:
    # given a fresh embedded install
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(
        {
            "MINIOPS_VAR_DIR": str(tmp_path),
            "MINIOPS_ENV": "development",
            "MINIOPS_HUEY_IMMEDIATE": "0",
        }
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: httpx.get(f"{base}/healthz").status_code == 200)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ok"
        # when another process queues a job into the embedded (SQLite) queue
        enqueue = (
            "import django; django.setup(); "
            "from miniops.core.tasks import heartbeat_now; heartbeat_now()"
        )
        subprocess.run(
            [sys.executable, "-c", enqueue],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "miniops.settings"},
            check=True,
        )
        # then the worker inside the server consumes it
        assert wait_until(
            lambda: httpx.get(f"{base}/readyz").json()["worker_last_seen_seconds_ago"] is not None
        ), "the in-process worker never ran the queued job"
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    assert "background worker: in-process" in output
