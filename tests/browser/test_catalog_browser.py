"""An operations-staff operator builds a product in the browser: the SKU matrix
from the specifications, an image with preview, on sale — and the mini-program
API shows it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from miniops.catalog.models import Product, Sku
from miniops.testing import factories
from miniops.testing.factories import TEST_PASSWORD

from .conftest import pick, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ops_staff_creates_a_product_with_a_sku_matrix_and_an_image(
    page: Any, live_server: Any, tmp_path: Path
) -> None:
    # given an operations-staff operator and a category
    factories.operator_with_role("ops_staff", username="opsstaff2")
    leaf = factories.category("T恤")
    image_path = tmp_path / "tee.png"
    Image.new("RGB", (300, 300), (7, 193, 96)).save(image_path)

    page.goto(f"{live_server.url}/console/login/")
    page.fill("#id_username", "opsstaff2")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/console/")

    # when they add a product with two specifications and an image
    page.goto(f"{live_server.url}/console/catalog/product/add/")
    page.fill("#id_title", "纯棉圆领T恤")
    pick(page, "id_category", "T恤", leaf.name)
    page.fill("#id_specs_text", "颜色: 白, 黑\n尺码: M, L, XL")
    page.fill("#id_default_price", "79.90")
    page.set_input_files("#id_images-0-image", str(image_path))
    screenshot(page, "10-product-add")
    page.click("button[name=_continue]")
    page.wait_for_selector("text=纯棉圆领T恤")

    # then six SKUs exist at 79.90 and the image was re-encoded and previewed
    product = Product.objects.get(title="纯棉圆领T恤")
    skus = Sku.objects.filter(product=product)
    assert skus.count() == 6
    assert set(skus.values_list("price", flat=True)) == {7990}
    assert product.images.count() == 1
    assert product.cover.endswith(".jpg")
    assert page.locator("img[src*='/media/catalog/products/']").count() >= 1
    screenshot(page, "11-product-saved")

    # when they put it on sale from the product page
    page.click("a[href$='/on-sale/']")
    # its SKUs weigh 0 g: the dialog asks for a tick first
    page.check("#dialog input[name=anyway]")
    with page.expect_navigation():
        page.click("#dialog button[type=submit]")
    page.wait_for_selector("text=在售")
    product.refresh_from_db()
    assert product.status == "on_sale"

    # then the mini-program API lists it, priced in fen
    with urllib.request.urlopen(f"{live_server.url}/api/v1/products/{product.pk}") as answer:
        body = json.load(answer)
    assert body["price"] == 7990
    assert len(body["skus"]) == 6
    assert page.outside_requests == []
