"""Client API (the member's subscribe-message consent) and the management API
(templates with their reach, campaigns and their results)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.responses import Status
from ninja.throttling import BaseThrottle

from miniops.accounts.apiauth import requires
from miniops.core.errors import NotFound
from miniops.core.openapi import errors
from miniops.core.permissions import P
from miniops.core.schemas import ID, IdempotencyKey, StrictIn
from miniops.core.throttling import WindowThrottle
from miniops.members.apiauth import me_of, member
from miniops.notifications import selectors, services
from miniops.notifications.models import Campaign, MessageTemplate, WatchOutcome
from miniops.notifications.results import campaign_results
from miniops.notifications.services import watches
from miniops.notifications.services.consent import consents_of
from miniops.orders.services import idempotency

router = Router(tags=["push messages"])
manage_router = Router(tags=["management: push messages"])


class SubscriptionsIn(StrictIn):
    request_id: str = Field(
        ...,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="made by the client once per wx.requestSubscribeMessage call; "
        "a resent report with the same id changes nothing",
    )
    results: dict[str, str] = Field(
        ...,
        description="what wx.requestSubscribeMessage returned: WeChat template id -> "
        "accept | reject | ban | filter (acceptWithAudio / acceptWithAlert count as accept)",
    )


class SubscriptionConsentOut(Schema):
    template_id: str
    title: str
    remaining: int = Field(description="one-time sends left (0 for long-term templates)")
    long_term: bool
    last_choice: str


class SubscriptionsOut(Schema):
    request_id: str
    consents: list[SubscriptionConsentOut]


class MessageTemplateOut(Schema):
    template_id: str
    title: str
    kind: str
    keywords: list[dict[str, str]]


@router.post(
    "/subscriptions",
    response={200: SubscriptionsOut, **errors(400)},
    auth=member(),
    summary="Record what wx.requestSubscribeMessage returned (idempotent)",
)
def report_subscriptions(request: HttpRequest, payload: SubscriptionsIn) -> Any:
    """Each ``accept`` of a one-time template allows exactly one later message of
    it; ``reject`` and ``ban`` take back what was left. The answer is the member's
    consent for the templates named."""
    return services.record_subscriptions(
        member=me_of(request), request_id=payload.request_id, results=payload.results
    )


@router.get(
    "/subscriptions",
    response={200: list[SubscriptionConsentOut]},
    auth=member(),
    summary="The member's consent per template",
)
def my_subscriptions(request: HttpRequest) -> Any:
    return consents_of(me_of(request))


@router.get(
    "/subscriptions/templates",
    response={200: list[MessageTemplateOut]},
    auth=member(),
    summary="Templates the mini-program may ask consent for",
)
def subscribe_templates(request: HttpRequest) -> Any:
    """The ids to pass to ``wx.requestSubscribeMessage({tmplIds})``."""
    return [
        {
            "template_id": row.wx_template_id,
            "title": row.title,
            "kind": row.kind,
            "keywords": row.keywords,
        }
        for row in MessageTemplate.objects.filter(is_active=True)
    ]


# --- "remind me" / "tell me when it is back" -------------------------------------------------
def reminder_throttle(*, requires_key: bool = False) -> list[BaseThrottle]:
    rate = settings.MINIOPS_REMINDER_WRITE_RATE
    return [
        WindowThrottle(
            anon_rate=rate,
            auth_rate=rate,
            scope="reminder-write",
            requires_header="Idempotency-Key" if requires_key else "",
        )
    ]


class ReminderIn(StrictIn):
    kind: Literal["flash_session", "back_in_stock"] = Field(
        ...,
        description="flash_session: a flash sale not started yet; back_in_stock: a sold-out SKU",
    )
    ref: int = Field(..., ge=1, le=2**63 - 1, description="the flash sale's id or the SKU's id")


class ReminderOut(Schema):
    id: int
    kind: str
    ref: int
    created_at: datetime
    state: Literal["open", "answered", "not_sent"] = Field(
        description="open: waiting for its campaign; answered: one campaign planned its "
        "message; not_sent: closed without a message (see reason)"
    )
    reason: str = Field(
        description="why it was closed: planned, not_in_audience, no_consent, no_campaign, "
        "ended (the flash sale was called off); empty while open"
    )
    closed_at: datetime | None
    ask_consent_for: list[str] = Field(
        description="WeChat template ids to pass to wx.requestSubscribeMessage so the "
        "message can be sent (those of campaigns that can reach the member, which the "
        "member has no consent for yet); empty once closed"
    )


def _reminder_out(row: Any) -> dict[str, Any]:
    is_open = row.notified_at is None
    return {
        "id": row.pk,
        "kind": row.kind,
        "ref": row.ref,
        "created_at": row.created_at,
        "state": "open"
        if is_open
        else ("answered" if row.outcome == WatchOutcome.PLANNED else "not_sent"),
        "reason": row.outcome,
        "closed_at": row.notified_at,
        "ask_consent_for": watches.templates_to_ask(row.kind, row.member_id) if is_open else [],
    }


@router.post(
    "/reminders",
    response={201: ReminderOut, **errors(404, 409)},
    auth=member(),
    throttle=reminder_throttle(requires_key=True),
    summary="Remind me of a flash sale / tell me when a SKU is back (send an Idempotency-Key)",
)
def create_reminder(
    request: HttpRequest, payload: ReminderIn, key: str | None = IdempotencyKey(required=True)
) -> HttpResponse:
    """Asking twice is the same request. The message is sent by the running
    flash-sale-reminder / back-in-stock campaign, once, with the member's consent
    for its template (report it with ``POST /subscriptions``)."""
    me = me_of(request)
    body = payload.dict()

    def work() -> tuple[int, Any]:
        row = watches.watch(member=me, kind=body["kind"], ref=body["ref"])
        return 201, _reminder_out(row)

    status, raw = idempotency.run(
        member_id=me.pk, scope="notifications.reminders", key=key, payload=body, work=work
    )
    return HttpResponse(raw, status=status, content_type="application/json")


@router.get(
    "/reminders",
    response={200: list[ReminderOut], **errors(400)},
    auth=member(),
    summary="The member's reminder requests: open ones, or the latest closed ones",
)
def my_reminders(request: HttpRequest, state: Literal["open", "closed"] = "open") -> Any:
    """``state=closed``: the latest 100 closed requests, answered or not, each with
    the reason it was closed (a flash sale that started before any campaign could
    reach the member is ``not_sent``)."""
    member_id = me_of(request).pk
    rows = watches.open_watches(member_id) if state == "open" else watches.closed_watches(member_id)
    return [_reminder_out(row) for row in rows]


@router.delete(
    "/reminders/{reminder_id}",
    response={204: None, **errors(404)},
    auth=member(),
    throttle=reminder_throttle(),
    summary="Cancel an open reminder request",
)
def cancel_reminder(request: HttpRequest, reminder_id: int = ID) -> Any:
    watches.unwatch(member=me_of(request), watch_id=reminder_id)
    return Status(204, None)


class ManageMessageTemplateOut(MessageTemplateOut):
    id: int
    is_active: bool
    reachable: int = Field(description="members a send of this template can reach now")


@manage_router.get(
    "/notifications/templates",
    response={200: list[ManageMessageTemplateOut]},
    auth=requires(P.NOTIFICATIONS_VIEW),
    summary="Subscribe-message templates and how many members each can reach",
)
def manage_templates(request: HttpRequest) -> Any:
    reach = selectors.reachable_counts()
    return [
        {
            "id": row.pk,
            "template_id": row.wx_template_id,
            "title": row.title,
            "kind": row.kind,
            "keywords": row.keywords,
            "is_active": row.is_active,
            "reachable": reach.get(row.pk, 0),
        }
        for row in MessageTemplate.objects.all()[:500]
    ]


class CampaignOut(Schema):
    id: int
    name: str
    kind: str
    trigger: str
    status: str
    audience: str = Field(description="the audience key (tag:vip, segment:12), empty for a trigger")
    audience_label: str = Field(description="the audience as operators see it")
    holdout_pct: int
    created_at: datetime
    next_run_at: datetime | None


def _campaign_out(row: Campaign) -> dict[str, Any]:
    return {
        "id": row.pk,
        "name": row.name,
        "kind": row.kind,
        "trigger": row.trigger,
        "status": row.status,
        "audience": row.audience,
        "audience_label": selectors.audience_label(row.audience),
        "holdout_pct": row.holdout_pct,
        "created_at": row.created_at,
        "next_run_at": row.next_run_at,
    }


@manage_router.get(
    "/notifications/campaigns",
    response={200: list[CampaignOut]},
    auth=requires(P.NOTIFICATIONS_VIEW),
    summary="Push campaigns, newest first (at most 200)",
)
def manage_campaigns(request: HttpRequest) -> Any:
    return [_campaign_out(row) for row in Campaign.objects.order_by("-created_at", "-pk")[:200]]


@manage_router.get(
    "/notifications/campaigns/{campaign_id}/results",
    response={200: dict[str, Any], **errors(404)},
    auth=requires(P.NOTIFICATIONS_VIEW),
    summary="A campaign's results: treatment against control, with 95 % intervals",
)
def manage_campaign_results(request: HttpRequest, campaign_id: int = ID) -> Any:
    """``groups`` (units, reached, opened, converted, orders, GMV in fen, conversion,
    GMV per member), ``variants``, ``gmv`` / ``incremental_gmv`` / ``conversion``
    (``diff``, ``low``, ``high``, ``significant``, ``method``), ``cost`` and ``roi``;
    see decision 0021 for the method."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound()
    return {"campaign": _campaign_out(campaign), **campaign_results(campaign)}
