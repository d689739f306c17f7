"""Every write to the catalog. Stock changes only here, each with a ledger row."""

from __future__ import annotations

from miniops.catalog.services.common import (
    MAX_SKUS_PER_PRODUCT,
    MAX_SPEC_VALUES,
    MAX_SPECS,
    MAX_STOCK,
    TRANSITIONS,
    _changed,
    _validation,
    catalog_changed,
)
from miniops.catalog.services.products import (
    MAX_IMAGES,
    _check_price,
    add_image,
    apply_schedules,
    bulk_change_status,
    change_status,
    clean_specs,
    combinations,
    refresh_cover,
    refresh_min_price,
    remove_image,
    reorder_images,
    replace_image,
    save_product,
    spec_key,
    sync_skus,
    update_sku,
)
from miniops.catalog.services.stock import (
    adjust_stock,
    create_sku,
    record_sale,
    set_stock,
)
from miniops.catalog.services.taxonomy import (
    delete_category,
    save_brand,
    save_category,
)

__all__ = [
    "MAX_IMAGES",
    "MAX_SKUS_PER_PRODUCT",
    "MAX_SPECS",
    "MAX_SPEC_VALUES",
    "MAX_STOCK",
    "TRANSITIONS",
    "_changed",
    "_check_price",
    "_validation",
    "add_image",
    "adjust_stock",
    "apply_schedules",
    "bulk_change_status",
    "catalog_changed",
    "change_status",
    "clean_specs",
    "combinations",
    "create_sku",
    "delete_category",
    "record_sale",
    "refresh_cover",
    "refresh_min_price",
    "remove_image",
    "reorder_images",
    "replace_image",
    "save_brand",
    "save_category",
    "save_product",
    "set_stock",
    "spec_key",
    "sync_skus",
    "update_sku",
]
