"""Management API: segments with their counts, and the members of one (for an
integrator's own tools; the console has the rule builder)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from miniops.accounts.apiauth import requires
from miniops.core.openapi import errors
from miniops.core.pagination import decode_cursor, encode_cursor
from miniops.core.permissions import P
from miniops.core.schemas import ID
from miniops.segments import selectors
from miniops.segments.models import Segment

manage_router = Router(tags=["management: segments"])
PAGE_MAX = 1000


class SegmentOut(Schema):
    id: int
    audience: str = Field(description="the key coupon issue, campaigns and the CMS take")
    name: str
    description: str
    kind: str
    is_active: bool
    member_count: int
    version: int
    computed_at: datetime | None
    last_error: str


def _out(row: Segment) -> dict[str, Any]:
    return {
        "id": row.pk,
        "audience": f"segment:{row.pk}",
        "name": row.name,
        "description": row.description,
        "kind": row.kind,
        "is_active": row.is_active,
        "member_count": row.member_count,
        "version": row.version,
        "computed_at": row.computed_at,
        "last_error": row.last_error,
    }


@manage_router.get(
    "/segments",
    response={200: list[SegmentOut]},
    auth=requires(P.SEGMENTS_VIEW),
    summary="Segments with their member counts (at most 500)",
)
def list_segments(request: HttpRequest) -> Any:
    return [_out(row) for row in Segment.objects.order_by("name", "pk")[:500]]


class MembersQuery(Schema):
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(500, ge=1, le=PAGE_MAX)


class SegmentMembersOut(Schema):
    segment: SegmentOut
    member_ids: list[int]
    next_cursor: str | None


@manage_router.get(
    "/segments/{segment_id}/members",
    response={200: SegmentMembersOut, **errors(404, 422)},
    auth=requires(P.SEGMENTS_EXPORT),
    summary="The member ids of a segment's current version, ascending, by pages",
)
def segment_members(request: HttpRequest, query: Query[MembersQuery], segment_id: int = ID) -> Any:
    """Member ids only (no personal data); ``next_cursor`` fetches the next page.
    Needs the export permission, as the console's export does."""
    segment = selectors.get(segment_id)
    ids = selectors.member_ids(segment.pk).order_by("member_id")
    if query.cursor:
        _value, after = decode_cursor(query.cursor, "int")
        ids = ids.filter(member_id__gt=after)
    page = list(ids[: query.limit + 1])
    more = len(page) > query.limit
    page = page[: query.limit]
    return {
        "segment": _out(segment),
        "member_ids": page,
        "next_cursor": encode_cursor(page[-1], page[-1]) if more and page else None,
    }
