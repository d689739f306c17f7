"""Marketing API: coupons, points and sign-in, the points shop, flash sales and
group buys for the mini-program; results for integrators."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema

from miniops.accounts.apiauth import requires
from miniops.core.apiauth import public
from miniops.core.errors import NotFound
from miniops.core.openapi import errors
from miniops.core.permissions import P
from miniops.core.schemas import ID, Id, IdempotencyKey, StrictIn
from miniops.marketing import pricing, selectors
from miniops.marketing.models import Coupon, CouponTemplate, Group, PointsEntry, RedeemItem
from miniops.marketing.services import coupons, flash, groups, points
from miniops.members.apiauth import me_of, member, member_or_public
from miniops.orders.schemas import OrderOut
from miniops.orders.selectors import order_detail
from miniops.orders.services import idempotency

#: a group's share code (``secrets.token_urlsafe``)
GROUP_CODE = Path(..., min_length=4, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
router = Router(tags=["marketing"])
manage_router = Router(tags=["manage: marketing"])


def _json(status: int, body: bytes) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="application/json")


def _order(order: Any) -> dict[str, Any]:
    return OrderOut(**order_detail(order)).dict()


# --- coupons ------------------------------------------------------------------------------
class TemplateOut(Schema):
    id: int
    name: str
    kind: str
    value: int
    max_discount: int
    min_spend: int
    scope: str
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    left: int
    per_member_limit: int


def _template_out(template: CouponTemplate) -> dict[str, Any]:
    return {
        "id": template.pk,
        "name": template.name,
        "kind": template.kind,
        "value": template.value,
        "max_discount": template.max_discount,
        "min_spend": template.min_spend,
        "scope": template.scope,
        "valid_from": template.valid_from,
        "valid_until": template.valid_until,
        "valid_days": template.valid_days,
        "left": template.total_quantity - template.issued_count,
        "per_member_limit": template.per_member_limit,
    }


class CouponOut(Schema):
    id: int
    template: TemplateOut
    status: str
    valid_from: datetime
    valid_until: datetime | None
    received_at: datetime


def _coupon_out(coupon: Coupon) -> dict[str, Any]:
    return {
        "id": coupon.pk,
        "template": _template_out(coupon.template),
        "status": coupon.status,
        "valid_from": coupon.valid_from,
        "valid_until": coupon.valid_until,
        "received_at": coupon.received_at,
    }


@router.get(
    "/coupons/center", response=list[TemplateOut], auth=public(), summary="Claimable coupons"
)
def coupon_center(request: HttpRequest) -> Any:
    return [_template_out(t) for t in selectors.claimable_templates()]


@router.post(
    "/coupons/{template_id}/claim",
    response={201: CouponOut, **errors(409)},
    auth=member(),
    summary="Claim a coupon (an Idempotency-Key makes a retry safe)",
)
def claim_coupon(
    request: HttpRequest, template_id: int = ID, key: str | None = IdempotencyKey(required=False)
) -> HttpResponse:
    """Every limit holds under concurrency: 409 ``coupons_gone`` when none is left,
    ``coupon_limit_reached`` at the per-member limit. With an ``Idempotency-Key``,
    a retry (say, after a lost answer) answers the first claim again instead of
    claiming a second coupon or answering the limit."""
    current = me_of(request)

    def work() -> tuple[int, Any]:
        coupon = coupons.claim(template_id=template_id, member=current)
        return 201, CouponOut(**_coupon_out(coupon)).dict()

    status, body = idempotency.run(
        member_id=current.pk,
        scope="coupons.claim",
        key=key,
        payload={"template": template_id},
        work=work,
        required=False,
    )
    return _json(status, body)


class MyCouponsQuery(Schema):
    status: Literal["unused", "locked", "used", "expired", "voided"] | None = None


@router.get("/me/coupons", response=list[CouponOut], auth=member())
def my_coupons(request: HttpRequest, query: Query[MyCouponsQuery]) -> Any:
    rows = Coupon.objects.select_related("template").filter(member=me_of(request))
    if query.status:
        rows = rows.filter(status=query.status)
    return [_coupon_out(c) for c in rows.order_by("status", "valid_until")[:200]]


class BasketItemIn(StrictIn):
    sku_id: Id
    quantity: int = Field(..., ge=1, le=999)


class CouponsForCartIn(StrictIn):
    items: list[BasketItemIn] | None = Field(None, max_length=50)
    from_cart: bool = False
    address_id: Id | None = None


class SuggestionOut(Schema):
    coupon_id: int
    name: str
    kind: str
    discount: int
    valid_until: datetime | None


@router.post(
    "/checkout/coupons", response={200: list[SuggestionOut], **errors(403, 404, 409)}, auth=member()
)
def coupons_for_checkout(request: HttpRequest, payload: CouponsForCartIn) -> Any:
    """The member's coupons that apply to this basket, best first (send the chosen
    ids as ``coupon_ids`` to the preview and the order)."""
    from miniops.orders.services import preview

    quote = preview(
        member=me_of(request),
        items=[i.dict() for i in payload.items] if payload.items else None,
        from_cart=payload.from_cart,
        address_id=payload.address_id,
    )
    return pricing.suggest_coupons(quote)


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


# --- flash sales -----------------------------------------------------------------------------
class FlashItemOut(Schema):
    id: int
    sku_id: int
    product_id: int
    title: str
    flash_price: int
    original_price: int
    remaining: int
    per_member_limit: int


class FlashSessionOut(Schema):
    id: int
    name: str
    status: str
    starts_at: datetime
    ends_at: datetime
    server_time: datetime
    items: list[FlashItemOut]


@router.get("/flash-sales", response=list[FlashSessionOut], auth=public())
def flash_sales(request: HttpRequest) -> Any:
    """Running and upcoming sessions, with the server's time for countdowns."""
    return selectors.flash_sessions()


