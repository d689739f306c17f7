"""Build the demo shop: every app's ``demo.py`` seeds its part, in app order.

Each app may define ``demo.seed(*, progress, reset)`` and an estimate of work in
``demo.STEPS``; the command shows one progress bar for the whole run. Seeding is
idempotent: a part that is already there is skipped; ``--reset`` first calls
every ``demo.clear()`` in reverse app order, then seeds again.
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm


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
        started = time.monotonic()
        bar_output = sys.stderr
        with tqdm(
            total=total,
            desc="demo data",
            unit="step",
            disable=options["quiet_bar"],
            file=bar_output,
        ) as bar:
            for module in modules:
                bar.set_postfix_str(module.__name__.split(".")[1])
                module.seed(progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(f"demo data ready in {time.monotonic() - started:.1f}s")
        )
