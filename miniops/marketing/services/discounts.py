"""Time-limited discounts: a product's or SKU's price in a window."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from miniops.core.errors import InvalidInput
from miniops.marketing.models import TimedDiscount
from miniops.marketing.services import common


def validate(discount: TimedDiscount) -> None:
    errors = {}
    if (discount.product_id is None) == (discount.sku_id is None):
        errors["product"] = _("Choose a product or one SKU.")
    if (discount.percent_off is None) == (discount.price is None):
        errors["percent_off"] = _("Give either a percent off or a price.")
    if discount.percent_off is not None and not 1 <= discount.percent_off <= 99:
        errors["percent_off"] = _("Between 1 and 99.")
    if discount.price is not None:
        if discount.sku_id is None:
            errors["price"] = _(
                "A fixed price is for one SKU; use percent off for a whole product."
            )
        elif discount.price < 1:
            errors["price"] = _("At least 1 fen.")
        elif discount.sku is not None and discount.price >= discount.sku.price:
            errors["price"] = _("The discounted price must be below the SKU's price.")
    if discount.ends_at and discount.starts_at and discount.ends_at <= discount.starts_at:
        errors["ends_at"] = _("The end is before the start.")
    if errors:
        raise InvalidInput(fields=errors)


def end_early(*, discount: TimedDiscount, actor: Any) -> TimedDiscount:
    return common.end_early(
        discount, actor=actor, already_ended=_("This discount has already ended.")
    )
