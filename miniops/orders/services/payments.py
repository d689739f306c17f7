"""Paying: start a WeChat Pay JSAPI payment, record verified notices exactly once,
and reconcile trades whose notice never came."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from miniops.core import audit, events, numbers
from miniops.core.errors import Conflict, IllegalTransition, InvalidInput, ServiceUnavailable
from miniops.core.permissions import P, require
from miniops.orders.models import Order, OrderStatus, Payment, PaymentAnomaly, PaymentStatus
from miniops.orders.providers import PaymentError, payment_provider
from miniops.orders.services.common import anomaly, log, transition
from miniops.orders.wechatpay import Notice, NoticeRejected, verify_notice

logger = logging.getLogger("miniops.payments")


def start_payment(*, order: Order) -> dict[str, str]:
    """Open (or reuse) a WeChat Pay trade for an unpaid order; answer the
    ``wx.requestPayment`` parameters."""
    if order.status != OrderStatus.UNPAID:
        raise IllegalTransition(
            _("This order cannot be paid now."), fields={"status": order.status}
        )
    if order.expires_at and order.expires_at <= timezone.now():
        raise IllegalTransition(_("The time to pay has passed."), code="payment_expired")
    provider = payment_provider.get()
    payment = Payment.objects.filter(
        order=order, status=PaymentStatus.CREATED, amount=order.payable_amount
    ).first()
    if payment is None or not payment.prepay_id:
        payment = numbers.create_with_number(
            "PAY",
            lambda number: Payment.objects.create(
                order=order, out_trade_no=number, amount=order.payable_amount
            ),
        )
        try:
            prepay_id = provider.create_jsapi(
                out_trade_no=payment.out_trade_no,
                amount=payment.amount,
                description=_payment_description(order),
                openid=order.member.openid,
                expire_at=order.expires_at or timezone.now() + timedelta(minutes=30),
            )
        except PaymentError as exc:
            Payment.objects.filter(pk=payment.pk).update(
                status=PaymentStatus.CLOSED, closed_at=timezone.now()
            )
            events.track(
                "payment_failed",
                member_id=order.member_id,
                properties={"order_id": order.pk, "reason": str(exc)[:120]},
            )
            raise ServiceUnavailable(
                _("WeChat Pay is unavailable; try again."), code="payment_unavailable"
            ) from exc
        Payment.objects.filter(pk=payment.pk).update(prepay_id=prepay_id)
        payment.prepay_id = prepay_id
        log(order, "payment_started", by_member=True, data={"out_trade_no": payment.out_trade_no})
    return provider.payment_params(payment.prepay_id)


def _payment_description(order: Order) -> str:
    first = order.items.first()
    return (first.title if first else order.number)[:120]


def handle_wechat_notice(*, headers: Any, body: bytes) -> str:
    """Verify and record a WeChat Pay notice. Raises ``NoticeRejected`` (4xx) for
    anything we must not trust or cannot record; returns what was done."""
    provider = payment_provider.get()
    notice = verify_notice(
        headers=headers,
        body=body,
        platform_keys=provider.platform_keys(),
        apiv3_key=provider.apiv3_key(),
    )
    if notice.event_type == "TRANSACTION.SUCCESS":
        return _transaction_notice(notice, provider)
    if notice.event_type.startswith("REFUND."):
        from miniops.orders.services.aftersales import record_refund_result

        resource = notice.resource
        return record_refund_result(
            out_refund_no=str(resource.get("out_refund_no", "")),
            status=str(resource.get("refund_status", "")),
            refund_id=str(resource.get("refund_id", ""))[:64],
            amount=_int(_obj(resource, "amount").get("refund"), "amount.refund"),
        )
    raise NoticeRejected(f"unexpected event {notice.event_type}", status=400)


def _obj(resource: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested object of a verified resource ({} when absent); any other type
    means the notice is not what WeChat Pay sends, and it is refused."""
    value = resource.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise NoticeRejected(f"{name} is not an object", status=400)
    return value


