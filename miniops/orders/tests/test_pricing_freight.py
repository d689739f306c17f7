"""Shipping fees from freight templates and the pricing pipeline: what the preview
shows is what the order records."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from miniops.catalog.models import Sku, StockLedger
from miniops.core.errors import Conflict
from miniops.orders import pricing, services
from miniops.orders.models import FreightRule, FreightTemplate, Order, ProductFreight
from miniops.orders.tests.helpers import error_of, member_client, post, stock_of
from miniops.testing import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer() -> Any:
    return factories.member()


def sku_of(price: int = 1000, weight_g: int = 0, template: FreightTemplate | None = None) -> Sku:
    product = factories.product(price=price, stock=100)
    if template is not None:
        ProductFreight.objects.create(product=product, template=template)
    sku = product.skus.get()
    if weight_g:
        Sku.objects.filter(pk=sku.pk).update(weight_g=weight_g)
    return Sku.objects.get(pk=sku.pk)


def quote(buyer: Any, lines: list[tuple[Sku, int]], province: str = "广东") -> pricing.Quote:
    address = factories.address(buyer, province=province)
    return services.preview(
        member=buyer,
        items=[{"sku_id": sku.pk, "quantity": quantity} for sku, quantity in lines],
        from_cart=False,
        address_id=address.pk,
    )


@pytest.mark.parametrize(
    ("quantity", "fee"), [(1, 1000), (2, 1300), (3, 1300), (4, 1600), (5, 1600), (6, 1900)]
)
def test_by_piece_first_and_additional_units(buyer: Any, quantity: int, fee: int) -> None:
    # given 10.00 for the first piece and 3.00 per 2 more pieces
    factories.freight_template(
        is_default=True, first_units=1, first_fee=1000, additional_units=2, additional_fee=300
    )
    # when
    result = quote(buyer, [(sku_of(), quantity)])
    # then
    assert result.shipping_fee == fee
    assert result.payable == 1000 * quantity + fee


@pytest.mark.parametrize(
    ("weight_g", "quantity", "fee"),
    [
        (800, 1, 1000),  # 0.8 kg: within the first kg
        (1000, 1, 1000),  # exactly the first kg
        (1200, 1, 1500),  # 1.2 kg: one additional kg started
        (1200, 2, 2000),  # 2.4 kg: two additional kg
        (500, 6, 2000),  # 3.0 kg
        (0, 3, 1000),  # weightless goods pay the first fee
    ],
)
def test_by_weight_first_and_additional_kilograms(
    buyer: Any, weight_g: int, quantity: int, fee: int
) -> None:
    # given 10.00 for the first kg and 5.00 per additional kg
    factories.freight_template(
        is_default=True,
        charge_by=FreightTemplate.ChargeBy.WEIGHT,
        first_units=1,
        first_fee=1000,
        additional_units=1,
        additional_fee=500,
    )
    # when
    result = quote(buyer, [(sku_of(weight_g=weight_g), quantity)])
    # then
    assert result.shipping_fee == fee


def test_weight_adds_up_over_lines(buyer: Any) -> None:
    # given 2 kg included, then 3.00 per 2 kg
    factories.freight_template(
        is_default=True,
        charge_by=FreightTemplate.ChargeBy.WEIGHT,
        first_units=2,
        first_fee=800,
        additional_units=2,
        additional_fee=300,
    )
    # when 1.5 kg × 2 + 0.7 kg × 3 = 5.1 kg
    result = quote(buyer, [(sku_of(weight_g=1500), 2), (sku_of(weight_g=700), 3)])
    # then 800 + ceil(3.1 / 2) × 300
    assert result.shipping_fee == 800 + 2 * 300


@pytest.mark.parametrize(
    ("province", "fee"),
    [("新疆", 2000 + 2 * 1000), ("西藏", 2000 + 2 * 1000), ("广东", 500 + 2 * 100)],
)
def test_a_region_rule_overrides_the_fees(buyer: Any, province: str, fee: int) -> None:
    # given a template with higher fees for 新疆 and 西藏
    template = factories.freight_template(
        is_default=True, first_fee=500, additional_fee=100, additional_units=1
    )
    FreightRule.objects.create(
        template=template, provinces=["新疆", "西藏"], first_fee=2000, additional_fee=1000
    )
    # when 3 pieces are sent to `province`
    result = quote(buyer, [(sku_of(), 3)], province=province)
    # then
    assert result.deliverable is True
    assert result.shipping_fee == fee


def test_the_first_matching_rule_wins_and_others_do_not_leak(buyer: Any) -> None:
    # given two rules
    template = factories.freight_template(is_default=True, first_fee=500, additional_fee=0)
    FreightRule.objects.create(template=template, provinces=["新疆"], first_fee=2000)
    FreightRule.objects.create(template=template, provinces=["海南"], first_fee=1200)
    # when / then
    assert quote(buyer, [(sku_of(), 1)], province="海南").shipping_fee == 1200
    assert quote(buyer, [(sku_of(), 1)], province="新疆").shipping_fee == 2000
    assert quote(buyer, [(sku_of(), 1)], province="浙江").shipping_fee == 500


def test_no_delivery_region_is_refused_at_checkout(buyer: Any) -> None:
    # given a template that does not deliver to 西藏
    template = factories.freight_template(is_default=True, first_fee=500)
    FreightRule.objects.create(template=template, provinces=["西藏"], no_delivery=True)
    sku = sku_of()
    client = member_client(buyer)
    address = factories.address(buyer, province="西藏")
    body = {"items": [{"sku_id": sku.pk, "quantity": 1}], "address_id": address.pk}
    # when the member previews
    preview = post(client, "/api/v1/checkout/preview", body)
    # then it says so
    assert preview.status_code == 200
    assert preview.json()["deliverable"] is False
    assert preview.json()["shipping_note"]
    # when the member orders anyway
    response = post(client, "/api/v1/orders", body, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    # then it is refused and nothing is written
    assert response.status_code == 409, response.content
    assert error_of(response)["code"] == "not_deliverable"
    assert not Order.objects.exists()
    assert stock_of(sku) == 100
    assert not StockLedger.objects.filter(reason="order_reserved").exists()


def test_one_undeliverable_template_blocks_the_whole_order(buyer: Any) -> None:
    # given product A ships everywhere, product B's template does not deliver to 西藏
    factories.freight_template(is_default=True, first_fee=500)
    restricted = factories.freight_template(first_fee=700)
    FreightRule.objects.create(template=restricted, provinces=["西藏"], no_delivery=True)
    a, b = sku_of(), sku_of(template=restricted)
    address = factories.address(buyer, province="西藏")
    # when
    with pytest.raises(Conflict) as caught:
        services.place_order(
            member=buyer,
            items=[{"sku_id": a.pk, "quantity": 1}, {"sku_id": b.pk, "quantity": 1}],
            from_cart=False,
            address_id=address.pk,
        )
    # then
    assert caught.value.code == "not_deliverable"
    assert (stock_of(a), stock_of(b)) == (100, 100)


@pytest.mark.parametrize(("price", "fee"), [(9999, 800), (10000, 0), (25000, 0)])
def test_free_shipping_from_a_threshold(buyer: Any, price: int, fee: int) -> None:
    # given free shipping from 100.00
    factories.freight_template(is_default=True, first_fee=800, free_over=10000)
    # when
    result = quote(buyer, [(sku_of(price=price), 1)])
    # then
    assert result.shipping_fee == fee


def test_the_free_shipping_threshold_looks_at_goods_after_discounts(
    buyer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given free shipping from 100.00 and a 1.00 coupon
    factories.freight_template(is_default=True, first_fee=800, free_over=10000)
    monkeypatch.setattr(pricing, "_steps", list(pricing.steps()))
    pricing.register_step(
        150,
        "test-coupon",
        lambda q: q.add_discount(pricing.Discount(kind="coupon", label="c", amount=100)),
    )
    # when goods are 100.00 but 99.00 after the coupon
    result = quote(buyer, [(sku_of(price=10000), 1)])
    # then shipping is charged
    assert result.discount_amount == 100
    assert result.shipping_fee == 800
    assert result.payable == 10000 - 100 + 800


def test_each_template_charges_its_own_lines(buyer: Any) -> None:
    # given product A on a 10.00 template, product B on the default 5.00 template
    factories.freight_template(is_default=True, first_fee=500, additional_fee=100)
    heavy = factories.freight_template(first_fee=1000, additional_fee=0)
    a, b = sku_of(template=heavy), sku_of()
    # when
    result = quote(buyer, [(a, 2), (b, 2)])
    # then the fees add up per template
    assert result.shipping_fee == 1000 + (500 + 100)


def test_without_any_template_shipping_is_free(buyer: Any) -> None:
    # given no default template / when / then
    assert quote(buyer, [(sku_of(), 3)]).shipping_fee == 0


def test_a_discount_never_exceeds_the_goods(buyer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a coupon larger than the basket and 8.00 shipping
    factories.freight_template(is_default=True, first_fee=800, additional_fee=0)
    monkeypatch.setattr(pricing, "_steps", list(pricing.steps()))
    pricing.register_step(
        150,
        "test-coupon",
        lambda q: q.add_discount(pricing.Discount(kind="coupon", label="c", amount=10**6)),
    )
    # when
    result = quote(buyer, [(sku_of(price=1234), 2)])
    # then the goods are free but shipping is still due
    assert result.discount_amount == 2468
    assert result.payable == 800
    assert [line.discount_share for line in result.lines] == [2468]


def test_the_preview_equals_the_placed_order(buyer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # given templates by piece and by weight, a region rule and a coupon
    template = factories.freight_template(
        is_default=True, first_fee=600, additional_units=1, additional_fee=200
    )
    FreightRule.objects.create(
        template=template, provinces=["新疆"], first_fee=1500, additional_fee=500
    )
    by_weight = factories.freight_template(
        charge_by=FreightTemplate.ChargeBy.WEIGHT, first_fee=1000, additional_fee=300
    )
    monkeypatch.setattr(pricing, "_steps", list(pricing.steps()))
    pricing.register_step(
        150,
        "test-coupon",
        lambda q: q.add_discount(pricing.Discount(kind="coupon", label="满减", amount=777)),
    )
    a, b, c = (
        sku_of(price=1999),
        sku_of(price=4550),
        sku_of(price=333, weight_g=1700, template=by_weight),
    )
    client = member_client(buyer)
    address = factories.address(buyer, province="新疆")
    body = {
        "items": [
            {"sku_id": a.pk, "quantity": 3},
            {"sku_id": b.pk, "quantity": 1},
            {"sku_id": c.pk, "quantity": 2},
        ],
        "address_id": address.pk,
    }
    # when the member previews, then orders the same basket
    preview = post(client, "/api/v1/checkout/preview", body).json()
    placed = post(client, "/api/v1/orders", body, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    # then every amount is the same
    assert placed.status_code == 201, placed.content
    order = Order.objects.get(pk=placed.json()["id"])
    assert preview["goods_amount"] == order.goods_amount == 1999 * 3 + 4550 + 333 * 2
    assert preview["discount_amount"] == order.discount_amount == 777
    # 新疆 rule: 15.00 + 3 × 5.00 for 4 pieces; weight: 3.4 kg -> 10.00 + 3 × 3.00
    assert preview["shipping_fee"] == order.shipping_fee == (1500 + 3 * 500) + (1000 + 3 * 300)
    assert preview["payable"] == order.payable_amount
    assert order.payable_amount == order.goods_amount - 777 + order.shipping_fee
    assert order.pricing["payable"] == preview["payable"]
    by_sku = {item.sku_id: item for item in order.items.all()}
    for line in preview["lines"]:
        item = by_sku[line["sku_id"]]
        assert (line["quantity"], line["unit_price"], line["discount_share"]) == (
            item.quantity,
            item.unit_price,
            item.discount_share,
        )
        assert item.paid_share == item.goods_amount - item.discount_share
    assert sum(item.discount_share for item in by_sku.values()) == 777
    assert sum(item.paid_share for item in by_sku.values()) == order.goods_amount - 777
