"""Console pages for the catalog: categories, brands, products with their SKUs and
images, stock and its ledger, import and export, and the low-stock home card."""

from __future__ import annotations

from miniops.catalog.admin import widgets  # noqa: F401  (registers)
from miniops.catalog.admin.common import (
    MANAGE,
)
from miniops.catalog.admin.products import (
    ProductAdmin,
    ProductImageInline,
    SkuInline,
)
from miniops.catalog.admin.stock import (
    SkuAdmin,
    StockLedgerAdmin,
)
from miniops.catalog.admin.taxonomy import (
    BrandAdmin,
    CategoryAdmin,
)

__all__ = [
    "MANAGE",
    "BrandAdmin",
    "CategoryAdmin",
    "ProductAdmin",
    "ProductImageInline",
    "SkuAdmin",
    "SkuInline",
    "StockLedgerAdmin",
]
