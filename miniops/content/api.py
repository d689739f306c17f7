"""The content client API (posts, comments, reviews, likes, favourites, reports,
appeals) and WeChat's content-security callback."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any, Literal

import orjson
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.throttling import BaseThrottle

from miniops.content import selectors
from miniops.content.models import Kind, Post, Status, Topic
from miniops.content.schemas import (
    AppealIn,
    AppealOut,
    CommentIn,
    CommentPageOut,
    FollowUpIn,
    PostIn,
    PostOut,
    PostPageOut,
    ReplyOut,
    ReportIn,
    ReportOut,
    ReviewableLineOut,
    ReviewIn,
    ReviewOut,
    ReviewPageOut,
    ReviewSummaryOut,
    ToggleOut,
    TopicDetailOut,
)
from miniops.content.services import items, moderation, publishing, reviews
from miniops.core import wechat_push
from miniops.core.apiauth import public
from miniops.core.errors import Conflict, DomainError, InvalidInput, NotFound
from miniops.core.openapi import errors
from miniops.core.schemas import ID, Id, IdempotencyKey
from miniops.core.throttling import WindowThrottle
from miniops.members.apiauth import MemberPrincipal, me_of, member, member_or_public
from miniops.orders.services import idempotency

router = Router(tags=["content"])


def write_throttle(*, requires_key: bool = False) -> list[BaseThrottle]:
    """Per member: every content write counts against one budget."""
    rate = settings.MINIOPS_CONTENT_WRITE_RATE
    return [
        WindowThrottle(
            anon_rate=rate,
            auth_rate=rate,
            scope="content-write",
            requires_header="Idempotency-Key" if requires_key else "",
        )
    ]


def _json(status: int, body: bytes) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="application/json")


def _viewer(request: HttpRequest) -> int | None:
    auth = getattr(request, "auth", None)
    return auth.member_id if isinstance(auth, MemberPrincipal) else None


def _once(
    request: HttpRequest, scope: str, key: str | None, payload: Any, work: Any
) -> HttpResponse:
    current = me_of(request)
    # one commit for the write and its stored answer (every content write's
    # effects are in the database transaction)
    status, raw = idempotency.run_atomic(
        member_id=current.pk, scope=scope, key=key, payload=payload, work=work
    )
    return _json(status, raw)


class FeedQuery(Schema):
    topic_id: Id | None = None
    sort: Literal["new", "hot"] = "new"
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(20, ge=1, le=selectors.PAGE_MAX)


class PageQuery(Schema):
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(20, ge=1, le=selectors.PAGE_MAX)


class ReviewQuery(PageQuery):
    only: Literal["all", "pictures", "good", "bad"] = "all"


# --- topics and posts -------------------------------------------------------------------------
@router.get("/topics", response=list[TopicDetailOut], auth=member_or_public())
def list_topics(request: HttpRequest) -> Any:
    return list(Topic.objects.filter(is_active=True))


@router.get("/posts", response=PostPageOut, auth=member_or_public(), summary="The feed")
def feed(request: HttpRequest, query: Query[FeedQuery]) -> dict[str, Any]:
    """Published posts, newest first or by "hot" (interactions, decaying with age),
    optionally of one topic; ``next_cursor`` fetches the next page."""
    return selectors.feed(
        topic_id=query.topic_id,
        sort=query.sort,
        cursor=query.cursor,
        limit=query.limit,
        member_id=_viewer(request),
    )


def _post_out(post: Post, member_id: int | None, own: bool) -> dict[str, Any]:
    return selectors.posts_out([post], member_id, own=own)[0]


@router.post(
    "/posts",
    response={201: PostOut, **errors(409, 422)},
    auth=member(),
    throttle=write_throttle(requires_key=True),
    summary="Publish a post (send an Idempotency-Key)",
)
def create_post(
    request: HttpRequest, payload: PostIn, key: str | None = IdempotencyKey(required=True)
) -> HttpResponse:
    """Checked before it is shown: the answer's ``state.status`` is ``published``
    or ``pending`` (in review). Words the lexicon blocks are 422 ``content_blocked``
    and nothing is stored."""
    body = payload.dict()
    me = me_of(request)

    def work() -> tuple[int, Any]:
        post = items.create_post(
            member=me, text=body["text"], images=body["images"], topics=body["topics"]
        )
        return 201, selectors.new_post_out(post, author=me, topic_ids=body["topics"] or [])

    return _once(request, "content.posts.create", key, body, work)


@router.get("/posts/{post_id}", response=PostOut, auth=member_or_public())
def get_post(request: HttpRequest, post_id: int = ID) -> dict[str, Any]:
    viewer = _viewer(request)
    post = Post.objects.filter(pk=post_id).exclude(status=Status.REMOVED).first()
    if post is None:
        raise NotFound()
    own = viewer is not None and post.author_id == viewer
    if not own and not post.visible:
        raise NotFound()
    return _post_out(post, viewer, own)


@router.put(
    "/posts/{post_id}",
    response={200: PostOut, **errors(422)},
    auth=member(),
    throttle=write_throttle(),
    summary="Edit your post (reviewed again)",
)
def edit_post(request: HttpRequest, payload: PostIn, post_id: int = ID) -> dict[str, Any]:
    me = me_of(request)
    post = items.edit_post(
        member=me, post_id=post_id, text=payload.text, images=payload.images, topics=payload.topics
    )
    return _post_out(post, me.pk, True)


@router.delete("/posts/{post_id}", response={204: None}, auth=member())
def delete_post(request: HttpRequest, post_id: int = ID) -> tuple[int, None]:
    items.delete_post(member=me_of(request), post_id=post_id)
    return 204, None


def _toggle(on: bool, changed: bool) -> dict[str, bool]:
    return {"on": on, "changed": changed}


@router.post("/posts/{post_id}/like", response=ToggleOut, auth=member(), throttle=write_throttle())
def like_post(request: HttpRequest, post_id: int = ID) -> dict[str, bool]:
    """Idempotent: liking twice is one like."""
    return _toggle(True, items.like(member=me_of(request), kind=Kind.POST, object_id=post_id))


@router.delete("/posts/{post_id}/like", response=ToggleOut, auth=member())
def unlike_post(request: HttpRequest, post_id: int = ID) -> dict[str, bool]:
    return _toggle(False, items.unlike(member=me_of(request), kind=Kind.POST, object_id=post_id))


@router.post(
    "/posts/{post_id}/favourite", response=ToggleOut, auth=member(), throttle=write_throttle()
)
def favourite_post(request: HttpRequest, post_id: int = ID) -> dict[str, bool]:
    return _toggle(True, items.favourite(member=me_of(request), post_id=post_id))


@router.delete("/posts/{post_id}/favourite", response=ToggleOut, auth=member())
def unfavourite_post(request: HttpRequest, post_id: int = ID) -> dict[str, bool]:
    return _toggle(False, items.unfavourite(member=me_of(request), post_id=post_id))


# --- comments ---------------------------------------------------------------------------------
@router.get("/posts/{post_id}/comments", response=CommentPageOut, auth=member_or_public())
def list_comments(
    request: HttpRequest, query: Query[PageQuery], post_id: int = ID
) -> dict[str, Any]:
    items.visible_post(post_id)
    return selectors.post_comments(
        post_id=post_id, cursor=query.cursor, limit=query.limit, member_id=_viewer(request)
    )


@router.post(
    "/posts/{post_id}/comments",
    response={201: ReplyOut, **errors(409, 422)},
    auth=member(),
    throttle=write_throttle(requires_key=True),
    summary="Comment on a post or answer a comment (send an Idempotency-Key)",
)
def create_comment(
    request: HttpRequest,
    payload: CommentIn,
    post_id: int = ID,
    key: str | None = IdempotencyKey(required=True),
) -> HttpResponse:
    body = payload.dict()
    me = me_of(request)

    def work() -> tuple[int, Any]:
        comment = items.create_comment(
            member=me, post_id=post_id, text=body["text"], parent_id=body["parent_id"]
        )
        return 201, selectors.comments_out([comment], me.pk, own=True)[0]

    return _once(request, f"content.comments.create:{post_id}", key, body, work)


@router.delete("/comments/{comment_id}", response={204: None}, auth=member())
def delete_comment(request: HttpRequest, comment_id: int = ID) -> tuple[int, None]:
    items.delete_comment(member=me_of(request), comment_id=comment_id)
    return 204, None


@router.post(
    "/comments/{comment_id}/like", response=ToggleOut, auth=member(), throttle=write_throttle()
)
def like_comment(request: HttpRequest, comment_id: int = ID) -> dict[str, bool]:
    return _toggle(True, items.like(member=me_of(request), kind=Kind.COMMENT, object_id=comment_id))


@router.delete("/comments/{comment_id}/like", response=ToggleOut, auth=member())
def unlike_comment(request: HttpRequest, comment_id: int = ID) -> dict[str, bool]:
    return _toggle(
        False, items.unlike(member=me_of(request), kind=Kind.COMMENT, object_id=comment_id)
    )


# --- reviews ----------------------------------------------------------------------------------
@router.post(
    "/reviews",
    response={201: ReviewOut, **errors(404, 409, 422)},
    auth=member(),
    throttle=write_throttle(requires_key=True),
    summary="Review a received order line (send an Idempotency-Key)",
)
def create_review(
    request: HttpRequest, payload: ReviewIn, key: str | None = IdempotencyKey(required=True)
) -> HttpResponse:
    """Only the buyer, once the order was received; one review per order line."""
    body = payload.dict()
    me = me_of(request)

    def work() -> tuple[int, Any]:
        review = reviews.create_review(
            member=me,
            order_item_id=body["order_item_id"],
            rating=body["rating"],
            text=body["text"],
            images=body["images"],
            anonymous=body["anonymous"],
        )
        return 201, selectors.review_out(review, own=True)

    return _once(request, "content.reviews.create", key, body, work)


@router.post(
    "/reviews/{review_id}/follow-up",
    response={201: ReviewOut, **errors(409, 422)},
    auth=member(),
    throttle=write_throttle(requires_key=True),
    summary="Add the one follow-up to your review (send an Idempotency-Key)",
)
def follow_up(
    request: HttpRequest,
    payload: FollowUpIn,
    review_id: int = ID,
    key: str | None = IdempotencyKey(required=True),
) -> HttpResponse:
    body = payload.dict()
    me = me_of(request)

    def work() -> tuple[int, Any]:
        reviews.follow_up(member=me, review_id=review_id, text=body["text"], images=body["images"])
        original = reviews.Review.objects.select_related("author").get(pk=review_id)
        return 201, selectors.review_out(original, own=True)

    return _once(request, f"content.reviews.follow_up:{review_id}", key, body, work)


@router.delete("/reviews/{review_id}", response={204: None}, auth=member())
def delete_review(request: HttpRequest, review_id: int = ID) -> tuple[int, None]:
    reviews.delete_review(member=me_of(request), review_id=review_id)
    return 204, None


@router.post(
    "/reviews/{review_id}/like", response=ToggleOut, auth=member(), throttle=write_throttle()
)
def like_review(request: HttpRequest, review_id: int = ID) -> dict[str, bool]:
    return _toggle(True, items.like(member=me_of(request), kind=Kind.REVIEW, object_id=review_id))


@router.delete("/reviews/{review_id}/like", response=ToggleOut, auth=member())
def unlike_review(request: HttpRequest, review_id: int = ID) -> dict[str, bool]:
    return _toggle(
        False, items.unlike(member=me_of(request), kind=Kind.REVIEW, object_id=review_id)
    )


@router.get("/products/{product_id}/reviews", response=ReviewPageOut, auth=member_or_public())
def product_reviews(
    request: HttpRequest, query: Query[ReviewQuery], product_id: int = ID
) -> dict[str, Any]:
    return selectors.product_reviews(
        product_id=product_id, only=query.only, cursor=query.cursor, limit=query.limit
    )


@router.get(
    "/products/{product_id}/reviews/summary", response=ReviewSummaryOut, auth=member_or_public()
)
def review_summary(request: HttpRequest, product_id: int = ID) -> dict[str, Any]:
    """Average rating, counts per star and how many reviews have pictures."""
    return selectors.review_summary(product_id)


# --- the member's own -------------------------------------------------------------------------
@router.get(
    "/me/posts", response=PostPageOut, auth=member(), summary="Your posts and their review state"
)
def my_posts(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    return selectors.own_posts(member_id=me_of(request).pk, cursor=query.cursor, limit=query.limit)


@router.get("/me/favourite-posts", response=PostPageOut, auth=member())
def my_favourites(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    return selectors.favourite_posts(
        member_id=me_of(request).pk, cursor=query.cursor, limit=query.limit
    )


@router.get(
    "/me/comments",
    response=list[ReplyOut],
    auth=member(),
    summary="Your comments and their review state",
)
def my_comments(request: HttpRequest) -> list[dict[str, Any]]:
    from miniops.content.models import Comment

    me = me_of(request)
    rows = list(
        Comment.objects.filter(author=me)
        .exclude(status=Status.REMOVED)
        .select_related("author")
        .order_by("-created_at", "-pk")[:100]
    )
    return selectors.comments_out(rows, me.pk, own=True)


@router.get(
    "/me/reviews",
    response=ReviewPageOut,
    auth=member(),
    summary="Your reviews and their review state",
)
def my_reviews(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    return selectors.own_reviews(
        member_id=me_of(request).pk, cursor=query.cursor, limit=query.limit
    )


@router.get(
    "/me/reviewable",
    response=list[ReviewableLineOut],
    auth=member(),
    summary="Received lines to review",
)
def my_reviewable(request: HttpRequest) -> list[dict[str, Any]]:
    return selectors.reviewable_lines(me_of(request).pk)


# --- reports and appeals ----------------------------------------------------------------------
@router.post(
    "/reports",
    response={201: ReportOut, **errors(404, 409)},
    auth=member(),
    throttle=write_throttle(),
)
def report(request: HttpRequest, payload: ReportIn) -> tuple[int, Any]:
    """Reporting the same item again is answered with the first report (counted once)."""
    row = items.report(
        member=me_of(request),
        kind=payload.kind,
        object_id=payload.object_id,
        reason=payload.reason,
        note=payload.note,
    )
    return 201, {"id": row.pk, "kind": row.kind, "object_id": row.object_id, "reason": row.reason}


@router.post(
    "/appeals",
    response={201: AppealOut, **errors(404, 409)},
    auth=member(),
    throttle=write_throttle(),
)
def appeal(request: HttpRequest, payload: AppealIn) -> tuple[int, Any]:
    """Once per rejected item, within 20 days; a different reviewer decides."""
    row = moderation.appeal(
        member=me_of(request), kind=payload.kind, object_id=payload.object_id, text=payload.text
    )
    return 201, {"id": row.pk, "state": row.state}


# --- WeChat's message push: image verdicts ------------------------------------------------------
#: a push older than this (or from the future by as much) is refused as a replay
CALLBACK_WINDOW = 300


_BAD_PUSH = "This push is not from WeChat, too old, or already received."


def verify_push(request: HttpRequest) -> None:
    """WeChat signs a push with sha1(sorted(token, timestamp, nonce)); a nonce is
    accepted once within the window. Forged or stale: 400; replayed: 409."""
    token = settings.WECHAT_MESSAGE_TOKEN
    params = request.GET
    signature = params.get("signature", "")
    timestamp = params.get("timestamp", "")
    nonce = params.get("nonce", "")
    if not token or not signature or not timestamp.isdigit() or not nonce or len(nonce) > 64:
        raise InvalidInput(_BAD_PUSH, code="bad_signature")
    expected = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324 - WeChat's scheme
    if not hmac.compare_digest(expected, signature):
        raise InvalidInput(_BAD_PUSH, code="bad_signature")
    if abs(time.time() - int(timestamp)) > CALLBACK_WINDOW:
        raise InvalidInput(_BAD_PUSH, code="stale_push")


def _take_nonce(request: HttpRequest) -> None:
    if not cache.add(
        f"content:push-nonce:{request.GET.get('nonce', '')}", 1, timeout=CALLBACK_WINDOW * 2
    ):
        raise Conflict(_BAD_PUSH, code="replayed_push")


@router.get(
    "/content/wechat/push",
    auth=public(),
    response={200: str, **errors(409)},
    include_in_schema=False,
)
def push_verify(request: HttpRequest) -> HttpResponse:
    """WeChat's server-address check: answers ``echostr`` when the signature holds."""
    verify_push(request)
    return HttpResponse(request.GET.get("echostr", "")[:200], content_type="text/plain")


@router.post(
    "/content/wechat/push",
    auth=public(),
    response={200: str, **errors(404, 409)},
    include_in_schema=False,
)
def push_receive(request: HttpRequest) -> HttpResponse:
    """``wxa_media_check`` events (JSON): the verdict for an image by ``trace_id``.
    Forged 400, replayed 409, unknown ``trace_id`` 404, already answered 409; none
    changes anything."""
    verify_push(request)
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(fields={"body": "JSON"}) from exc
    if not isinstance(body, dict):
        raise InvalidInput(fields={"body": "JSON object"})
    if body.get("Event") != "wxa_media_check":
        # the mini-program's one push URL: other apps' pushes (contact-button
        # messages for customer service) go to their handlers
        _take_nonce(request)
        wechat_push.dispatch(body)
        return HttpResponse("success", content_type="text/plain")
    trace_id = body.get("trace_id")
    if not isinstance(trace_id, str) or not 0 < len(trace_id) <= 64:
        raise InvalidInput(fields={"trace_id": "required"})
    _take_nonce(request)
    publishing.media_verdict(trace_id=trace_id, body=body)
    return HttpResponse("success", content_type="text/plain")


__all__ = ["DomainError", "router", "uuid"]
