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
def test_serve_runs_web_and_embedded_worker_and_prints_the_logins_last(tmp_path: Path) -> None:
    # given a fresh embedded install whose queue holds a job for later (as a
    # seeder's order timeouts would), which Huey announces at INFO on start-up
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(
        {
            "MINIOPS_VAR_DIR": str(tmp_path),
            "MINIOPS_ENV": "development",
            "MINIOPS_HUEY_IMMEDIATE": "0",
            "LOG_LEVEL": "INFO",
            "DJANGO_SETTINGS_MODULE": "miniops.settings",
        }
    )
    env.pop("PUBLIC_BASE_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    later = (
        "import django; django.setup(); "
        "from miniops.core.tasks import heartbeat_now; heartbeat_now.schedule(delay=3600)"
    )
    subprocess.run([sys.executable, "-c", later], cwd=ROOT, env=env, check=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--print-logins"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # start-up (Django, the worker, the first migration check) takes long on a loaded machine
        assert wait_until(lambda: httpx.get(f"{base}/healthz").status_code == 200, timeout=120)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ok"
        # when another process queues a job into the embedded (SQLite) queue
        enqueue = (
            "import django; django.setup(); "
            "from miniops.core.tasks import heartbeat_now; heartbeat_now()"
        )
        subprocess.run([sys.executable, "-c", enqueue], cwd=ROOT, env=env, check=True)
        # then the worker inside the server consumes it
        assert wait_until(
            lambda: httpx.get(f"{base}/readyz").json()["worker_last_seen_seconds_ago"] is not None
        ), "the in-process worker never ran the queued job"
        time.sleep(1.0)  # whatever the server would print after that
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    # the banner comes after the server's and the worker's start-up lines, and the
    # logins table ends it: nothing follows in normal operation
    assert output.index("Uvicorn running on") < output.index("miniops is running"), output
    assert output.index("background worker running in-process") < output.index(
        "miniops is running"
    ), output
    after = output[output.index("miniops is running") :]
    assert f"console   {base}/console/" in after
    assert "background worker in this process" in after
    table = after[after.index("console logins") :]
    assert "Super admin" in table
    assert "TOTP key" in table
    assert '"code": "demo-1"' in table
    shutdown = table.find("Shutting down")  # uvicorn's own lines on terminate
    quiet = table if shutdown == -1 else table[: table.rfind("\n", 0, shutdown)]
    assert quiet.rstrip().splitlines()[-1].strip().startswith("(demo-1 "), quiet
    # Huey's chatter is gone, its warnings and errors would not be
    assert "Added task" not in output
    assert "The following commands are available" not in output
    assert "Executing miniops" not in output
    assert "Traceback" not in output


def test_the_banner_waits_for_the_first_answer_and_prints_once() -> None:
    import http.server
    import io
    import threading

    from django.core.management.base import OutputWrapper

    from miniops.core.management.commands.serve import announce_when_up

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    # nothing listens yet: no banner within the time allowed
    port = free_port()
    out = io.StringIO()
    assert not announce_when_up(
        f"http://127.0.0.1:{port}/healthz", ["hello"], OutputWrapper(out), timeout=0.6
    )
    assert out.getvalue() == ""
    # a server that starts while we wait: the banner follows its first answer
    server = http.server.HTTPServer(("127.0.0.1", port), Health)
    starter = threading.Timer(0.5, server.serve_forever)
    starter.start()
    try:
        lines = ["miniops is running", "  logins"]
        assert announce_when_up(f"http://127.0.0.1:{port}/healthz", lines, OutputWrapper(out))
    finally:
        server.shutdown()
        starter.join()
        server.server_close()
    assert out.getvalue() == "miniops is running\n  logins\n"
