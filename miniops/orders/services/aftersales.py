"""After-sales: refund-only and return-and-refund requests, their decisions, the
return shipment, refunds through the provider (idempotent by out_refund_no) and
restocking returned goods."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.catalog import services as catalog_services
from miniops.catalog.models import Sku, StockReason
from miniops.core import events, numbers
from miniops.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from miniops.core.permissions import P, require_if_operator
from miniops.orders import hooks, states
from miniops.orders.models import (
    AfterSale,
    AfterSaleKind,
    AfterSaleStatus,
    Carrier,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from miniops.orders.providers import PaymentError, payment_provider
from miniops.orders.services.common import TRACKING_RE, anomaly, log, transition

logger = logging.getLogger("miniops.refunds")
REASONS = {
    "not_as_described": _("Not as described"),
    "damaged": _("Damaged or defective"),
    "wrong_item": _("Wrong item sent"),
    "not_received": _("Not received"),
    "changed_mind": _("Changed my mind"),
    "other": _("Other"),
}
MAX_IMAGES = 9


def _move(after_sale: AfterSale, to: str, **fields: Any) -> AfterSale:
    current = after_sale.status
    states.check(states.AFTER_SALE, current, to)
    if not AfterSale.objects.filter(pk=after_sale.pk, status=current).update(status=to, **fields):
        raise IllegalTransition(_("The request changed meanwhile; reload."))
    after_sale.status = to
    for name, value in fields.items():
        setattr(after_sale, name, value)
    log(after_sale.order, f"after_sale_{to}", data={"after_sale": after_sale.number})
    return after_sale


def refundable_amount(item: OrderItem, quantity: int) -> int:
    """What ``quantity`` units of ``item`` bring back: their share of what was paid;
    the last units take the remainder so the whole line refunds to the fen."""
    remaining_quantity = item.quantity - item.refunded_quantity - _held_quantity(item)
    if quantity > remaining_quantity:
        raise InvalidInput(fields={"quantity": _("At most %d.") % remaining_quantity})
    remaining_amount = item.paid_share - item.refunded_amount - _held_amount(item)
    if quantity == remaining_quantity:
        return remaining_amount
    return item.paid_share * quantity // item.quantity


def _open_requests(order_id: int) -> Any:
    return AfterSale.objects.filter(order_id=order_id, status__in=states.OPEN_AFTER_SALES)


def _held_quantity(item: OrderItem) -> int:
    return sum(
        line["quantity"]
        for request in _open_requests(item.order_id)
        for line in request.lines
        if line["item_id"] == item.pk
    )


def _held_amount(item: OrderItem) -> int:
    return sum(
        line["amount"]
        for request in _open_requests(item.order_id)
        for line in request.lines
        if line["item_id"] == item.pk
    )


@transaction.atomic
def request_after_sale(
    *,
    order: Order,
    member: Any,
    kind: str,
    reason: str,
    lines: list[dict[str, int]],
    description: str = "",
    images: list[str] | None = None,
) -> AfterSale:
    order = Order.objects.select_for_update().get(pk=order.pk)  # one request at a time per order
    if order.member_id != member.pk:
        raise NotFound()
    if kind not in AfterSaleKind.values:
        raise InvalidInput(fields={"kind": _("refund_only or return_refund.")})
    if reason not in REASONS:
        raise InvalidInput(fields={"reason": _("One of: %s") % ", ".join(REASONS)})
    if order.status not in {OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED}:
        raise IllegalTransition(
            _("This order cannot have an after-sale request now."), fields={"status": order.status}
        )
    if kind == AfterSaleKind.RETURN_REFUND and order.status == OrderStatus.PAID:
        raise IllegalTransition(
            _("Nothing to return yet: ask for a refund."), fields={"kind": kind}
        )
    if order.completed_at and order.completed_at < timezone.now() - timedelta(
        days=settings.MINIOPS_AFTER_SALE_DAYS
    ):
        raise IllegalTransition(
            _("The after-sale period has ended."), code="after_sale_period_over"
        )
    images = list(images or [])
    if len(images) > MAX_IMAGES or any(
        not isinstance(url, str) or len(url) > 500 for url in images
    ):
        raise InvalidInput(fields={"images": _("At most %d image addresses.") % MAX_IMAGES})
    if not lines:
        raise InvalidInput(fields={"lines": _("Choose what to return or refund.")})
    items = {item.pk: item for item in order.items.all()}
    chosen: list[dict[str, int]] = []
    seen: set[int] = set()
    for index, line in enumerate(lines):
        item_id, quantity = line.get("item_id"), line.get("quantity")
        item = items.get(item_id) if isinstance(item_id, int) else None
        if item is None or item.pk in seen:
            raise InvalidInput(fields={f"lines.{index}.item_id": _("Not an item of this order.")})
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidInput(fields={f"lines.{index}.quantity": _("At least 1.")})
        seen.add(item.pk)
        try:
            amount = refundable_amount(item, quantity)
        except InvalidInput as exc:
            raise InvalidInput(
                fields={f"lines.{index}.quantity": next(iter(exc.fields.values()))}
            ) from exc
        chosen.append({"item_id": item.pk, "quantity": quantity, "amount": amount})
    total = sum(line["amount"] for line in chosen)
    # Shipping comes back with the request that leaves nothing of an unshipped
    # order to send (all units refunded or already asked for), once per order.
    chosen_quantity = {line["item_id"]: line["quantity"] for line in chosen}
    everything = all(
        chosen_quantity.get(item.pk, 0) + item.refunded_quantity + _held_quantity(item)
        == item.quantity
        for item in items.values()
    )
    shipping_claimed = (
        AfterSale.objects.filter(order=order, include_shipping=True)
        .exclude(status__in=[AfterSaleStatus.REJECTED, AfterSaleStatus.CANCELLED])
        .exists()
    )
    include_shipping = order.status == OrderStatus.PAID and everything and not shipping_claimed
    if include_shipping:
        total += order.shipping_fee
    after_sale = numbers.create_with_number(
        "AS",
        lambda number: AfterSale.objects.create(
            number=number,
            order=order,
            member_id=member.pk,
            kind=kind,
            reason=reason,
            description=description.strip()[:500],
            images=images,
            lines=chosen,
            amount=total,
            include_shipping=include_shipping,
        ),
    )
    log(
        order,
        "after_sale_requested",
        by_member=True,
        data={"after_sale": after_sale.number, "amount": total},
    )
    events.track(
        "after_sale_requested",
        member_id=member.pk,
        properties={"order_id": order.pk, "amount": total, "kind": kind},
    )
    return after_sale


def approve(*, after_sale: AfterSale, actor: Any, note: str = "") -> AfterSale:
    require_if_operator(actor, P.ORDERS_REFUND)
    if after_sale.kind == AfterSaleKind.RETURN_REFUND:
        with transaction.atomic():
            return _move(
                after_sale,
                AfterSaleStatus.AWAITING_RETURN,
                decided_by=actor,
                decision_note=note[:255],
            )
    with transaction.atomic():
        _move(after_sale, AfterSaleStatus.REFUNDING, decided_by=actor, decision_note=note[:255])
        if after_sale.order.status == OrderStatus.PAID:
            _restock(after_sale, reason=StockReason.ORDER_RELEASED)  # never left the warehouse
    _start_refund(after_sale)
    return after_sale


def reject(*, after_sale: AfterSale, actor: Any, note: str) -> AfterSale:
    require_if_operator(actor, P.ORDERS_REFUND)
    if not note.strip():
        raise InvalidInput(fields={"note": _("Tell the member why.")})
    with transaction.atomic():
        return _move(
            after_sale, AfterSaleStatus.REJECTED, decided_by=actor, decision_note=note.strip()[:255]
        )


def withdraw(*, after_sale: AfterSale, member: Any) -> AfterSale:
    if after_sale.member_id != member.pk:
        raise NotFound()
    with transaction.atomic():
        return _move(after_sale, AfterSaleStatus.CANCELLED)


def ship_return(*, after_sale: AfterSale, member: Any, carrier: str, tracking_no: str) -> AfterSale:
    if after_sale.member_id != member.pk:
        raise NotFound()
    if carrier not in Carrier.values:
        raise InvalidInput(fields={"carrier": _("Choose a carrier from the list.")})
    if not TRACKING_RE.match(tracking_no.strip()):
        raise InvalidInput(fields={"tracking_no": _("6 to 40 letters, digits or dashes.")})
    with transaction.atomic():
        return _move(
            after_sale,
            AfterSaleStatus.RETURNED,
            return_carrier=carrier,
            return_tracking_no=tracking_no.strip(),
        )


def receive_return(*, after_sale: AfterSale, actor: Any) -> AfterSale:
    """The warehouse got the goods back: restock them and refund."""
    require_if_operator(actor, P.ORDERS_REFUND)
    if (
        after_sale.kind != AfterSaleKind.RETURN_REFUND
        or after_sale.status != AfterSaleStatus.RETURNED
    ):
        raise IllegalTransition(
            _("Only an approved return whose parcel was sent back can be received."),
            fields={"status": after_sale.status},
        )
    with transaction.atomic():
        _move(after_sale, AfterSaleStatus.REFUNDING)
        _restock(after_sale, reason=StockReason.RETURN)
    _start_refund(after_sale)
    return after_sale


def _restock(after_sale: AfterSale, *, reason: str) -> None:
    items = {item.pk: item for item in after_sale.order.items.all()}
    skus = {sku.pk: sku for sku in Sku.objects.filter(pk__in=[i.sku_id for i in items.values()])}
    for line in sorted(after_sale.lines, key=lambda line: items[line["item_id"]].sku_id):
        item = items[line["item_id"]]
        catalog_services.adjust_stock(
            sku=skus[item.sku_id],
            delta=line["quantity"],
            reason=reason,
            actor=None,
            reference=after_sale.number,
        )


def _paid_payment(order: Order) -> Payment:
    payment = order.payments.filter(status=PaymentStatus.PAID).order_by("paid_at").first()
    if payment is None:
        raise Conflict(_("No payment to refund."), code="no_payment")
    return payment


def _start_refund(after_sale: AfterSale) -> Refund | None:
    if after_sale.amount == 0:
        _finish(after_sale, None)
        return None
    payment = _paid_payment(after_sale.order)
    reason = str(REASONS.get(after_sale.reason, after_sale.reason))
    return refund_payment(
        payment=payment, amount=after_sale.amount, reason=reason, after_sale=after_sale
    )


def refund_payment(
    *, payment: Payment, amount: int, reason: str, after_sale: AfterSale | None = None
) -> Refund:
    """Ask the provider to refund ``amount`` of ``payment``. The refund row (and its
    out_refund_no) exists before the call, so a retry reuses it: the provider
    refunds each out_refund_no once."""
    already = (
        payment.refunds.exclude(status=RefundStatus.FAILED).aggregate(s=Sum("amount"))["s"] or 0
    )
    if amount <= 0 or already + amount > payment.amount:
        raise Conflict(_("More than what is left to refund."), code="refund_exceeds_payment")
    refund = numbers.create_with_number(
        "R",
        lambda number: Refund.objects.create(
            out_refund_no=number,
            order=payment.order,
            payment=payment,
            after_sale=after_sale,
            amount=amount,
            reason=reason[:80],
        ),
    )
    _call_provider(refund)
    return refund


def _call_provider(refund: Refund) -> None:
    payment = refund.payment
    try:
        result = payment_provider.get().refund(
            out_trade_no=payment.out_trade_no,
            out_refund_no=refund.out_refund_no,
            amount=refund.amount,
            total=payment.amount,
            reason=refund.reason,
        )
    except PaymentError as exc:
        logger.warning(
            "refund %s not accepted yet: %s (reconciliation retries)", refund.out_refund_no, exc
        )
        return
    Refund.objects.filter(pk=refund.pk).update(refund_id=result.refund_id)
    if result.status in {"SUCCESS", "ABNORMAL", "CLOSED"}:
        record_refund_result(
            out_refund_no=refund.out_refund_no,
            status=result.status,
            refund_id=result.refund_id,
            amount=refund.amount,
        )
    else:
        # The result comes later, by notice (the simulator sends one; tasks listen).
        hooks.run("refund_pending", refund=refund)


def record_refund_result(
    *, out_refund_no: str, status: str, refund_id: str = "", amount: int = -1
) -> str:
    """Record the outcome of a refund (notice or query) exactly once."""
    from miniops.orders.wechatpay import NoticeRejected

    refund = (
        Refund.objects.select_related("order", "after_sale")
        .filter(out_refund_no=out_refund_no)
        .first()
    )
    if refund is None:
        raise NoticeRejected("unknown out_refund_no", status=404)
    if amount not in (-1, refund.amount):
        anomaly(
            "refund_amount_mismatch",
            order=refund.order,
            out_trade_no=out_refund_no,
            expected=refund.amount,
            got=amount,
        )
        raise NoticeRejected("refund amount does not match", status=400)
    if status == "SUCCESS":
        with transaction.atomic():
            if not Refund.objects.filter(pk=refund.pk, status=RefundStatus.PROCESSING).update(
                status=RefundStatus.SUCCESS,
                succeeded_at=timezone.now(),
                refund_id=refund_id or refund.refund_id,
            ):
                return "duplicate"
            _apply_refund(refund)
        return "refunded"
    if status in {"ABNORMAL", "CLOSED"}:
        with transaction.atomic():
            if not Refund.objects.filter(pk=refund.pk, status=RefundStatus.PROCESSING).update(
                status=RefundStatus.FAILED
            ):
                return "duplicate"
        anomaly("refund_failed", order=refund.order, out_trade_no=out_refund_no, status=status)
        return "failed"
    return "processing"


def _apply_refund(refund: Refund) -> None:
    order = Order.objects.select_for_update().get(pk=refund.order_id)
    Order.objects.filter(pk=order.pk).update(refunded_amount=F("refunded_amount") + refund.amount)
    order.refunded_amount += refund.amount
    after_sale = refund.after_sale
    if after_sale is not None:
        for line in after_sale.lines:
            OrderItem.objects.filter(pk=line["item_id"]).update(
                refunded_quantity=F("refunded_quantity") + line["quantity"],
                refunded_amount=F("refunded_amount") + line["amount"],
            )
        _finish(after_sale, refund)
    log(order, "refunded", data={"out_refund_no": refund.out_refund_no, "amount": refund.amount})
    hooks.run("refunded", order=order, refund=refund)
    events.track(
        "refund_completed",
        member_id=order.member_id,
        properties={
            "order_id": order.pk,
            "amount": refund.amount,
            "out_refund_no": refund.out_refund_no,
        },
    )
    if order.refunded_amount >= order.paid_amount and order.status in {
        OrderStatus.PAID,
        OrderStatus.SHIPPED,
        OrderStatus.COMPLETED,
    }:
        transition(order, OrderStatus.CLOSED, note="fully refunded", closed_at=timezone.now())


def _finish(after_sale: AfterSale, refund: Refund | None) -> None:
    AfterSale.objects.filter(pk=after_sale.pk, status=AfterSaleStatus.REFUNDING).update(
        status=AfterSaleStatus.REFUNDED
    )
    after_sale.status = AfterSaleStatus.REFUNDED
    if refund is None:
        log(
            after_sale.order,
            "after_sale_refunded",
            data={"after_sale": after_sale.number, "amount": 0},
        )


def reconcile_refunds(
    *, older_than: timedelta = timedelta(minutes=5), limit: int = 200
) -> dict[str, int]:
    """Refunds still processing: retry the call (same out_refund_no) or query."""
    outcome: dict[str, int] = {}
    cutoff = timezone.now() - older_than
    for refund in Refund.objects.filter(
        status=RefundStatus.PROCESSING, created_at__lt=cutoff
    ).select_related("payment")[:limit]:
        if not refund.refund_id:
            _call_provider(refund)
            result = "retried"
        else:
            try:
                state = payment_provider.get().query_refund(refund.out_refund_no)
                result = record_refund_result(
                    out_refund_no=refund.out_refund_no,
                    status=state.status,
                    refund_id=state.refund_id,
                )
            except PaymentError:
                result = "unreachable"
        outcome[result] = outcome.get(result, 0) + 1
    return outcome
