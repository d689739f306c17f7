"""Run the ASGI server (uvicorn); on the embedded default, the worker too."""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.module_loading import import_string


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
        base = f"http://{host}:{port}"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("miniops is starting"))
        self.stdout.write(f"  console   {base}/console/")
        self.stdout.write(f"  API docs  {base}/api/v1/docs")
        self.stdout.write(f"  health    {base}/healthz   readiness {base}/readyz")
        engine = "PostgreSQL" if settings.USING_POSTGRES else "SQLite (var/)"
        cache = "Redis" if settings.REDIS_URL else "local memory"
        self.stdout.write(f"  running on {engine}, cache {cache}, {workers} web worker(s)")
        if options["print_logins"]:
            describe = import_string("miniops.accounts.demo.describe_logins")
            for line in describe():
                self.stdout.write(line)
        self.stdout.write("")

        consumer = None
        if embedded_worker:
            from huey.contrib.djhuey import HUEY

            from miniops.core.worker import start_embedded

            consumer = start_embedded(HUEY, workers=int(settings.HUEY["consumer"]["workers"]))  # type: ignore[index]
            self.stdout.write("  background worker: in-process")
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
