"""Points, sign-in, levels and the points shop."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Schema

from miniops.core.apiauth import public
from miniops.core.openapi import errors
from miniops.core.schemas import ID, Id, IdempotencyKey, StrictIn
from miniops.marketing import selectors
from miniops.marketing.api.common import _json, _order, router
from miniops.marketing.models import PointsEntry, RedeemItem
from miniops.marketing.services import points
from miniops.members.apiauth import me_of, member
from miniops.orders.schemas import OrderOut
from miniops.orders.services import idempotency


# --- points, sign-in, levels, the points shop -------------------------------------------------
class StandingOut(Schema):
    points: int
    growth: int
    level: str | None
    next_level: str | None
    growth_to_next: int | None
    sign_in_streak: int
    signed_in_today: bool


@router.get("/me/points", response=StandingOut, auth=member())
def my_points(request: HttpRequest) -> dict[str, Any]:
    return selectors.standing_summary(me_of(request).pk)


class PointsEntryOut(Schema):
    delta: int
    balance: int
    reason: str
    reference: str
    created_at: datetime


@router.get("/me/points/history", response=list[PointsEntryOut], auth=member())
def my_points_history(request: HttpRequest) -> Any:
    return PointsEntry.objects.filter(member=me_of(request)).order_by("-created_at", "-id")[:100]


class SignInOut(Schema):
    streak: int
    points: int
    balance: int


@router.post(
    "/me/sign-in", response={200: SignInOut, **errors(409)}, auth=member(), summary="Daily sign-in"
)
def sign_in(request: HttpRequest) -> dict[str, Any]:
    """Once per day (409 ``already_signed_in``); consecutive days earn more."""
    return points.sign_in(member=me_of(request))


class RedeemItemOut(Schema):
    id: int
    name: str
    points: int
    stock: int
    kind: str


@router.get("/points-shop", response=list[RedeemItemOut], auth=public())
def points_shop(request: HttpRequest) -> Any:
    return [
        {
            "id": item.pk,
            "name": item.name,
            "points": item.points,
            "stock": item.stock,
            "kind": "coupon" if item.coupon_template_id else "goods",
        }
        for item in RedeemItem.objects.filter(is_active=True).order_by("points")[:200]
    ]


class RedemptionOut(Schema):
    id: int
    points: int
    coupon_id: int | None


class RedeemIn(StrictIn):
    address_id: Id | None = Field(None, description="goods only")


@router.post(
    "/points-shop/{item_id}/redeem",
    response={201: RedemptionOut | OrderOut, **errors(403, 409)},
    auth=member(),
    summary="Redeem points for a coupon, or for goods (send address_id and an Idempotency-Key)",
)
def redeem(
    request: HttpRequest,
    item_id: int = ID,
    payload: RedeemIn | None = None,
    key: str | None = IdempotencyKey(required=False),
) -> HttpResponse:
    """A coupon: 201 ``{"id", "points", "coupon_id"}``. Goods: 201 with the order
    (already paid when there is no shipping to pay; otherwise pay it like any
    order). 409 ``sold_out``, ``redeem_limit_reached``, ``insufficient_points``,
    ``redeem_ended``. The ``Idempotency-Key`` is required for goods (an order)
    and accepted for a coupon: a retry answers the first redemption again."""
    current = me_of(request)
    address_id = payload.address_id if payload is not None else None

    def work() -> tuple[int, Any]:
        if address_id is not None:
            order = points.redeem_goods(item_id=item_id, member=current, address_id=address_id)
            return 201, _order(order)
        redemption = points.redeem(item_id=item_id, member=current)
        return 201, RedemptionOut(
            id=redemption.pk, points=redemption.points, coupon_id=redemption.coupon_id
        ).dict()

    status, body = idempotency.run(
        member_id=current.pk,
        scope="points.redeem",
        key=key,
        payload={"item": item_id, "address_id": address_id},
        work=work,
        required=address_id is not None,
    )
    return _json(status, body)
