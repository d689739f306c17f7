"""Which marketing models the audit log records, and what it leaves out."""

from __future__ import annotations

from miniops.marketing.models.coupons import CouponTemplate
from miniops.marketing.models.discounts import TimedDiscount
from miniops.marketing.models.flash import FlashItem, FlashSession
from miniops.marketing.models.groups import GroupBuy
from miniops.marketing.models.points import Level, RedeemItem


def _register_audit() -> None:
    """Operators' changes to campaigns go to the audit log (counters that move
    with every sale are updated in place and never logged)."""
    from auditlog.registry import auditlog

    auditlog.register(
        CouponTemplate,
        exclude_fields=["issued_count"],
        m2m_fields={"categories", "products", "excluded_products"},
    )
    auditlog.register(Level)
    auditlog.register(RedeemItem)
    auditlog.register(FlashSession)
    auditlog.register(FlashItem, exclude_fields=["sold"])
    auditlog.register(GroupBuy)
    auditlog.register(TimedDiscount)


_register_audit()
