"""Client API (the member's subscribe-message consent) and the management API
(templates with their reach, campaigns and their results)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from miniops.accounts.apiauth import requires
from miniops.core.openapi import errors
from miniops.core.permissions import P
from miniops.core.schemas import StrictIn
from miniops.members.apiauth import me_of, member
from miniops.notifications import selectors, services
from miniops.notifications.models import MessageTemplate
from miniops.notifications.services.consent import consents_of

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
