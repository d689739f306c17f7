"""The member's cart: validated against stock and on-sale state, remembering the
price each line was added at so price changes can be shown."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from miniops.catalog.models import ProductStatus, Sku
from miniops.core.errors import Conflict, InvalidInput, NotFound
from miniops.orders.models import CartItem

MAX_LINES = 100
MAX_QUANTITY = 99


def _sku_for_sale(sku_id: int) -> Sku:
    sku = Sku.objects.select_related("product").filter(pk=sku_id).first()
    if sku is None:
        raise NotFound()
    if not sku.is_active or sku.product.status != ProductStatus.ON_SALE:
        raise Conflict(
            _("This item is not on sale."), code="not_on_sale", fields={"sku_id": sku_id}
        )
    return sku


def _check_quantity(quantity: Any) -> int:
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not 1 <= quantity <= MAX_QUANTITY
    ):
        raise InvalidInput(fields={"quantity": _("Between 1 and %d.") % MAX_QUANTITY})
    return quantity


@transaction.atomic
def add(*, member: Any, sku_id: int, quantity: int) -> CartItem:
    quantity = _check_quantity(quantity)
    sku = _sku_for_sale(sku_id)
    item = CartItem.objects.select_for_update().filter(member=member, sku=sku).first()
    if item is None:
        if CartItem.objects.filter(member=member).count() >= MAX_LINES:
            raise Conflict(_("The cart is full (%d lines).") % MAX_LINES, code="cart_full")
        total = quantity
    else:
        total = item.quantity + quantity
    if total > MAX_QUANTITY:
        raise InvalidInput(fields={"quantity": _("Between 1 and %d.") % MAX_QUANTITY})
    if total > sku.stock:
        raise Conflict(
            _("Only %d left.") % sku.stock, code="insufficient_stock", fields={"sku_id": sku.pk}
        )
    if item is None:
        try:
            with transaction.atomic():
                return CartItem.objects.create(
                    member=member, sku=sku, quantity=total, price_when_added=sku.price
                )
        except IntegrityError:  # added twice at once
            item = CartItem.objects.get(member=member, sku=sku)
    item.quantity = total
    item.selected = True
    item.save(update_fields=["quantity", "selected", "updated_at"])
    return item


@transaction.atomic
def update(
    *, member: Any, sku_id: int, quantity: int | None = None, selected: bool | None = None
) -> CartItem:
    item = (
        CartItem.objects.select_for_update()
        .select_related("sku")
        .filter(member=member, sku_id=sku_id)
        .first()
    )
    if item is None:
        raise NotFound()
    if quantity is not None:
        quantity = _check_quantity(quantity)
        if quantity > item.sku.stock:
            raise Conflict(
                _("Only %d left.") % item.sku.stock,
                code="insufficient_stock",
                fields={"sku_id": sku_id},
            )
        item.quantity = quantity
    if selected is not None:
        item.selected = selected
    item.save()
    return item


def remove(*, member: Any, sku_id: int) -> None:
    deleted, _ = CartItem.objects.filter(member=member, sku_id=sku_id).delete()
    if not deleted:
        raise NotFound()


def select(*, member: Any, sku_ids: list[int], selected: bool) -> int:
    return CartItem.objects.filter(member=member, sku_id__in=sku_ids).update(selected=selected)


def remove_ordered(*, member: Any, sku_ids: list[int]) -> None:
    CartItem.objects.filter(member=member, sku_id__in=sku_ids).delete()
