"""Conditional, atomic updates: the guard against overselling and double spending.

``UPDATE t SET f = f + delta WHERE id = ? AND f + delta >= floor RETURNING f`` runs
as one statement: concurrent callers cannot both pass the check. Works on
PostgreSQL and SQLite (3.35+).
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models


def add_if_at_least(
    model: type[models.Model], pk: Any, field: str, delta: int, *, floor: int = 0
) -> int | None:
    """Add ``delta`` to ``field`` of row ``pk`` unless the result would fall below
    ``floor``. Returns the new value, or ``None`` when refused (or no such row)."""
    table = connection.ops.quote_name(model._meta.db_table)
    meta: Any = model._meta
    column = connection.ops.quote_name(meta.get_field(field).column)
    pk_column = connection.ops.quote_name(meta.pk.column)
    sql = (
        f"UPDATE {table} SET {column} = {column} + %s "  # noqa: S608 - identifiers quoted, values bound
        f"WHERE {pk_column} = %s AND {column} + %s >= %s RETURNING {column}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [delta, pk, delta, floor])
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def attach_prefetched(instance: models.Model, name: str, objects: list[Any]) -> None:
    """Make ``instance.<name>.all()`` answer ``objects`` without a query, as
    ``prefetch_related`` would: for rows the caller has just created itself."""
    queryset = getattr(instance, name).all()
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
    cache: dict[str, Any] = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[name] = queryset


def deletable(instance: models.Model) -> bool:
    """Could ``instance`` be deleted, or do protected rows (an order's item, an
    issued coupon) still point at it? The console hides a delete button that the
    database would refuse."""
    from django.db import router
    from django.db.models.deletion import Collector, ProtectedError, RestrictedError

    collector = Collector(using=router.db_for_write(type(instance), instance=instance))
    try:
        collector.collect([instance])
    except (ProtectedError, RestrictedError):
        return False
    return True
