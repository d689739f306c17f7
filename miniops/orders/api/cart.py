"""Cart and checkout preview."""

from typing import Any

from django.http import HttpRequest
from ninja.responses import Status

from miniops.core.openapi import errors
from miniops.core.schemas import ID
from miniops.members.apiauth import me_of, member
from miniops.orders import selectors, services
from miniops.orders.api.common import router
from miniops.orders.api.schemas import (
    CartAddIn,
    CartLineOut,
    CartPatchIn,
    CartSelectIn,
    CheckoutIn,
    QuoteOut,
)


# --- cart and checkout -------------------------------------------------------------------------
@router.get(
    "/cart", response=list[CartLineOut], auth=member(), summary="The cart, with current prices"
)
def get_cart(request: HttpRequest) -> Any:
    return selectors.cart(me_of(request).pk)


@router.post("/cart/items", response={200: list[CartLineOut], **errors(404, 409)}, auth=member())
def add_to_cart(request: HttpRequest, payload: CartAddIn) -> Any:
    current = me_of(request)
    services.cart.add(member=current, sku_id=payload.sku_id, quantity=payload.quantity)
    return selectors.cart(current.pk)


@router.patch(
    "/cart/items/{sku_id}", response={200: list[CartLineOut], **errors(409)}, auth=member()
)
def update_cart(request: HttpRequest, payload: CartPatchIn, sku_id: int = ID) -> Any:
    current = me_of(request)
    services.cart.update(
        member=current, sku_id=sku_id, quantity=payload.quantity, selected=payload.selected
    )
    return selectors.cart(current.pk)


@router.delete("/cart/items/{sku_id}", response={204: None}, auth=member())
def remove_from_cart(request: HttpRequest, sku_id: int = ID) -> Status[None]:
    services.cart.remove(member=me_of(request), sku_id=sku_id)
    return Status(204, None)


@router.post("/cart/select", response=list[CartLineOut], auth=member())
def select_in_cart(request: HttpRequest, payload: CartSelectIn) -> Any:
    current = me_of(request)
    services.cart.select(member=current, sku_ids=payload.sku_ids, selected=payload.selected)
    return selectors.cart(current.pk)


@router.post(
    "/checkout/preview",
    response={200: QuoteOut, **errors(403, 404, 409)},
    auth=member(),
    summary="Price breakdown before ordering",
)
def checkout_preview(request: HttpRequest, payload: CheckoutIn) -> dict[str, Any]:
    quote = services.preview(
        member=me_of(request),
        items=[i.dict() for i in payload.items] if payload.items else None,
        from_cart=payload.from_cart,
        address_id=payload.address_id,
        context=payload.context(),
    )
    return quote.as_dict()
