"""Product reviews (buyers of received lines only), reports, the queue's
decisions, undo and appeals by a different reviewer."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from miniops.content.models import (
    Appeal,
    CaseStatus,
    Decision,
    ModerationCase,
    Report,
    Review,
    Status,
)
from miniops.content.services import moderation, reviews
from miniops.content.tests.helpers import create_post, error_of, post, received_line, word, writer
from miniops.core.errors import Conflict, Forbidden
from miniops.marketing.models import PointsEntry
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def review_body(line, **extra):
    return {
        "order_item_id": line.pk,
        "rating": 5,
        "text": "质量很好，穿着很舒服，物流也快，值得购买",
        **extra,
    }


def send_review(client, body):
    return post(client, "/api/v1/reviews", body, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


def test_the_buyer_reviews_a_received_line_once_and_earns_first_review_points():
    buyer, client = writer()
    line = received_line(buyer)
    response = send_review(client, review_body(line, anonymous=True))
    assert response.status_code == 201, response.content
    review = Review.objects.get(pk=response.json()["id"])
    assert review.status == Status.PUBLISHED
    assert PointsEntry.objects.filter(member=buyer, reason=PointsEntry.Reason.REVIEW).count() == 1
    again = send_review(client, review_body(line))
    assert again.status_code == 409
    assert error_of(again)["code"] == "already_reviewed"
    page = client.get(f"/api/v1/products/{line.product_id}/reviews").json()
    assert page["items"][0]["author"]["nickname"] == "匿名用户"
    summary = client.get(f"/api/v1/products/{line.product_id}/reviews/summary").json()
    assert summary["count"] == 1
    assert summary["average"] == 5.0
    assert summary["stars"]["5"] == 1
    follow = post(
        client,
        f"/api/v1/reviews/{review.pk}/follow-up",
        {"text": "用了一个月，依然很好，很满意的一次购物"},
        HTTP_IDEMPOTENCY_KEY="f1",
    )
    assert follow.status_code == 201, follow.content
    second = post(
        client,
        f"/api/v1/reviews/{review.pk}/follow-up",
        {"text": "再追评一次看看行不行呢朋友们"},
        HTTP_IDEMPOTENCY_KEY="f2",
    )
    assert second.status_code == 409


@pytest.mark.parametrize("rating", [0, 6, 2.5, "5", True, None])
def test_ratings_outside_1_to_5_are_refused(rating):
    buyer, client = writer()
    line = received_line(buyer)
    response = send_review(client, review_body(line, rating=rating))
    assert 400 <= response.status_code < 500
    error_of(response)
    assert Review.objects.count() == 0


def test_a_line_that_is_not_yours_or_not_received_cannot_be_reviewed():
    buyer, _client = writer()
    line = received_line(buyer)
    _other, other_client = writer()
    assert send_review(other_client, review_body(line)).status_code == 404
    unpaid = factories.order(buyer=buyer, paid=True)
    client = __import__("miniops.content.tests.helpers", fromlist=["member_client"]).member_client(
        buyer
    )
    response = send_review(client, review_body(unpaid.items.first()))
    assert response.status_code == 409
    assert error_of(response)["code"] == "not_received"


def test_nobody_writes_a_review_as_an_operator():
    buyer, _client = writer()
    line = received_line(buyer)
    boss = factories.operator_with_role("super_admin")
    with pytest.raises(Forbidden):
        reviews.create_review(
            member=boss, order_item_id=line.pk, rating=5, text="好评好评好评好评好评好评"
        )
    assert Review.objects.count() == 0


def test_reports_count_once_per_member_and_open_the_case():
    _author, client = writer()
    pk = create_post(client).json()["id"]
    _reporter, reporter = writer()
    body = {"kind": "post", "object_id": pk, "reason": "spam"}
    assert post(reporter, "/api/v1/reports", body).status_code == 201
    assert post(reporter, "/api/v1/reports", body).status_code == 201
    assert Report.objects.count() == 1
    case = ModerationCase.objects.get(kind="post", object_id=pk)
    assert case.status == CaseStatus.OPEN
    assert case.reports_count == 1
    assert case.trigger == "report"
    assert post(client, "/api/v1/reports", body).status_code == 409  # your own


def pending_post(client):
    word("敏感")
    return create_post(client, "这里有一个敏感词的帖子，要人工审核的哦").json()["id"]


def test_reject_with_a_reason_the_author_sees_then_appeal_by_another_reviewer():
    _author, client = writer()
    pk = pending_post(client)
    case = ModerationCase.objects.get(kind="post", object_id=pk)
    first = factories.operator_with_role("content_reviewer")
    second = factories.operator_with_role("content_reviewer")
    moderation.claim(case_id=case.pk, actor=first)
    with pytest.raises(Conflict):
        moderation.claim(case_id=case.pk, actor=second)
    moderation.decide(case_id=case.pk, action="reject", reason="ads", actor=first)
    mine = client.get("/api/v1/me/posts").json()["items"][0]
    assert mine["state"]["status"] == "rejected"
    assert mine["state"]["reason"] == str(moderation.REASONS["ads"])
    assert mine["state"]["can_appeal"] is True
    response = post(
        client, "/api/v1/appeals", {"kind": "post", "object_id": pk, "text": "这不是广告"}
    )
    assert response.status_code == 201, response.content
    again = post(client, "/api/v1/appeals", {"kind": "post", "object_id": pk, "text": "再申诉"})
    assert again.status_code == 409
    with pytest.raises(Forbidden):
        moderation.decide(case_id=case.pk, action="approve", actor=first)
    assert moderation.claim_next(actor=first) is None  # the appeal is not offered to them
    moderation.decide(case_id=case.pk, action="approve", actor=second)
    assert Appeal.objects.get().state == Appeal.State.OVERTURNED
    assert client.get("/api/v1/me/posts").json()["items"][0]["state"]["status"] == "published"


def test_an_appeal_after_20_days_is_refused():
    _author, client = writer()
    pk = pending_post(client)
    case = ModerationCase.objects.get(kind="post", object_id=pk)
    reviewer = factories.operator_with_role("content_reviewer")
    moderation.decide(case_id=case.pk, action="reject", reason="spam", actor=reviewer)
    ModerationCase.objects.filter(pk=case.pk).update(decided_at=timezone.now() - timedelta(days=21))
    response = post(client, "/api/v1/appeals", {"kind": "post", "object_id": pk, "text": "晚了"})
    assert response.status_code == 409
    assert error_of(response)["code"] == "appeal_too_late"


def test_undo_puts_the_item_back_and_claims_expire():
    _author, client = writer()
    pk = pending_post(client)
    case = ModerationCase.objects.get(kind="post", object_id=pk)
    reviewer = factories.operator_with_role("content_reviewer")
    other = factories.operator_with_role("content_reviewer")
    moderation.decide(case_id=case.pk, action="approve", actor=reviewer)
    assert client.get(f"/api/v1/posts/{pk}").json()["state"]["status"] == "published"
    moderation.undo(actor=reviewer)
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN
    assert case.claimed_by_id == reviewer.pk
    assert client.get("/api/v1/me/posts").json()["items"][0]["state"]["status"] == "pending"
    assert Decision.objects.filter(action="undo").count() == 1
    with pytest.raises(Conflict):
        moderation.claim(case_id=case.pk, actor=other)
    ModerationCase.objects.filter(pk=case.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert moderation.claim(case_id=case.pk, actor=other).claimed_by_id == other.pk


def test_a_reviewer_without_the_permission_is_refused():
    _author, client = writer()
    pk = pending_post(client)
    case = ModerationCase.objects.get(kind="post", object_id=pk)
    analyst = factories.operator_with_role("analyst")
    with pytest.raises(Forbidden):
        moderation.decide(case_id=case.pk, action="approve", actor=analyst)
    with pytest.raises(Forbidden):
        moderation.set_flag(
            kind="post",
            object_id=pk,
            flag="pin",
            actor=factories.operator_with_role("content_reviewer"),
        )
