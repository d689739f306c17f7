"""Marketing tools: coupons, points and membership levels, flash sales, group buys
and time-limited discounts. Every price they give goes through the one pricing
pipeline of ``orders.pricing`` (see ``marketing/pricing.py`` for the order in
which they take precedence)."""

from __future__ import annotations

from miniops.marketing.models import audit  # noqa: F401  (registers)
from miniops.marketing.models.common import (
    CampaignStatus,
    window_status,
)
from miniops.marketing.models.coupons import (
    Coupon,
    CouponStatus,
    CouponTemplate,
)
from miniops.marketing.models.discounts import (
    TimedDiscount,
)
from miniops.marketing.models.flash import (
    FlashItem,
    FlashOrder,
    FlashPurchase,
    FlashSession,
)
from miniops.marketing.models.groups import (
    Group,
    GroupBuy,
    GroupMember,
    GroupStatus,
)
from miniops.marketing.models.points import (
    GrowthEntry,
    Level,
    LevelChange,
    MemberStanding,
    PointsEntry,
    RedeemItem,
    Redemption,
)

__all__ = [
    "CampaignStatus",
    "Coupon",
    "CouponStatus",
    "CouponTemplate",
    "FlashItem",
    "FlashOrder",
    "FlashPurchase",
    "FlashSession",
    "Group",
    "GroupBuy",
    "GroupMember",
    "GroupStatus",
    "GrowthEntry",
    "Level",
    "LevelChange",
    "MemberStanding",
    "PointsEntry",
    "RedeemItem",
    "Redemption",
    "TimedDiscount",
    "window_status",
]
