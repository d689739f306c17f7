"""Shipping fees from freight templates (first / additional piece or weight,
region rules, free-shipping threshold)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from miniops.orders.models import FreightTemplate, ProductFreight

if TYPE_CHECKING:
    from miniops.orders.pricing import Quote


def _fee_for(template: FreightTemplate, units: float, province: str) -> tuple[int, bool]:
    first_fee, additional_fee = template.first_fee, template.additional_fee
    for rule in template.rules.all():
        if province and province in rule.provinces:
            if rule.no_delivery:
                return 0, False
            first_fee, additional_fee = rule.first_fee, rule.additional_fee
            break
    if units <= template.first_units:
        return first_fee, True
    extra_steps = math.ceil((units - template.first_units) / template.additional_units)
    return first_fee + extra_steps * additional_fee, True


def shipping_fee(quote: Quote) -> tuple[int, str, bool]:
    """(fee, note, deliverable) for a quote's lines to ``quote.province``."""
    if not quote.lines:
        return 0, "", True
    default = FreightTemplate.objects.filter(is_default=True).prefetch_related("rules").first()
    assigned = {
        pf.product_id: pf.template
        for pf in ProductFreight.objects.filter(
            product_id__in={line.product_id for line in quote.lines}
        )
        .select_related("template")
        .prefetch_related("template__rules")
    }
    groups: dict[int, tuple[FreightTemplate, list]] = {}
    unassigned: list = []
    for line in quote.lines:
        template = assigned.get(line.product_id) or default
        if template is None:
            unassigned.append(line)
            continue
        groups.setdefault(template.pk, (template, []))[1].append(line)
    total, deliverable, notes = 0, True, []
    goods_after_discounts = quote.goods_amount - quote.discount_amount
    for template, lines in groups.values():
        if template.free_over is not None and goods_after_discounts >= template.free_over:
            notes.append(_("Free shipping"))
            continue
        if template.charge_by == FreightTemplate.ChargeBy.WEIGHT:
            units = sum(line.weight_g * line.quantity for line in lines) / 1000
        else:
            units = sum(line.quantity for line in lines)
        fee, ok = _fee_for(template, units, quote.province)
        deliverable = deliverable and ok
        total += fee
    if not deliverable:
        notes.append(_("Not delivered to this region"))
    return total, "; ".join(dict.fromkeys(notes)), deliverable
