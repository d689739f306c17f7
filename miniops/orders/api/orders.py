"""Placing, listing, cancelling, paying and receiving orders."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query
from ninja.pagination import paginate

from miniops.accounts.api import Pagination
from miniops.core.pagination import Mapped
from miniops.members.api import me_of
from miniops.members.apiauth import member
from miniops.orders import selectors, services
from miniops.orders.api.common import ID, _json, _order_out, _own_order, router
from miniops.orders.api.schemas import OrderIn, OrderOut, PaymentParamsOut, StatusFilter
from miniops.orders.services import idempotency


# --- orders -------------------------------------------------------------------------------------
@router.post(
    "/orders",
    response={201: OrderOut, 409: dict[str, Any], 422: dict[str, Any]},
    auth=member(),
    summary="Place an order (send an Idempotency-Key)",
)
def place_order(request: HttpRequest, payload: OrderIn) -> HttpResponse:
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
        return 201, OrderOut(**_order_out(order)).dict()

    status, raw = idempotency.run(
        member_id=current.pk,
        scope="orders.create",
        key=request.headers.get("Idempotency-Key"),
        payload=body,
        work=work,
    )
    return _json(status, raw)


@router.get("/orders", response=list[OrderOut], auth=member())
@paginate(Pagination)
def list_orders(request: HttpRequest, filters: Query[StatusFilter]) -> Any:
    return Mapped(selectors.member_orders(me_of(request).pk, filters.status), _order_out)


@router.get("/orders/{order_id}", response=OrderOut, auth=member())
def get_order(request: HttpRequest, order_id: int = ID) -> dict[str, Any]:
    return _order_out(_own_order(request, order_id), timeline=True)


@router.post("/orders/{order_id}/cancel", response=OrderOut, auth=member())
def cancel_order(request: HttpRequest, order_id: int = ID) -> dict[str, Any]:
    order = _own_order(request, order_id)
    services.cancel_order(order=order, by_member=True, reason="member")
    return _order_out(_own_order(request, order_id), timeline=True)


@router.post(
    "/orders/{order_id}/pay",
    response=PaymentParamsOut,
    auth=member(),
    summary="wx.requestPayment parameters",
)
def pay_order(request: HttpRequest, order_id: int = ID) -> dict[str, str]:
    """Safe to retry: an open payment of the same amount is reused."""
    return services.start_payment(order=_own_order(request, order_id))


@router.post("/orders/{order_id}/confirm-receipt", response=OrderOut, auth=member())
def confirm_receipt(request: HttpRequest, order_id: int = ID) -> dict[str, Any]:
    order = _own_order(request, order_id)
    services.confirm_receipt(order=order)
    return _order_out(order, timeline=True)
