"""Request and answer shapes of the orders API (an order itself: ``orders.schemas``)."""

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from miniops.core.schemas import Id, StrictIn
from miniops.orders.schemas import OrderItemOut, OrderOut, TimelineOut


# --- schemas -------------------------------------------------------------------------------
class ItemIn(StrictIn):
    sku_id: Id
    quantity: int = Field(..., ge=1, le=999)


class CartAddIn(StrictIn):
    sku_id: Id
    quantity: int = Field(1, ge=1, le=99)


class CartPatchIn(StrictIn):
    quantity: int | None = Field(None, ge=1, le=99)
    selected: bool | None = None


class CartSelectIn(StrictIn):
    sku_ids: list[Id] = Field(..., max_length=100)
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
    address_id: Id | None = None
    coupon_ids: list[Id] = Field(
        default_factory=list, max_length=4, description="at most one coupon of each kind"
    )
    points: int = Field(0, ge=0, le=10_000_000, description="points to spend")

    def context(self) -> dict[str, Any]:
        """What the pricing steps read (coupons, points)."""
        return {"coupon_ids": list(dict.fromkeys(self.coupon_ids)), "points": self.points}


class OrderIn(CheckoutIn):
    address_id: Id
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


class PaymentParamsOut(Schema):
    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


class AfterSaleLineIn(StrictIn):
    item_id: Id
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


__all__ = [
    "AfterSaleIn",
    "AfterSaleLineIn",
    "AfterSaleOut",
    "CartAddIn",
    "CartLineOut",
    "CartPatchIn",
    "CartSelectIn",
    "CheckoutIn",
    "DiscountOut",
    "ItemIn",
    "OrderIn",
    "OrderItemOut",
    "OrderOut",
    "PaymentParamsOut",
    "QuoteLineOut",
    "QuoteOut",
    "ReturnShipmentIn",
    "StatusFilter",
    "TimelineOut",
    "UploadOut",
]
