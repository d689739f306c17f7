"""The ledger: a row per effect, claimed once, finished once, recovered after a
crash without repeating an effect that may have happened."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, models
from django.utils import timezone

from miniops.core import ledger
from miniops.core.ledger import LedgerEntry, LedgerState


class Effect(LedgerEntry):
    """A test-only ledger: its table is created and dropped by the fixture."""

    target = models.CharField(max_length=20, default="")

    class Meta(LedgerEntry.Meta):
        app_label = "core"


@pytest.fixture
def table() -> Iterator[type[Effect]]:
    with connection.schema_editor() as editor:
        editor.create_model(Effect)
    try:
        yield Effect
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Effect)


pytestmark = pytest.mark.django_db(transaction=True)


def test_enqueue_is_idempotent_by_key(table: type[Effect]) -> None:
    first = ledger.enqueue(table, key="push:1:7", target="a")
    again = ledger.enqueue(table, key="push:1:7", target="b")
    assert again.pk == first.pk
    assert table.objects.get().target == "a"


def test_enqueue_many_counts_only_new_rows(table: type[Effect]) -> None:
    ledger.enqueue(table, key="k1")
    added = ledger.enqueue_many(table, [Effect(key=f"k{i}") for i in range(1, 6)])
    assert added == 4
    assert table.objects.count() == 5


def test_claim_takes_due_rows_oldest_first_and_only_once(table: type[Effect]) -> None:
    now = timezone.now()
    for index in range(5):
        ledger.enqueue(table, key=f"k{index}", due_at=now - timedelta(minutes=index))
    ledger.enqueue(table, key="later", due_at=now + timedelta(hours=1))
    first = ledger.claim(table.objects.all(), limit=3)
    second = ledger.claim(table.objects.all(), limit=10)
    assert [row.key for row in first] == ["k4", "k3", "k2"]
    assert [row.key for row in second] == ["k1", "k0"]
    assert ledger.claim(table.objects.all()) == []
    assert all(row.attempts == 1 for row in first + second)


def test_finish_needs_the_claim_it_was_given(table: type[Effect]) -> None:
    ledger.enqueue(table, key="k")
    (row,) = ledger.claim(table.objects.all(), lease=timedelta(seconds=-1))
    # the lease ran out and the row was recovered and claimed by someone else
    assert ledger.recover_expired(table.objects.all(), retry_safe=True) == 1
    (other,) = ledger.claim(table.objects.all())
    assert ledger.finish(row, reason="sent") is False
    assert ledger.finish(other, reason="sent") is True
    stored = table.objects.get()
    assert (stored.state, stored.reason, stored.attempts) == (LedgerState.DONE, "sent", 2)
    with pytest.raises(ValueError, match="final state"):
        ledger.finish(other, state=LedgerState.QUEUED)


def test_expired_claims_become_doubt_when_the_effect_may_have_happened(
    table: type[Effect],
) -> None:
    ledger.enqueue(table, key="k")
    (row,) = ledger.claim(table.objects.all(), lease=timedelta(seconds=-1))
    assert ledger.recover_expired(table.objects.all(), retry_safe=False) == 1
    stored = table.objects.get()
    assert (stored.state, stored.reason) == (LedgerState.DOUBT, "lease_expired")
    assert ledger.claim(table.objects.all()) == []  # never picked up blindly
    assert ledger.finish(row) is False


def test_live_claims_are_not_recovered(table: type[Effect]) -> None:
    ledger.enqueue(table, key="k")
    ledger.claim(table.objects.all(), lease=timedelta(minutes=5))
    assert ledger.recover_expired(table.objects.all(), retry_safe=True) == 0


def test_process_maps_outcomes_retries_and_failures(table: type[Effect]) -> None:
    for name in ("ok", "busy", "refused", "bug"):
        ledger.enqueue(table, key=name, target=name)

    def handler(row: Effect) -> ledger.Outcome | None:
        if row.target == "busy":
            raise ledger.Retry("busy", delay=timedelta(minutes=1))
        if row.target == "refused":
            raise ledger.Final("no_consent", detail="43101")
        if row.target == "bug":
            raise KeyError("oops")
        return ledger.Outcome(reason="sent")

    result = ledger.process(table.objects.all(), handler, max_attempts=2)
    assert (result.claimed, result.done, result.retried, result.failed) == (4, 1, 2, 1)
    rows = {row.key: row for row in table.objects.all()}
    assert (rows["ok"].state, rows["ok"].reason) == ("done", "sent")
    assert (rows["refused"].state, rows["refused"].detail) == ("failed", "43101")
    assert rows["busy"].state == "queued"
    assert rows["busy"].due_at > timezone.now()
    assert (rows["bug"].state, rows["bug"].reason) == ("queued", "error")
    # the second failure of the bug is final (max_attempts=2)
    table.objects.filter(key="bug").update(due_at=timezone.now())
    ledger.process(table.objects.filter(key="bug"), handler, max_attempts=2)
    assert table.objects.get(key="bug").state == "failed"


def test_retry_backs_off_with_jitter_and_a_cap() -> None:
    waits = [ledger.backoff(n, base=10, cap=100).total_seconds() for n in range(1, 12)]
    assert all(5 <= wait <= 100 for wait in waits)
    assert max(ledger.backoff(10, base=10, cap=100).total_seconds() for _ in range(50)) > 50


def test_cancel_leaves_claimed_and_finished_rows_alone(table: type[Effect]) -> None:
    for index in range(3):
        ledger.enqueue(table, key=f"k{index}")
    (held,) = ledger.claim(table.objects.all(), limit=1)
    assert ledger.cancel(table.objects.all(), reason="campaign_cancelled") == 2
    assert table.objects.get(pk=held.pk).state == LedgerState.CLAIMED
    assert table.objects.filter(ledger.PENDING).count() == 1


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent claims need PostgreSQL")
def test_concurrent_workers_claim_every_row_exactly_once(table: type[Effect]) -> None:
    ledger.enqueue_many(table, [Effect(key=f"k{i}") for i in range(600)])
    barrier = threading.Barrier(6)
    claimed: list[list[int]] = [[] for _ in range(6)]

    def work(index: int) -> None:
        try:
            barrier.wait()
            while rows := ledger.claim(table.objects.all(), limit=25):
                for row in rows:
                    assert ledger.finish(row, reason="sent")
                    claimed[index].append(row.pk)
        finally:
            connection.close()

    connection.close()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    counts = Counter(pk for chunk in claimed for pk in chunk)
    assert len(counts) == 600
    assert set(counts.values()) == {1}
    assert sum(1 for chunk in claimed if chunk) > 1  # the work was actually shared
    assert table.objects.filter(state=LedgerState.DONE).count() == 600


def test_enqueue_many_in_bulk_sets_every_column_and_skips_existing_keys(
    table: type[Effect],
) -> None:
    """PostgreSQL takes them by COPY + INSERT … SELECT, SQLite by bulk_create: the
    same rows either way."""
    ledger.enqueue(table, key="b0", target="old")
    due = timezone.now() + timedelta(minutes=5)
    rows = [Effect(key=f"b{i}", target=f"t{i}", due_at=due) for i in range(300)]
    assert ledger.enqueue_many(table, rows) == 299
    assert ledger.enqueue_many(table, rows) == 0
    assert table.objects.get(key="b0").target == "old"
    row = table.objects.get(key="b7")
    assert (row.target, row.state, row.attempts, row.due_at) == ("t7", "queued", 0, due)
    assert row.created_at is not None
    assert row.updated_at is not None


def test_finish_many_finishes_held_rows_in_one_update(table: type[Effect]) -> None:
    for i in range(4):
        ledger.enqueue(table, key=f"m{i}")
    rows = ledger.claim(table.objects.all(), limit=4)
    # one row lost its claim (recovered and claimed by someone else)
    table.objects.filter(pk=rows[3].pk).update(claim="other")
    kept = ledger.finish_many(
        rows,
        reason="sent",
        fields={"detail": "bulk"},
        per_row={rows[0].pk: {"target": "x0"}, rows[1].pk: {"target": "x1"}},
    )
    assert kept == 3
    got = {r.key: (r.state, r.reason, r.detail, r.target) for r in table.objects.all()}
    assert got["m0"] == ("done", "sent", "bulk", "x0")
    assert got["m1"] == ("done", "sent", "bulk", "x1")
    assert got["m2"] == ("done", "sent", "bulk", "")
    assert got["m3"][0] == "claimed"
    with pytest.raises(ValueError, match="final state"):
        ledger.finish_many(rows, state=LedgerState.QUEUED)
