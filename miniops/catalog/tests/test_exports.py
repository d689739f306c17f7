"""The catalog's django-import-export export goes through the one export path:
CSV and XLSX only, product titles that a spreadsheet would run escaped, audited;
and an import neither lets a formula through to the next export nor keeps the
apostrophe an export added."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook

from miniops.catalog import services
from miniops.catalog.models import Category, Product, Sku
from miniops.testing import factories
from miniops.testing.exports import HOSTILE, HOSTILE_XLSX, column, csv_rows, xlsx_rows

pytestmark = pytest.mark.django_db

SKUS = "/console/catalog/sku"
FORMAT = {"csv": "0", "xlsx": "1"}
CODE, TITLE, BRAND, SPECS, PRICE, STOCK = 0, 1, 4, 5, 6, 8
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Console = Callable[..., Client]


@pytest.fixture
def tees() -> Category:
    root = services.save_category(actor=None, name="服装")
    return services.save_category(actor=None, name="T恤", parent=root)


def export(client: Client, fmt: str) -> Any:
    response = client.post(f"{SKUS}/export/", {"format": FORMAT[fmt], "resource": "0"})
    assert response.status_code == 200, response.content[:1000]
    return response


def read(response: Any, fmt: str) -> list[list[Any]]:
    return xlsx_rows(response) if fmt == "xlsx" else csv_rows(response)


def import_file(client: Client, content: bytes, fmt: str) -> Any:
    """Upload, then confirm the preview, as an operator does."""
    kind = XLSX_TYPE if fmt == "xlsx" else "text/csv"
    upload = SimpleUploadedFile(f"catalog.{fmt}", content, content_type=kind)
    preview = client.post(
        f"{SKUS}/import/", {"resource": "0", "format": FORMAT[fmt], "import_file": upload}
    )
    html = preview.content.decode()
    assert 'name="import_file_name"' in html, html[:3000]
    confirm = {
        name: re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        for name in ("import_file_name", "original_file_name", "format", "resource")
    }
    done = client.post(f"{SKUS}/process_import/", confirm)
    assert done.status_code == 302
    return done


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_hostile_product_titles_are_escaped_in_the_export(
    console_as: Console, tees: Category, fmt: str
) -> None:
    # given products whose titles a spreadsheet would run
    for value in HOSTILE:
        product = factories.product(category_obj=tees, price=1990, stock=7)
        Product.objects.filter(pk=product.pk).update(title=value)
    client = console_as("ops_staff")
    # when the catalog is exported
    rows = read(export(client, fmt), fmt)
    # then every title is text behind an apostrophe, prices and stock as before
    assert column(rows, TITLE) == list((HOSTILE_XLSX if fmt == "xlsx" else HOSTILE).values())
    assert set(column(rows, PRICE)) == {"19.90"}
    assert set(column(rows, STOCK)) == ({7} if fmt == "xlsx" else {"7"})
    # and the export is in the audit log
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS, actor=client.operator)  # type: ignore[attr-defined]
    assert entry.additional_data == {"export": fmt, "rows": len(HOSTILE)}


def test_only_csv_and_xlsx_are_offered(console_as: Console) -> None:
    client = console_as("ops_staff")
    for page in ("export", "import"):
        form = client.get(f"{SKUS}/{page}/").context["form"]
        labels = [str(label).lower() for value, label in form.fields["format"].choices if value]
        assert labels == ["csv", "xlsx"], page
    response = client.post(f"{SKUS}/export/", {"format": "2", "resource": "0"})
    assert "Content-Disposition" not in response
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()


def test_an_operator_without_the_permission_cannot_export(console_as: Console) -> None:
    factories.product()
    response = console_as("finance").post(f"{SKUS}/export/", {"format": "0", "resource": "0"})
    assert response.status_code == 403
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()


def test_an_imported_formula_is_escaped_by_the_next_export(
    console_as: Console, tees: Category
) -> None:
    # given a file whose title and brand are formulas
    client = console_as("ops_staff")
    body = (
        "code,title,subtitle,category,brand,specs,price,original_price,stock,weight_g,status\r\n"
        'TS-1,"=HYPERLINK(""http://x"",""y"")",,服装/T恤,@SUM(A1),,9.90,,3,,\r\n'
    )
    # when it is imported
    import_file(client, body.encode("utf-8"), "csv")
    # then the text is kept as it was typed
    product = Product.objects.get()
    assert product.title == '=HYPERLINK("http://x","y")'
    assert product.brand is not None
    assert product.brand.name == "@SUM(A1)"
    # and the next export holds it escaped
    for fmt in ("csv", "xlsx"):
        rows = read(export(client, fmt), fmt)
        assert column(rows, TITLE) == ['\'=HYPERLINK("http://x","y")']
        assert column(rows, BRAND) == ["'@SUM(A1)"]


def as_new_skus(content: bytes, fmt: str) -> bytes:
    """The exported file with new SKU codes and specs, so that importing it adds a
    SKU to the product of each title (found by title, so an apostrophe the import
    kept would make a new product)."""
    if fmt == "xlsx":
        book = load_workbook(io.BytesIO(content))
        sheet = book.active
        assert sheet is not None
        for n, row in enumerate(sheet.iter_rows(min_row=2)):
            row[CODE].value = f"NEW-{n}"
            row[SPECS].value = "颜色:新"
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    for n, row in enumerate(rows[1:]):
        row[CODE], row[SPECS] = f"NEW-{n}", "颜色:新"
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return ("\ufeff" + text.getvalue()).encode("utf-8")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_importing_an_export_again_keeps_the_titles_as_they_were(
    console_as: Console, tees: Category, fmt: str
) -> None:
    # given products with formula-like titles, exported
    titles = ["=1+1", "-10 元券", "''=x", "普通商品"]
    for title in titles:
        product = factories.product(category_obj=tees)
        Product.objects.filter(pk=product.pk).update(title=title)
    client = console_as("ops_staff")
    exported = export(client, fmt)
    content = b"".join(exported.streaming_content) if exported.streaming else exported.content
    # when the file is imported again as new SKUs
    import_file(client, as_new_skus(content, fmt), fmt)
    # then each new SKU joined the product of its title: no title gained an apostrophe
    assert Sku.objects.filter(code__startswith="NEW-").count() == len(titles)
    assert sorted(Product.objects.values_list("title", flat=True)) == sorted(titles)
    for title in titles:
        assert Product.objects.get(title=title).skus.count() == 2
