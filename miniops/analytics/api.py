"""Analytics API: the client's event batches, and every report as JSON for
integrators (the same data the console charts)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Any, Literal

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from miniops.accounts.apiauth import requires
from miniops.accounts.context import principal_of
from miniops.analytics import ingest, selectors, services
from miniops.analytics.models import Funnel
from miniops.core.api_errors import require_json
from miniops.core.errors import InvalidInput, NotFound, PayloadTooLarge
from miniops.core.permissions import P
from miniops.core.responses import error_response
from miniops.core.schemas import ID, Int64, IsoDate, StrictIn
from miniops.core.throttling import WindowThrottle
from miniops.core.timeutils import local_date
from miniops.members.apiauth import MemberPrincipal, member_or_public

router = Router(tags=["analytics"])
manage_router = Router(tags=["manage: analytics"])


# --- ingestion ----------------------------------------------------------------------------
@router.post(
    "/events/batch",
    auth=member_or_public(),
    throttle=[
        WindowThrottle(
            anon_rate=settings.MINIOPS_EVENTS_RATE,
            auth_rate=settings.MINIOPS_EVENTS_RATE,
            scope="events",
        )
    ],
    summary="Send behaviour events (up to 500 per batch)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "See docs/api.md: sent_at, anonymous_id, device, events[].",
        }
    },
)
def send_events(request: HttpRequest) -> HttpResponse:
    """Stores every valid event and refuses the others one by one: answers 200
    ``{"accepted", "duplicates", "refused": [{"index", "reason"}]}``. An event
    already received (same uuid) is counted once. A batch in which no event is
    valid answers 422 with each reason."""
    body = request.body
    if len(body) > ingest.MAX_BATCH_BYTES:
        raise PayloadTooLarge(_("A batch is at most 512 KB."))
    if body:  # an empty body has no type to check: it is refused below as no batch
        require_json(request)
    auth = request.auth  # type: ignore[attr-defined]
    member_id = auth.member_id if isinstance(auth, MemberPrincipal) else None
    try:
        result = services.ingest_batch(body, member_id=member_id)
    except ingest.BatchError as exc:
        return error_response(
            422, "validation_error", _("The batch is not valid."), {"batch": str(exc)}
        )
    if result["refused"] and not result["accepted"]:
        return error_response(
            422,
            "validation_error",
            _("No event in the batch is valid."),
            {f"events.{r['index']}": r["reason"] for r in result["refused"][:100]},
        )
    return HttpResponse(orjson.dumps(result), content_type="application/json")


# --- management: reports ------------------------------------------------------------------
class RangeQuery(Schema):
    first: IsoDate | None = Field(None, description="first day (default: 29 days ago)")
    last: IsoDate | None = Field(None, description="last day (default: today)")


def _range(query: RangeQuery, default_days: int = 30) -> tuple[date, date]:
    last = query.last or local_date()
    selectors.validate_range(query.first or last, last)  # before any date arithmetic
    first = query.first or last - timedelta(days=default_days - 1)
    selectors.validate_range(first, last)
    return first, last


def _table(report: dict[str, Any]) -> dict[str, Any]:
    out = dict(report)
    out["table"] = asdict(report["table"])
    return out


@manage_router.get("/analytics/overview", auth=requires(P.ANALYTICS_VIEW))
def overview(request: HttpRequest) -> dict[str, Any]:
    """Today, yesterday, last 7 and 30 days, with changes (``periods``: each
    against the whole previous period). ``today_same_hours``: today up to now
    against yesterday and the same weekday last week up to the same time, and
    the same hours averaged over the seven days before."""
    out = _table(selectors.overview())
    live = selectors.same_hours()
    out["today_same_hours"] = {
        "until": live["until"],
        "metrics": live["today"],
        "yesterday": live["yesterday"],
        "last_week": live["last_week"],
        "average_7_days": live["average"],
        "vs_yesterday": live["vs_yesterday"],
        "vs_last_week": live["vs_last_week"],
        "vs_average_7_days": live["vs_average"],
    }
    return out


Metric = Literal[
    "pageviews",
    "visitors",
    "new_visitors",
    "new_members",
    "dau",
    "wau",
    "mau",
    "stickiness",
    "sessions",
    "avg_session_seconds",
    "orders",
    "paid_orders",
    "gmv",
    "paying_members",
    "aov",
    "conversion",
    "refund_amount",
    "refund_rate",
]


class TrendQuery(RangeQuery):
    metric: Metric = "visitors"
    grain: Literal["day", "week", "month"] = "day"
    compare_first: date | None = None
    compare_last: date | None = None


@manage_router.get("/analytics/trends", auth=requires(P.ANALYTICS_VIEW))
def trends(request: HttpRequest, query: Query[TrendQuery]) -> dict[str, Any]:
    first, last = _range(query)
    compare = None
    if query.compare_first or query.compare_last:
        if not (query.compare_first and query.compare_last):
            raise InvalidInput(fields={"compare_last": _("Give both ends of the compared range.")})
        selectors.validate_range(query.compare_first, query.compare_last)
        compare = (query.compare_first, query.compare_last)
    return _table(selectors.trends(query.metric, first, last, query.grain, compare))


class RetentionQuery(RangeQuery):
    grain: Literal["day", "week"] = "day"
    periods: int = Field(30, ge=1, le=60)
    cohort_by: Literal["first_visit", "registration"] = "first_visit"
    returned_event: str = Field("", max_length=64)


@manage_router.get("/analytics/retention", auth=requires(P.ANALYTICS_VIEW))
def retention(request: HttpRequest, query: Query[RetentionQuery]) -> dict[str, Any]:
    first, last = _range(query)
    return _table(
        selectors.retention(
            first,
            last,
            grain=query.grain,
            periods=query.periods,
            cohort_by=query.cohort_by,
            returned_event=query.returned_event,
        )
    )


class StepIn(StrictIn):
    event: str = Field(..., min_length=1, max_length=64)
    property: str = Field("", max_length=64)
    value: str | Int64 | float | bool | None = None
    label: str = Field("", max_length=64)


class FunnelIn(StrictIn):
    steps: list[StepIn] = Field(..., min_length=2, max_length=10)
    first: IsoDate | None = None
    last: IsoDate | None = None
    window_hours: int = Field(24, ge=1, le=720)
    breakdown: Literal["", "scene", "channel", "utm_source", "platform"] = ""


@manage_router.post("/analytics/funnels/query", auth=requires(P.ANALYTICS_VIEW))
def funnel_query(request: HttpRequest, payload: FunnelIn) -> dict[str, Any]:
    """Run a funnel without saving it."""
    steps = services.clean_steps([step.dict() for step in payload.steps])
    last = payload.last or local_date()
    first = payload.first or last - timedelta(days=29)
    selectors.validate_range(first, last)
    return _table(
        selectors.funnel(
            steps, first, last, window_hours=payload.window_hours, breakdown=payload.breakdown
        )
    )


class FunnelOut(Schema):
    id: int
    name: str
    steps: list[dict[str, Any]]
    window_hours: int


class FunnelSaveIn(StrictIn):
    name: str = Field(..., min_length=1, max_length=80)
    steps: list[StepIn] = Field(..., min_length=2, max_length=10)
    window_hours: int = Field(24, ge=1, le=720)


@manage_router.get("/analytics/funnels", response=list[FunnelOut], auth=requires(P.ANALYTICS_VIEW))
def list_funnels(request: HttpRequest) -> Any:
    return Funnel.objects.all()[:200]


@manage_router.post(
    "/analytics/funnels", response={201: FunnelOut}, auth=requires(P.ANALYTICS_ALERTS)
)
def save_funnel(request: HttpRequest, payload: FunnelSaveIn) -> Status[Funnel]:
    principal = principal_of(request)
    funnel = services.save_funnel(
        name=payload.name,
        steps=[step.dict() for step in payload.steps],
        window_hours=payload.window_hours,
        actor=getattr(principal, "operator", None),
    )
    return Status(201, funnel)


class FunnelReportQuery(RangeQuery):
    breakdown: Literal["", "scene", "channel", "utm_source", "platform"] = ""


@manage_router.get("/analytics/funnels/{funnel_id}", auth=requires(P.ANALYTICS_VIEW))
def funnel_report(
    request: HttpRequest, query: Query[FunnelReportQuery], funnel_id: int = ID
) -> dict[str, Any]:
    funnel = Funnel.objects.filter(pk=funnel_id).first()
    if funnel is None:
        raise NotFound()
    first, last = _range(query)
    report = selectors.funnel(
        funnel.steps, first, last, window_hours=funnel.window_hours, breakdown=query.breakdown
    )
    return {"funnel": {"id": funnel.pk, "name": funnel.name}, **_table(report)}


class SourceQuery(RangeQuery):
    by: Literal["scene", "channel", "utm_source", "share"] = "scene"


@manage_router.get("/analytics/sources", auth=requires(P.ANALYTICS_VIEW))
def traffic_sources(request: HttpRequest, query: Query[SourceQuery]) -> dict[str, Any]:
    first, last = _range(query)
    return _table(selectors.sources(first, last, by=query.by))


@manage_router.get("/analytics/features", auth=requires(P.ANALYTICS_VIEW))
def feature_usage(request: HttpRequest, query: Query[RangeQuery]) -> dict[str, Any]:
    first, last = _range(query)
    return _table(selectors.features(first, last))


@manage_router.get("/analytics/realtime", auth=requires(P.ANALYTICS_VIEW))
def realtime_monitor(request: HttpRequest) -> dict[str, Any]:
    """The last 60 minutes, per minute, and the pages viewed in the last five."""
    return selectors.realtime_snapshot()


class TimelineEventOut(Schema):
    name: str
    source: str
    ts: Any
    path: str
    scene: int | None
    channel: str
    properties: dict[str, Any]


@manage_router.get(
    "/analytics/members/{member_id}/timeline",
    response=list[TimelineEventOut],
    auth=requires(P.ANALYTICS_VIEW),
)
def member_timeline(
    request: HttpRequest, member_id: int = ID, limit: int = Query(50, ge=1, le=200)
) -> Any:
    from miniops.members.models import Member

    if not Member.objects.filter(pk=member_id).exists():
        raise NotFound()
    return selectors.member_timeline(member_id, limit=limit)