class FlashBuyIn(StrictIn):
    quantity: int = Field(1, ge=1, le=99)
    address_id: Id
    remark: str = Field("", max_length=200)


@router.post(
    "/flash-sales/items/{item_id}/buy",
    response={201: OrderOut, **errors(403, 409, 503)},
    auth=member(),
    summary="Buy a flash-sale item (send an Idempotency-Key)",
)
def flash_buy(
    request: HttpRequest,
    payload: FlashBuyIn,
    item_id: int = ID,
    key: str | None = IdempotencyKey(required=True),
) -> HttpResponse:
    """201 with the unpaid order (pay within the session's minutes, default 5);
    409 ``sold_out`` (answered without touching the database when Redis is
    configured), ``flash_limit_reached``, ``flash_not_started``, ``flash_ended``;
    503 ``flash_unavailable`` when Redis is down."""
    auth = request.auth  # type: ignore[attr-defined]
    # The gate first: a sold-out answer costs one Redis call, no query, no record.
    with flash.admission(
        member_id=auth.member_id, item_id=item_id, quantity=payload.quantity, key=key
    ) as admitted:

        def work() -> tuple[int, Any]:
            # the member row is loaded only for a purchase the gate let through
            order = flash.place(
                admitted, member=auth.member, address_id=payload.address_id, remark=payload.remark
            )
            return 201, _order(order)

        status, body = idempotency.run(
            member_id=auth.member_id,
            scope=f"flash.{admitted.item_id}",
            key=key,
            payload={
                "item": admitted.item_id,
                "quantity": payload.quantity,
                "address_id": payload.address_id,
                "remark": payload.remark,
            },
            work=work,
        )
        if status < 400:
            admitted.keep()
    return _json(status, body)


# --- group buys ---------------------------------------------------------------------------
class GroupBuyOut(Schema):
    id: int
    name: str
    sku_id: int
    group_price: int
    original_price: int
    group_size: int
    hours_to_fill: int
    ends_at: datetime
    server_time: datetime


@router.get("/group-buys", response=list[GroupBuyOut], auth=public())
def group_buys(request: HttpRequest) -> Any:
    return selectors.running_group_buys()


class GroupOut(Schema):
    code: str
    group_buy_id: int
    status: str
    group_size: int
    paid_count: int
    expires_at: datetime
    server_time: datetime


