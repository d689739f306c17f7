"""Content reads: the feed (newest / hot, by topic, cursor pages), posts and
comments as the API shows them, a member's own items with their review state,
a product's reviews and their summary, queue and reviewer figures."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from miniops.content.models import (
    Appeal,
    CaseStatus,
    Comment,
    Decision,
    Favourite,
    Kind,
    Like,
    ModerationCase,
    Post,
    Review,
    Status,
    Topic,
)
from miniops.content.services.common import active_topics, image_urls, summary_key
from miniops.core import localcache
from miniops.core.pagination import decode_cursor, encode_cursor

PAGE_MAX = 50
ANONYMOUS = "匿名用户"


def _page(
    rows: QuerySet[Any], field: str, kind: str, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    if cursor:
        value, pk = decode_cursor(cursor, kind)
        rows = rows.filter(Q(**{f"{field}__lt": value}) | Q(**{field: value, "pk__lt": pk}))
    items = list(rows.order_by(f"-{field}", "-pk")[: limit + 1])
    more = len(items) > limit
    items = items[:limit]
    nxt = encode_cursor(getattr(items[-1], field), items[-1].pk) if more and items else None
    return items, nxt


# --- shaping ----------------------------------------------------------------------------------
def _author(member: Any, anonymous: bool = False) -> dict[str, Any]:
    if anonymous:
        return {"id": None, "nickname": ANONYMOUS, "avatar": None}
    avatar = getattr(member, "avatar_url", "") or getattr(member, "avatar", "") or None
    return {
        "id": member.pk,
        "nickname": member.nickname or "",
        "avatar": str(avatar) if avatar else None,
    }


def _liked(member_id: int | None, kind: str, ids: list[int]) -> set[int]:
    if not member_id or not ids:
        return set()
    return set(
        Like.objects.filter(member_id=member_id, kind=kind, object_id__in=ids).values_list(
            "object_id", flat=True
        )
    )


def state_of(item: Any) -> dict[str, Any]:
    """The review state as the author sees it."""
    appeal = None
    case = ModerationCase.objects.filter(kind=_kind(item), object_id=item.pk).first()
    if case is not None:
        row = Appeal.objects.filter(case=case).first()
        if row is not None:
            appeal = row.state
    return {
        "status": item.status,
        "reason": item.reject_reason or None,
        "hidden": item.is_hidden,
        "appeal": appeal,
        "can_appeal": item.status == Status.REJECTED and appeal is None and case is not None,
    }


def _kind(item: Any) -> str:
    return {Post: Kind.POST, Comment: Kind.COMMENT, Review: Kind.REVIEW}[type(item)]


def posts_out(
    posts: list[Post], member_id: int | None = None, *, own: bool = False
) -> list[dict[str, Any]]:
    ids = [p.pk for p in posts]
    liked = _liked(member_id, Kind.POST, ids)
    faved = (
        set(
            Favourite.objects.filter(member_id=member_id, post_id__in=ids).values_list(
                "post_id", flat=True
            )
        )
        if member_id
        else set()
    )
    return [
        _post_row(
            post,
            author=post.author,
            topics=[(t.pk, t.name) for t in post.topics.all()],
            liked=post.pk in liked,
            favourited=post.pk in faved,
            state=state_of(post) if own else None,
        )
        for post in posts
    ]


def new_post_out(post: Post, *, author: Any, topic_ids: list[int]) -> dict[str, Any]:
    """The answer for a post ``author`` has just written, from the objects in hand:
    nobody can have liked or favourited it yet, it has no appeal, and its topics'
    names come from the cached topic list."""
    ids = list(dict.fromkeys(topic_ids))
    names = active_topics()
    missing = [pk for pk in ids if pk not in names]
    if missing:  # a topic created a moment ago
        names = {**names, **dict(Topic.objects.filter(pk__in=missing).values_list("pk", "name"))}
    return _post_row(
        post,
        author=author,
        topics=[(pk, names.get(pk, "")) for pk in ids],
        liked=False,
        favourited=False,
        state={
            "status": post.status,
            "reason": post.reject_reason or None,
            "hidden": post.is_hidden,
            "appeal": None,
            "can_appeal": False,  # refused only by a reviewer, later
        },
    )


def _post_row(
    post: Post,
    *,
    author: Any,
    topics: list[tuple[int, str]],
    liked: bool,
    favourited: bool,
    state: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": post.pk,
        "author": _author(author),
        "text": post.text,
        "images": image_urls(post.images),
        "topics": [{"id": pk, "name": name} for pk, name in topics],
        "likes": post.likes_count,
        "comments": post.comments_count,
        "favourites": post.favourites_count,
        "liked": liked,
        "favourited": favourited,
        "pinned": post.is_pinned,
        "featured": post.is_featured,
        "created_at": post.created_at,
        "published_at": post.published_at,
        "state": state,
    }


def visible_posts() -> QuerySet[Post]:
    return Post.objects.filter(status=Status.PUBLISHED, is_hidden=False)


def feed(
    *, topic_id: int | None, sort: str, cursor: str | None, limit: int, member_id: int | None
) -> dict[str, Any]:
    rows = visible_posts().select_related("author").prefetch_related("topics")
    if topic_id is not None:
        rows = rows.filter(topics__id=topic_id)
    field, kind = ("hot_score", "number") if sort == "hot" else ("published_at", "time")
    posts, nxt = _page(rows, field, kind, cursor, limit)
    return {"items": posts_out(posts, member_id), "next_cursor": nxt}


def own_posts(*, member_id: int, cursor: str | None, limit: int) -> dict[str, Any]:
    rows = (
        Post.objects.filter(author_id=member_id)
        .exclude(status=Status.REMOVED)
        .select_related("author")
        .prefetch_related("topics")
    )
    posts, nxt = _page(rows, "created_at", "time", cursor, limit)
    return {"items": posts_out(posts, member_id, own=True), "next_cursor": nxt}


def favourite_posts(*, member_id: int, cursor: str | None, limit: int) -> dict[str, Any]:
    rows = visible_posts().filter(
        pk__in=Favourite.objects.filter(member_id=member_id).values("post_id")
    )
    posts, nxt = _page(
        rows.select_related("author").prefetch_related("topics"),
        "published_at",
        "time",
        cursor,
        limit,
    )
    return {"items": posts_out(posts, member_id), "next_cursor": nxt}


def comments_out(
    comments: list[Comment], member_id: int | None, *, own: bool = False
) -> list[dict[str, Any]]:
    liked = _liked(member_id, Kind.COMMENT, [c.pk for c in comments])
    return [
        {
            "id": c.pk,
            "post_id": c.post_id,
            "parent_id": c.parent_id,
            "author": _author(c.author),
            "text": c.text,
            "likes": c.likes_count,
            "liked": c.pk in liked,
            "created_at": c.created_at,
            "state": state_of(c) if own else None,
            "replies": [],
        }
        for c in comments
    ]


def post_comments(
    *, post_id: int, cursor: str | None, limit: int, member_id: int | None
) -> dict[str, Any]:
    """Top-level comments, newest first, each with its first replies (oldest first)."""
    visible = Comment.objects.filter(post_id=post_id, status=Status.PUBLISHED, is_hidden=False)
    tops, nxt = _page(
        visible.filter(parent__isnull=True).select_related("author"),
        "created_at",
        "time",
        cursor,
        limit,
    )
    items = comments_out(tops, member_id)
    replies = list(
        visible.filter(parent_id__in=[c.pk for c in tops])
        .select_related("author")
        .order_by("created_at", "pk")
    )
    by_parent: dict[int, list[Comment]] = {}
    for reply in replies:
        by_parent.setdefault(reply.parent_id or 0, []).append(reply)
    for item in items:
        item["replies"] = comments_out(by_parent.get(item["id"], [])[:20], member_id)
    return {"items": items, "next_cursor": nxt}


# --- reviews ----------------------------------------------------------------------------------
def review_out(review: Review, *, own: bool = False) -> dict[str, Any]:
    follow = getattr(review, "follow_up", None) if review.follows_id is None else None
    follow_row = None
    if follow is not None and (own or follow.visible):
        follow_row = {
            "id": follow.pk,
            "text": follow.text,
            "images": image_urls(follow.images),
            "created_at": follow.created_at,
            "state": state_of(follow) if own else None,
        }
    return {
        "id": review.pk,
        "product_id": review.product_id,
        "order_item_id": review.order_item_id,
        "author": _author(review.author, review.anonymous),
        "rating": review.rating,
        "text": review.text,
        "images": image_urls(review.images),
        "anonymous": review.anonymous,
        "likes": review.likes_count,
        "created_at": review.created_at,
        "follow_up": follow_row,
        "state": state_of(review) if own else None,
    }


def product_reviews(
    *, product_id: int, only: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    rows = Review.objects.filter(
        product_id=product_id, follows__isnull=True, status=Status.PUBLISHED, is_hidden=False
    ).select_related("author", "follow_up")
    if only == "pictures":
        rows = rows.exclude(images=[])
    elif only == "good":
        rows = rows.filter(rating__gte=4)
    elif only == "bad":
        rows = rows.filter(rating__lte=2)
    reviews, nxt = _page(rows, "created_at", "time", cursor, limit)
    return {"items": [review_out(r) for r in reviews], "next_cursor": nxt}


def review_summary(product_id: int) -> dict[str, Any]:
    def build() -> dict[str, Any]:
        rows = Review.objects.filter(
            product_id=product_id, follows__isnull=True, status=Status.PUBLISHED, is_hidden=False
        )
        stars = dict(rows.values_list("rating").annotate(n=Count("pk")))
        total = sum(stars.values())
        pictures = rows.exclude(images=[]).count()
        average = round(sum(k * v for k, v in stars.items()) / total, 2) if total else None
        good = stars.get(4, 0) + stars.get(5, 0)
        return {
            "product_id": product_id,
            "count": total,
            "average": average,
            "stars": {str(k): stars.get(k, 0) for k in range(1, 6)},
            "with_pictures": pictures,
            "good_rate": round(good / total, 4) if total else None,
        }

    def shared() -> dict[str, Any]:
        value = cache.get(summary_key(product_id))
        if value is None:
            value = build()
            cache.set(summary_key(product_id), value, timeout=300)
        return dict(value)

    return localcache.get_or_load(summary_key(product_id), 2.0, shared)


def own_reviews(*, member_id: int, cursor: str | None, limit: int) -> dict[str, Any]:
    rows = (
        Review.objects.filter(author_id=member_id, follows__isnull=True)
        .exclude(status=Status.REMOVED)
        .select_related("author", "follow_up")
    )
    reviews, nxt = _page(rows, "created_at", "time", cursor, limit)
    return {"items": [review_out(r, own=True) for r in reviews], "next_cursor": nxt}


def reviewable_lines(member_id: int) -> list[dict[str, Any]]:
    """Received order lines the member has not reviewed yet."""
    from miniops.orders.models import OrderItem, OrderStatus

    reviewed = Review.objects.filter(author_id=member_id, follows__isnull=True).values(
        "order_item_id"
    )
    lines = (
        OrderItem.objects.filter(order__member_id=member_id, order__status=OrderStatus.COMPLETED)
        .exclude(pk__in=reviewed)
        .select_related("order")
        .order_by("-order__completed_at", "-pk")[:100]
    )
    return [
        {
            "order_item_id": line.pk,
            "order_id": line.order_id,
            "product_id": line.product_id,
            "title": line.title,
            "spec": line.spec_text,
        }
        for line in lines
    ]


# --- queue and reviewer figures ---------------------------------------------------------------
def queue_stats() -> dict[str, Any]:
    open_cases = ModerationCase.objects.filter(status=CaseStatus.OPEN)
    oldest = open_cases.order_by("opened_at").values_list("opened_at", flat=True).first()
    by_kind = dict(open_cases.values_list("kind").annotate(n=Count("pk")))
    return {
        "open": sum(by_kind.values()),
        "by_kind": by_kind,
        "appeals": open_cases.filter(appeal__state=Appeal.State.OPEN).count(),
        "oldest": oldest,
        "oldest_minutes": int((timezone.now() - oldest).total_seconds() // 60) if oldest else None,
    }


def reviewer_figures(*, days: int = 7) -> list[dict[str, Any]]:
    """Per reviewer over ``days``: decisions, items per active hour, median time in
    queue, and how many of their rejections were overturned on appeal."""
    since = timezone.now() - timedelta(days=days)
    decisions = list(
        Decision.objects.filter(created_at__gte=since, undone=False)
        .exclude(action=Decision.Action.UNDO)
        .select_related("actor")
        .order_by("created_at")
    )
    by_actor: dict[int, list[Decision]] = {}
    for decision in decisions:
        if decision.actor_id:
            by_actor.setdefault(decision.actor_id, []).append(decision)
    overturned = dict(
        Appeal.objects.filter(state=Appeal.State.OVERTURNED, decided_at__gte=since)
        .values_list("first_reviewer")
        .annotate(n=Count("pk"))
    )
    out = []
    for actor_id, rows in by_actor.items():
        # active hours: distinct clock hours with at least one decision
        hours = len({row.created_at.replace(minute=0, second=0, microsecond=0) for row in rows})
        out.append(
            {
                "reviewer": rows[0].actor,
                "decisions": len(rows),
                "per_hour": round(len(rows) / max(hours, 1), 1),
                "median_wait_minutes": round(
                    statistics.median(r.waited_seconds for r in rows) / 60, 1
                ),
                "overturned": overturned.get(actor_id, 0),
            }
        )
    return sorted(out, key=lambda row: -row["decisions"])
