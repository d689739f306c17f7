"""Ledger rows for automated effects: exactly once, even after a crash.

Every automated effect — a push delivery, a referral reward, a moderation
decision, an SLA event — is a row with a unique ``key`` (what makes it
idempotent), an explicit ``state`` and a ``reason`` code. Workers *claim* rows
before acting on them, so two workers never act on the same row:

* on PostgreSQL, ``SELECT … FOR UPDATE SKIP LOCKED`` picks rows no other worker
  holds, then one UPDATE marks them claimed with this claim's token;
* on SQLite (one writer at a time), one conditional
  ``UPDATE … WHERE state = 'queued'`` claims them; a row someone else claimed first
  no longer matches.

A claim carries a lease. A worker that dies leaves its rows ``claimed`` with an
expired lease; ``recover_expired`` puts them back in the queue when acting twice
is harmless (``retry_safe=True``), or marks them ``doubt`` when the effect may
already have happened outside (a message that may have reached WeChat): the app
then checks, instead of repeating it blindly. A worker that lost its lease cannot
overwrite the row: ``finish`` and ``retry`` only touch rows it still holds.

States::

    queued ──claim──▶ claimed ──finish──▶ done | failed | skipped
       ▲                 │
       └──retry (later)──┘   claimed ──lease expired──▶ queued (retry_safe) | doubt
    queued ──cancel──▶ cancelled

An app defines its row by subclassing ``LedgerEntry`` and adding its own columns
(the member, the campaign, the payload; a ``Meta`` of its own inherits
``LedgerEntry.Meta`` to keep the claim index); its services enqueue rows and its
Huey tasks call ``process`` with a handler.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger("miniops.ledger")


class LedgerState(models.TextChoices):
    QUEUED = "queued", _("queued")
    CLAIMED = "claimed", _("in progress")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")
    SKIPPED = "skipped", _("skipped")
    DOUBT = "doubt", _("to be checked")
    CANCELLED = "cancelled", _("cancelled")


FINAL_STATES = frozenset(
    {LedgerState.DONE, LedgerState.FAILED, LedgerState.SKIPPED, LedgerState.CANCELLED}
)


class LedgerEntry(models.Model):
    """Base of every ledger row. Subclasses add what the effect is about and, when
    the key is made of columns, may keep ``key`` as their readable composition."""

    key = models.CharField(_("key"), max_length=200, unique=True)
    state = models.CharField(
        _("state"), max_length=12, choices=LedgerState.choices, default=LedgerState.QUEUED
    )
    #: A short code saying why the row is in its state ("sent", "no_consent",
    #: "quiet_hours", "busy"...): what operators filter on.
    reason = models.CharField(_("reason"), max_length=64, blank=True, default="")
    #: Free text for people: the last error message, the field WeChat refused.
    detail = models.TextField(_("detail"), blank=True, default="")
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    due_at = models.DateTimeField(_("due at"), default=timezone.now)
    claim = models.CharField(max_length=32, blank=True, default="", editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        abstract = True
        indexes = [models.Index(fields=["state", "due_at"])]


Row = TypeVar("Row", bound=LedgerEntry)


# --- writing rows -------------------------------------------------------------------------
def enqueue(model: type[Row], *, key: str, due_at: datetime | None = None, **fields: Any) -> Row:
    """The row for ``key``, created queued if it does not exist yet. Enqueuing the
    same key twice (a retried request, two triggers at once) gives the same row."""
    try:
        with transaction.atomic():
            return model._default_manager.create(key=key, due_at=due_at or timezone.now(), **fields)
    except IntegrityError:
        return model._default_manager.get(key=key)


def enqueue_many(model: type[Row], rows: Iterable[Row], *, batch_size: int = 1000) -> int:
    """Insert unsaved rows in bulk, skipping keys that exist; returns how many were
    new. PostgreSQL: ``COPY`` and one ``INSERT … SELECT`` (``_copy_in``);
    elsewhere ``bulk_create`` with ``ignore_conflicts``, counted before and after
    (it cannot say)."""
    pending = list(rows)
    if not pending:
        return 0
    if connection.vendor == "postgresql":
        return _copy_in(model, pending)
    keys = [row.key for row in pending]

    def existing() -> int:  # in slices: SQLite takes at most 32,766 parameters
        manager = model._default_manager
        return sum(
            manager.filter(key__in=keys[i : i + 5000]).count() for i in range(0, len(keys), 5000)
        )

    before = existing()
    model._default_manager.bulk_create(pending, batch_size=batch_size, ignore_conflicts=True)
    return existing() - before


def _copy_in(model: type[Row], rows: list[Row]) -> int:
    """PostgreSQL: the rows by ``COPY`` into a temporary table, then one
    ``INSERT … SELECT … ON CONFLICT DO NOTHING`` — its row count is how many were
    new. A 100,000-member campaign is planned in two statements."""
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.db_returning)]
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.ledger_incoming")
        cursor.execute(
            f"CREATE TEMPORARY TABLE ledger_incoming ON COMMIT DROP AS "  # noqa: S608 - identifiers from models
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY ledger_incoming ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
                )
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM ledger_incoming "  # noqa: S608 - identifiers from models
            f"ON CONFLICT DO NOTHING"
        )
        return int(cursor.rowcount)


def cancel(queryset: QuerySet[Any], *, reason: str) -> int:
    """Cancel rows not yet claimed (a paused or cancelled campaign)."""
    return queryset.filter(state=LedgerState.QUEUED).update(
        state=LedgerState.CANCELLED, reason=reason, finished_at=timezone.now()
    )


# --- claiming -----------------------------------------------------------------------------
def claim(
    queryset: QuerySet[Row],
    *,
    limit: int = 100,
    lease: timedelta = timedelta(minutes=2),
    now: datetime | None = None,
) -> list[Row]:
    """Claim up to ``limit`` due, queued rows of ``queryset`` (oldest due first) for
    this caller. Rows another worker holds are skipped, never waited for."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    model = queryset.model
    due = queryset.filter(state=LedgerState.QUEUED, due_at__lte=now).order_by("due_at", "pk")
    values = {
        "state": LedgerState.CLAIMED,
        "claim": token,
        "lease_until": now + lease,
        "attempts": F("attempts") + 1,
        "updated_at": now,
    }
    if connection.vendor == "postgresql":
        with transaction.atomic():
            ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
            if ids:
                model._default_manager.filter(pk__in=ids).update(**values)
    else:
        # One statement: SQLite runs it under its single write lock, and the state
        # condition leaves out whatever another claim took since the read.
        ids = list(due.values_list("pk", flat=True)[:limit])
        if ids:
            model._default_manager.filter(pk__in=ids, state=LedgerState.QUEUED).update(**values)
    if not ids:
        return []
    held = model._default_manager.filter(claim=token, state=LedgerState.CLAIMED)
    return list(held.order_by("due_at", "pk"))


