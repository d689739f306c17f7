"""Shared pieces of the order services: conditional transitions and the timeline."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from miniops.core import events
from miniops.core.errors import IllegalTransition
from miniops.orders import hooks, states
from miniops.orders.models import Order, OrderEvent, PaymentAnomaly

#: order status -> analytics event emitted on entering it
TRACKED = {
    "paid": "order_paid",
    "cancelled": "order_cancelled",
    "shipped": "order_shipped",
    "completed": "order_completed",
    "closed": "order_closed",
}


#: A carrier tracking number (shipping and return parcels).
TRACKING_RE = re.compile(r"^[A-Za-z0-9-]{6,40}$")


def operator_or_none(actor: Any) -> Any:
    return actor if getattr(actor, "is_operator", False) and getattr(actor, "pk", None) else None


def transition(
    order: Order,
    to: str,
    *,
    actor: Any = None,
    by_member: bool = False,
    note: str = "",
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> Order:
    """Move ``order`` to ``to`` if (and only if) it is still in the status we read.

    One conditional UPDATE: of two concurrent callers exactly one wins; the loser
    gets IllegalTransition. The move is written to the timeline and tracked.
    """
    current = order.status
    states.check(states.ORDER, current, to)
    updated = Order.objects.filter(pk=order.pk, status=current).update(status=to, **fields)
    if not updated:
        fresh = Order.objects.filter(pk=order.pk).values_list("status", flat=True).first()
        raise IllegalTransition(
            _("The order changed meanwhile (now %(status)s).") % {"status": fresh},
            fields={"status": str(fresh)},
        )
    order.status = to
    for name, value in fields.items():
        setattr(order, name, value)
    hooks.run("status", order=order, from_=current, to=to)
    log(
        order,
        "status",
        from_status=current,
        to_status=to,
        actor=actor,
        by_member=by_member,
        note=note,
        data=data,
    )
    if operator_or_none(actor) is not None:
        from miniops.core import audit

        audit.record(
            actor=actor,
            action=audit.Action.UPDATE,
            instance=order,
            changes={"status": [current, to]},
            additional={"note": note} if note else None,
        )
    if to in TRACKED:
        events.track(
            TRACKED[to],
            member_id=order.member_id,
            properties={
                "order_id": order.pk,
                "number": order.number,
                "amount": order.payable_amount,
                "from": current,
            },
        )
    return order


def log(
    order: Order,
    kind: str,
    *,
    from_status: str = "",
    to_status: str = "",
    actor: Any = None,
    by_member: bool = False,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> OrderEvent:
    return OrderEvent.objects.create(
        order=order,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        actor=operator_or_none(actor),
        by_member=by_member,
        note=note[:255],
        data=data or {},
    )


def anomaly(
    kind: str, *, order: Order | None = None, out_trade_no: str = "", **detail: Any
) -> PaymentAnomaly:
    """Record a money problem for a person to look at, and say it loudly."""
    import logging

    logging.getLogger("miniops.payments").error(
        "payment anomaly %s %s %s", kind, out_trade_no, detail
    )
    record = PaymentAnomaly.objects.create(
        kind=kind, order=order, out_trade_no=out_trade_no, detail=detail
    )
    events.notify_operators(
        {
            "type": "payment_anomaly",
            "kind": kind,
            "order": order.number if order else out_trade_no,
        }
    )
    return record
