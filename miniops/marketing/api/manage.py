"""The management API: campaign results and points adjustments."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Schema

from miniops.accounts.apiauth import requires
from miniops.core.openapi import errors
from miniops.core.permissions import P
from miniops.core.schemas import ID, StrictIn
from miniops.marketing import selectors
from miniops.marketing.api.common import manage_router
from miniops.marketing.services import points


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
    from miniops.accounts.context import token_operator

    entry = points.adjust(
        member_id=member_id,
        delta=payload.delta,
        note=payload.note,
        actor=token_operator(request),
    )
    return {"balance": entry.balance, "delta": entry.delta}
