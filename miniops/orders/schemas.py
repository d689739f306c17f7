"""An order as every API shows it, for the orders API and the APIs of the apps
that place orders (marketing's flash sales, group buys and points shop): the
shape of ``orders.selectors.order_detail``."""

from datetime import datetime

from ninja import Schema


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
