"""Marketing's reactions to server events (``core.events`` sink): a new member's
registration coupons. It sits above coupons so that members need not import them.
The referrer's reward moved to the sharing app (attribution, anti-abuse, freeze
and claw-back as ledger rows): one mechanism, not two."""

from __future__ import annotations

from typing import Any

from miniops.marketing.models import CouponTemplate
from miniops.marketing.services import coupons


def on_server_events(batch: list[Any]) -> None:
    """``core.events`` sink: registration coupons."""
    for event in batch:
        if event.name != "member_registered" or event.member_id is None:
            continue
        coupons.auto_issue(CouponTemplate.AutoRule.REGISTRATION, event.member_id)
