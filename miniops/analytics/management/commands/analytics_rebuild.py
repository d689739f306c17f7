"""Rebuild analytics rollups for a range of days, and optionally the lake."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from miniops.analytics import lake, rollups
from miniops.core.timeutils import local_date


class Command(BaseCommand):
    help = "Rebuild rollups for [--from, --to] (default: the last 90 days); --lake re-exports."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--from", dest="first", type=date.fromisoformat)
        parser.add_argument("--to", dest="last", type=date.fromisoformat)
        parser.add_argument("--lake", action="store_true", help="re-export the event lake")

    def handle(self, *args: Any, **options: Any) -> None:
        last = options["last"] or local_date()
        first = options["first"] or last - timedelta(days=89)
        if last < first:
            raise CommandError("--to is before --from")
        count = rollups.rebuild_range(first, last)
        self.stdout.write(f"rebuilt {count} days")
        if options["lake"]:
            lake.reset()
            exported = lake.export()
            self.stdout.write(f"exported {exported} events to the lake")
