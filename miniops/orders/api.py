"""Client API (cart, checkout, orders, payment, after-sales), the WeChat Pay
notify endpoint, and the management API for orders."""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, File, Path, Query, Router, Schema, UploadedFile
from ninja.pagination import paginate
from ninja.responses import Status

from miniops.accounts.api import Pagination
from miniops.accounts.apiauth import requires
from miniops.accounts.context import principal_of
from miniops.catalog.selectors import media_url
from miniops.core import media
from miniops.core.apiauth import public
from miniops.core.errors import NotFound
from miniops.core.masking import mask_name, mask_phone
from miniops.core.pagination import Mapped
from miniops.core.permissions import P
from miniops.core.schemas import StrictIn
from miniops.members.api import me_of
from miniops.members.apiauth import member
from miniops.orders import selectors, services
from miniops.orders.models import AfterSale, Order, OrderStatus
from miniops.orders.services import idempotency
from miniops.orders.wechatpay import NoticeRejected

router = Router(tags=["orders"])
manage_router = Router(tags=["management: orders"])
ID = Path(..., ge=1, le=2**63 - 1)


# --- schemas -------------------------------------------------------------------------------
class ItemIn(StrictIn):
    sku_id: int = Field(..., ge=1, le=2**63 - 1)
    quantity: int = Field(..., ge=1, le=999)


class CartAddIn(StrictIn):
    sku_id: int = Field(..., ge=1, le=2**63 - 1)
    quantity: int = Field(1, ge=1, le=99)


class CartPatchIn(StrictIn):
    quantity: int | None = Field(None, ge=1, le=99)
    selected: bool | None = None


class CartSelectIn(StrictIn):
    sku_ids: list[int] = Field(..., max_length=100)
    selected: bool


class CartLineOut(Schema):
    sku_id: int
    product_id: int
    title: str
    specs: dict[str, str]
    image: str | None
    quantity: int
    selected: bool
    price: int
    price_when_added: int
    price_changed: bool
    available: bool
    stock_short: bool
    on_sale: bool


class CheckoutIn(StrictIn):
    items: list[ItemIn] | None = Field(None, max_length=50, description="or from_cart=true")
    from_cart: bool = False
    address_id: int | None = Field(None, ge=1, le=2**63 - 1)
    coupon_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=list, max_length=4, description="at most one coupon of each kind"
    )
    points: int = Field(0, ge=0, le=10_000_000, description="points to spend")

    def context(self) -> dict[str, Any]:
        """What the pricing steps read (coupons, points)."""
        return {"coupon_ids": list(dict.fromkeys(self.coupon_ids)), "points": self.points}


class OrderIn(CheckoutIn):
    address_id: int = Field(..., ge=1, le=2**63 - 1)
    remark: str = Field("", max_length=200)


class QuoteLineOut(Schema):
    sku_id: int
    title: str
    spec_text: str
    quantity: int
    list_price: int
    unit_price: int
    goods_amount: int
    discount_share: int


class DiscountOut(Schema):
    kind: str
    label: str
    amount: int


class QuoteOut(Schema):
    lines: list[QuoteLineOut]
    goods_amount: int
    discounts: list[DiscountOut]
    discount_amount: int
    shipping_fee: int
    shipping_note: str
    deliverable: bool
    payable: int


class OrderItemOut(Schema):
    id: int
    sku_id: int
    product_id: int
    title: str
    spec_text: str
    image: str | None
    unit_price: int
    quantity: int
    paid_share: int
    refunded_quantity: int


class TimelineOut(Schema):
    kind: str
    to_status: str
    note: str
    created_at: datetime


class OrderOut(Schema):
    id: int
    number: str
    status: str
    goods_amount: int
    shipping_fee: int
    discount_amount: int
    payable_amount: int
    paid_amount: int
    refunded_amount: int
    recipient: str
    phone: str
    address: str
    remark: str
    created_at: datetime
    expires_at: datetime | None
    paid_at: datetime | None
    shipped_at: datetime | None
    carrier: str
    tracking_no: str
    completed_at: datetime | None
    items: list[OrderItemOut]
    timeline: list[TimelineOut] = []


class PaymentParamsOut(Schema):
    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


class AfterSaleLineIn(StrictIn):
    item_id: int = Field(..., ge=1, le=2**63 - 1)
    quantity: int = Field(..., ge=1, le=999)


