"""Products: content saved through ``save_product`` (sanitised description, validated
specifications) and the SKU matrix kept by ``sync_skus``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from miniops.catalog import services
from miniops.catalog.models import Product, Sku, StockReason
from miniops.catalog.tests.helpers import draft_with_skus, sku_by_specs
from miniops.core.errors import Conflict, InvalidInput
from miniops.testing import factories

pytestmark = pytest.mark.django_db

COLOURS = {"name": "颜色", "values": ["红", "蓝"]}
SIZES = {"name": "尺码", "values": ["S", "M", "L"]}


def save(**fields: Any) -> Product:
    fields.setdefault("title", "棉T恤")
    fields.setdefault("category", factories.category())
    return services.save_product(actor=None, **fields)


# --- content -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dirty", "gone", "kept"),
    [
        ("<p>好</p><script>alert(1)</script>", ["<script", "alert(1)"], ["<p>好</p>"]),
        ('<img src="x.png" onerror="alert(1)">', ["onerror", "alert"], ['src="x.png"']),
        ('<a href="javascript:alert(1)">点</a>', ["javascript:", "alert"], ["点</a>"]),
        ('<p onclick="steal()" style="color:red">文</p>', ["onclick", "steal", "style"], ["文"]),
        ("<iframe src='https://evil.example'></iframe>ok", ["<iframe", "evil"], ["ok"]),
        ('<a href="https://example.com/x">链接</a>', [], ['href="https://example.com/x"']),
    ],
)
def test_description_html_is_sanitised(dirty: str, gone: list[str], kept: list[str]) -> None:
    # when
    product = save(description=dirty)
    # then both the returned object and the stored row are clean
    stored = Product.objects.get(pk=product.pk).description
    assert stored == product.description
    for fragment in gone:
        assert fragment not in stored
    for fragment in kept:
        assert fragment in stored


def test_title_and_subtitle_are_trimmed_and_required() -> None:
    product = save(title="  卫衣  ", subtitle="  加绒 ")
    assert (product.title, product.subtitle) == ("卫衣", "加绒")
    with pytest.raises(InvalidInput) as caught:
        save(title="   ")
    assert "title" in caught.value.fields


def test_unpublish_must_come_after_publish() -> None:
    now = timezone.now()
    with pytest.raises(InvalidInput) as caught:
        save(publish_at=now, unpublish_at=now - timedelta(minutes=1))
    assert "unpublish_at" in caught.value.fields
    assert not Product.objects.exists()


def test_saving_again_changes_the_same_row() -> None:
    # given
    product = save(specs=[COLOURS])
    # when
    again = services.save_product(
        actor=None, product=product, title="新标题", category=product.category
    )
    # then specs=None keeps the specifications
    assert again.pk == product.pk
    assert Product.objects.get().title == "新标题"
    assert Product.objects.get().specs == [COLOURS]


# --- specifications -----------------------------------------------------------------------
def test_specs_are_cleaned() -> None:
    cleaned = services.clean_specs(
        [
            {"name": " 颜色 ", "values": [" 红", "蓝 ", "红", "", "  "]},
            {"name": "尺码", "values": ["M"]},
        ]
    )
    assert cleaned == [{"name": "颜色", "values": ["红", "蓝"]}, {"name": "尺码", "values": ["M"]}]
    assert services.clean_specs(None) == []
    assert services.clean_specs("") == []


@pytest.mark.parametrize(
    "specs",
    [
        pytest.param(
            [{"name": f"规格{i}", "values": ["a"]} for i in range(4)], id="too-many-specs"
        ),
        pytest.param([COLOURS, {"name": "颜色", "values": ["绿"]}], id="duplicate-names"),
        pytest.param([{"name": " 颜色", "values": ["绿"]}, COLOURS], id="duplicate-after-trim"),
        pytest.param([{"name": "颜色", "values": ["红|蓝"]}], id="pipe-in-value"),
        pytest.param([{"name": "颜色", "values": ["红:深"]}], id="colon-in-value"),
        pytest.param([{"name": "颜|色", "values": ["红"]}], id="pipe-in-name"),
        pytest.param([{"name": "颜:色", "values": ["红"]}], id="colon-in-name"),
        pytest.param([{"name": "颜色", "values": ["红\x00"]}], id="nul-in-value"),
        pytest.param([{"name": "颜色", "values": []}], id="no-values"),
        pytest.param([{"name": "", "values": ["红"]}], id="no-name"),
        pytest.param([{"name": "名" * 21, "values": ["红"]}], id="long-name"),
        pytest.param([{"name": "颜色", "values": ["红" * 41]}], id="long-value"),
        pytest.param([{"name": "颜色", "values": [str(i) for i in range(31)]}], id="31-values"),
        pytest.param(
            [
                {"name": "a", "values": [str(i) for i in range(21)]},
                {"name": "b", "values": [str(i) for i in range(20)]},
            ],
            id="420-combinations",
        ),
        pytest.param(
            [{"name": n, "values": [str(i) for i in range(8)]} for n in "abc"],
            id="512-combinations",
        ),
        pytest.param({"name": "颜色"}, id="not-a-list"),
        pytest.param(["颜色"], id="not-a-dict"),
    ],
)
def test_bad_specs_are_refused(specs: Any) -> None:
    # when / then
    with pytest.raises(InvalidInput) as caught:
        save(specs=specs)
    assert caught.value.code == "invalid_input"
    assert set(caught.value.fields) == {"specs"}
    assert not Product.objects.exists()


def test_exactly_400_combinations_are_allowed() -> None:
    specs = [
        {"name": "a", "values": [str(i) for i in range(20)]},
        {"name": "b", "values": [str(i) for i in range(20)]},
    ]
    assert len(services.combinations(services.clean_specs(specs))) == 400


# --- the SKU matrix ------------------------------------------------------------------------
def test_two_by_three_specs_build_six_skus() -> None:
    # given
    product = save(specs=[COLOURS, SIZES])
    # when
    skus = services.sync_skus(product=product, actor=None, default_price=1990)
    # then
    assert len(skus) == 6
    assert Sku.objects.filter(product=product).count() == 6
    keys = [sku.spec_key for sku in skus]
    assert len(set(keys)) == 6
    assert set(keys) == {f"尺码:{s}|颜色:{c}" for c in ("红", "蓝") for s in ("S", "M", "L")}
    assert {tuple(sorted(sku.spec_values.items())) for sku in skus} == {
        (("尺码", s), ("颜色", c)) for c in ("红", "蓝") for s in ("S", "M", "L")
    }
    assert all(sku.price == 1990 and sku.stock == 0 and sku.is_active for sku in skus)
    assert len({sku.code for sku in skus}) == 6
    assert all(sku.code.startswith(f"P{product.pk}-") for sku in skus)
    product.refresh_from_db()
    assert product.min_price == 1990


def test_no_specs_build_one_sku() -> None:
    product = save()
    skus = services.sync_skus(product=product, actor=None, default_price=500)
    assert [(sku.spec_values, sku.spec_key, sku.price) for sku in skus] == [({}, "", 500)]


def test_syncing_twice_changes_nothing() -> None:
    product = draft_with_skus([COLOURS, SIZES])
    before = list(Sku.objects.order_by("id").values_list("id", "code", "is_active"))
    services.sync_skus(product=product, actor=None, default_price=1)
    assert list(Sku.objects.order_by("id").values_list("id", "code", "is_active")) == before
    assert set(Sku.objects.values_list("price", flat=True)) == {1000}


def test_resync_keeps_prices_and_stock_of_existing_combinations() -> None:
    # given a priced and stocked combination
    product = draft_with_skus([COLOURS, SIZES], price=1000)
    red_m = sku_by_specs(product, 颜色="红", 尺码="M")
    services.update_sku(sku=red_m, actor=None, price=2500)
    services.adjust_stock(sku=red_m, delta=7, reason=StockReason.INITIAL, actor=None)
    # when a colour is added
    product = services.save_product(
        actor=None,
        product=product,
        title=product.title,
        category=product.category,
        specs=[{"name": "颜色", "values": ["红", "蓝", "绿"]}, SIZES],
    )
    skus = services.sync_skus(product=product, actor=None, default_price=3000)
    # then
    assert len(skus) == 9
    red_m.refresh_from_db()
    assert (red_m.price, red_m.stock, red_m.is_active) == (2500, 7, True)
    greens = Sku.objects.filter(spec_values__颜色="绿")
    assert greens.count() == 3
    assert set(greens.values_list("price", "stock")) == {(3000, 0)}
    assert len(set(Sku.objects.values_list("code", flat=True))) == 9


def test_removed_combinations_are_deactivated_and_come_back() -> None:
    # given
    product = draft_with_skus([COLOURS, SIZES], price=1000)
    blue_l = sku_by_specs(product, 颜色="蓝", 尺码="L")
    services.update_sku(sku=blue_l, actor=None, price=1200)
    services.adjust_stock(sku=blue_l, delta=4, reason=StockReason.INITIAL, actor=None)
    ids_before = set(Sku.objects.values_list("id", flat=True))

    # when size L is dropped
    product.specs = services.clean_specs([COLOURS, {"name": "尺码", "values": ["S", "M"]}])
    product.save()
    services.sync_skus(product=product, actor=None)
    # then the L SKUs are kept but no longer sold
    assert set(Sku.objects.values_list("id", flat=True)) == ids_before
    assert set(Sku.objects.filter(is_active=False).values_list("spec_values__尺码", flat=True)) == {
        "L"
    }
    assert Sku.objects.filter(is_active=True).count() == 4

    # when L returns
    product.specs = services.clean_specs([COLOURS, SIZES])
    product.save()
    services.sync_skus(product=product, actor=None, default_price=9999)
    # then the same rows are active again, with their old price and stock
    assert set(Sku.objects.values_list("id", flat=True)) == ids_before
    assert Sku.objects.filter(is_active=True).count() == 6
    blue_l.refresh_from_db()
    assert (blue_l.price, blue_l.stock, blue_l.is_active) == (1200, 4, True)


def test_codes_do_not_collide_when_the_matrix_is_reordered() -> None:
    # given P<pk>-001 and P<pk>-002 for 红 and 蓝
    product = draft_with_skus([COLOURS])
    # when a value is inserted first (it takes index 1, whose code is taken)
    product.specs = services.clean_specs([{"name": "颜色", "values": ["绿", "红", "蓝"]}])
    product.save()
    skus = services.sync_skus(product=product, actor=None, default_price=100)
    # then
    assert len(skus) == 3
    assert len({sku.code for sku in skus}) == 3


@pytest.mark.parametrize("price", [-1, True, 1.5, "100", 100_000_000_001])
def test_sync_refuses_a_bad_default_price(price: Any) -> None:
    product = save(specs=[COLOURS])
    with pytest.raises(InvalidInput):
        services.sync_skus(product=product, actor=None, default_price=price)
    assert not Sku.objects.exists()


# --- lowest price --------------------------------------------------------------------------
def test_min_price_follows_the_cheapest_active_sku() -> None:
    # given
    product = draft_with_skus([COLOURS, SIZES], price=1000)
    red_s = sku_by_specs(product, 颜色="红", 尺码="S")
    blue_s = sku_by_specs(product, 颜色="蓝", 尺码="S")
    # when one SKU gets cheaper
    services.update_sku(sku=red_s, actor=None, price=800)
    # then
    assert Product.objects.get().min_price == 800
    # when another gets cheaper still
    services.update_sku(sku=blue_s, actor=None, price=700)
    assert Product.objects.get().min_price == 700
    # when the cheapest stops being sold
    services.update_sku(sku=blue_s, actor=None, is_active=False)
    assert Product.objects.get().min_price == 800
    # when every SKU but one is dropped from the matrix
    product.specs = services.clean_specs(
        [{"name": "颜色", "values": ["蓝"]}, {"name": "尺码", "values": ["M"]}]
    )
    product.save()
    services.sync_skus(product=product, actor=None)
    assert Product.objects.get().min_price == 1000


def test_min_price_is_zero_without_active_skus() -> None:
    product = draft_with_skus([COLOURS], price=1000)
    for sku in Sku.objects.all():
        services.update_sku(sku=sku, actor=None, is_active=False)
    assert Product.objects.get().min_price == 0
    services.refresh_min_price(product)
    assert product.min_price == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", -1),
        ("price", True),
        ("price", 12.5),
        ("price", 100_000_000_001),
        ("original_price", -5),
        ("weight_g", -1),
        ("weight_g", 1_000_001),
        ("weight_g", True),
        ("code", ""),
        ("code", "x" * 65),
    ],
)
def test_update_sku_refuses_bad_values(field: str, value: Any) -> None:
    product = draft_with_skus([COLOURS], price=1000)
    sku = Sku.objects.first()
    assert sku is not None
    with pytest.raises(InvalidInput) as caught:
        services.update_sku(sku=sku, actor=None, **{field: value})
    assert field in caught.value.fields
    assert set(Sku.objects.values_list("price", flat=True)) == {1000}
    assert Product.objects.get(pk=product.pk).min_price == 1000


def test_update_sku_refuses_a_code_in_use() -> None:
    draft_with_skus([COLOURS])
    first, second = Sku.objects.order_by("id")
    with pytest.raises(Conflict):
        services.update_sku(sku=second, actor=None, code=first.code)
    services.update_sku(sku=second, actor=None, code="  NEW-1  ")
    second.refresh_from_db()
    assert second.code == "NEW-1"
