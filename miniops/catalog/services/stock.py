"""Stock adjustments with their ledger rows, sales counters, single SKUs."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from miniops.catalog.models import (
    Product,
    Sku,
    StockLedger,
    StockReason,
)
from miniops.catalog.services.common import MAX_STOCK, _changed
from miniops.catalog.services.products import _check_price, refresh_min_price, spec_key
from miniops.core import audit
from miniops.core.db import add_if_at_least
from miniops.core.errors import Conflict, InvalidInput


# --- stock -----------------------------------------------------------------------------------
def _check_delta(delta: Any) -> int:
    if (
        isinstance(delta, bool)
        or not isinstance(delta, int)
        or delta == 0
        or abs(delta) > MAX_STOCK
    ):
        raise InvalidInput(fields={"delta": _("A non-zero whole number up to %d.") % MAX_STOCK})
    return delta


@transaction.atomic
def adjust_stock(
    *,
    sku: Sku,
    delta: int,
    reason: str,
    actor: Any,
    reference: str = "",
    note: str = "",
) -> int:
    """Change stock by ``delta`` with one conditional UPDATE (never below zero, even
    under concurrency) and record the movement. Returns the new stock."""
    delta = _check_delta(delta)
    if reason not in StockReason.values:
        raise InvalidInput(fields={"reason": _("Unknown reason.")})
    balance = add_if_at_least(Sku, sku.pk, "stock", delta, floor=0)
    if balance is None:
        raise Conflict(_("Not enough stock."), code="insufficient_stock")
    if balance > MAX_STOCK:
        raise InvalidInput(fields={"delta": _("Stock cannot exceed %d.") % MAX_STOCK})
    StockLedger.objects.create(
        sku_id=sku.pk,
        delta=delta,
        balance=balance,
        reason=reason,
        reference=reference[:64],
        note=note[:255],
        actor=actor if getattr(actor, "pk", None) else None,
    )
    sku.stock = balance
    _changed(sku.product_id, listing=False)
    return balance


@transaction.atomic
def set_stock(*, sku: Sku, quantity: int, reason: str, actor: Any, note: str = "") -> int:
    """Set stock to an absolute count (stock-take, import): records the difference."""
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not 0 <= quantity <= MAX_STOCK
    ):
        raise InvalidInput(fields={"stock": _("A whole number between 0 and %d.") % MAX_STOCK})
    current = Sku.objects.select_for_update().values_list("stock", flat=True).get(pk=sku.pk)
    if quantity == current:
        return current
    return adjust_stock(sku=sku, delta=quantity - current, reason=reason, actor=actor, note=note)


def record_sale(*, product_id: int, quantity: int) -> None:
    """Sales counter for sorting (orders call it when paid)."""
    from django.db.models import F

    Product.objects.filter(pk=product_id).update(sales_count=F("sales_count") + quantity)


def create_sku(
    *,
    product: Product,
    code: str,
    spec_values: dict[str, str],
    price: int,
    actor: Any,
    original_price: int = 0,
) -> Sku:
    """One SKU outside the matrix helper (imports)."""
    _check_price(price, "price")
    _check_price(original_price, "original_price")
    try:
        with transaction.atomic(), audit.acting_as(actor):
            sku = Sku.objects.create(
                product=product,
                code=code,
                spec_values=spec_values,
                spec_key=spec_key(spec_values),
                price=price,
                original_price=original_price,
            )
    except IntegrityError as exc:
        raise Conflict(fields={"code": _("This SKU code or combination exists already.")}) from exc
    refresh_min_price(product)
    _changed(product.pk)
    return sku


@transaction.atomic
def add_skus(*, product: Product, rows: list[dict[str, Any]], actor: Any) -> list[Sku]:
    """The SKUs typed into a new product's form, each with its price, weight and
    opening stock (one ``initial`` ledger row each): the product's specifications
    become the names and values the rows use. Every row names the same
    specifications; a combination appears once. All or nothing."""
    from miniops.catalog.services.products import clean_specs

    if not rows:
        return []
    names = list(rows[0]["spec_values"])
    for row in rows:
        if list(row["spec_values"]) != names:
            raise InvalidInput(
                fields={"specs": _("Every SKU names the same specifications, in the same order.")}
            )
    specs = [
        {"name": name, "values": list(dict.fromkeys(r["spec_values"][name] for r in rows))}
        for name in names
    ]
    product.specs = clean_specs(specs)
    keys = [spec_key(row["spec_values"]) for row in rows]
    if len(set(keys)) != len(keys):
        raise InvalidInput(fields={"specs": _("Two SKUs have the same specification values.")})
    with audit.acting_as(actor):
        product.save(update_fields=["specs"])
    created = []
    for index, row in enumerate(rows, start=1):
        code = (row.get("code") or "").strip() or f"P{product.pk}-{index:03d}"
        sku = create_sku(
            product=product,
            code=code,
            spec_values=row["spec_values"],
            price=row["price"],
            original_price=row.get("original_price") or 0,
            actor=actor,
        )
        weight = row.get("weight_g") or 0
        if isinstance(weight, bool) or not 0 <= weight <= 1_000_000:
            raise InvalidInput(fields={"weight_g": _("Between 0 and 1,000,000 grams.")})
        if weight:
            with audit.acting_as(actor):
                sku.weight_g = weight
                sku.save(update_fields=["weight_g"])
        stock = row.get("stock") or 0
        if stock:
            set_stock(sku=sku, quantity=stock, reason=StockReason.INITIAL, actor=actor)
        created.append(sku)
    return created