def _int(value: Any, name: str) -> int:
    """An amount in fen: a JSON integer, or the notice is refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NoticeRejected(f"{name} is not an integer", status=400)
    return value


def _transaction_notice(notice: Notice, provider: Any) -> str:
    resource = notice.resource
    out_trade_no = str(resource.get("out_trade_no", ""))
    if resource.get("mchid") != provider.mch_id or resource.get("appid") != provider.app_id:
        anomaly(
            "merchant_mismatch",
            out_trade_no=out_trade_no,
            mchid=resource.get("mchid"),
            appid=resource.get("appid"),
        )
        raise NoticeRejected("notice for another merchant or app", status=400)
    if resource.get("trade_state") != "SUCCESS":
        raise NoticeRejected("not a successful trade", status=400)
    try:
        paid_at = parse_datetime(str(resource.get("success_time", ""))) or timezone.now()
    except ValueError:  # well-formed but impossible, e.g. month 13
        paid_at = timezone.now()
    return record_payment_success(
        out_trade_no=out_trade_no,
        transaction_id=str(resource.get("transaction_id", "")),
        amount=_int(_obj(resource, "amount").get("total"), "amount.total"),
        paid_at=paid_at,
        payer_openid=str(_obj(resource, "payer").get("openid", "")),
        raw=resource,
    )


def record_payment_success(
    *,
    out_trade_no: str,
    transaction_id: str,
    amount: int,
    paid_at: Any,
    payer_openid: str = "",
    raw: dict[str, Any] | None = None,
) -> str:
    """Record that a trade was paid — once, however many notices (and queries)
    report it at the same time."""
    if not transaction_id or len(transaction_id) > 64:
        raise NoticeRejected("no or malformed transaction id", status=400)
    known = Payment.objects.select_related("order").filter(out_trade_no=out_trade_no).first()
    if known is None:
        raise NoticeRejected("unknown out_trade_no", status=404)
    if amount != known.amount:
        # Outside any transaction: the alert must survive the refusal.
        anomaly(
            "amount_mismatch",
            order=known.order,
            out_trade_no=out_trade_no,
            expected=known.amount,
            got=amount,
        )
        raise NoticeRejected("amount does not match the order", status=400)
    try:
        with transaction.atomic():
            # Lock order before payment, the order every other writer uses
            # (cancel, timeout), so a notice and a cancel cannot deadlock.
            Order.objects.select_for_update().filter(pk=known.order_id).first()
            payment = Payment.objects.select_for_update().select_related("order").get(pk=known.pk)
            if payment.status == PaymentStatus.PAID:
                if payment.transaction_id != transaction_id:
                    anomaly(
                        "second_transaction",
                        order=payment.order,
                        out_trade_no=out_trade_no,
                        transaction_id=transaction_id,
                    )
                return "duplicate"
            updated = Payment.objects.filter(
                pk=payment.pk, status__in=[PaymentStatus.CREATED, PaymentStatus.CLOSED]
            ).update(
                status=PaymentStatus.PAID,
                transaction_id=transaction_id,
                paid_at=paid_at,
                payer_openid=payer_openid[:64],
                notice=raw or {},
            )
            if not updated:
                return "duplicate"
            order = Order.objects.get(pk=payment.order_id)  # locked above
            if order.status == OrderStatus.UNPAID:
                transition(
                    order, OrderStatus.PAID, note=out_trade_no, paid_at=paid_at, paid_amount=amount
                )
                _count_sales(order)
                return "paid"
            # Paid after the order was cancelled (or paid twice): refund automatically.
            anomaly(
                "paid_after_cancel", order=order, out_trade_no=out_trade_no, status=order.status
            )
            Order.objects.filter(pk=order.pk).update(paid_amount=F("paid_amount") + amount)
            transaction.on_commit(lambda: _refund_stray_payment(payment.pk))
            return "refunding_stray"
    except IntegrityError as exc:  # the same transaction id on another payment
        anomaly(
            "duplicate_transaction_id", out_trade_no=out_trade_no, transaction_id=transaction_id
        )
        raise NoticeRejected("transaction recorded on another payment", status=400) from exc


def settle_free_order(*, order: Order) -> Order:
    """An order with nothing to pay (goods from the points shop with free
    shipping) is paid at once, without opening a trade. Idempotent."""
    if order.payable_amount != 0:
        raise Conflict(_("This order has something to pay."), code="not_free")
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status == OrderStatus.UNPAID:
            transition(
                locked,
                OrderStatus.PAID,
                note=_("nothing to pay"),
                paid_at=timezone.now(),
                paid_amount=0,
            )
            _count_sales(locked)
    return locked


def _count_sales(order: Order) -> None:
    from miniops.catalog.services import record_sale

    for product_id, quantity in order.items.values_list("product_id", "quantity"):
        record_sale(product_id=product_id, quantity=quantity)


def _refund_stray_payment(payment_id: int) -> None:
    from miniops.orders.services.aftersales import refund_payment

    payment = Payment.objects.select_related("order").get(pk=payment_id)
    refund_payment(payment=payment, amount=payment.amount, reason=_("paid after cancellation"))


def sync_trade(payment: Payment) -> str:
    """Ask WeChat how a trade stands and record it (reconciliation)."""
    try:
        state = payment_provider.get().query(payment.out_trade_no)
    except PaymentError as exc:
        logger.warning("could not query %s: %s", payment.out_trade_no, exc)
        return "unreachable"
    if state.state in {"SUCCESS", "REFUND"}:
        try:
            return record_payment_success(
                out_trade_no=payment.out_trade_no,
                transaction_id=state.transaction_id,
                amount=state.amount,
                paid_at=parse_datetime(state.success_time) or timezone.now(),
                payer_openid=state.payer_openid,
                raw={"source": "query"},
            )
        except NoticeRejected as exc:
            return f"rejected: {exc}"
    if state.state in {"CLOSED", "REVOKED", "PAYERROR"}:
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.CREATED).update(
            status=PaymentStatus.CLOSED, closed_at=timezone.now()
        )
        return "closed"
    return state.state.lower()


def reconcile(*, older_than: timedelta = timedelta(minutes=5), limit: int = 200) -> dict[str, int]:
    """Query trades that were started but never notified (periodic task)."""
    cutoff = timezone.now() - older_than
    outcome: dict[str, int] = {}
    for payment in Payment.objects.filter(
        status=PaymentStatus.CREATED, created_at__lt=cutoff
    ).exclude(prepay_id="")[:limit]:
        result = sync_trade(payment)
        outcome[result] = outcome.get(result, 0) + 1
    from miniops.orders.services.aftersales import reconcile_refunds

    for result, count in reconcile_refunds(older_than=older_than).items():
        outcome[f"refund_{result}"] = outcome.get(f"refund_{result}", 0) + count
    return outcome


@transaction.atomic
def resolve_anomaly(*, anomaly: PaymentAnomaly, note: str = "", actor: Any) -> PaymentAnomaly:
    """Finance marks a payment anomaly settled, saying how (``note``).

    One conditional UPDATE: of two operators resolving the same anomaly at once,
    exactly one does; the other (and anyone resolving it again) is told it already
    is, and nothing is written twice. The resolution is in the audit log.
    """
    require(actor, P.ORDERS_RECONCILE)
    note = (note or "").strip()
    if len(note) > 255:
        raise InvalidInput(fields={"note": _("At most 255 characters.")})
    now = timezone.now()
    won = PaymentAnomaly.objects.filter(pk=anomaly.pk, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=actor, resolution_note=note
    )
    if not won:
        raise IllegalTransition(_("This anomaly is already resolved."), code="already_resolved")
    anomaly.refresh_from_db()
    audit.record(
        actor=actor,
        action=audit.Action.UPDATE,
        instance=anomaly,
        changes={"resolved_at": [None, now.isoformat()], "resolution_note": ["", note]},
    )
    return anomaly


def simulate_payment(*, order: Order) -> str:
    """Demo and tests: the buyer pays in the simulator, whose signed notice goes
    through the same verification as WeChat's."""
    provider = payment_provider.get()
    if not hasattr(provider, "pay"):
        raise Conflict(_("Only the payment simulator can do this."), code="not_simulated")
    payment = (
        Payment.objects.filter(order=order, status=PaymentStatus.CREATED)
        .exclude(prepay_id="")
        .last()
    )
    if payment is None:
        if order.status != OrderStatus.UNPAID:
            raise IllegalTransition(
                _("This order cannot be paid now."), fields={"status": order.status}
            )
        start_payment(order=order)
        payment = (
            Payment.objects.filter(order=order, status=PaymentStatus.CREATED)
            .exclude(prepay_id="")
            .last()
        )
    if payment is None:
        raise InvalidInput(_("No payment to complete."))
    headers, body = provider.pay(payment.out_trade_no)
    return handle_wechat_notice(headers=headers, body=body)
