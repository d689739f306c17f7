"""Management API: segments with their counts, the members of one, and the
writes an integrator's own tools need — create, change (name, rules, schedule,
archive), preview a rule tree without saving, recompute now, the manual include
/ exclude lists, delete — each through the segments services (the console's
rule validation, the permission checked again, the audit row)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from miniops.accounts.apiauth import requires
from miniops.accounts.context import token_operator
from miniops.core.errors import InvalidInput, ServiceUnavailable
from miniops.core.openapi import errors
from miniops.core.pagination import decode_cursor, encode_cursor
from miniops.core.permissions import P
from miniops.core.schemas import ID, StrictIn
from miniops.segments import selectors, services
from miniops.segments.models import OverrideMode, Segment, SegmentOverride

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


# --- writes ---------------------------------------------------------------------------------
RULES_HELP = (
    'the rule tree, as the console\'s builder writes it: {"op": "and" | "or" | "not", '
    '"rules": [groups or leaves]}; a wrong rule is 400 with fields naming the place '
    '("rules[0].days")'
)


class SegmentIn(StrictIn):
    name: str = Field(..., min_length=1, max_length=80)
    description: str = Field("", max_length=255)
    kind: Literal["dynamic", "static"] = Field(
        "dynamic", description="dynamic: recomputed; static: a snapshot frozen now"
    )
    rules: dict[str, Any] = Field(..., description=RULES_HELP)
    refresh_minutes: int = Field(15, ge=1, le=10_080)


class SegmentPatchIn(StrictIn):
    name: str | None = Field(None, min_length=1, max_length=80)
    description: str | None = Field(None, max_length=255)
    rules: dict[str, Any] | None = Field(
        None, description=RULES_HELP + "; new rules are recomputed at the next tick"
    )
    refresh_minutes: int | None = Field(None, ge=1, le=10_080)
    is_active: bool | None = Field(
        None, description="false archives the segment: it leaves the audience pickers"
    )


# declared before /segments/{segment_id}: its path would take "preview" as an id
class PreviewIn(StrictIn):
    rules: dict[str, Any] = Field(..., description=RULES_HELP)
    sample: int = Field(20, ge=0, le=50, description="members to return (nicknames masked)")


class PreviewMemberOut(Schema):
    id: int
    nickname: str = Field(description="masked")
    city: str
    registered_at: datetime | None


class PreviewOut(Schema):
    count: int
    sample: list[PreviewMemberOut]
    elapsed_ms: float = Field(description="the query's time")
    lake_ms: float = Field(description="of which behaviour rules on the event lake")


@manage_router.post(
    "/segments/preview",
    response={200: PreviewOut, **errors(503)},
    auth=requires(P.SEGMENTS_VIEW),
    summary="Count the members of a rule tree now, without saving it",
)
def preview_segment(request: HttpRequest, payload: PreviewIn) -> Any:
    """The console's live count: a wrong rule is **400** naming the place; a query
    over its time limit is **503**. Writes nothing (but the behaviour cache)."""
    result = services.preview(payload.rules, actor=token_operator(request), sample=payload.sample)
    if result.count is None:
        if result.fields:
            raise InvalidInput(result.error, code="rules_invalid", fields=result.fields)
        raise ServiceUnavailable(result.error, code="preview_failed")
    return {
        "count": result.count,
        "sample": result.sample,
        "elapsed_ms": result.elapsed_ms,
        "lake_ms": result.lake_ms,
    }


@manage_router.post(
    "/segments",
    response={201: SegmentOut, **errors(409)},
    auth=requires(P.SEGMENTS_MANAGE),
    summary="Create a segment; its first membership is computed at once",
)
def create_segment(request: HttpRequest, payload: SegmentIn) -> Any:
    """A name is unique: a retried create answers **409** (no Idempotency-Key,
    as the other management writes)."""
    segment = services.create_segment(
        actor=token_operator(request),
        name=payload.name,
        description=payload.description,
        kind=payload.kind,
        rules=payload.rules,
        refresh_minutes=payload.refresh_minutes,
    )
    return Status(201, _out(segment))


@manage_router.get(
    "/segments/{segment_id}",
    response={200: SegmentOut, **errors(404)},
    auth=requires(P.SEGMENTS_VIEW),
    summary="One segment, with its rules' count and version",
)
def get_segment(request: HttpRequest, segment_id: int = ID) -> Any:
    return _out(selectors.get(segment_id))


class SegmentDetailOut(SegmentOut):
    rules: dict[str, Any]
    refresh_minutes: int


@manage_router.patch(
    "/segments/{segment_id}",
    response={200: SegmentDetailOut, **errors(404, 409)},
    auth=requires(P.SEGMENTS_MANAGE),
    summary="Change a segment's name, description, rules, schedule, or archive it",
)
def update_segment(request: HttpRequest, payload: SegmentPatchIn, segment_id: int = ID) -> Any:
    """Only the fields sent change. A static segment's new rules retake its
    snapshot now; a dynamic one's are recomputed at the next scheduler tick (or
    ``POST …/recompute``)."""
    changes = payload.dict(exclude_unset=True)
    segment = services.update_segment(
        actor=token_operator(request), segment=selectors.get(segment_id), **changes
    )
    return _detail(segment)


def _detail(segment: Segment) -> dict[str, Any]:
    return {**_out(segment), "rules": segment.rules, "refresh_minutes": segment.refresh_minutes}


@manage_router.delete(
    "/segments/{segment_id}",
    response={204: None, **errors(404)},
    auth=requires(P.SEGMENTS_MANAGE),
    summary="Delete a segment and its membership history (archive it instead with PATCH)",
)
def delete_segment(request: HttpRequest, segment_id: int = ID) -> Any:
    services.delete_segment(actor=token_operator(request), segment=selectors.get(segment_id))
    return Status(204, None)


class RunOut(Schema):
    segment: SegmentOut
    version: int
    member_count: int
    entered: int
    exited: int
    elapsed_ms: int


@manage_router.post(
    "/segments/{segment_id}/recompute",
    response={200: RunOut, **errors(404, 503)},
    auth=requires(P.SEGMENTS_MANAGE),
    summary="Recompute a segment now (a new membership version, entries and exits recorded)",
)
def recompute_segment(request: HttpRequest, segment_id: int = ID) -> Any:
    segment = selectors.get(segment_id)
    run = services.recompute(segment.pk, actor=token_operator(request), reason="api")
    segment.refresh_from_db()
    return {
        "segment": _out(segment),
        "version": run.version or segment.version,
        "member_count": run.member_count,
        "entered": run.entered,
        "exited": run.exited,
        "elapsed_ms": run.elapsed_ms,
    }


class OverridesIn(StrictIn):
    member_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        ..., min_length=1, max_length=10_000, description="members (ids) to set, at most 10,000"
    )
    mode: Literal["include", "exclude", "none"] = Field(
        ..., description="always include, always exclude, or back to the rules (none)"
    )


class OverridesOut(Schema):
    segment: SegmentOut
    changed: int
    include: list[int] = Field(description="always included (at most 1,000 shown)")
    exclude: list[int] = Field(description="always excluded (at most 1,000 shown)")


def _overrides(segment: Segment) -> dict[str, Any]:
    rows = SegmentOverride.objects.filter(segment=segment).order_by("member_id")
    return {
        "segment": _out(segment),
        "include": list(
            rows.filter(mode=OverrideMode.INCLUDE).values_list("member_id", flat=True)[:1000]
        ),
        "exclude": list(
            rows.filter(mode=OverrideMode.EXCLUDE).values_list("member_id", flat=True)[:1000]
        ),
    }


@manage_router.get(
    "/segments/{segment_id}/overrides",
    response={200: OverridesOut, **errors(404)},
    auth=requires(P.SEGMENTS_VIEW),
    summary="A segment's manual include and exclude lists",
)
def segment_overrides(request: HttpRequest, segment_id: int = ID) -> Any:
    return {**_overrides(selectors.get(segment_id)), "changed": 0}


@manage_router.post(
    "/segments/{segment_id}/overrides",
    response={200: OverridesOut, **errors(404)},
    auth=requires(P.SEGMENTS_MANAGE),
    summary="Always include / always exclude members, or remove their override",
)
def set_segment_overrides(request: HttpRequest, payload: OverridesIn, segment_id: int = ID) -> Any:
    """Setting the same list again changes nothing more; the segment is
    recomputed right away. Unknown member ids are ignored; none known is 400."""
    segment = selectors.get(segment_id)
    changed = services.set_override(
        actor=token_operator(request),
        segment=segment,
        member_ids=payload.member_ids,
        mode=None if payload.mode == "none" else payload.mode,
    )
    segment.refresh_from_db()
    return {**_overrides(segment), "changed": changed}
