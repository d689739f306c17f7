"""The state machines of orders, payments, after-sales and refunds, in one place.

Services check a move with ``check(MACHINE, current, target)`` (an illegal move
raises ``IllegalTransition``, answered 409) and then perform it with a
conditional update on the current status.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from miniops.core.errors import IllegalTransition
from miniops.orders.models import AfterSaleStatus as A
from miniops.orders.models import OrderStatus as O
from miniops.orders.models import PaymentStatus as P
from miniops.orders.models import RefundStatus as R

ORDER: dict[str, set[str]] = {
    O.UNPAID: {O.PAID, O.CANCELLED},
    O.PAID: {O.SHIPPED, O.CLOSED},
    O.SHIPPED: {O.COMPLETED, O.CLOSED},
    O.COMPLETED: {O.CLOSED},
    O.CANCELLED: set(),
    O.CLOSED: set(),
}

PAYMENT: dict[str, set[str]] = {
    P.CREATED: {P.PAID, P.CLOSED},
    P.PAID: set(),
    # A verified notice proves the money moved even after we closed the trade
    # (paid in the instant before the close): record it, then refund it.
    P.CLOSED: {P.PAID},
}

AFTER_SALE: dict[str, set[str]] = {
    A.REQUESTED: {A.AWAITING_RETURN, A.REFUNDING, A.REJECTED, A.CANCELLED},
    A.AWAITING_RETURN: {A.RETURNED, A.CANCELLED},
    A.RETURNED: {A.REFUNDING, A.REJECTED},
    A.REFUNDING: {A.REFUNDED},
    A.REFUNDED: set(),
    A.REJECTED: set(),
    A.CANCELLED: set(),
}

REFUND: dict[str, set[str]] = {
    R.PROCESSING: {R.SUCCESS, R.FAILED},
    R.SUCCESS: set(),
    R.FAILED: set(),
}

#: After-sales that still hold items or money (a new request must not overlap them).
OPEN_AFTER_SALES = {A.REQUESTED, A.AWAITING_RETURN, A.RETURNED, A.REFUNDING}


def check(machine: dict[str, set[str]], current: str, target: str) -> None:
    if target not in machine.get(current, set()):
        raise IllegalTransition(
            _("Not allowed: %(current)s → %(target)s.") % {"current": current, "target": target},
            fields={"status": current},
        )


def can(machine: dict[str, set[str]], current: str, target: str) -> bool:
    return target in machine.get(current, set())
