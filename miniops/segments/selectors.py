"""Reads of segments that other apps share (coupon issue, notifications, CMS,
the member-360 card). Every membership read names the segment's current version
inside the same statement, so it sees one whole version, never half a swap."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from miniops.core.errors import NotFound
from miniops.segments.models import SNAPSHOT_VERSION, Segment, SegmentChange, SegmentMembership


def _current(segment_id: int) -> QuerySet[SegmentMembership]:
    """Rows are written as diffs: a member's row carries the version it entered
    at and is deleted when it exits, so the current membership is every row from
    version 1 up to the segment's version (0 is a static segment's snapshot)."""
    version = Segment.objects.filter(pk=segment_id).values("version")[:1]
    return SegmentMembership.objects.filter(
        segment_id=segment_id, version__gte=SNAPSHOT_VERSION + 1, version__lte=Subquery(version)
    )


def get(segment_id: int) -> Segment:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFound(code="segment_not_found")
    return segment


def member_ids(segment_id: int) -> QuerySet[Any]:
    """The member ids of the segment's current membership (a lazy ``values_list``
    usable as ``pk__in=`` in another query)."""
    return _current(segment_id).values_list("member_id", flat=True)


def is_member(segment_id: int, member_id: int) -> bool:
    return _current(segment_id).filter(member_id=member_id).exists()


def count(segment_id: int) -> int:
    """The member count of the current version (kept on the segment row)."""
    value = Segment.objects.filter(pk=segment_id).values_list("member_count", flat=True).first()
    return int(value or 0)


def active() -> QuerySet[Segment]:
    return Segment.objects.filter(is_active=True).order_by("name")


def segments_of(member_id: int) -> QuerySet[Segment]:
    """The segments a member currently belongs to."""
    current = SegmentMembership.objects.filter(
        segment_id=OuterRef("pk"),
        member_id=member_id,
        version__gte=SNAPSHOT_VERSION + 1,
        version__lte=OuterRef("version"),
    )
    from django.db.models import Exists

    return Segment.objects.filter(Exists(current)).order_by("name")


def recent_changes(
    *, segment_id: int | None = None, member_id: int | None = None, limit: int = 50
) -> list[SegmentChange]:
    changes = SegmentChange.objects.select_related("segment", "member")
    if segment_id is not None:
        changes = changes.filter(segment_id=segment_id)
    if member_id is not None:
        changes = changes.filter(member_id=member_id)
    return list(changes.order_by("-at", "-id")[:limit])
