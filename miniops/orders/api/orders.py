"""Placing, listing, cancelling, paying and receiving orders."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query
from ninja.pagination import paginate

from miniops.core.openapi import errors
from miniops.core.pagination import Mapped, Pagination
from miniops.core.schemas import ID, IdempotencyKey
from miniops.members.apiauth import me_of, member
from miniops.orders import selectors, services
from miniops.orders.api.common import _json, _own_order, router
from miniops.orders.api.schemas import OrderIn, OrderOut, PaymentParamsOut, StatusFilter
from miniops.orders.services import idempotency


# --- orders -------------------------------------------------------------------------------------
@router.post(
    "/orders",
    response={201: OrderOut, **errors(403, 404, 409)},
    auth=member(),
    summary="Place an order (send an Idempotency-Key)",
)
def place_order(
    request: HttpRequest, payload: OrderIn, key: str | None = IdempotencyKey(required=True)
) -> HttpResponse:
    """Reserves stock and answers 201 with the unpaid order. Retrying with the same
    ``Idempotency-Key`` answers the first result again; the same key with another
    body is 422; while the first is still running, 409."""
    current = me_of(request)
    body = payload.dict()

    def work() -> tuple[int, Any]:
        order = services.place_order(
            member=current,
            items=body["items"],
            from_cart=body["from_cart"],
            address_id=body["address_id"],
            remark=body["remark"],
            context=payload.context(),
        )
        return 201, OrderOut(**selectors.order_detail(order)).dict()

    status, raw = idempotency.run(
        member_id=current.pk,
        scope="orders.create",
        key=key,
        payload=body,
        work=work,
    )
    return _json(status, raw)


@router.get("/orders", response=list[OrderOut], auth=member())
@paginate(Pagination)
def list_orders(request: HttpRequest, filters: Query[StatusFilter]) -> Any:
    return Mapped(
        selectors.member_orders(me_of(request).pk, filters.status), selectors.order_detail
    )


@router.get("/orders/{order_id}", response=OrderOut, auth=member())
def get_order(request: HttpRequest, order_id: int = ID) -> dict[str, Any]:
    return selectors.order_detail(_own_order(request, order_id), timeline=True)


@router.post("/orders/{order_id}/cancel", response={200: OrderOut, **errors(409)}, auth=member())
def cancel_order(request: HttpRequest, order_id: int = ID) -> dict[str, Any]:
    order = _own_order(request, order_id)
    services.cancel_order(order=order, by_member=True, reason="member")
    return selectors.order_detail(_own_order(request, order_id), timeline=True)


@router.post(
    "/orders/{order_id}/pay",
    response={200: PaymentParamsOut, **errors(409, 503)},
    auth=member(),
    summary="wx.requestPayment parameters",
)
def pay_order(request: HttpRequest, order_id: int = ID) -> dict[str, str]:
    """Safe to retry: an open payment of the same amount is reused."""
    return services.start_payment(order=_own_order(request, order_id))


@router.post(
    "/orders/{order_id}/confirm-receipt",
    response={200: OrderOut, **errors(409)},
    auth=member(),
)
def confirm_receipt(request: HttpRequest, order_id: int = ID) -> dict[str, Any]:
    order = _own_order(request, order_id)
    services.confirm_receipt(order=order)
    return selectors.order_detail(order, timeline=True)
