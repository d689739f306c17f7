"""The management API for orders and after-sales."""

from typing import Any, Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Schema
from ninja.pagination import paginate

from miniops.accounts.apiauth import requires
from miniops.accounts.context import token_operator
from miniops.core.openapi import errors
from miniops.core.pagination import Mapped, Pagination
from miniops.core.permissions import P
from miniops.core.schemas import ID, IsoDateTime, StrictIn
from miniops.orders import selectors, services
from miniops.orders.api.common import manage_router
from miniops.orders.api.schemas import AfterSaleOut, OrderOut
from miniops.orders.models import AfterSale, Order


# --- management API ------------------------------------------------------------------
class ManageOrderFilter(Schema):
    status: Literal["unpaid", "paid", "shipped", "completed", "cancelled", "closed"] | None = None
    q: str = Field("", max_length=64, description="order number, exact phone or nickname")
    created_from: IsoDateTime | None = None
    created_to: IsoDateTime | None = None


class ShipIn(StrictIn):
    carrier: str = Field(..., max_length=8)
    tracking_no: str = Field(..., min_length=6, max_length=40)


class DecisionIn(StrictIn):
    note: str = Field("", max_length=255)


@manage_router.get("/orders", response=list[OrderOut], auth=requires(P.ORDERS_VIEW))
@paginate(Pagination)
def manage_orders(request: HttpRequest, filters: Query[ManageOrderFilter]) -> Any:
    orders = (
        selectors.search_orders(filters.q).prefetch_related("items").order_by("-created_at", "-id")
    )
    if filters.status:
        orders = orders.filter(status=filters.status)
    if filters.created_from:
        orders = orders.filter(created_at__gte=filters.created_from)
    if filters.created_to:
        orders = orders.filter(created_at__lt=filters.created_to)
    return Mapped(orders, lambda o: selectors.order_detail(o, masked=True))


@manage_router.get("/orders/{order_id}", response=OrderOut, auth=requires(P.ORDERS_VIEW))
def manage_order(request: HttpRequest, order_id: int = ID) -> dict[str, Any]:
    return selectors.order_detail(get_object_or_404(Order, pk=order_id), timeline=True, masked=True)


@manage_router.post(
    "/orders/{order_id}/ship",
    response={200: OrderOut, **errors(409)},
    auth=requires(P.ORDERS_SHIP),
)
def manage_ship(request: HttpRequest, payload: ShipIn, order_id: int = ID) -> dict[str, Any]:
    order = get_object_or_404(Order, pk=order_id)
    services.ship_order(
        order=order,
        carrier=payload.carrier.upper(),
        tracking_no=payload.tracking_no,
        actor=token_operator(request),
    )
    return selectors.order_detail(order, timeline=True, masked=True)


@manage_router.post(
    "/orders/{order_id}/cancel",
    response={200: OrderOut, **errors(409)},
    auth=requires(P.ORDERS_MANAGE),
)
def manage_cancel(request: HttpRequest, payload: DecisionIn, order_id: int = ID) -> dict[str, Any]:
    order = get_object_or_404(Order, pk=order_id)
    services.cancel_order(
        order=order, actor=token_operator(request), reason=payload.note or "operator"
    )
    return selectors.order_detail(order, timeline=True, masked=True)


@manage_router.get("/after-sales", response=list[AfterSaleOut], auth=requires(P.ORDERS_VIEW))
@paginate(Pagination)
def manage_after_sales(request: HttpRequest) -> Any:
    return AfterSale.objects.order_by("-created_at")


def _decide(request: HttpRequest, after_sale_id: int, action: str, note: str) -> AfterSale:
    after_sale = get_object_or_404(AfterSale.objects.select_related("order"), pk=after_sale_id)
    actor = token_operator(request)
    if action == "approve":
        return services.approve(after_sale=after_sale, actor=actor, note=note)
    if action == "reject":
        return services.reject(after_sale=after_sale, actor=actor, note=note)
    return services.receive_return(after_sale=after_sale, actor=actor)


@manage_router.post(
    "/after-sales/{after_sale_id}/approve",
    response={200: AfterSaleOut, **errors(409, 503)},
    auth=requires(P.ORDERS_REFUND),
)
def manage_approve(request: HttpRequest, payload: DecisionIn, after_sale_id: int = ID) -> AfterSale:
    return _decide(request, after_sale_id, "approve", payload.note)


@manage_router.post(
    "/after-sales/{after_sale_id}/reject",
    response={200: AfterSaleOut, **errors(409)},
    auth=requires(P.ORDERS_REFUND),
)
def manage_reject(request: HttpRequest, payload: DecisionIn, after_sale_id: int = ID) -> AfterSale:
    return _decide(request, after_sale_id, "reject", payload.note)


@manage_router.post(
    "/after-sales/{after_sale_id}/receive-return",
    response={200: AfterSaleOut, **errors(409, 503)},
    auth=requires(P.ORDERS_REFUND),
)
def manage_receive(request: HttpRequest, after_sale_id: int = ID) -> AfterSale:
    return _decide(request, after_sale_id, "receive", "")
