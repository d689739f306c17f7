"""Run the Huey consumer (background and periodic jobs) as its own process."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run the background worker (Huey consumer)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=None, help="worker threads")

    def handle(self, *args: Any, **options: Any) -> None:
        kwargs: dict[str, Any] = {}
        if options["workers"]:
            kwargs["workers"] = options["workers"]
        call_command("run_huey", **kwargs)
