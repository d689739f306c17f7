"""What the content services share: checking what members send (text, images,
topics), counters and the feed's hot score."""

from __future__ import annotations

import math
import re
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import F
from django.utils.translation import gettext as _

from miniops.core.errors import Forbidden, InvalidInput
from miniops.core.media import public_url

MAX_IMAGES = 9
#: an address the upload endpoint handed out: …/uploads/members/<id>/<hex>.<ext>
_UPLOAD = re.compile(r"(?:^|/)(uploads/members/(\d{1,19})/[0-9a-f]{32}\.(?:jpg|png))$")


def refuse_operator(actor: Any) -> None:
    """Member content is written by members only: no operator (whatever their
    roles) creates or edits a post, comment or review in a member's name."""
    if getattr(actor, "is_operator", False):
        raise Forbidden(_("Operators cannot write member content."), code="members_only")


def clean_text(
    value: Any, *, field: str = "text", max_chars: int | None = None, required: bool = True
) -> str:
    """A member's text: a string, without NUL or lone surrogates, not only blanks
    (when required), at most ``max_chars`` characters once trimmed."""
    limit = max_chars or settings.MINIOPS_CONTENT_MAX_CHARS
    if not isinstance(value, str):
        raise InvalidInput(fields={field: _("Send text.")})
    if "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value):
        raise InvalidInput(fields={field: _("The text holds characters that are not allowed.")})
    text = value.strip()
    if required and not text:
        raise InvalidInput(fields={field: _("Write something.")})
    if len(text) > limit:
        raise InvalidInput(fields={field: _("At most %d characters.") % limit})
    return text


def clean_images(values: Any, *, member_id: int, field: str = "images") -> list[str]:
    """Image addresses from the upload endpoint (``POST /api/v1/uploads/images``),
    at most nine, each uploaded by this member; returns their storage names."""
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > MAX_IMAGES:
        raise InvalidInput(fields={field: _("At most %d images.") % MAX_IMAGES})
    names: list[str] = []
    for value in values:
        match = _UPLOAD.search(value) if isinstance(value, str) and len(value) <= 500 else None
        if match is None:
            raise InvalidInput(fields={field: _("Upload images first, then send their addresses.")})
        if int(match.group(2)) != member_id:
            raise InvalidInput(fields={field: _("Use images you uploaded yourself.")})
        name = match.group(1)
        if not default_storage.exists(name):
            raise InvalidInput(fields={field: _("An image was not found; upload it again.")})
        if name not in names:
            names.append(name)
    return names


def image_urls(names: list[str]) -> list[str]:
    return [url for url in (public_url(name) for name in names or []) if url]


def hot_score(likes: int, comments: int, favourites: int, published_epoch: float) -> float:
    """Reddit's "hot": log10 of the weighted interactions plus the publication time
    in units of 12.5 hours, so a post needs ten times the interactions to stay
    level with one half a day newer."""
    weight = likes + 2 * comments + 2 * favourites
    return round(math.log10(1 + weight) + published_epoch / 45000, 6)


def refresh_hot(post_id: int) -> None:
    from miniops.content.models import Post

    row = (
        Post.objects.filter(pk=post_id)
        .values("likes_count", "comments_count", "favourites_count", "published_at", "created_at")
        .first()
    )
    if row is None:
        return
    moment = row["published_at"] or row["created_at"]
    Post.objects.filter(pk=post_id).update(
        hot_score=hot_score(
            row["likes_count"], row["comments_count"], row["favourites_count"], moment.timestamp()
        )
    )


def bump(model: Any, pk: int, field: str, delta: int) -> None:
    """Move a counter, never below zero."""
    rows = model.objects.filter(pk=pk)
    if delta < 0:
        rows = rows.filter(**{f"{field}__gte": -delta})
    rows.update(**{field: F(field) + delta})


TOPICS_KEY = "content:topics:active"


def active_topics() -> dict[int, str]:
    """Active topics as {id: name}: a two-second memo in each process over the
    shared cache, which every topic change empties after commit."""
    from django.core.cache import cache

    from miniops.content.models import Topic
    from miniops.core import localcache

    def shared() -> dict[int, str]:
        value = cache.get(TOPICS_KEY)
        if value is None:
            value = dict(Topic.objects.filter(is_active=True).values_list("pk", "name"))
            cache.set(TOPICS_KEY, value, timeout=300)
        return dict(value)

    return localcache.get_or_load(TOPICS_KEY, 2.0, shared)


def forget_topics() -> None:
    from django.core.cache import cache

    from miniops.core import localcache

    cache.delete(TOPICS_KEY)
    localcache.forget(TOPICS_KEY)


def summary_key(product_id: int) -> str:
    return f"content:reviews:summary:{product_id}"


def forget_review_summary(product_id: int) -> None:
    """Drop a product's cached review summary (this process's memo and the shared
    cache; other processes' memos last two seconds)."""
    from django.core.cache import cache

    from miniops.core import localcache

    cache.delete(summary_key(product_id))
    localcache.forget(summary_key(product_id))
