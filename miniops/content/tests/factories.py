"""Content rows made directly (for the console matrix and page tests)."""

from __future__ import annotations

from typing import Any

from miniops.content.models import (
    Appeal,
    CaseStatus,
    Comment,
    LexiconEntry,
    ModerationCase,
    PlatformCheck,
    Post,
    Report,
    Review,
    Signal,
    Status,
    Topic,
)
from miniops.content.prescreen import normalize
from miniops.testing import factories


def post(**fields: Any) -> Post:
    fields.setdefault("author", factories.member())
    fields.setdefault("text", "一条测试帖子")
    fields.setdefault("status", Status.PUBLISHED)
    return Post.objects.create(**fields)


def comment() -> Comment:
    parent = post()
    return Comment.objects.create(
        post=parent, author=parent.author, text="一条评论", status=Status.PUBLISHED
    )


def review() -> Review:
    order = factories.order(paid=True)
    line = order.items.first()
    return Review.objects.create(
        author=order.member,
        order_item=line,
        product_id=line.product_id,
        rating=5,
        text="很好",
        status=Status.PUBLISHED,
    )


def report() -> Report:
    target = post()
    return Report.objects.create(
        member=factories.member(), kind="post", object_id=target.pk, reason="spam"
    )


def case(**fields: Any) -> ModerationCase:
    target = post(status=Status.PENDING)
    row = ModerationCase.objects.create(
        kind="post", object_id=target.pk, author=target.author, excerpt=target.text, **fields
    )
    Signal.objects.create(
        case=row, source="lexicon", category="ads", suggest="review", label="广告"
    )
    return row


def appeal() -> Appeal:
    row = case(status=CaseStatus.REJECTED)
    return Appeal.objects.create(case=row, member=row.author, text="申诉")


def platform_check() -> PlatformCheck:
    target = post(status=Status.PENDING)
    return PlatformCheck.objects.create(
        key=f"post:{target.pk}:1:text", kind="post", object_id=target.pk, channel="text"
    )


def topic() -> Topic:
    return Topic.objects.create(name=f"话题{Topic.objects.count()}")


def lexicon_entry() -> LexiconEntry:
    term = f"测试词{LexiconEntry.objects.count()}"
    return LexiconEntry.objects.create(term=term, normalized=normalize(term))
