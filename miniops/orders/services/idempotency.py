"""``Idempotency-Key`` for writes a client may retry (placing an order, a flash
purchase, a group order, claiming a coupon, redeeming points).

The API layer calls ``run`` with the work to do and the request's key and body;
services know nothing of it.

The first request with a key runs; its answer (success or refusal) is stored with
a hash of the request. A replay with the same body gets that answer again; the
same key with a different body is refused (422); a replay while the first is
still running is refused (409). ``run`` claims the record in its own committed
transaction before the work starts, so concurrent replays see it.

``run_atomic`` is the one-commit variant for work whose every effect is in the
database transaction (publishing a post): the claim is a ``cache.add`` (Redis),
and the record is written with its answer in the work's own transaction, so a
request costs one commit instead of three. The record's unique key stays the
guard: if two requests with one key both run (the cache lost the claim), the
second's INSERT waits for the first's commit, fails, and its whole transaction
rolls back; it then answers what the first stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import nullcontext, suppress
from datetime import timedelta
from typing import Any

import orjson
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core.errors import Conflict, DomainError, InvalidInput, Unprocessable
from miniops.core.responses import error_body
from miniops.orders.models import IdempotencyRecord

KEY_MAX = 128
#: an in-progress claim older than this is treated as abandoned (crashed worker)
STALE_AFTER = timedelta(minutes=2)
#: answers are kept this long for retries, then purged
KEEP_FOR = timedelta(hours=24)


def request_hash(payload: Any) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def run(
    *,
    member_id: int,
    scope: str,
    key: str | None,
    payload: Any,
    work: Callable[[], tuple[int, Any]],
    required: bool = True,
) -> tuple[int, bytes]:
    """Run ``work`` once per key; returns (status, JSON body). With
    ``required=False`` a request without a key simply runs (a write that is safe
    to repeat anyway, like claiming a coupon, accepts a key without needing one)."""
    if not key and not required:
        status, body = work()
        return status, orjson.dumps(body, default=str)
    key = _check_key(key)
    digest = request_hash(payload)
    record = _claim(member_id=member_id, scope=scope, key=key, digest=digest)
    if not record.in_progress:
        return int(record.response_status or 200), bytes(record.response_body or b"{}")
    try:
        # The work and the stored answer commit together: if the process dies
        # before the commit, neither exists, and the stale claim is retried.
        with transaction.atomic():
            status, body = work()
            raw = orjson.dumps(body, default=str)
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                in_progress=False, response_status=status, response_body=raw
            )
        return status, raw
    except DomainError as exc:
        if exc.status >= 500:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()  # let the client retry
            raise
        raw = orjson.dumps(error_body(exc.code, exc.message, exc.fields))
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            in_progress=False, response_status=exc.status, response_body=raw
        )
        return exc.status, raw
    except Exception:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        raise


def _check_key(key: str | None) -> str:
    if not key:
        raise InvalidInput(
            _("Send an Idempotency-Key header (a UUID) so a retry cannot create a second order."),
            code="idempotency_key_required",
            fields={"Idempotency-Key": _("required")},
        )
    if len(key) > KEY_MAX or not key.isprintable():
        raise InvalidInput(
            fields={"Idempotency-Key": _("At most %d printable characters.") % KEY_MAX}
        )
    return key


def _reused() -> Unprocessable:
    return Unprocessable(
        _("This Idempotency-Key was used for a different request."),
        code="idempotency_key_reused",
    )


def _running() -> Conflict:
    return Conflict(
        _("The first request with this Idempotency-Key is still running."),
        code="request_in_progress",
    )


class _Duplicate(Exception):
    """Another request with the same key committed its record first."""


def _claim_key(member_id: int, scope: str, key: str) -> str:
    return "idem:" + hashlib.sha256(f"{member_id}\0{scope}\0{key}".encode()).hexdigest()


def run_atomic(
    *,
    member_id: int,
    scope: str,
    key: str | None,
    payload: Any,
    work: Callable[[], tuple[int, Any]],
) -> tuple[int, bytes]:
    """``run`` in one commit, for ``work`` with no effect outside the database
    transaction (no Redis counters, no calls out; after-commit callbacks are
    fine). Same answers as ``run``: a replay gets the stored answer, another body
    422, a replay while the first runs 409."""
    key = _check_key(key)
    digest = request_hash(payload)
    claim = _claim_key(member_id, scope, key)
    try:
        claimed = bool(cache.add(claim, digest, timeout=int(STALE_AFTER.total_seconds())))
    except Exception:  # the cache is down: the record's unique key still guards
        claimed = True
    if not claimed:
        return _replay(member_id=member_id, scope=scope, key=key, digest=digest, claim=claim)
    fields = {"member_id": member_id, "scope": scope, "key": key, "request_hash": digest}
    try:
        with transaction.atomic():
            status, body = work()
            raw = orjson.dumps(body, default=str)
            try:
                IdempotencyRecord.objects.create(
                    **fields, in_progress=False, response_status=status, response_body=raw
                )
            except IntegrityError as exc:
                raise _Duplicate from exc
        return status, raw
    except _Duplicate:
        return _replay(member_id=member_id, scope=scope, key=key, digest=digest)
    except DomainError as exc:
        if exc.status >= 500:
            _release(claim)  # let the client retry
            raise
        raw = orjson.dumps(error_body(exc.code, exc.message, exc.fields))
        try:
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                IdempotencyRecord.objects.create(
                    **fields, in_progress=False, response_status=exc.status, response_body=raw
                )
        except IntegrityError:
            return _replay(member_id=member_id, scope=scope, key=key, digest=digest)
        return exc.status, raw
    except Exception:
        _release(claim)
        raise


def _release(claim: str) -> None:
    with suppress(Exception):  # the claim expires by itself
        cache.delete(claim)


def _replay(
    *, member_id: int, scope: str, key: str, digest: str, claim: str | None = None
) -> tuple[int, bytes]:
    """The stored answer for a key already claimed (``run_atomic``)."""
    record = IdempotencyRecord.objects.filter(member_id=member_id, scope=scope, key=key).first()
    if record is None:
        # claimed, not committed yet: the first request is still running
        if claim is not None and cache.get(claim) not in (None, digest):
            raise _reused()
        raise _running()
    if record.request_hash != digest:
        raise _reused()
    if record.in_progress:  # a claim of ``run``'s (same rules)
        if record.created_at < timezone.now() - STALE_AFTER:
            IdempotencyRecord.objects.filter(pk=record.pk, in_progress=True).delete()
            raise Conflict(_("Try again."), code="request_in_progress")
        raise _running()
    return int(record.response_status or 200), bytes(record.response_body or b"{}")


def _claim(*, member_id: int, scope: str, key: str, digest: str) -> IdempotencyRecord:
    for _attempt in range(2):
        try:
            # One INSERT commits on its own in autocommit; inside a caller's
            # transaction it needs a savepoint so a duplicate does not poison it.
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                return IdempotencyRecord.objects.create(
                    member_id=member_id, scope=scope, key=key, request_hash=digest
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(
                member_id=member_id, scope=scope, key=key
            ).first()
            if existing is None:
                continue  # it was just released; try again
            if existing.request_hash != digest:
                raise _reused() from None
            if existing.in_progress:
                if existing.created_at < timezone.now() - STALE_AFTER:
                    IdempotencyRecord.objects.filter(pk=existing.pk, in_progress=True).delete()
                    continue
                raise _running() from None
            return existing
    raise Conflict(_("Try again."), code="request_in_progress")


def purge_expired() -> int:
    """Forget answers older than ``KEEP_FOR``; returns how many were removed."""
    deleted, _rows = IdempotencyRecord.objects.filter(
        created_at__lt=timezone.now() - KEEP_FOR
    ).delete()
    return deleted
