"""Concurrency on PostgreSQL with real threads: two reviewers claiming one item
(one wins), one member liking a post 100 times at once from 25 threads (one like). Skipped on
SQLite (one writer at a time)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from miniops.content.models import Like, ModerationCase, Post
from miniops.content.services import items, moderation
from miniops.content.tests import factories as content_factories
from miniops.core.errors import Conflict
from miniops.testing import factories

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def race(workers: list[Callable[[threading.Barrier], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(index: int, worker: Callable[[threading.Barrier], Any]) -> None:
        try:
            results[index] = worker(barrier)
        except Exception as exc:
            results[index] = ("error", repr(exc))
        finally:
            connection.close()

    connection.close()
    threads = [
        threading.Thread(target=run, args=(i, w), daemon=True) for i, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_two_reviewers_claiming_one_item_one_wins():
    for _round in range(10):
        case = content_factories.case()
        reviewers = [factories.operator_with_role("content_reviewer") for _ in range(2)]

        def claimer(reviewer: Any, case_id: int) -> Callable[[threading.Barrier], Any]:
            def work(barrier: threading.Barrier) -> Any:
                barrier.wait(timeout=30)
                try:
                    moderation.claim(case_id=case_id, actor=reviewer)
                    return "won"
                except Conflict:
                    return "lost"

            return work

        results = race([claimer(r, case.pk) for r in reviewers])
        assert sorted(results) == ["lost", "won"], results
        winner = reviewers[results.index("won")]
        assert ModerationCase.objects.get(pk=case.pk).claimed_by_id == winner.pk


def test_one_member_liking_100_times_at_once_is_one_like():
    post = content_factories.post()
    fan = factories.member()

    # 100 likes from 25 threads (4 each): PostgreSQL's connections are shared
    def liker(barrier: threading.Barrier) -> Any:
        barrier.wait(timeout=60)
        return [items.like(member=fan, kind="post", object_id=post.pk) for _ in range(4)]

    results = race([liker for _ in range(25)])
    flat = [added for batch in results for added in batch]
    assert len(flat) == 100, results
    assert flat.count(True) == 1
    assert Like.objects.filter(member=fan).count() == 1
    assert Post.objects.get(pk=post.pk).likes_count == 1
