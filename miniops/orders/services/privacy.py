"""An order's personal data (recipient, phone, street address): masked on every
page, shown in full only through ``reveal``, which writes an ACCESS audit row."""

from __future__ import annotations

from typing import Any

from miniops.core import audit
from miniops.core.errors import Forbidden
from miniops.core.masking import mask_name, mask_phone
from miniops.core.permissions import P
from miniops.orders.models import Order

#: What ``reveal`` shows, in the audit row's words.
REVEALED = ["recipient", "phone", "address_detail"]


def _address(order: Order, detail: str) -> str:
    return " ".join(part for part in (order.province, order.city, order.district, detail) if part)


def masked(order: Order) -> dict[str, str]:
    """The delivery block as every operator sees it (the street address hidden)."""
    return {
        "recipient": mask_name(order.recipient),
        "phone": mask_phone(order.phone),
        "address": _address(order, "****"),
    }


def reveal(*, order: Order, actor: Any) -> dict[str, str]:
    """The full delivery block, for an operator holding ``members.view_sensitive``.
    Every call is written to the audit log with the operator, so nobody reads a
    buyer's address without leaving a trace; there is no system caller."""
    if actor is None or not actor.has_permission(P.MEMBERS_VIEW_SENSITIVE):
        raise Forbidden()
    audit.record(
        actor=actor,
        action=audit.Action.ACCESS,
        instance=order,
        additional={"revealed": REVEALED},
    )
    return {
        "recipient": order.recipient,
        "phone": order.phone,
        "address": _address(order, order.address_detail),
    }
