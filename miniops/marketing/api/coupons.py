"""The coupon centre, claiming, a member's coupons and the best coupons at checkout."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Schema

from miniops.core.apiauth import public
from miniops.core.openapi import errors
from miniops.core.schemas import ID, Id, IdempotencyKey, StrictIn
from miniops.marketing import pricing, selectors
from miniops.marketing.api.common import _json, router
from miniops.marketing.models import Coupon, CouponTemplate
from miniops.marketing.services import coupons
from miniops.members.apiauth import me_of, member
from miniops.orders.services import idempotency


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
