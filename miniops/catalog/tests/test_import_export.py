"""CSV import and export of the catalog, one row per SKU, through ``SkuRowResource``
(and the console's import page)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from miniops.catalog import services
from miniops.catalog.models import (
    Brand,
    Category,
    Product,
    ProductStatus,
    Sku,
    StockLedger,
    StockReason,
)
from miniops.catalog.resources import SkuRowResource, category_path, find_category, parse_specs
from miniops.testing import factories

pytestmark = pytest.mark.django_db

HEADERS = [
    "code",
    "title",
    "subtitle",
    "category",
    "brand",
    "specs",
    "price",
    "original_price",
    "stock",
    "weight_g",
    "status",
]


@pytest.fixture
def tees() -> Category:
    """服装 > 男装 > T恤"""
    root = services.save_category(actor=None, name="服装")
    men = services.save_category(actor=None, name="男装", parent=root)
    return services.save_category(actor=None, name="T恤", parent=men)


def row(**values: Any) -> list[Any]:
    defaults = {
        "code": "TS-RED-M",
        "title": "纯棉T恤",
        "subtitle": "夏季",
        "category": "服装/男装/T恤",
        "brand": "优品",
        "specs": "颜色:红|尺码:M",
        "price": "59.90",
        "original_price": "79.00",
        "stock": "12",
        "weight_g": "200",
        "status": "",
    }
    defaults.update(values)
    return [defaults[h] for h in HEADERS]


def dataset(*rows: list[Any]) -> tablib.Dataset:
    data = tablib.Dataset(headers=HEADERS)
    for item in rows:
        data.append(item)
    return data


def counts() -> tuple[int, ...]:
    return (
        Product.objects.count(),
        Sku.objects.count(),
        StockLedger.objects.count(),
        Brand.objects.count(),
        Category.objects.count(),
    )


# --- export ------------------------------------------------------------------------------
def test_export_has_one_row_per_sku(tees: Category) -> None:
    # given
    product = factories.product(skus=2, price=1990, stock=7, category_obj=tees)
    brand = factories.brand("优品")
    Product.objects.filter(pk=product.pk).update(brand=brand, subtitle="副")
    first, second = product.skus.order_by("id")
    services.update_sku(sku=second, actor=None, original_price=2500)
    # when
    exported = SkuRowResource().export()
    # then
    assert exported.headers == HEADERS
    rows = list(csv.DictReader(io.StringIO(exported.csv)))
    assert len(rows) == 2
    assert rows[0] == {
        "code": first.code,
        "title": product.title,
        "subtitle": "副",
        "category": "服装/男装/T恤",
        "brand": "优品",
        "specs": "颜色:色0",
        "price": "19.90",
        "original_price": "0.00",
        "stock": "7",
        "weight_g": "0",
        "status": "on_sale",
    }
    assert (rows[1]["code"], rows[1]["specs"], rows[1]["original_price"]) == (
        second.code,
        "颜色:色1",
        "25.00",
    )


def test_export_covers_every_product_whatever_its_status() -> None:
    for status in ProductStatus.values:
        factories.product(status=status)
    exported = SkuRowResource().export()
    assert sorted(exported["status"]) == sorted(ProductStatus.values)
    assert set(exported["code"]) == set(Sku.objects.values_list("code", flat=True))


# --- import ------------------------------------------------------------------------------
def test_a_dry_run_writes_nothing(tees: Category) -> None:
    # given
    before = counts()
    data = dataset(row(), row(code="TS-BLUE-M", specs="颜色:蓝|尺码:M", status="on_sale"))
    # when
    result = SkuRowResource().import_data(data, dry_run=True)
    # then the preview is clean but nothing stays
    assert not result.has_errors()
    assert not result.has_validation_errors()
    assert [r.import_type for r in result.rows] == ["new", "new"]
    assert counts() == before


def test_an_import_creates_products_skus_and_ledger_rows(tees: Category) -> None:
    # given
    actor = factories.operator_with_role("ops_staff")
    data = dataset(
        row(),
        row(code="TS-BLUE-M", specs="颜色:蓝|尺码:M", price="49.90", stock="3"),
        row(code="TS-BLUE-L", specs="颜色:蓝|尺码:L", price="49.90", stock="", status="on_sale"),
    )
    # when
    result = SkuRowResource(actor=actor).import_data(data, dry_run=False)
    # then
    assert not result.has_errors(), [e.error for r in result.rows for e in r.errors]
    assert not result.has_validation_errors()
    product = Product.objects.get()
    assert (product.title, product.subtitle, product.category_id) == ("纯棉T恤", "夏季", tees.pk)
    assert product.brand is not None
    assert product.brand.name == "优品"
    assert product.status == ProductStatus.ON_SALE
    assert product.min_price == 4990
    assert product.specs == [
        {"name": "颜色", "values": ["红", "蓝"]},
        {"name": "尺码", "values": ["M", "L"]},
    ]
    skus = {sku.code: sku for sku in product.skus.all()}
    assert set(skus) == {"TS-RED-M", "TS-BLUE-M", "TS-BLUE-L"}
    red = skus["TS-RED-M"]
    assert (red.price, red.original_price, red.stock) == (5990, 7900, 12)
    assert red.spec_values == {"颜色": "红", "尺码": "M"}
    assert red.spec_key == "尺码:M|颜色:红"
    assert skus["TS-BLUE-L"].stock == 0
    ledger = list(
        StockLedger.objects.order_by("id").values_list("sku__code", "delta", "reason", "actor_id")
    )
    assert ledger == [
        ("TS-RED-M", 12, StockReason.IMPORT, actor.pk),
        ("TS-BLUE-M", 3, StockReason.IMPORT, actor.pk),
    ]


def test_importing_the_export_again_updates_prices_and_stock(tees: Category) -> None:
    # given an exported catalog edited offline
    product = factories.product(skus=2, price=1000, stock=5, category_obj=tees)
    exported = SkuRowResource().export()
    edited = tablib.Dataset(headers=exported.headers)
    for line in exported.dict:
        edited.append([{**line, "price": "12.34", "stock": "9"}[h] for h in exported.headers])
    # when
    result = SkuRowResource().import_data(edited, dry_run=False)
    # then the same SKUs are updated, and stock moves through the ledger
    assert not result.has_errors()
    assert not result.has_validation_errors()
    assert [r.import_type for r in result.rows] == ["update", "update"]
    assert Product.objects.count() == 1
    assert set(Sku.objects.values_list("price", "stock")) == {(1234, 9)}
    assert Product.objects.get(pk=product.pk).min_price == 1234
    assert list(
        StockLedger.objects.filter(reason=StockReason.IMPORT).values_list("delta", flat=True)
    ) == [4, 4]


@pytest.mark.parametrize(
    ("changes", "column"),
    [
        pytest.param({"category": "服装/女装"}, "category", id="unknown-category"),
        pytest.param({"category": "T恤"}, "category", id="leaf-name-is-not-a-path"),
        pytest.param({"category": ""}, "category", id="no-category"),
        pytest.param({"price": "abc"}, "price", id="price-abc"),
        pytest.param({"price": "1.234"}, "price", id="price-three-decimals"),
        pytest.param({"price": "-1"}, "price", id="price-negative"),
        pytest.param({"price": ""}, "price", id="price-missing"),
        pytest.param({"price": "NaN"}, "price", id="price-nan"),
        pytest.param({"original_price": "x"}, "original_price", id="original-price-bad"),
        pytest.param({"stock": "-3"}, "stock", id="stock-negative"),
        pytest.param({"stock": "1.5"}, "stock", id="stock-fraction"),
        pytest.param({"stock": "abc"}, "stock", id="stock-abc"),
        pytest.param({"stock": str(services.MAX_STOCK + 1)}, "stock", id="stock-too-big"),
        pytest.param({"weight_g": "-1"}, "weight_g", id="weight-negative"),
        pytest.param({"title": ""}, "title", id="no-title"),
        pytest.param({"title": "长" * 121}, "title", id="long-title"),
        pytest.param({"code": ""}, "code", id="no-code"),
        pytest.param({"code": "c" * 65}, "code", id="long-code"),
        pytest.param({"specs": "颜色红"}, "specs", id="specs-without-colon"),
        pytest.param({"specs": "颜色:"}, "specs", id="specs-without-value"),
        pytest.param({"status": "deleted"}, "status", id="unknown-status"),
    ],
)
def test_a_bad_row_is_a_validation_error_and_nothing_is_written(
    tees: Category, changes: dict[str, str], column: str
) -> None:
    # given
    before = counts()
    # when
    result = SkuRowResource().import_data(dataset(row(**changes)), dry_run=False)
    # then
    assert result.has_validation_errors()
    assert not result.has_errors()
    assert column in result.invalid_rows[0].field_specific_errors
    assert counts() == before


def test_a_bad_row_stops_the_whole_file(tees: Category) -> None:
    # given a good row followed by a bad one
    before = counts()
    data = dataset(row(), row(code="TS-X", price="abc"), row(code="TS-Y", category="无/此"))
    # when imported as the console does without a preview (rollback on validation errors)
    result = SkuRowResource().import_data(data, dry_run=False, rollback_on_validation_errors=True)
    # then
    assert result.has_validation_errors()
    assert [r.number for r in result.invalid_rows] == [2, 3]
    assert counts() == before


def test_a_service_refusal_is_a_row_error_and_rolls_back(tees: Category) -> None:
    # given two rows for the same combination of the same product
    before = counts()
    data = dataset(row(), row(code="TS-OTHER"))
    # when
    result = SkuRowResource().import_data(data, dry_run=False)
    # then
    assert result.has_errors()
    assert counts() == before


@pytest.mark.parametrize("column", ["stock", "weight_g"])
def test_a_superscript_digit_is_a_validation_error(tees: Category, column: str) -> None:
    before = counts()
    result = SkuRowResource().import_data(dataset(row(**{column: "²"})), dry_run=False)
    assert counts() == before
    assert not result.has_errors()
    assert result.has_validation_errors()
    assert column in result.invalid_rows[0].field_specific_errors


# --- helpers -----------------------------------------------------------------------------
def test_category_paths_round_trip(tees: Category) -> None:
    assert category_path(tees) == "服装/男装/T恤"
    assert find_category("服装/男装/T恤") == tees
    assert find_category(" 服装 / 男装 / T恤 ") == tees
    assert find_category("服装/T恤") is None
    assert find_category("") is None


def test_parse_specs() -> None:
    assert parse_specs("颜色:红|尺码:M") == {"颜色": "红", "尺码": "M"}
    assert parse_specs("") == {}
    for bad in ("颜色", "颜色:", ":红", "颜色:红|尺码"):
        with pytest.raises(ValueError, match=r"."):
            parse_specs(bad)


# --- the console import page -------------------------------------------------------------
def csv_upload(*rows: list[Any]) -> SimpleUploadedFile:
    return SimpleUploadedFile(
        "catalog.csv", dataset(*rows).csv.encode("utf-8"), content_type="text/csv"
    )


def test_the_console_previews_then_imports(
    tees: Category, console_as: Callable[..., Client]
) -> None:
    # given
    client = console_as("ops_staff")
    before = counts()
    # when the file is uploaded
    preview = client.post(
        "/console/catalog/sku/import/",
        {
            "resource": "0",
            "format": "0",
            "import_file": csv_upload(row(), row(code="TS-2", specs="颜色:蓝|尺码:M")),
        },
    )
    # then a preview is shown and nothing is written
    assert preview.status_code == 200, preview.content[:2000]
    assert counts() == before
    html = preview.content.decode()
    confirm = {
        name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        for name in ("import_file_name", "original_file_name", "format", "resource")
    }
    # when confirmed
    done = client.post("/console/catalog/sku/process_import/", confirm)
    # then
    assert done.status_code == 302
    product = Product.objects.get()
    assert set(product.skus.values_list("code", flat=True)) == {"TS-RED-M", "TS-2"}
    ledger = StockLedger.objects.filter(reason=StockReason.IMPORT)
    assert set(ledger.values_list("actor_id", flat=True)) == {client.operator.pk}  # type: ignore[attr-defined]
    assert ledger.count() == 2


def test_the_console_preview_shows_row_errors_and_offers_no_import(
    tees: Category, console_as: Callable[..., Client]
) -> None:
    client = console_as("ops_staff")
    before = counts()
    preview = client.post(
        "/console/catalog/sku/import/",
        {
            "resource": "0",
            "format": "0",
            "import_file": csv_upload(row(), row(code="TS-2", price="abc")),
        },
    )
    assert preview.status_code < 500
    assert 'name="import_file_name"' not in preview.content.decode()
    assert counts() == before


def test_the_console_import_needs_permission(
    tees: Category, console_as: Callable[..., Client]
) -> None:
    client = console_as("customer_service")
    response = client.post(
        "/console/catalog/sku/import/",
        {"resource": "0", "format": "0", "import_file": csv_upload(row())},
    )
    assert response.status_code == 403
    assert not Sku.objects.exists()
