"""Group buys: the list, a group, opening and joining."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Schema

from miniops.core.apiauth import public
from miniops.core.errors import NotFound
from miniops.core.openapi import errors
from miniops.core.schemas import ID, Id, IdempotencyKey, StrictIn
from miniops.marketing import selectors
from miniops.marketing.api.common import GROUP_CODE, _json, _order, router
from miniops.marketing.models import Group
from miniops.marketing.services import groups
from miniops.members.apiauth import me_of, member, member_or_public
from miniops.orders.schemas import OrderOut
from miniops.orders.services import idempotency


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
