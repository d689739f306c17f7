"""Marketing's reactions to server events (``core.events`` sink): a new member's
registration coupons and their referrer's reward. It sits above coupons and points
so that neither imports the other for it."""

from __future__ import annotations

from typing import Any

from miniops.marketing.models import CouponTemplate
from miniops.marketing.services import coupons, points


def on_server_events(batch: list[Any]) -> None:
    """``core.events`` sink: registration coupons and the referrer's reward."""
    for event in batch:
        if event.name != "member_registered" or event.member_id is None:
            continue
        coupons.auto_issue(CouponTemplate.AutoRule.REGISTRATION, event.member_id)
        referrer_id = event.properties.get("referrer_id")
        if isinstance(referrer_id, int):
            points.referral_reward(referrer_id=referrer_id, new_member_id=event.member_id)
