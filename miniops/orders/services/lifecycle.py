"""Cancelling, shipping, receiving; the unpaid-timeout and auto-confirm sweeps."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.catalog import services as catalog_services
from miniops.catalog.models import Sku, StockReason
from miniops.core import audit
from miniops.core.errors import Conflict, DomainError, IllegalTransition, InvalidInput
from miniops.core.permissions import P, require, require_if_operator
from miniops.orders import hooks
from miniops.orders.models import Carrier, Order, OrderNote, OrderStatus, Payment, PaymentStatus
from miniops.orders.providers import AlreadyPaid, PaymentError, payment_provider
from miniops.orders.services.common import TRACKING_RE, log, transition

logger = logging.getLogger("miniops.orders")


def release_stock(order: Order, *, reason: str = StockReason.ORDER_RELEASED) -> None:
    """Give an order's stock back. Callers call it only after winning the
    transition that makes it due, so it runs exactly once per order."""
    skus = {
        sku.pk: sku
        for sku in Sku.objects.filter(pk__in=order.items.values_list("sku_id", flat=True))
    }
    for item in order.items.order_by("sku_id"):
        catalog_services.adjust_stock(
            sku=skus[item.sku_id],
            delta=item.quantity,
            reason=reason,
            actor=None,
            reference=order.number,
        )
    hooks.run("released", order=order)


def cancel_order(
    *, order: Order, actor: Any = None, by_member: bool = False, reason: str = ""
) -> Order:
    """Cancel an unpaid order and release its stock.

    A payment may be under way: the WeChat trade is closed first. If WeChat says it
    was paid (ORDERPAID), the order is recorded as paid instead and the cancel is
    refused. Only then, in one transaction, the conditional move unpaid ->
    cancelled runs; whoever loses a race with the payment gets IllegalTransition
    and releases nothing.
    """
    require_if_operator(actor, P.ORDERS_MANAGE)
    if order.status != OrderStatus.UNPAID:
        raise IllegalTransition(
            _("Only unpaid orders can be cancelled."), fields={"status": order.status}
        )
    from miniops.orders.services.payments import sync_trade

    for payment in Payment.objects.filter(order=order, status=PaymentStatus.CREATED):
        try:
            payment_provider.get().close(payment.out_trade_no)
        except AlreadyPaid:
            sync_trade(payment)
            raise Conflict(_("This order has just been paid."), code="already_paid") from None
        except PaymentError as exc:
            # Unknown on WeChat's side (never opened): safe to cancel; anything else: retry later.
            if "ORDERNOTEXIST" not in str(exc):
                raise Conflict(
                    _("Could not close the payment; try again."), code="payment_unreachable"
                ) from exc
    with transaction.atomic():
        transition(
            order,
            OrderStatus.CANCELLED,
            actor=actor,
            by_member=by_member,
            note=reason,
            cancelled_at=timezone.now(),
            cancel_reason=reason[:64],
        )
        Payment.objects.filter(order=order, status=PaymentStatus.CREATED).update(
            status=PaymentStatus.CLOSED, closed_at=timezone.now()
        )
        release_stock(order)
    return order


def cancel_if_unpaid(order_id: int) -> bool:
    """The unpaid timeout (delayed task and sweeper): True if it cancelled."""
    order = Order.objects.filter(pk=order_id, status=OrderStatus.UNPAID).first()
    if order is None or (order.expires_at and order.expires_at > timezone.now()):
        return False
    try:
        cancel_order(order=order, reason="timeout")
    except (IllegalTransition, Conflict):
        return False
    return True


def sweep_unpaid(*, now: Any = None, limit: int = 500) -> int:
    """Cancel every unpaid order past its deadline (catches missed delayed tasks)."""
    now = now or timezone.now()
    due = list(
        Order.objects.filter(status=OrderStatus.UNPAID, expires_at__lt=now).values_list(
            "pk", flat=True
        )[:limit]
    )
    return sum(1 for order_id in due if cancel_if_unpaid(order_id))


def ship_order(*, order: Order, carrier: str, tracking_no: str, actor: Any) -> Order:
    require_if_operator(actor, P.ORDERS_SHIP)
    if carrier not in Carrier.values:
        raise InvalidInput(fields={"carrier": _("Choose a carrier from the list.")})
    tracking_no = tracking_no.strip()
    if not TRACKING_RE.match(tracking_no):
        raise InvalidInput(fields={"tracking_no": _("6 to 40 letters, digits or dashes.")})
    if order.after_sales.filter(status__in=["requested", "refunding"], kind="refund_only").exists():
        raise Conflict(
            _("A refund request is open on this order; settle it first."), code="after_sale_open"
        )
    with transaction.atomic():
        return transition(
            order,
            OrderStatus.SHIPPED,
            actor=actor,
            note=f"{carrier} {tracking_no}",
            data={"carrier": carrier, "tracking_no": tracking_no},
            carrier=carrier,
            tracking_no=tracking_no,
            shipped_at=timezone.now(),
        )


@dataclass
class BulkShipResult:
    shipped: int
    errors: list[tuple[int, str]]


def bulk_ship(*, csv_text: str, actor: Any) -> BulkShipResult:
    """Ship from a CSV (``order_number,carrier,tracking_no``); each row stands or
    falls on its own and errors name their row."""
    require_if_operator(actor, P.ORDERS_SHIP)
    reader = csv.reader(io.StringIO(csv_text.lstrip("\ufeff")))
    shipped, errors = 0, []
    for row_number, row in enumerate(reader, start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if row_number == 1 and row[0].strip().lower() in {"order_number", "订单号", "number"}:
            continue
        if len(row) < 3:
            errors.append((row_number, _("Expected: order number, carrier, tracking number.")))
            continue
        number, carrier, tracking_no = (cell.strip() for cell in row[:3])
        order = Order.objects.filter(number=number).first()
        if order is None:
            errors.append((row_number, _("No order %s.") % number))
            continue
        try:
            ship_order(order=order, carrier=carrier.upper(), tracking_no=tracking_no, actor=actor)
            shipped += 1
        except DomainError as exc:
            detail = "; ".join(str(v) for v in exc.fields.values()) or str(exc.message)
            errors.append((row_number, detail))
    return BulkShipResult(shipped, errors)


def confirm_receipt(*, order: Order, by_member: bool = True, auto: bool = False) -> Order:
    with transaction.atomic():
        transition(
            order,
            OrderStatus.COMPLETED,
            by_member=by_member and not auto,
            note="auto-confirmed" if auto else "",
            completed_at=timezone.now(),
        )
    return order


def auto_confirm(*, now: Any = None, limit: int = 500) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MINIOPS_AUTO_CONFIRM_DAYS)
    confirmed = 0
    for order in Order.objects.filter(status=OrderStatus.SHIPPED, shipped_at__lt=cutoff)[:limit]:
        try:
            confirm_receipt(order=order, by_member=False, auto=True)
            confirmed += 1
        except IllegalTransition:
            continue
    return confirmed


@transaction.atomic
@transaction.atomic
def add_note(*, order: Order, text: str, actor: Any) -> OrderNote:
    """An operator's internal note on an order (never shown to the member): on the
    order's timeline and in the audit log, with its author."""
    require(actor, P.ORDERS_MANAGE)
    text = (text or "").strip()
    if not text or len(text) > 1000:
        raise InvalidInput(fields={"text": _("1 to 1,000 characters.")})
    note = OrderNote.objects.create(order=order, author=actor, text=text)
    log(order, "note", actor=actor, note=text[:120])
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        instance=note,
        changes={"text": [None, text]},
        additional={"order": order.number},
    )
    return note