class AfterSaleIn(StrictIn):
    kind: Literal["refund_only", "return_refund"]
    reason: Literal[
        "not_as_described", "damaged", "wrong_item", "not_received", "changed_mind", "other"
    ]
    description: str = Field("", max_length=500)
    images: list[str] = Field(default_factory=list, max_length=9)
    lines: list[AfterSaleLineIn] = Field(..., min_length=1, max_length=50)


class ReturnShipmentIn(StrictIn):
    carrier: str = Field(..., max_length=8)
    tracking_no: str = Field(..., min_length=6, max_length=40)


class AfterSaleOut(Schema):
    id: int
    number: str
    order_id: int
    kind: str
    status: str
    reason: str
    description: str
    images: list[str]
    lines: list[dict[str, int]]
    amount: int
    decision_note: str
    return_carrier: str
    return_tracking_no: str
    created_at: datetime


class UploadOut(Schema):
    url: str


class StatusFilter(Schema):
    status: Literal["unpaid", "paid", "shipped", "completed", "cancelled", "closed"] | None = None


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


# --- cart and checkout -------------------------------------------------------------------------
@router.get(
    "/cart", response=list[CartLineOut], auth=member(), summary="The cart, with current prices"
)
def get_cart(request: HttpRequest) -> Any:
    return selectors.cart(me_of(request).pk)


@router.post("/cart/items", response=list[CartLineOut], auth=member())
def add_to_cart(request: HttpRequest, payload: CartAddIn) -> Any:
    current = me_of(request)
    services.cart.add(member=current, sku_id=payload.sku_id, quantity=payload.quantity)
    return selectors.cart(current.pk)


@router.patch("/cart/items/{sku_id}", response=list[CartLineOut], auth=member())
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
    "/checkout/preview", response=QuoteOut, auth=member(), summary="Price breakdown before ordering"
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


# --- after-sales ---------------------------------------------------------------------------------
@router.post("/orders/{order_id}/after-sales", response={201: AfterSaleOut}, auth=member())
def request_after_sale(
    request: HttpRequest, payload: AfterSaleIn, order_id: int = ID
) -> Status[AfterSale]:
    order = _own_order(request, order_id)
    after_sale = services.request_after_sale(
        order=order,
        member=me_of(request),
        kind=payload.kind,
        reason=payload.reason,
        lines=[line.dict() for line in payload.lines],
        description=payload.description,
        images=payload.images,
    )
    return Status(201, after_sale)


def _own_after_sale(request: HttpRequest, after_sale_id: int) -> AfterSale:
    after_sale = (
        AfterSale.objects.filter(pk=after_sale_id, member=me_of(request))
        .select_related("order")
        .first()
    )
    if after_sale is None:
        raise NotFound()
    return after_sale


@router.get("/after-sales", response=list[AfterSaleOut], auth=member())
@paginate(Pagination)
def list_after_sales(request: HttpRequest) -> Any:
    return AfterSale.objects.filter(member=me_of(request)).order_by("-created_at")


@router.get("/after-sales/{after_sale_id}", response=AfterSaleOut, auth=member())
def get_after_sale(request: HttpRequest, after_sale_id: int = ID) -> AfterSale:
    return _own_after_sale(request, after_sale_id)


@router.post("/after-sales/{after_sale_id}/return-shipment", response=AfterSaleOut, auth=member())
def ship_return(
    request: HttpRequest, payload: ReturnShipmentIn, after_sale_id: int = ID
) -> AfterSale:
    return services.ship_return(
        after_sale=_own_after_sale(request, after_sale_id),
        member=me_of(request),
        carrier=payload.carrier.upper(),
        tracking_no=payload.tracking_no,
    )


@router.post("/after-sales/{after_sale_id}/withdraw", response=AfterSaleOut, auth=member())
def withdraw(request: HttpRequest, after_sale_id: int = ID) -> AfterSale:
    return services.withdraw(
        after_sale=_own_after_sale(request, after_sale_id), member=me_of(request)
    )


@router.post(
    "/uploads/images",
    response={201: UploadOut},
    auth=member(),
    summary="Upload a photo (after-sales)",
)
def upload_image(request: HttpRequest, file: File[UploadedFile]) -> Status[dict[str, str]]:
    """JPEG, PNG, WebP or GIF up to 5 MB; re-encoded before it is stored."""
    from django.core.files.storage import default_storage

    name = media.save_image(file, folder=f"uploads/members/{me_of(request).pk}")
    return Status(201, {"url": default_storage.url(name)})