def _held(row: LedgerEntry) -> QuerySet[Any]:
    return type(row)._default_manager.filter(pk=row.pk, state=LedgerState.CLAIMED, claim=row.claim)


def finish(
    row: LedgerEntry,
    *,
    state: str = LedgerState.DONE,
    reason: str = "",
    detail: str = "",
    **fields: Any,
) -> bool:
    """Record the outcome of a claimed row. False when the claim was lost (the lease
    expired and the row was recovered): the caller must not report success."""
    if state not in FINAL_STATES and state != LedgerState.DOUBT:
        raise ValueError(f"finish() needs a final state, not {state!r}")
    now = timezone.now()
    updated = _held(row).update(
        state=state,
        reason=reason,
        detail=detail[:2000],
        finished_at=now,
        updated_at=now,
        lease_until=None,
        **fields,
    )
    if updated:
        row.state, row.reason, row.detail, row.finished_at = state, reason, detail[:2000], now
    return bool(updated)


def finish_many(
    rows: list[Row],
    *,
    state: str = LedgerState.DONE,
    reason: str = "",
    detail: str = "",
    fields: dict[str, Any] | None = None,
    per_row: dict[int, dict[str, Any]] | None = None,
) -> int:
    """``finish`` for many rows of one claim in one UPDATE: the same state and
    reason; ``fields`` more columns set alike, ``per_row`` columns that differ
    (``{pk: {"msgid": …}}``; a row without an entry keeps its value). Returns how
    many were still held (the others' claims were lost and are left alone)."""
    if not rows:
        return 0
    if state not in FINAL_STATES and state != LedgerState.DOUBT:
        raise ValueError(f"finish_many() needs a final state, not {state!r}")
    model = type(rows[0])
    tokens = {row.claim for row in rows}
    now = timezone.now()
    values: dict[str, Any] = {
        "state": state,
        "reason": reason,
        "detail": detail[:2000],
        "finished_at": now,
        "updated_at": now,
        "lease_until": None,
        **(fields or {}),
    }
    names = sorted({name for cols in (per_row or {}).values() for name in cols})
    for name in names:
        column = model._meta.get_field(name)
        assert isinstance(column, models.Field)
        values[name] = models.Case(
            *(
                models.When(pk=pk, then=models.Value(cols[name], output_field=column))
                for pk, cols in (per_row or {}).items()
                if name in cols
            ),
            default=F(name),
            output_field=column,
        )
    updated = 0
    for token in tokens:
        ids = [row.pk for row in rows if row.claim == token]
        updated += model._default_manager.filter(
            pk__in=ids, state=LedgerState.CLAIMED, claim=token
        ).update(**values)
    for row in rows:
        row.state, row.reason, row.finished_at = state, reason, now
    return updated


