"""Console pages for orders: the list with status tabs, the order page with its
allowed actions, after-sales, payments and refunds, freight templates, bulk
shipping, finance export and the reconciliation report."""

from __future__ import annotations

from miniops.orders.admin import widgets  # noqa: F401  (registers)
from miniops.orders.admin.aftersales import (
    AfterSaleAdmin,
)
from miniops.orders.admin.common import (
    STATUS_LABELS,
    VIEW_ONLY,
    MemberFilter,
    ProductFilter,
)
from miniops.orders.admin.freight import (
    FreightRuleInline,
    FreightTemplateAdmin,
    ProductFreightInline,
)
from miniops.orders.admin.order import (
    OrderAdmin,
)
from miniops.orders.admin.pages import (
    bulk_ship_page,
    reconciliation_page,
)
from miniops.orders.admin.payments import (
    PaymentAdmin,
    PaymentAnomalyAdmin,
    RefundAdmin,
)

__all__ = [
    "STATUS_LABELS",
    "VIEW_ONLY",
    "AfterSaleAdmin",
    "FreightRuleInline",
    "FreightTemplateAdmin",
    "MemberFilter",
    "OrderAdmin",
    "PaymentAdmin",
    "PaymentAnomalyAdmin",
    "ProductFilter",
    "ProductFreightInline",
    "RefundAdmin",
    "bulk_ship_page",
    "reconciliation_page",
]
