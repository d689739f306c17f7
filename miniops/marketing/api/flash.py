"""Flash sales: the list and buying."""

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
from miniops.marketing.services import flash
from miniops.members.apiauth import member
from miniops.orders.schemas import OrderOut
from miniops.orders.services import idempotency


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
