"""Product reviews: by the buyer of a received order line, one per line and one
follow-up; points for a member's first review when it is published."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from miniops.content.models import Review, Status
from miniops.content.services import publishing
from miniops.content.services.common import clean_images, clean_text, refuse_operator
from miniops.core.errors import Conflict, InvalidInput, NotFound

REVIEW_MAX_CHARS = 1000


def _rating(value: Any) -> int:
    if type(value) is not int or not 1 <= value <= 5:
        raise InvalidInput(fields={"rating": _("A whole number from 1 to 5.")})
    return value


def _received_line(member: Any, order_item_id: Any) -> Any:
    from miniops.orders.models import OrderItem, OrderStatus

    if type(order_item_id) is not int or order_item_id < 1:
        raise InvalidInput(fields={"order_item_id": _("An order line id.")})
    line = (
        OrderItem.objects.select_related("order")
        .filter(pk=order_item_id, order__member=member)
        .first()
    )
    if line is None:
        raise NotFound(_("No such order line among your orders."))
    if line.order.status != OrderStatus.COMPLETED:
        raise Conflict(
            _("You can review a product once you have received it."), code="not_received"
        )
    return line


@transaction.atomic
def create_review(
    *,
    member: Any,
    order_item_id: Any,
    rating: Any,
    text: Any,
    images: Any = None,
    anonymous: bool = False,
) -> Review:
    refuse_operator(member)
    line = _received_line(member, order_item_id)
    score = _rating(rating)
    body = clean_text(text, max_chars=REVIEW_MAX_CHARS)
    names = clean_images(images, member_id=member.pk)
    if Review.objects.filter(order_item=line, follows__isnull=True).exists():
        raise Conflict(_("You already reviewed this order line."), code="already_reviewed")
    result = publishing.prescreen_text(body)
    try:
        with transaction.atomic():
            review = Review.objects.create(
                author=member,
                order_item=line,
                product_id=line.product_id,
                rating=score,
                text=result.text,
                images=names,
                anonymous=bool(anonymous),
            )
    except IntegrityError as exc:
        raise Conflict(_("You already reviewed this order line."), code="already_reviewed") from exc
    publishing.submit(review, result=result, images=names)
    review.refresh_from_db()
    return review


@transaction.atomic
def follow_up(*, member: Any, review_id: int, text: Any, images: Any = None) -> Review:
    refuse_operator(member)
    original = (
        Review.objects.select_for_update()
        .filter(pk=review_id, author=member, follows__isnull=True)
        .exclude(status=Status.REMOVED)
        .first()
    )
    if original is None:
        raise NotFound()
    if Review.objects.filter(follows=original).exists():
        raise Conflict(_("A review takes one follow-up."), code="already_followed_up")
    body = clean_text(text, max_chars=REVIEW_MAX_CHARS)
    names = clean_images(images, member_id=member.pk)
    result = publishing.prescreen_text(body)
    try:
        with transaction.atomic():
            review = Review.objects.create(
                author=member,
                order_item_id=original.order_item_id,
                product_id=original.product_id,
                follows=original,
                text=result.text,
                images=names,
                anonymous=original.anonymous,
            )
    except IntegrityError as exc:
        raise Conflict(_("A review takes one follow-up."), code="already_followed_up") from exc
    publishing.submit(review, result=result, images=names)
    review.refresh_from_db()
    return review


@transaction.atomic
def delete_review(*, member: Any, review_id: int) -> None:
    review = (
        Review.objects.select_for_update()
        .filter(pk=review_id, author=member)
        .exclude(status=Status.REMOVED)
        .first()
    )
    if review is None:
        raise NotFound()
    Review.objects.filter(pk=review.pk).update(status=Status.REMOVED)
    publishing.after_visibility_change("review", review)
