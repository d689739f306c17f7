"""What every catalog write shares: limits, the product state machine, cache invalidation."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from miniops.catalog.models import (
    Product,
    ProductStatus,
)
from miniops.catalog.selectors import SELLABLE_KEY, VERSION_KEY, product_key
from miniops.core import localcache
from miniops.core.errors import InvalidInput

MAX_STOCK = 10_000_000
MAX_SPECS = 3
MAX_SPEC_VALUES = 30
MAX_SKUS_PER_PRODUCT = 400

#: The product state machine: from -> allowed targets.
TRANSITIONS: dict[str, set[str]] = {
    ProductStatus.DRAFT: {ProductStatus.ON_SALE},
    ProductStatus.ON_SALE: {ProductStatus.OFF_SHELF},
    ProductStatus.OFF_SHELF: {ProductStatus.ON_SALE, ProductStatus.DRAFT},
}


# --- cache invalidation -----------------------------------------------------------------
def _changed(*product_ids: int, listing: bool = True) -> None:
    """After commit: drop product pages; bump the catalog version for lists/trees."""

    def run() -> None:
        for product_id in product_ids:
            cache.delete(product_key(product_id))
            localcache.forget(product_key(product_id))
        localcache.forget(SELLABLE_KEY)  # stock or status may have changed
        if listing:
            if not cache.add(VERSION_KEY, 2, timeout=None):
                try:
                    cache.incr(VERSION_KEY)
                except ValueError:
                    cache.set(VERSION_KEY, 2, timeout=None)
            localcache.forget("catalog:")

    transaction.on_commit(run)


def catalog_changed(product_ids: Iterable[int] | None = None) -> None:
    """After bulk writes that went around the services (the demo seeder): drop the
    cached pages of ``product_ids`` (every product when None) and bump the version
    that list and tree answers are cached under, after commit."""
    if product_ids is None:
        product_ids = Product.objects.values_list("pk", flat=True)
    _changed(*product_ids)


def _validation(exc: ValidationError) -> InvalidInput:
    if hasattr(exc, "message_dict"):
        return InvalidInput(fields={k: " ".join(v) for k, v in exc.message_dict.items()})
    return InvalidInput(" ".join(exc.messages))
