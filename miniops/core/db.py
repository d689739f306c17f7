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


#: field types whose Python values the database driver takes as they are
_PLAIN_TYPES = {
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "ForeignKey",
    "IntegerField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
    "TextField",
}


def insert_rows(
    model: type[models.Model],
    fields: list[str],
    rows: list[tuple[Any, ...]],
    *,
    batch_size: int = 5000,
) -> int:
    """INSERT ``rows`` (tuples in ``fields`` order; a foreign key by its id) with one
    ``executemany`` per batch; the model's other fields get their defaults. For
    bulk loads (the demo seed) of plain models: ``bulk_create`` compiles every
    value of every instance, which costs more than the insert itself. Like
    ``bulk_create``: no ``save()``, no signals, no ids returned. Refuses fields
    that need a Python conversion (JSON, encrypted, decimal…) except dates and
    times, adapted as Django stores them."""
    meta: Any = model._meta
    chosen = [meta.get_field(name) for name in fields]
    others = [
        f
        for f in meta.concrete_fields
        if f not in chosen and not f.primary_key and f.get_internal_type() != "AutoField"
    ]
    ops = connection.ops
    adapters: list[Any] = []
    for field in [*chosen, *others]:
        kind = field.get_internal_type()
        if kind == "DateTimeField":
            adapters.append(ops.adapt_datetimefield_value)
        elif kind == "DateField":
            adapters.append(ops.adapt_datefield_value)
        elif kind in _PLAIN_TYPES:
            adapters.append(None)
        else:
            raise TypeError(f"insert_rows cannot store {meta.label}.{field.name} ({kind})")
    defaults = tuple(f.get_default() for f in others)
    columns = ", ".join(ops.quote_name(f.column) for f in [*chosen, *others])
    marks = ", ".join(["%s"] * (len(chosen) + len(others)))
    sql = f"INSERT INTO {ops.quote_name(meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608 - identifiers quoted, values bound
    conversions = [(i, adapt) for i, adapt in enumerate(adapters) if adapt is not None]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            values = []
            for row in rows[start : start + batch_size]:
                full = [*row, *defaults]
                for i, adapt in conversions:
                    if full[i] is not None:
                        full[i] = adapt(full[i])
                values.append(full)
            cursor.executemany(sql, values)
    return len(rows)
