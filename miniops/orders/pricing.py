"""The one pricing pipeline: every price a member sees at checkout, and every
amount an order records, comes out of ``quote()``.

A quote starts from the lines (SKU, quantity, catalog price) and passes through
ordered steps. Each step may change unit prices (member prices, flash or group
prices, time-limited discounts) or add discounts (coupons, points), and the
shipping step adds the fee. Other apps register their steps with
``register_step``; the marketing issue documents the order in which its prices
take precedence. Discounts are spread over the lines in proportion (largest
remainder, to the fen) so partial refunds return exactly what was paid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from miniops.core.money import allocate


@dataclass
class Line:
    sku_id: int
    product_id: int
    title: str
    spec_text: str
    image: str
    quantity: int
    list_price: int  # the catalog price before any step
    unit_price: int  # after price steps
    weight_g: int = 0
    discount_share: int = 0
    price_source: str = "catalog"

    @property
    def goods_amount(self) -> int:
        return self.unit_price * self.quantity


@dataclass
class Discount:
    kind: str  # "coupon", "points", ...
    label: str
    amount: int
    reference: str = ""


@dataclass
class Quote:
    lines: list[Line]
    member_id: int | None
    province: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    discounts: list[Discount] = field(default_factory=list)
    shipping_fee: int = 0
    shipping_note: str = ""
    deliverable: bool = True

    @property
    def goods_amount(self) -> int:
        return sum(line.goods_amount for line in self.lines)

    @property
    def discount_amount(self) -> int:
        return sum(d.amount for d in self.discounts)

    @property
    def payable(self) -> int:
        return max(0, self.goods_amount - self.discount_amount) + self.shipping_fee

    def add_discount(self, discount: Discount) -> None:
        """Add a discount, never more than what is left to pay for goods."""
        room = self.goods_amount - self.discount_amount
        discount.amount = max(0, min(discount.amount, room))
        if discount.amount:
            self.discounts.append(discount)

    def spread_discounts(self) -> None:
        shares = allocate(
            min(self.discount_amount, self.goods_amount), [line.goods_amount for line in self.lines]
        )
        for line, share in zip(self.lines, shares, strict=True):
            line.discount_share = share

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": [
                {
                    "sku_id": line.sku_id,
                    "product_id": line.product_id,
                    "title": line.title,
                    "spec_text": line.spec_text,
                    "image": line.image,
                    "quantity": line.quantity,
                    "list_price": line.list_price,
                    "unit_price": line.unit_price,
                    "price_source": line.price_source,
                    "goods_amount": line.goods_amount,
                    "discount_share": line.discount_share,
                }
                for line in self.lines
            ],
            "goods_amount": self.goods_amount,
            "discounts": [d.__dict__ for d in self.discounts],
            "discount_amount": self.discount_amount,
            "shipping_fee": self.shipping_fee,
            "shipping_note": self.shipping_note,
            "deliverable": self.deliverable,
            "payable": self.payable,
        }


Step = Callable[[Quote], None]
#: (order, name, step): lower runs first. Price steps < 100, discounts 100-199,
#: shipping 200 (after discounts: free-shipping thresholds look at goods after discounts).
_steps: list[tuple[int, str, Step]] = []


def register_step(order: int, name: str, step: Step) -> None:
    global _steps
    _steps = sorted(
        [s for s in _steps if s[1] != name] + [(order, name, step)], key=lambda s: (s[0], s[1])
    )


def steps() -> list[tuple[int, str, Step]]:
    return list(_steps)


def quote(
    lines: list[Line],
    *,
    member_id: int | None,
    province: str,
    context: dict[str, Any] | None = None,
) -> Quote:
    result = Quote(lines=lines, member_id=member_id, province=province, context=dict(context or {}))
    for _, _, step in _steps:
        step(result)
    result.spread_discounts()
    return result
