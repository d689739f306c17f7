"""The routers and what every orders endpoint shares: ownership checks. An order
as the API shows it is ``orders.selectors.order_detail``."""

from django.http import HttpRequest, HttpResponse
from ninja import Router

from miniops.core.errors import NotFound
from miniops.members.apiauth import me_of
from miniops.orders import selectors
from miniops.orders.models import Order

router = Router(tags=["orders"])
manage_router = Router(tags=["management: orders"])


def _own_order(request: HttpRequest, order_id: int) -> Order:
    order = selectors.member_order(me_of(request).pk, order_id)
    if order is None:
        raise NotFound()
    return order


def _json(status: int, body: bytes) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="application/json")
