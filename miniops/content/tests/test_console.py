"""The console: the review queue driven by its POST steps, bulk decisions, the
lexicon's pages (add through the service, import, export, test), the widget."""

from __future__ import annotations

import io

import pytest
from auditlog.models import LogEntry
from django.core.cache import cache

from miniops.content.models import CaseStatus, Decision, LexiconEntry, ModerationCase, Post, Status
from miniops.content.services import lexicon
from miniops.content.tests import factories as content_factories
from miniops.content.tests.helpers import create_post, word, writer

pytestmark = pytest.mark.django_db
QUEUE = "/console/content/queue/"


def pending(n: int) -> list[int]:
    word("敏感")
    _me, client = writer()
    return [
        create_post(client, f"第{i}条敏感内容的帖子，需要人工审核").json()["id"] for i in range(n)
    ]


def test_a_reviewer_works_the_queue_with_post_steps(console_as):
    ids = pending(3)
    reviewer = console_as("content_reviewer")
    page = reviewer.get(QUEUE)
    assert page.status_code == 200
    assert b"start" in page.content
    assert (
        ModerationCase.objects.filter(claimed_by__isnull=False).count() == 0
    )  # GET claims nothing
    reviewer.post(QUEUE, {"step": "next"})
    held = ModerationCase.objects.get(claimed_by=reviewer.operator)
    reviewer.post(QUEUE, {"step": "approve", "case": held.pk})
    assert Post.objects.get(pk=held.object_id).status == Status.PUBLISHED
    second = ModerationCase.objects.get(claimed_by=reviewer.operator, status=CaseStatus.OPEN)
    reviewer.post(QUEUE, {"step": "reject", "case": second.pk, "reason": "ads"})
    assert Post.objects.get(pk=second.object_id).status == Status.REJECTED
    reviewer.post(QUEUE, {"step": "undo"})
    assert Post.objects.get(pk=second.object_id).status == Status.PENDING
    assert Decision.objects.filter(action="undo").count() == 1
    assert LogEntry.objects.filter(additional_data__decision="reject").exists()
    assert len(ids) == 3


def test_an_analyst_cannot_open_the_queue(console_as):
    pending(1)
    analyst = console_as("analyst")
    assert analyst.get(QUEUE).status_code == 403
    assert analyst.post(QUEUE, {"step": "next"}).status_code == 403


def test_bulk_reject_asks_for_a_reason_and_decides_each(console_as):
    ids = pending(2)
    reviewer = console_as("content_reviewer")
    cases = list(ModerationCase.objects.values_list("pk", flat=True))
    url = "/console/content/moderationcase/"
    data = {"action": "reject_selected", "_selected_action": cases, "index": 0}
    assert reviewer.post(url, data).status_code == 200  # the confirmation page
    reviewer.post(url, {**data, "_confirmed": "yes", "reason": "spam"})
    assert set(Post.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Status.REJECTED
    }


def test_lexicon_entries_through_the_console_are_in_force_at_once(console_as):
    manager = console_as("ops_manager")
    response = manager.post(
        "/console/content/lexiconentry/add/",
        {"term": "违禁品", "category": "custom", "action": "block", "note": "", "is_active": "on"},
    )
    assert response.status_code == 302, response.content[:500]
    assert LexiconEntry.objects.get().normalized == "违禁品"
    # the version moved after commit; this process sees it within its memo
    from miniops.core import localcache

    localcache.forget(lexicon.VERSION_KEY)
    assert lexicon.screen("卖違禁品啦").verdict == "block"
    test_page = manager.get("/console/content/lexicon/test/", {"text": "卖违 禁 品"})
    assert b"block" in test_page.content


def test_lexicon_import_and_export(console_as):
    manager = console_as("ops_manager")
    data = "term,category,action,note\n刷单,ads,review,\n赌球,gambling,block,x\n".encode()
    upload = io.BytesIO(data)
    upload.name = "lexicon.csv"
    response = manager.post("/console/content/lexicon/import/", {"file": upload})
    assert response.status_code == 200
    assert b"2" in response.content
    assert LexiconEntry.objects.count() == 2
    exported = manager.get("/console/content/lexicon/import/", {"export": "csv"})
    assert exported.status_code == 200
    body = b"".join(exported.streaming_content).decode("utf-8-sig")
    assert "赌球,gambling,block,x" in body
    bad = io.BytesIO(b"\xff\xfe")
    bad.name = "bad.csv"
    assert manager.post("/console/content/lexicon/import/", {"file": bad}).status_code == 400


def test_operators_cannot_add_or_change_reviews(console_as):
    review = content_factories.review()
    boss = console_as("super_admin")
    assert boss.get("/console/content/review/add/").status_code == 403
    before = review.text
    boss.post(f"/console/content/review/{review.pk}/change/", {"text": "假好评", "rating": 5})
    review.refresh_from_db()
    assert review.text == before


def test_the_dashboard_shows_the_queue(console_as):
    pending(2)
    reviewer = console_as("content_reviewer")
    home = reviewer.get("/console/")
    assert b"content-queue-widget" in home.content
    cache.clear()
