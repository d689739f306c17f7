"""Run the ASGI server (uvicorn); on the embedded default, the worker too.

What a person needs (addresses, and with ``--print-logins`` the demo logins) is
printed once the server answers, so it is the last thing on the screen: the
server's and the worker's start-up lines come before it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import threading
import time
import urllib.request
from typing import Any

import uvicorn
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser, OutputWrapper

#: How long to wait for the first answer before giving up on the banner.
STARTUP_TIMEOUT = 120.0


class Command(BaseCommand):
    help = "Serve miniops over HTTP and WebSocket with uvicorn."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "1")))
        parser.add_argument(
            "--worker",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="run the background worker in this process "
            "(default: yes on the embedded default, no when REDIS_URL is set)",
        )
        parser.add_argument("--print-logins", action="store_true", help="print the demo logins")
        parser.add_argument("--access-log", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port, workers = options["host"], options["port"], max(1, options["workers"])
        embedded_worker = options["worker"]
        if embedded_worker is None:
            embedded_worker = not settings.REDIS_URL
        self.stdout.write(f"miniops is starting on http://{host}:{port} …")
        self.stdout.flush()
        if not settings.PRODUCTION and not settings.PUBLIC_BASE_URL:
            # The API's media addresses must be absolute for a mini-program (in the
            # developer tools, on this machine): this server's own address. The
            # environment carries it to the web workers uvicorn starts.
            os.environ["PUBLIC_BASE_URL"] = settings.PUBLIC_BASE_URL = _own_address(host, port)

        consumer = None
        if embedded_worker:
            from huey.contrib.djhuey import HUEY

            from miniops.core.worker import start_embedded

            consumer = start_embedded(HUEY, workers=int(settings.HUEY["consumer"]["workers"]))  # type: ignore[index]
        lines = banner(
            host=host,
            port=port,
            workers=workers,
            embedded_worker=embedded_worker,
            logins=options["print_logins"],
        )
        threading.Thread(
            target=announce_when_up,
            args=(_probe_url(host, port), lines, self.stdout),
            name="serve-banner",
            daemon=True,
        ).start()
        try:
            uvicorn.run(
                "miniops.asgi:application",
                host=host,
                port=port,
                workers=workers,
                lifespan="off",
                access_log=options["access_log"],
                server_header=False,
                proxy_headers=settings.MINIOPS_PROXY_COUNT > 0,
                forwarded_allow_ips="*" if settings.MINIOPS_PROXY_COUNT > 0 else None,
                log_level=settings.LOG_LEVEL.lower(),
            )
        finally:
            if consumer is not None:
                consumer.stop(graceful=True)


def banner(*, host: str, port: int, workers: int, embedded_worker: bool, logins: bool) -> list[str]:
    base = f"http://{host}:{port}"
    engine = "PostgreSQL" if settings.USING_POSTGRES else "SQLite (var/)"
    cache = "Redis" if settings.REDIS_URL else "local memory"
    worker = "in this process" if embedded_worker else "separate (manage.py worker)"
    lines = [
        "",
        "miniops is running",
        f"  console   {base}/console/",
        f"  API docs  {base}/api/v1/docs",
        f"  health    {base}/healthz   readiness {base}/readyz",
        f"  {engine}, cache {cache}, {workers} web worker(s), background worker {worker}",
    ]
    if logins:
        lines.append("")
        lines.extend(demo_logins())
    lines.append("")
    return lines


def demo_logins() -> list[str]:
    """Every app's ``demo.describe_logins()``, in app order."""
    lines: list[str] = []
    for config in apps.get_app_configs():
        if not config.name.startswith("miniops."):
            continue
        try:
            module = importlib.import_module(f"{config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.demo":
                raise
            continue
        describe = getattr(module, "describe_logins", None)
        if describe is not None:
            lines.extend(describe())
    return lines


def _own_address(host: str, port: int) -> str:
    """``http://host:port`` as a client on this machine reaches it."""
    if host in {"0.0.0.0", "", "::"}:  # noqa: S104 - listening everywhere: ask locally
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _probe_url(host: str, port: int) -> str:
    return f"{_own_address(host, port)}/healthz"


def announce_when_up(
    url: str, lines: list[str], out: OutputWrapper, *, timeout: float = STARTUP_TIMEOUT
) -> bool:
    """Print ``lines`` once ``url`` answers 200 (the server listens and a worker
    serves); nothing if it does not within ``timeout`` (uvicorn said why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own server
                if answer.status == 200:
                    break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        return False
    out.write("\n".join(lines))
    out.flush()
    return True
