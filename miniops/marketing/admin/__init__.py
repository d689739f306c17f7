"""Marketing in the console: every tool with its status, participants, orders, GMV,
conversion and cost; actions audited and behind ``marketing.*`` permissions."""

from __future__ import annotations

from miniops.marketing.admin import widgets  # noqa: F401  (registers)
from miniops.marketing.admin.common import (
    MANAGE,
    POINTS,
    VIEW_ONLY,
    ValidatedForm,
)
from miniops.marketing.admin.coupons import (
    CouponAdmin,
    CouponTemplateAdmin,
    CouponTemplateForm,
    IssueDialogForm,
    PointsAdjustForm,
)
from miniops.marketing.admin.flash import (
    FlashItemForm,
    FlashItemInline,
    FlashSessionAdmin,
    FlashSessionForm,
)
from miniops.marketing.admin.groups import (
    GroupAdmin,
    GroupBuyAdmin,
    GroupBuyForm,
    TimedDiscountAdmin,
    TimedDiscountForm,
)
from miniops.marketing.admin.points import (
    LevelAdmin,
    LevelChangeAdmin,
    LevelForm,
    PointsEntryAdmin,
    RedeemItemAdmin,
)
from miniops.marketing.admin.results import (
    MONEY,
    RESULT_COLUMNS,
    results_page,
)

__all__ = [
    "MANAGE",
    "MONEY",
    "POINTS",
    "RESULT_COLUMNS",
    "VIEW_ONLY",
    "CouponAdmin",
    "CouponTemplateAdmin",
    "CouponTemplateForm",
    "FlashItemForm",
    "FlashItemInline",
    "FlashSessionAdmin",
    "FlashSessionForm",
    "GroupAdmin",
    "GroupBuyAdmin",
    "GroupBuyForm",
    "IssueDialogForm",
    "LevelAdmin",
    "LevelChangeAdmin",
    "LevelForm",
    "PointsAdjustForm",
    "PointsEntryAdmin",
    "RedeemItemAdmin",
    "TimedDiscountAdmin",
    "TimedDiscountForm",
    "ValidatedForm",
    "results_page",
]
