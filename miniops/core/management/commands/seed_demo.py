"""Build the demo shop: every app's ``demo.py`` seeds its part, in app order.

Each app may define ``demo.seed(*, progress, reset)`` and an estimate of work in
``demo.STEPS``; the command shows one progress bar for the whole run. Seeding is
idempotent: a part that is already there is skipped; ``--reset`` first calls
every ``demo.clear()`` in reverse app order, then seeds again.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from tqdm import tqdm

from miniops.core import events


class Command(BaseCommand):
    help = "Load realistic demo data (operators, shop, members, behaviour)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="rebuild demo data")
        parser.add_argument("--quiet-bar", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run with MINIOPS_ENV=production")
        modules = []
        for config in apps.get_app_configs():
            if not config.name.startswith("miniops."):
                continue
            try:
                modules.append(importlib.import_module(f"{config.name}.demo"))
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.demo":
                    raise
        if options["reset"]:
            # Later apps refer to earlier ones: clear in reverse order.
            for module in reversed(modules):
                clear = getattr(module, "clear", None)
                if clear is not None:
                    clear()
        total = sum(getattr(module, "STEPS", 1) for module in modules)
        # Seeding writes from one thread: server events (track) go straight to the
        # database instead of a background flush thread competing for SQLite.
        settings.MINIOPS_ANALYTICS_FLUSH_SECONDS = 0
        if connection.vendor == "sqlite":
            # A bulk load: a larger page cache for this connection only (the
            # default 2 MB makes every index insert of the event load a page miss).
            # No fsync per commit while seeding (the services commit each order):
            # a crash mid-seed leaves a demo to seed again, nothing of value.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -65536")
                cursor.execute("PRAGMA synchronous = OFF")
        started = time.monotonic()
        timings: list[tuple[str, float, float]] = []
        with (
            tqdm(
                total=total,
                desc="demo data",
                unit="step",
                disable=options["quiet_bar"],
                file=sys.stderr,
            ) as bar,
            _tasks_inline(),
            # The services' own events would be dated now; the analytics demo
            # writes the history's events from the tables, with their real times.
            events.withheld(),
        ):
            for module in modules:
                name = module.__name__.split(".")[1]
                bar.set_postfix_str(name)
                began, cpu = time.monotonic(), time.process_time()
                module.seed(progress=bar.update)
                timings.append((name, time.monotonic() - began, time.process_time() - cpu))
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA synchronous = NORMAL")  # as settings.py opens it
        if options["verbosity"] >= 2:
            for name, seconds, cpu_seconds in timings:
                self.stdout.write(f"  {name:<12} {seconds:6.1f}s (CPU {cpu_seconds:.1f}s)")
        self.stdout.write(
            self.style.SUCCESS(f"demo data ready in {time.monotonic() - started:.1f}s")
        )


@contextmanager
def _tasks_inline() -> Iterator[None]:
    """Background work the services ask for while seeding (a simulated refund's
    notice, for one) runs here, at once: the shop is settled when the command
    ends, and the worker does not start on a queue of the seeder's jobs. Delayed
    jobs (an unpaid order's timeout) are not kept: their sweepers catch them
    (``orders.tasks.sweep_unpaid_orders`` runs every minute)."""
    from huey.contrib.djhuey import HUEY

    before = HUEY.immediate
    huey_log = logging.getLogger("huey")
    level = huey_log.level
    HUEY.immediate = True
    huey_log.setLevel(max(level, logging.WARNING))  # not a line per job it runs
    try:
        yield
    finally:
        HUEY.immediate = before
        huey_log.setLevel(level)