# --- payments -------------------------------------------------------------------------------------
@router.post(
    "/payments/wechat/notify", response={204: None}, auth=public(), summary="WeChat Pay notices"
)
def wechat_notify(request: HttpRequest) -> HttpResponse:
    """Verified (platform key allow-list, timestamp, RSA-SHA256 over the raw body),
    decrypted, checked against the order and recorded once; 204 only after that."""
    from miniops.core.responses import error_response

    try:
        services.handle_wechat_notice(headers=request.headers, body=request.body)
    except NoticeRejected as exc:
        return error_response(exc.status, "notice_rejected", str(exc))
    return HttpResponse(status=204)


@router.post(
    "/payments/simulator/orders/{order_id}/pay",
    response=OrderOut,
    auth=member(),
    summary="Demo: pay in the simulator",
)
def simulator_pay(request: HttpRequest, order_id: int = ID) -> dict[str, Any]:
    """Only with MINIOPS_PROVIDER_MODE=simulator: the buyer pays; WeChat's signed
    notice goes through the real verification."""
    if settings.MINIOPS_PROVIDER_MODE != "simulator":
        raise NotFound()
    order = _own_order(request, order_id)
    services.simulate_payment(order=order)
    return _order_out(_own_order(request, order_id), timeline=True)


# --- management API ------------------------------------------------------------------
class ManageOrderFilter(Schema):
    status: Literal["unpaid", "paid", "shipped", "completed", "cancelled", "closed"] | None = None
    q: str = Field("", max_length=64, description="order number, exact phone or nickname")
    created_from: datetime | None = None
    created_to: datetime | None = None


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
    return Mapped(orders, lambda o: _order_out(o, masked=True))


@manage_router.get("/orders/{order_id}", response=OrderOut, auth=requires(P.ORDERS_VIEW))
def manage_order(request: HttpRequest, order_id: int = ID) -> dict[str, Any]:
    return _order_out(get_object_or_404(Order, pk=order_id), timeline=True, masked=True)


@manage_router.post("/orders/{order_id}/ship", response=OrderOut, auth=requires(P.ORDERS_SHIP))
def manage_ship(request: HttpRequest, payload: ShipIn, order_id: int = ID) -> dict[str, Any]:
    order = get_object_or_404(Order, pk=order_id)
    services.ship_order(
        order=order,
        carrier=payload.carrier.upper(),
        tracking_no=payload.tracking_no,
        actor=principal_of(request).operator,
    )
    return _order_out(order, timeline=True, masked=True)


@manage_router.post("/orders/{order_id}/cancel", response=OrderOut, auth=requires(P.ORDERS_MANAGE))
def manage_cancel(request: HttpRequest, payload: DecisionIn, order_id: int = ID) -> dict[str, Any]:
    order = get_object_or_404(Order, pk=order_id)
    services.cancel_order(
        order=order, actor=principal_of(request).operator, reason=payload.note or "operator"
    )
    return _order_out(order, timeline=True, masked=True)


@manage_router.get("/after-sales", response=list[AfterSaleOut], auth=requires(P.ORDERS_VIEW))
@paginate(Pagination)
def manage_after_sales(request: HttpRequest) -> Any:
    return AfterSale.objects.order_by("-created_at")


def _decide(request: HttpRequest, after_sale_id: int, action: str, note: str) -> AfterSale:
    after_sale = get_object_or_404(AfterSale.objects.select_related("order"), pk=after_sale_id)
    actor = principal_of(request).operator
    if action == "approve":
        return services.approve(after_sale=after_sale, actor=actor, note=note)
    if action == "reject":
        return services.reject(after_sale=after_sale, actor=actor, note=note)
    return services.receive_return(after_sale=after_sale, actor=actor)


@manage_router.post(
    "/after-sales/{after_sale_id}/approve", response=AfterSaleOut, auth=requires(P.ORDERS_REFUND)
)
def manage_approve(request: HttpRequest, payload: DecisionIn, after_sale_id: int = ID) -> AfterSale:
    return _decide(request, after_sale_id, "approve", payload.note)


@manage_router.post(
    "/after-sales/{after_sale_id}/reject", response=AfterSaleOut, auth=requires(P.ORDERS_REFUND)
)
def manage_reject(request: HttpRequest, payload: DecisionIn, after_sale_id: int = ID) -> AfterSale:
    return _decide(request, after_sale_id, "reject", payload.note)


@manage_router.post(
    "/after-sales/{after_sale_id}/receive-return",
    response=AfterSaleOut,
    auth=requires(P.ORDERS_REFUND),
)
def manage_receive(request: HttpRequest, after_sale_id: int = ID) -> AfterSale:
    return _decide(request, after_sale_id, "receive", "")
