"""Shipping fees from freight templates (first / additional piece or weight,
region rules, free-shipping threshold).

Every checkout prices shipping, so the templates, their region rules and the
product → template assignments are read once into a plain snapshot kept per
process for a few seconds (``core.localcache``), instead of three queries per
quote. A change made in this process is seen at once (the model signals below
drop the snapshot); other processes see it within ``SNAPSHOT_TTL`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext as _

from miniops.core import localcache
from miniops.orders.models import FreightRule, FreightTemplate, ProductFreight
from miniops.orders.pricing import Line, Quote, register_step

SNAPSHOT_KEY = "orders:freight"
SNAPSHOT_TTL = 2.0


@dataclass(frozen=True)
class Rule:
    provinces: frozenset[str]
    first_fee: int
    additional_fee: int
    no_delivery: bool


@dataclass(frozen=True)
class Template:
    pk: int
    charge_by: str
    first_units: int
    first_fee: int
    additional_units: int
    additional_fee: int
    free_over: int | None
    rules: tuple[Rule, ...]

    def fee(self, units: float, province: str) -> tuple[int, bool]:
        """(fee, deliverable) for ``units`` pieces or kilograms to ``province``."""
        first_fee, additional_fee = self.first_fee, self.additional_fee
        for rule in self.rules:
            if province and province in rule.provinces:
                if rule.no_delivery:
                    return 0, False
                first_fee, additional_fee = rule.first_fee, rule.additional_fee
                break
        if units <= self.first_units:
            return first_fee, True
        extra_steps = math.ceil((units - self.first_units) / self.additional_units)
        return first_fee + extra_steps * additional_fee, True


@dataclass(frozen=True)
class Snapshot:
    templates: dict[int, Template]
    default_id: int | None
    by_product: dict[int, int]  # product id -> template id

    def template_for(self, product_id: int) -> Template | None:
        template_id = self.by_product.get(product_id, self.default_id)
        return self.templates.get(template_id) if template_id is not None else None


def _load() -> Snapshot:
    rules: dict[int, list[Rule]] = {}
    for rule in FreightRule.objects.order_by("pk"):
        rules.setdefault(rule.template_id, []).append(
            Rule(
                provinces=frozenset(str(p) for p in rule.provinces or []),
                first_fee=rule.first_fee,
                additional_fee=rule.additional_fee,
                no_delivery=rule.no_delivery,
            )
        )
    templates, default_id = {}, None
    for template in FreightTemplate.objects.all():
        templates[template.pk] = Template(
            pk=template.pk,
            charge_by=template.charge_by,
            first_units=template.first_units,
            first_fee=template.first_fee,
            additional_units=template.additional_units,
            additional_fee=template.additional_fee,
            free_over=template.free_over,
            rules=tuple(rules.get(template.pk, ())),
        )
        if template.is_default:
            default_id = template.pk
    by_product = dict(ProductFreight.objects.values_list("product_id", "template_id"))
    return Snapshot(templates=templates, default_id=default_id, by_product=by_product)


def snapshot() -> Snapshot:
    return localcache.get_or_load(SNAPSHOT_KEY, SNAPSHOT_TTL, _load)


def forget(**_: Any) -> None:
    """Drop this process's snapshot now and again after the change commits (so a
    concurrent reader cannot keep the pre-commit state for the whole TTL)."""
    localcache.forget(SNAPSHOT_KEY)
    transaction.on_commit(lambda: localcache.forget(SNAPSHOT_KEY))


for _model in (FreightTemplate, FreightRule, ProductFreight):
    post_save.connect(forget, sender=_model, dispatch_uid=f"freight-forget-save-{_model.__name__}")
    post_delete.connect(forget, sender=_model, dispatch_uid=f"freight-forget-del-{_model.__name__}")


def shipping_fee(quote: Quote) -> tuple[int, str, bool]:
    """(fee, note, deliverable) for a quote's lines to ``quote.province``."""
    if not quote.lines:
        return 0, "", True
    table = snapshot()
    groups: dict[int, tuple[Template, list[Line]]] = {}
    for line in quote.lines:
        template = table.template_for(line.product_id)
        if template is not None:  # no template at all: ships free
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
        fee, ok = template.fee(units, quote.province)
        deliverable = deliverable and ok
        total += fee
    if not deliverable:
        notes.append(_("Not delivered to this region"))
    return total, "; ".join(dict.fromkeys(notes)), deliverable


def _shipping_step(quote: Quote) -> None:
    quote.shipping_fee, quote.shipping_note, quote.deliverable = shipping_fee(quote)


#: Shipping runs after every discount: free-shipping thresholds look at the goods
#: after discounts. Registered here, so the pipeline knows no step by name.
register_step(200, "shipping", _shipping_step)
