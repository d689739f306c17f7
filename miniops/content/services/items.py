"""Members' posts, comments, likes, favourites and reports."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.content.models import (
    Comment,
    Favourite,
    Kind,
    Like,
    Post,
    Report,
    Status,
    Topic,
)
from miniops.content.services import publishing
from miniops.content.services.common import (
    active_topics,
    bump,
    clean_images,
    clean_text,
    refresh_hot,
    refuse_operator,
)
from miniops.core.errors import Conflict, InvalidInput, NotFound

MAX_TOPICS = 3
COMMENT_MAX_CHARS = 500


def _topic_ids(ids: Any) -> list[int]:
    """The chosen topics' ids (at most three, each an active topic): checked
    against the cached topic list, and against the database for an id the cache
    does not know (a topic created a moment ago)."""
    if ids is None:
        return []
    if not isinstance(ids, list) or len(ids) > MAX_TOPICS:
        raise InvalidInput(fields={"topics": _("At most %d topics.") % MAX_TOPICS})
    unique = list(dict.fromkeys(ids))
    known = active_topics()
    if any(pk not in known for pk in unique):
        found = Topic.objects.filter(pk__in=unique, is_active=True).count()
        if found != len(unique):
            raise InvalidInput(fields={"topics": _("Unknown topic.")})
    return unique


def _attach_topics(post: Post, topic_ids: list[int]) -> None:
    """The post's topic rows in one statement that also checks, in the writing
    transaction, that each topic still exists and is active (the cached list may
    be a second old): a topic switched off or deleted meanwhile is refused like
    an unknown one, never a broken foreign key."""
    if not topic_ids:
        return
    through = Post.topics.through
    quote = connection.ops.quote_name
    post_column = quote(through._meta.get_field("post").column)
    topic_column = quote(through._meta.get_field("topic").column)
    marks = ", ".join(["%s"] * len(topic_ids))
    sql = (
        f"INSERT INTO {quote(through._meta.db_table)} ({post_column}, {topic_column}) "  # noqa: S608 - names from the models, values bound
        f"SELECT %s, {quote('id')} FROM {quote(Topic._meta.db_table)} "
        f"WHERE {quote('is_active')} = %s AND {quote('id')} IN ({marks})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [post.pk, True, *topic_ids])
        attached = cursor.rowcount
    if attached != len(topic_ids):
        raise InvalidInput(fields={"topics": _("Unknown topic.")})


def _topics(ids: Any) -> list[Topic]:
    unique = _topic_ids(ids)
    return list(Topic.objects.filter(pk__in=unique)) if unique else []


# --- posts ------------------------------------------------------------------------------------
# No savepoint of its own inside the caller's transaction (the API's, which also
# stores the idempotent answer): a refusal rolls that whole transaction back.
@transaction.atomic(savepoint=False)
def create_post(*, member: Any, text: Any, images: Any = None, topics: Any = None) -> Post:
    """A new post: checked, then written with its topics and its platform checks
    in one transaction; the post returned is as stored (``selectors.new_post_out``
    answers from it without reading anything back)."""
    refuse_operator(member)
    body = clean_text(text)
    names = clean_images(images, member_id=member.pk)
    topic_ids = _topic_ids(topics)
    result = publishing.prescreen_text(body)
    post = Post.objects.create(author=member, text=result.text, images=names)
    _attach_topics(post, topic_ids)
    if publishing.submit(post, result=result, images=names):
        # published there and then (the author stays the one in hand)
        post.refresh_from_db(fields=["status", "published_at", "reject_reason", "hot_score"])
    return post


def own_post(member: Any, post_id: int, *, lock: bool = False) -> Post:
    rows = Post.objects.select_for_update() if lock else Post.objects
    post = rows.filter(pk=post_id, author=member).exclude(status=Status.REMOVED).first()
    if post is None:
        raise NotFound()
    return post


@transaction.atomic
def edit_post(
    *, member: Any, post_id: int, text: Any, images: Any = None, topics: Any = None
) -> Post:
    """An edit is checked again from the start: the post is in review until then."""
    refuse_operator(member)
    post = own_post(member, post_id, lock=True)
    body = clean_text(text)
    names = clean_images(images, member_id=member.pk)
    chosen = _topics(topics)
    result = publishing.prescreen_text(body)
    Post.objects.filter(pk=post.pk).update(
        text=result.text,
        images=names,
        status=Status.PENDING,
        revision=post.revision + 1,
        updated_at=timezone.now(),
    )
    post.refresh_from_db()
    post.topics.set(chosen)
    publishing.submit(post, result=result, images=names)
    post.refresh_from_db()
    return post


@transaction.atomic
def delete_post(*, member: Any, post_id: int) -> None:
    post = own_post(member, post_id, lock=True)
    Post.objects.filter(pk=post.pk).update(status=Status.REMOVED)


# --- comments ---------------------------------------------------------------------------------
def visible_post(post_id: int) -> Post:
    post = Post.objects.filter(pk=post_id, status=Status.PUBLISHED, is_hidden=False).first()
    if post is None:
        raise NotFound()
    return post


@transaction.atomic
def create_comment(
    *, member: Any, post_id: int, text: Any, parent_id: int | None = None
) -> Comment:
    refuse_operator(member)
    post = visible_post(post_id)
    body = clean_text(text, max_chars=COMMENT_MAX_CHARS)
    parent = None
    if parent_id is not None:
        parent = Comment.objects.filter(pk=parent_id, post=post, status=Status.PUBLISHED).first()
        if parent is None:
            raise InvalidInput(fields={"parent_id": _("No such comment on this post.")})
        if parent.parent_id is not None:
            parent = parent.parent  # replies stay one level deep
    result = publishing.prescreen_text(body)
    comment = Comment.objects.create(author=member, post=post, parent=parent, text=result.text)
    publishing.submit(comment, result=result)
    comment.refresh_from_db()
    return comment


@transaction.atomic
def delete_comment(*, member: Any, comment_id: int) -> None:
    comment = (
        Comment.objects.select_for_update()
        .filter(pk=comment_id, author=member)
        .exclude(status=Status.REMOVED)
        .first()
    )
    if comment is None:
        raise NotFound()
    Comment.objects.filter(pk=comment.pk).update(status=Status.REMOVED)
    comment.status = Status.REMOVED
    publishing.after_visibility_change(Kind.COMMENT, comment)


# --- likes and favourites ---------------------------------------------------------------------
def _likeable(kind: str, object_id: int) -> Any:
    item = publishing.item_of(kind, object_id)
    if item is None or not item.visible:
        raise NotFound()
    return item


def like(*, member: Any, kind: str, object_id: int) -> bool:
    """Like once: liking again changes nothing. True when this call added it."""
    item = _likeable(kind, object_id)
    try:
        with transaction.atomic():
            Like.objects.create(member=member, kind=kind, object_id=item.pk)
            bump(type(item), item.pk, "likes_count", 1)
    except IntegrityError:
        return False
    if kind == Kind.POST:
        refresh_hot(item.pk)
    return True


def unlike(*, member: Any, kind: str, object_id: int) -> bool:
    model = publishing.MODELS.get(kind)
    if model is None:
        raise NotFound()
    with transaction.atomic():
        deleted, _rows = Like.objects.filter(member=member, kind=kind, object_id=object_id).delete()
        if deleted:
            bump(model, object_id, "likes_count", -1)
    if deleted and kind == Kind.POST:
        refresh_hot(object_id)
    return bool(deleted)


def favourite(*, member: Any, post_id: int) -> bool:
    post = visible_post(post_id)
    try:
        with transaction.atomic():
            Favourite.objects.create(member=member, post=post)
            bump(Post, post.pk, "favourites_count", 1)
    except IntegrityError:
        return False
    refresh_hot(post.pk)
    return True


def unfavourite(*, member: Any, post_id: int) -> bool:
    with transaction.atomic():
        deleted, _rows = Favourite.objects.filter(member=member, post_id=post_id).delete()
        if deleted:
            bump(Post, post_id, "favourites_count", -1)
    if deleted:
        refresh_hot(post_id)
    return bool(deleted)


# --- reports ----------------------------------------------------------------------------------
def report(*, member: Any, kind: str, object_id: int, reason: str, note: Any = "") -> Report:
    """A member's report opens (or re-opens) the item's case; a member reporting
    the same item again changes nothing (counted once)."""
    item = publishing.item_of(kind, object_id)
    if item is None or item.status == Status.REMOVED or not item.visible:
        raise NotFound()
    if item.author_id == member.pk:
        raise Conflict(_("You cannot report your own content."), code="own_content")
    if reason not in Report.Reason.values:
        raise InvalidInput(fields={"reason": _("Choose a reason.")})
    text = clean_text(note or "", field="note", max_chars=200, required=False)
    existing = Report.objects.filter(member=member, kind=kind, object_id=item.pk).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            row = Report.objects.create(
                member=member, kind=kind, object_id=item.pk, reason=reason, note=text
            )
            publishing.open_case(
                kind,
                item,
                trigger="report",
                signals=[{"source": "report", "suggest": reason, "label": reason}],
            )
    except IntegrityError:
        return Report.objects.get(member=member, kind=kind, object_id=item.pk)
    return row
