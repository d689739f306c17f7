"""Checkout: price a basket (preview) and place the order — stock reserved in the
same transaction, all or nothing, by conditional updates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from miniops.catalog import services as catalog_services
from miniops.catalog.models import ProductStatus, Sku, StockReason
from miniops.core import crypto, events, numbers
from miniops.core.db import attach_prefetched
from miniops.core.errors import Conflict, InvalidInput, NotFound
from miniops.members.models import Address, Member
from miniops.orders import hooks, pricing
from miniops.orders.models import CartItem, Order, OrderItem
from miniops.orders.services import cart
from miniops.orders.services.common import log

MAX_LINES = 50
MAX_QUANTITY = 999


def normalise_items(items: list[dict[str, Any]] | None) -> dict[int, int]:
    """``[{"sku_id": 1, "quantity": 2}, ...]`` -> {sku_id: quantity}; refuses
    duplicates, bad quantities and too many lines."""
    if not items:
        raise InvalidInput(fields={"items": _("Choose at least one item.")})
    if len(items) > MAX_LINES:
        raise InvalidInput(fields={"items": _("At most %d lines per order.") % MAX_LINES})
    wanted: dict[int, int] = {}
    for index, item in enumerate(items):
        sku_id, quantity = item.get("sku_id"), item.get("quantity")
        if isinstance(sku_id, bool) or not isinstance(sku_id, int) or sku_id < 1:
            raise InvalidInput(fields={f"items.{index}.sku_id": _("Unknown item.")})
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 1 <= quantity <= MAX_QUANTITY
        ):
            raise InvalidInput(
                fields={f"items.{index}.quantity": _("Between 1 and %d.") % MAX_QUANTITY}
            )
        if sku_id in wanted:
            raise InvalidInput(fields={f"items.{index}.sku_id": _("Listed twice.")})
        wanted[sku_id] = quantity
    return wanted


def items_from_cart(member: Member) -> dict[int, int]:
    wanted = dict(
        CartItem.objects.filter(member=member, selected=True).values_list("sku_id", "quantity")
    )
    if not wanted:
        raise InvalidInput(fields={"items": _("Nothing selected in the cart.")})
    return wanted


def build_lines(wanted: dict[int, int]) -> list[pricing.Line]:
    columns = ["spec_values", "price", "weight_g", "is_active", "product__title"]
    skus = {
        sku.pk: sku
        for sku in Sku.objects.select_related("product")
        .only(*columns, "product__status", "product__cover")
        .filter(pk__in=list(wanted))
    }
    lines = []
    for sku_id, quantity in wanted.items():
        sku = skus.get(sku_id)
        if sku is None:
            raise NotFound(_("Item %d does not exist.") % sku_id, fields={"sku_id": sku_id})
        if not sku.is_active or sku.product.status != ProductStatus.ON_SALE:
            raise Conflict(
                _("“%s” is not on sale.") % sku.product.title,
                code="not_on_sale",
                fields={"sku_id": sku_id},
            )
        lines.append(
            pricing.Line(
                sku_id=sku.pk,
                product_id=sku.product_id,
                title=sku.product.title,
                spec_text=" / ".join(str(v) for v in sku.spec_values.values()),
                image=sku.product.cover,
                quantity=quantity,
                list_price=sku.price,
                unit_price=sku.price,
                weight_g=sku.weight_g,
            )
        )
    return lines


def member_address(member: Member, address_id: int | None) -> Address | None:
    if address_id is None:
        return None
    address = Address.objects.filter(pk=address_id, member=member).first()
    if address is None:
        raise NotFound(_("No such address."), fields={"address_id": address_id})
    return address


def preview(
    *,
    member: Member,
    items: list[dict[str, Any]] | None,
    from_cart: bool,
    address_id: int | None,
    context: dict[str, Any] | None = None,
) -> pricing.Quote:
    wanted = items_from_cart(member) if from_cart else normalise_items(items)
    address = member_address(member, address_id)
    lines = build_lines(wanted)
    return pricing.quote(
        lines, member_id=member.pk, province=address.province if address else "", context=context
    )


@transaction.atomic
def place_order(
    *,
    member: Member,
    items: list[dict[str, Any]] | None,
    from_cart: bool,
    address_id: int,
    remark: str = "",
    context: dict[str, Any] | None = None,
    pay_minutes: int | None = None,
) -> Order:
    """Create an unpaid order and reserve its stock, or change nothing at all."""
    if member.is_blocked:
        from miniops.core.errors import Forbidden

        raise Forbidden(_("This account is blocked."), code="member_blocked")
    address = member_address(member, address_id)
    if address is None:
        raise InvalidInput(fields={"address_id": _("Choose a delivery address.")})
    wanted = items_from_cart(member) if from_cart else normalise_items(items)
    lines = build_lines(wanted)
    quote = pricing.quote(lines, member_id=member.pk, province=address.province, context=context)
    if not quote.deliverable:
        raise Conflict(_("We do not deliver to %s.") % address.province, code="not_deliverable")
    now = timezone.now()
    order = numbers.create_with_number(
        "O",
        lambda number: Order.objects.create(
            number=number,
            member=member,
            goods_amount=quote.goods_amount,
            shipping_fee=quote.shipping_fee,
            discount_amount=quote.discount_amount,
            payable_amount=quote.payable,
            pricing=quote.as_dict(),
            recipient=address.recipient,
            phone=address.phone,
            phone_index=crypto.phone_index(address.phone),
            province=address.province,
            city=address.city,
            district=address.district,
            address_detail=address.detail,
            remark=remark.strip()[:200],
            created_at=now,
            expires_at=now + timedelta(minutes=pay_minutes or settings.MINIOPS_ORDER_PAY_MINUTES),
        ),
    )
    # Reserve in SKU id order so two orders sharing SKUs cannot deadlock.
    for line in sorted(lines, key=lambda line: line.sku_id):
        try:
            catalog_services.adjust_stock(
                sku=Sku(pk=line.sku_id, product_id=line.product_id),
                delta=-line.quantity,
                reason=StockReason.ORDER_RESERVED,
                actor=None,
                reference=order.number,
            )
        except Conflict as exc:
            raise Conflict(
                _("Not enough stock for “%s”.") % line.title,
                code="insufficient_stock",
                fields={"sku_id": line.sku_id},
            ) from exc
    payable_goods = quote.goods_amount - quote.discount_amount
    shares = [line.goods_amount - line.discount_share for line in lines]
    order_items = OrderItem.objects.bulk_create(
        [
            OrderItem(
                order=order,
                sku_id=line.sku_id,
                product_id=line.product_id,
                title=line.title[:120],
                spec_text=line.spec_text[:200],
                image=line.image,
                unit_price=line.unit_price,
                quantity=line.quantity,
                goods_amount=line.goods_amount,
                discount_share=line.discount_share,
                paid_share=share,
            )
            for line, share in zip(lines, shares, strict=True)
        ]
    )
    assert sum(shares) == payable_goods  # allocation is exact to the fen
    attach_prefetched(order, "items", order_items)
    hooks.run("placed", order=order, quote=quote)
    log(
        order,
        "created",
        to_status=order.status,
        by_member=True,
        data={"payable": order.payable_amount},
    )
    if from_cart:
        cart.remove_ordered(member=member, sku_ids=list(wanted))
    events.track(
        "order_created",
        member_id=member.pk,
        properties={
            "order_id": order.pk,
            "number": order.number,
            "amount": order.payable_amount,
            "lines": len(lines),
        },
    )
    return order
