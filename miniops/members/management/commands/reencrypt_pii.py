"""Re-encrypt every stored personal value with the newest key of MINIOPS_FIELD_KEYS.

Key rotation: put the new key first in MINIOPS_FIELD_KEYS (keep the old ones after
it), deploy, run this command, then remove the old keys. Rows already on the
newest key are skipped, each batch commits on its own: the command is safe to
interrupt and to run again.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from tqdm import tqdm

from miniops.core import crypto
from miniops.core.fields import EncryptedTextField
from miniops.members.models import Address, Member

MODELS: list[Any] = [Member, Address]


def encrypted_columns(model: Any) -> list[str]:
    return [str(f.column) for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]


class Command(BaseCommand):
    help = "Re-encrypt personal data with the newest key (resumable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=500)
        parser.add_argument("--quiet-bar", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        total_rotated = 0
        for model in MODELS:
            columns = encrypted_columns(model)
            table = connection.ops.quote_name(model._meta.db_table)
            quoted = [connection.ops.quote_name(c) for c in columns]
            count = model.objects.count()
            last_pk = 0
            with tqdm(
                total=count,
                desc=model._meta.model_name,
                disable=options["quiet_bar"],
                file=sys.stderr,
            ) as bar:
                while True:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(
                            f"SELECT id, {', '.join(quoted)} FROM {table} "  # noqa: S608 - quoted identifiers
                            f"WHERE id > %s ORDER BY id LIMIT %s",
                            [last_pk, options["batch"]],
                        )
                        rows = cursor.fetchall()
                        if not rows:
                            break
                        for pk, *values in rows:
                            updates = {
                                column: crypto.rotate(value)
                                for column, value in zip(quoted, values, strict=True)
                                if value and not crypto.is_current(value)
                            }
                            if updates:
                                assignments = ", ".join(f"{c} = %s" for c in updates)
                                cursor.execute(
                                    f"UPDATE {table} SET {assignments} WHERE id = %s",  # noqa: S608
                                    [*updates.values(), pk],
                                )
                                total_rotated += 1
                        last_pk = rows[-1][0]
                        bar.update(len(rows))
        self.stdout.write(self.style.SUCCESS(f"re-encrypted {total_rotated} row(s)"))