@router.get("/groups/{code}", response=GroupOut, auth=member_or_public())
def group_detail(request: HttpRequest, code: str = GROUP_CODE) -> Any:
    group = Group.objects.select_related("group_buy").filter(code=code).first()
    if group is None:
        raise NotFound()
    return {
        "code": group.code,
        "group_buy_id": group.group_buy_id,
        "status": group.status,
        "group_size": group.group_buy.group_size,
        "paid_count": group.paid_count,
        "expires_at": group.expires_at,
        "server_time": timezone.now(),
    }


class GroupIn(StrictIn):
    address_id: Id


class GroupOrderOut(OrderOut):
    group_code: str = Field(description="the group's share code")


def _group_order(
    request: HttpRequest,
    scope: str,
    payload: dict[str, Any],
    key: str | None,
    place: Callable[[Any], groups.GroupOrder],
) -> HttpResponse:
    """Place a group order once per Idempotency-Key; the answer is the order and
    the group's share code."""
    current = me_of(request)

    def work() -> tuple[int, Any]:
        placed = place(current)
        return 201, {**_order(placed.order), "group_code": placed.group_code}

    status, body = idempotency.run(
        member_id=current.pk, scope=scope, key=key, payload=payload, work=work
    )
    return _json(status, body)


@router.post(
    "/group-buys/{group_buy_id}/open",
    response={201: GroupOrderOut, **errors(403, 409)},
    auth=member(),
    summary="Open a group (send an Idempotency-Key)",
)
def open_group(
    request: HttpRequest,
    payload: GroupIn,
    group_buy_id: int = ID,
    key: str | None = IdempotencyKey(required=True),
) -> HttpResponse:
    """201 with the unpaid order and ``group_code``; the group opens when it is paid."""
    return _group_order(
        request,
        f"group.{group_buy_id}",
        {"group_buy": group_buy_id, "address_id": payload.address_id},
        key,
        lambda current: groups.open_group(
            member=current, group_buy_id=group_buy_id, address_id=payload.address_id
        ),
    )


@router.post(
    "/groups/{code}/join",
    response={201: GroupOrderOut, **errors(403, 404, 409)},
    auth=member(),
    summary="Join a group through its share link (send an Idempotency-Key)",
)
def join_group(
    request: HttpRequest,
    payload: GroupIn,
    code: str = GROUP_CODE,
    key: str | None = IdempotencyKey(required=True),
) -> HttpResponse:
    return _group_order(
        request,
        f"group.join.{code}",
        {"code": code, "address_id": payload.address_id},
        key,
        lambda current: groups.join_group(member=current, code=code, address_id=payload.address_id),
    )


# --- management: results ---------------------------------------------------------------------
@manage_router.get("/marketing/coupons", auth=requires(P.MARKETING_VIEW))
def coupon_stats(request: HttpRequest) -> list[dict[str, Any]]:
    """Per template: issued, used, GMV of orders using it, discount cost and ROI."""
    return selectors.coupon_stats()


@manage_router.get("/marketing/flash-sales", auth=requires(P.MARKETING_VIEW))
def flash_stats(request: HttpRequest) -> list[dict[str, Any]]:
    return selectors.flash_stats()


@manage_router.get("/marketing/group-buys", auth=requires(P.MARKETING_VIEW))
def group_stats(request: HttpRequest) -> list[dict[str, Any]]:
    return selectors.group_stats()


class AdjustOut(Schema):
    balance: int
    delta: int


class AdjustIn(StrictIn):
    delta: int = Field(..., ge=-10_000_000, le=10_000_000)
    note: str = Field(..., min_length=1, max_length=255)


@manage_router.post(
    "/marketing/members/{member_id}/points",
    response={200: AdjustOut, **errors(409)},
    auth=requires(P.MARKETING_POINTS),
)
def adjust_points(request: HttpRequest, payload: AdjustIn, member_id: int = ID) -> dict[str, Any]:
    from miniops.accounts.context import principal_of

    entry = points.adjust(
        member_id=member_id,
        delta=payload.delta,
        note=payload.note,
        actor=principal_of(request).operator,
    )
    return {"balance": entry.balance, "delta": entry.delta}
