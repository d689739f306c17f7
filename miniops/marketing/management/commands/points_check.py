"""Compare every member's cached points balance with the sum of their ledger."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from miniops.marketing.services import points


class Command(BaseCommand):
    help = (
        "Check cached points balances against the append-only ledger; --fix writes the "
        "ledger's figure. Exits 1 when drift was found and not fixed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--fix", action="store_true", help="correct the cached balances")

    def handle(self, *args: Any, **options: Any) -> None:
        wrong = points.check_balances(fix=options["fix"])
        for member_id, cached, ledger in wrong:
            self.stdout.write(f"member {member_id}: cached {cached}, ledger {ledger}")
        if not wrong:
            self.stdout.write("every balance matches its ledger")
        elif options["fix"]:
            self.stdout.write(f"fixed {len(wrong)} balance(s)")
        else:
            raise CommandError(f"{len(wrong)} balance(s) differ from the ledger (run with --fix)")
