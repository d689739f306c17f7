"""The routers and what every orders endpoint shares: an order as the API shows
it, ownership checks."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Path, Router

from miniops.catalog.selectors import media_url
from miniops.core.errors import NotFound
from miniops.core.masking import mask_name, mask_phone
from miniops.members.api import me_of
from miniops.orders import selectors
from miniops.orders.models import Order, OrderStatus

router = Router(tags=["orders"])
manage_router = Router(tags=["management: orders"])
ID = Path(..., ge=1, le=2**63 - 1)


def _order_out(order: Order, *, timeline: bool = False, masked: bool = False) -> dict[str, Any]:
    return {
        "id": order.pk,
        "number": order.number,
        "status": order.status,
        "goods_amount": order.goods_amount,
        "shipping_fee": order.shipping_fee,
        "discount_amount": order.discount_amount,
        "payable_amount": order.payable_amount,
        "paid_amount": order.paid_amount,
        "refunded_amount": order.refunded_amount,
        "recipient": mask_name(order.recipient) if masked else order.recipient,
        "phone": mask_phone(order.phone) if masked else order.phone,
        "address": f"{order.province} {order.city} {order.district} "
        + ("****" if masked else order.address_detail),
        "remark": order.remark,
        "created_at": order.created_at,
        "expires_at": order.expires_at if order.status == OrderStatus.UNPAID else None,
        "paid_at": order.paid_at,
        "shipped_at": order.shipped_at,
        "carrier": order.carrier,
        "tracking_no": order.tracking_no,
        "completed_at": order.completed_at,
        "items": [
            {
                "id": item.pk,
                "sku_id": item.sku_id,
                "product_id": item.product_id,
                "title": item.title,
                "spec_text": item.spec_text,
                "image": media_url(item.image),
                "unit_price": item.unit_price,
                "quantity": item.quantity,
                "paid_share": item.paid_share,
                "refunded_quantity": item.refunded_quantity,
            }
            for item in order.items.all()
        ],
        "timeline": [
            {
                "kind": e.kind,
                "to_status": e.to_status,
                "note": e.note if not e.actor_id else "",
                "created_at": e.created_at,
            }
            for e in order.events.all()
            if e.kind != "note"
        ]
        if timeline
        else [],
    }


def _own_order(request: HttpRequest, order_id: int) -> Order:
    order = selectors.member_order(me_of(request).pk, order_id)
    if order is None:
        raise NotFound()
    return order


def _json(status: int, body: bytes) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="application/json")
