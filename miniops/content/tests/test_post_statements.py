"""What one ``POST /api/v1/posts`` costs the database, so it cannot creep back
(issue 12 §6: it was 22 statements and three commits). Statements are counted,
never timed."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from miniops.content.models import PlatformCheck, Post
from miniops.content.services import lexicon, publishing
from miniops.content.tests.helpers import post, topic, writer
from miniops.orders.models import IdempotencyRecord

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = "今天收到的连衣裙面料很舒服，颜色和图片一致，尺码偏小一点，建议大家买大一号。"
CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")


def _publish(client: Any, text: str, topics: list[int]) -> Any:
    response = post(
        client,
        "/api/v1/posts",
        {"text": text, "topics": topics},
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.status_code == 201, response.content
    return response


def test_one_post_is_six_statements_and_one_commit(monkeypatch: Any) -> None:
    # given a lexicon, a topic, a signed-in member who has posted before (warm
    # caches: lexicon automaton, content types, topic list), checks not run inline
    monkeypatch.setattr(publishing, "checks_runner", None)
    lexicon.load_seed()
    style = topic()
    _me, client = writer()
    for index in range(2):
        _publish(client, f"{TEXT}{index}", [style.pk])
    # when one more post is published (with a topic and a platform text check)
    with CaptureQueriesContext(connection) as queries:
        response = _publish(client, TEXT, [style.pk])
    # then it is answered from what was written ...
    body = response.json()
    assert body["topics"] == [{"id": style.pk, "name": style.name}]
    assert body["liked"] is False
    assert body["state"]["status"] == "pending"
    assert Post.objects.filter(pk=body["id"], topics=style).exists()
    assert PlatformCheck.objects.filter(object_id=body["id"], channel="text").count() == 1
    assert IdempotencyRecord.objects.filter(response_status=201).count() == 3
    # ... with the member read once and one INSERT per table, nothing read back
    sql = [q["sql"] for q in queries.captured_queries]
    data = [s for s in sql if not s.startswith(CONTROL)]
    assert len(data) <= 6, "\n".join(data)
    assert sum(s.startswith("SELECT") for s in data) <= 1, "\n".join(data)
    for table in (
        "content_post",
        "auditlog_logentry",
        "content_post_topics",
        "content_platformcheck",
        "orders_idempotencyrecord",
    ):
        # (SQLite says INSERT OR IGNORE for a skipped duplicate key)
        inserts = [s for s in data if re.match(rf'INSERT (OR IGNORE )?INTO "{table}"', s)]
        assert len(inserts) == 1, table
    if connection.vendor == "postgresql":
        # the post, its topics, its check, its audit row and the stored answer:
        # one transaction, one commit, no savepoint
        assert sum(s.startswith("COMMIT") for s in sql) == 1, "\n".join(sql)
        assert not [s for s in sql if s.startswith(("SAVEPOINT", "RELEASE"))], "\n".join(sql)
