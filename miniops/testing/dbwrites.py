"""Record the rows a block of code writes, for tests that must prove nothing changed.

Every statement sent through Django's connections is seen (``execute_wrapper``),
so an ORM save, a bulk ``update()``, a raw ``cursor.execute`` and a trigger-free
``DELETE`` are all caught, whatever the table. Bookkeeping that every signed-in
request may do (the session row, the operator's last-seen time) is listed in
``BOOKKEEPING`` with its reason, and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from auditlog.models import LogEntry
from django.db import connections

#: Tables a request may write without changing business data.
BOOKKEEPING: dict[str, str] = {
    "django_session": "the session itself (last-seen time, messages, language)",
    "accounts_operatorsession": "the operator's session list: started and last seen",
}

_WRITE = re.compile(
    r"""^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO|TRUNCATE)\s+
        (?:TABLE\s+)?["`]?(?P<table>[\w.]+)["`]?""",
    re.IGNORECASE | re.VERBOSE,
)


@dataclass
class Writes:
    """What was written inside ``recorded()``: one entry per statement."""

    statements: list[tuple[str, str]] = field(default_factory=list)
    first_log_id: int = 0

    @property
    def tables(self) -> set[str]:
        return {table for table, _sql in self.statements if table not in BOOKKEEPING}

    def new_log_entries(self) -> list[LogEntry]:
        return list(LogEntry.objects.filter(pk__gt=self.first_log_id).order_by("pk"))

    def business_tables(self, *, allow_access_rows: bool = False) -> set[str]:
        """The tables changed, leaving out bookkeeping and, when allowed, audit
        rows that only record a read (ACCESS: a reveal, an export)."""
        tables = self.tables
        only_reads = all(entry.action == LogEntry.Action.ACCESS for entry in self.new_log_entries())
        if allow_access_rows and LogEntry._meta.db_table in tables and only_reads:
            tables = tables - {LogEntry._meta.db_table}
        return tables


@contextmanager
def recorded() -> Iterator[Writes]:
    """``with recorded() as writes: ...`` then ``assert not writes.tables``."""
    writes = Writes(
        first_log_id=LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    )

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        match = _WRITE.match(sql)
        if match:
            writes.statements.append((match.group("table").split(".")[-1], sql[:200]))
        return execute(sql, params, many, context)

    with ExitStack() as stack:
        for connection in connections.all():
            stack.enter_context(connection.execute_wrapper(spy))
        yield writes
