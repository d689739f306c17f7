"""Automatic assignment under concurrency (PostgreSQL: SKIP LOCKED and
conditional updates): 100 waiting conversations, 10 agents, 8 assigners at once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from miniops.support import services
from miniops.support.models import AgentStatus, Conversation, ConversationState, Handoff
from miniops.support.tests.helpers import agent, queue
from miniops.testing import factories

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrency needs PostgreSQL row locks"
    ),
]


def test_parallel_assigners_respect_capacity_and_assign_each_conversation_once() -> None:
    queue()
    agents = [agent(capacity=8, online=False) for _ in range(10)]
    for _ in range(100):
        services.open_conversation(member=factories.member())
    AgentStatus.objects.update(state="online")
    barrier = threading.Barrier(8)
    results: list[list[tuple[int, int]]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(services.assign_waiting())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assigned = [pair for batch in results for pair in batch]
    # none twice
    per_conversation = Counter(conv for conv, _agent in assigned)
    assert all(n == 1 for n in per_conversation.values())
    assert Handoff.objects.filter(kind="assigned").count() == len(assigned) == 80
    # capacity respected, loads match the rows
    per_agent = Counter(
        Conversation.objects.filter(state=ConversationState.OPEN).values_list(
            "assignee_id", flat=True
        )
    )
    assert set(per_agent) == {a.pk for a in agents}
    assert max(per_agent.values()) <= 8
    for status in AgentStatus.objects.all():
        assert status.load == per_agent[status.operator_id] <= status.capacity
    assert Conversation.objects.filter(state=ConversationState.WAITING).count() == 20
