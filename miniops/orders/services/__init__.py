"""Every write about carts, orders, payments, shipping and after-sales.

The package splits by stage; import the functions from here.
"""

from miniops.orders.services import cart
from miniops.orders.services.aftersales import (
    approve,
    receive_return,
    record_refund_result,
    refund_payment,
    reject,
    request_after_sale,
    ship_return,
    withdraw,
)
from miniops.orders.services.checkout import place_order, preview
from miniops.orders.services.lifecycle import (
    add_note,
    auto_confirm,
    bulk_ship,
    cancel_if_unpaid,
    cancel_order,
    confirm_receipt,
    ship_order,
    sweep_unpaid,
)
from miniops.orders.services.payments import (
    handle_wechat_notice,
    reconcile,
    record_payment_success,
    resolve_anomaly,
    settle_free_order,
    simulate_payment,
    start_payment,
    sync_trade,
)
from miniops.orders.services.privacy import reveal

__all__ = [
    "add_note",
    "approve",
    "auto_confirm",
    "bulk_ship",
    "cancel_if_unpaid",
    "cancel_order",
    "cart",
    "confirm_receipt",
    "handle_wechat_notice",
    "place_order",
    "preview",
    "receive_return",
    "reconcile",
    "record_payment_success",
    "record_refund_result",
    "refund_payment",
    "reject",
    "request_after_sale",
    "resolve_anomaly",
    "reveal",
    "settle_free_order",
    "ship_order",
    "ship_return",
    "simulate_payment",
    "start_payment",
    "sweep_unpaid",
    "sync_trade",
    "withdraw",
]
