"""Sharing's reactions to other apps, registered in ``SharingConfig.ready``:
new members (``core.events`` sink on ``member_registered``) and orders
(``orders.hooks``: placed, completed, refunded) and blocked or unblocked members
(``members.hooks``: the share-code cache is dropped)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from miniops.members import hooks as member_hooks
from miniops.orders import hooks as order_hooks
from miniops.sharing.services import attribution, links

logger = logging.getLogger("miniops.sharing")


def on_server_events(batch: list[Any]) -> None:
    """``core.events`` sink: attribute each new member (and reward their sharer)."""
    for event in batch:
        if event.name != "member_registered" or event.member_id is None:
            continue
        properties = event.properties
        referrer_id = properties.get("referrer_id")
        share_code = properties.get("share_code")
        anonymous_id = properties.get("anonymous_id")
        attribution.attribute_registration(
            member_id=event.member_id,
            share_code=share_code if isinstance(share_code, str) else "",
            anonymous_id=anonymous_id if isinstance(anonymous_id, str) else "",
            referrer_id=referrer_id if isinstance(referrer_id, int) else None,
        )


def _placed(*, order: Any, quote: Any = None) -> None:
    attribution.attribute_order(order)


def _status(*, order: Any, from_: str, to: str) -> None:
    if to == "completed":
        attribution.on_order_completed(order)


def _refunded(*, order: Any, refund: Any = None) -> None:
    attribution.claw_back(order)


def _member_status(*, member: Any) -> None:
    # after commit: a process reading the code between the bump and the commit
    # would cache the sharer as they were
    transaction.on_commit(links.forget_codes)


def register() -> None:
    member_hooks.register("status_changed", _member_status)
    order_hooks.register("placed", _placed)
    order_hooks.register("status", _status)
    order_hooks.register("refunded", _refunded)