def backoff(attempts: int, *, base: float = 30.0, cap: float = 3600.0) -> timedelta:
    """Exponential back-off with full jitter: a random wait up to base·2^(n-1),
    capped, so retries of a busy platform do not arrive together."""
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    return timedelta(seconds=random.uniform(base / 2, max(base / 2, ceiling)))  # noqa: S311


def retry(
    row: LedgerEntry,
    *,
    reason: str,
    detail: str = "",
    max_attempts: int = 5,
    delay: timedelta | None = None,
) -> bool:
    """Give a claimed row back to the queue for a later attempt, or fail it for good
    after ``max_attempts`` (reason kept). False when the claim was lost."""
    if row.attempts >= max_attempts:
        return finish(row, state=LedgerState.FAILED, reason=reason, detail=detail)
    now = timezone.now()
    due = now + (delay if delay is not None else backoff(row.attempts))
    updated = _held(row).update(
        state=LedgerState.QUEUED,
        reason=reason,
        detail=detail[:2000],
        due_at=due,
        claim="",
        lease_until=None,
        updated_at=now,
    )
    if updated:
        row.state, row.reason, row.due_at = LedgerState.QUEUED, reason, due
    return bool(updated)


def recover_expired(
    queryset: QuerySet[Any], *, retry_safe: bool, now: datetime | None = None
) -> int:
    """Rows whose worker died holding them: back to the queue when acting twice is
    harmless, otherwise ``doubt`` (reason ``lease_expired``) for the app to check."""
    now = now or timezone.now()
    expired = queryset.filter(state=LedgerState.CLAIMED, lease_until__lt=now)
    if retry_safe:
        return expired.update(
            state=LedgerState.QUEUED, claim="", lease_until=None, reason="lease_expired"
        )
    return expired.update(state=LedgerState.DOUBT, reason="lease_expired", updated_at=now)


