"""Favourites and browsing history."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.core.errors import (
    Conflict,
    NotFound,
)
from miniops.members.models import (
    BrowsingHistory,
    Favourite,
    Member,
)
from miniops.members.services.common import MAX_FAVOURITES, MAX_HISTORY


# --- favourites and history -------------------------------------------------------------
def _product_exists(product_id: int) -> None:
    from miniops.catalog.models import Product

    if not Product.objects.filter(pk=product_id).exists():
        raise NotFound()


@transaction.atomic
def add_favourite(*, member: Member, product_id: int) -> Favourite:
    _product_exists(product_id)
    existing = Favourite.objects.filter(member=member, product_id=product_id).first()
    if existing is not None:
        return existing
    if Favourite.objects.filter(member=member).count() >= MAX_FAVOURITES:
        raise Conflict(_("At most %d favourites.") % MAX_FAVOURITES, code="favourite_limit")
    try:
        with transaction.atomic():
            return Favourite.objects.create(member=member, product_id=product_id)
    except IntegrityError:  # added twice at once
        return Favourite.objects.get(member=member, product_id=product_id)


def remove_favourite(*, member: Member, product_id: int) -> None:
    deleted, _ = Favourite.objects.filter(member=member, product_id=product_id).delete()
    if not deleted:
        raise NotFound()


def record_view(*, member_id: int, product_id: int) -> None:
    """Remember that a member opened a product page (one row per pair)."""
    now = timezone.now()
    updated = BrowsingHistory.objects.filter(member_id=member_id, product_id=product_id).update(
        viewed_at=now, views=F("views") + 1
    )
    if updated:
        return
    try:
        with transaction.atomic():
            BrowsingHistory.objects.create(
                member_id=member_id, product_id=product_id, viewed_at=now
            )
    except IntegrityError:
        BrowsingHistory.objects.filter(member_id=member_id, product_id=product_id).update(
            viewed_at=now, views=F("views") + 1
        )


def clear_history(*, member: Member) -> int:
    deleted, _ = BrowsingHistory.objects.filter(member=member).delete()
    return deleted


def prune_history(*, keep: int = MAX_HISTORY) -> int:
    """Keep each member's most recent ``keep`` views (periodic task)."""
    removed = 0
    crowded = (
        BrowsingHistory.objects.values("member_id")
        .annotate(n=Count("id"))
        .filter(n__gt=keep)
        .values_list("member_id", flat=True)
    )
    for member_id in crowded:
        stale = list(
            BrowsingHistory.objects.filter(member_id=member_id)
            .order_by("-viewed_at", "-id")
            .values_list("pk", flat=True)[keep:]
        )
        removed += BrowsingHistory.objects.filter(pk__in=stale).delete()[0]
    return removed