# --- processing ---------------------------------------------------------------------------
class Retry(Exception):
    """Raised by a handler: try this row again later (busy platform, timeout before
    sending)."""

    def __init__(self, reason: str, detail: str = "", delay: timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason, self.detail, self.delay = reason, detail, delay


class Final(Exception):
    """Raised by a handler: this row will never succeed (no consent, a field the
    platform refuses); ``state`` is failed or skipped."""

    def __init__(self, reason: str, detail: str = "", state: str = LedgerState.FAILED) -> None:
        super().__init__(reason)
        self.reason, self.detail, self.state = reason, detail, state


@dataclass
class Outcome:
    """What a handler returns for a row it completed."""

    reason: str = "done"
    detail: str = ""
    state: str = LedgerState.DONE
    #: more columns of the row to set in the same UPDATE that finishes it
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0


def process(
    queryset: QuerySet[Row],
    handler: Callable[[Row], Outcome | None],
    *,
    limit: int = 100,
    lease: timedelta = timedelta(minutes=2),
    max_attempts: int = 5,
    threads: int = 1,
) -> BatchResult:
    """Claim a batch and run ``handler`` on each row: its ``Outcome`` finishes the
    row, ``Retry`` queues it again with back-off, ``Final`` fails or skips it. Any
    other exception is a bug: the row is retried (and fails after
    ``max_attempts``) with the error logged, and the batch goes on.

    A handler with a ``prepare(rows)`` method is given the whole batch first (to
    load what its rows share in one query). With ``threads`` > 1 the batch is
    dealt out to that many threads, each row to exactly one of them, each thread
    on its own database connection (closed when its share is done): for handlers
    that wait on the network. Only on PostgreSQL outside a transaction — rows
    claimed inside an outer transaction are invisible to other connections, and
    SQLite has one writer — elsewhere the batch runs in this thread."""
    rows = claim(queryset, limit=limit, lease=lease)
    prepare = getattr(handler, "prepare", None)
    if rows and prepare is not None:
        prepare(rows)
    threads = max(1, min(threads, len(rows)))
    if threads > 1 and (connection.vendor != "postgresql" or connection.in_atomic_block):
        threads = 1
    if threads == 1:
        result = BatchResult(claimed=len(rows))
        for row in rows:
            _one(row, handler, max_attempts, result)
        return result
    import threading

    from django.db import connections

    results = [BatchResult() for _ in range(threads)]

    def share(k: int) -> None:
        try:
            for row in rows[k::threads]:
                _one(row, handler, max_attempts, results[k])
        finally:
            connections.close_all()

    pool = [threading.Thread(target=share, args=(k,), daemon=True) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    total = BatchResult(claimed=len(rows))
    for part in results:
        total.done += part.done
        total.retried += part.retried
        total.failed += part.failed
        total.lost += part.lost
    return total


def _one(
    row: Row, handler: Callable[[Row], Outcome | None], max_attempts: int, result: BatchResult
) -> None:
    try:
        outcome = handler(row) or Outcome()
    except Retry as exc:
        kept = retry(
            row,
            reason=exc.reason,
            detail=exc.detail,
            max_attempts=max_attempts,
            delay=exc.delay,
        )
        result.retried += kept
        result.lost += not kept
        return
    except Final as exc:
        kept = finish(row, state=exc.state, reason=exc.reason, detail=exc.detail)
        result.failed += kept
        result.lost += not kept
        return
    except Exception as exc:
        logger.exception("ledger handler failed on %s %s", type(row).__name__, row.pk)
        kept = retry(row, reason="error", detail=repr(exc), max_attempts=max_attempts)
        result.retried += kept
        result.lost += not kept
        return
    kept = finish(
        row, state=outcome.state, reason=outcome.reason, detail=outcome.detail, **outcome.fields
    )
    result.done += kept
    result.lost += not kept


#: Rows still to be acted on (queued or held): for queue-depth figures.
PENDING = Q(state__in=[LedgerState.QUEUED, LedgerState.CLAIMED])
