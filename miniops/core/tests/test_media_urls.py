"""Media addresses in API answers are absolute under ``PUBLIC_BASE_URL``: a
mini-program cannot load a relative ``/media/…`` path."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from miniops.catalog import services as catalog_services
from miniops.core import media
from miniops.core.models import SystemSettings
from miniops.testing import factories

BASE = "https://shop.example.com"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (7, 193, 96)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def public(settings: Any, tmp_path: Path) -> Any:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.PUBLIC_BASE_URL = BASE
    return settings


@pytest.mark.parametrize(
    ("base", "url", "expected"),
    [
        pytest.param(BASE, "/media/a.jpg", f"{BASE}/media/a.jpg", id="relative-gets-the-base"),
        pytest.param(
            "https://shop.example.com/mall",
            "/media/a.jpg",
            "https://shop.example.com/mall/media/a.jpg",
            id="base-with-a-path",
        ),
        pytest.param(
            BASE, "https://cdn.example.com/a.jpg", "https://cdn.example.com/a.jpg", id="absolute"
        ),
        pytest.param(BASE, "//cdn.example.com/a.jpg", "//cdn.example.com/a.jpg", id="scheme-less"),
        pytest.param("", "/media/a.jpg", "/media/a.jpg", id="unset-stays-relative"),
    ],
)
def test_absolute_url(settings: Any, base: str, url: str, expected: str) -> None:
    settings.PUBLIC_BASE_URL = base
    assert media.absolute_url(url) == expected


def test_no_file_has_no_address(public: Any) -> None:
    assert media.public_url("") is None
    assert media.public_url(None) is None


@pytest.mark.django_db
def test_catalog_answers_carry_absolute_image_addresses(public: Any) -> None:
    # given a product with an image, in a category with an icon
    product = factories.product()
    catalog_services.add_image(product=product, upload=jpeg(), actor=None)
    catalog_services.save_category(
        actor=None, category=product.category, name=product.category.name, icon=jpeg()
    )
    client = Client()
    # then the list, the page and the tree give addresses a mini-program can load
    listed = client.get("/api/v1/products").json()["items"]
    assert listed[0]["cover"].startswith(f"{BASE}/media/catalog/products/")
    page = client.get(f"/api/v1/products/{product.pk}").json()
    assert page["cover"] == listed[0]["cover"]
    assert [url.startswith(f"{BASE}/media/") for url in page["images"]] == [True]
    icons = [
        node["icon"]
        for top in client.get("/api/v1/categories").json()["items"]
        for node in _walk(top)
        if node["icon"]
    ]
    assert icons
    assert all(icon.startswith(f"{BASE}/media/catalog/categories/") for icon in icons)


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node["children"] for n in _walk(child))]


@pytest.mark.django_db
def test_order_lines_uploads_and_the_logo_are_absolute(public: Any) -> None:
    # given a member's order of a product with an image
    product = factories.product(price=5000, stock=10)
    catalog_services.add_image(product=product, upload=jpeg(), actor=None)
    buyer = factories.member()
    order = factories.order(buyer=buyer, items=[(product.skus.first(), 1)])
    access, _ = factories.member_tokens(buyer)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
    # the order's line shows the image absolute
    lines = client.get(f"/api/v1/orders/{order.pk}").json()["items"]
    assert lines[0]["image"].startswith(f"{BASE}/media/catalog/products/")
    # an after-sale photo's address, as the upload answers it, too
    upload = SimpleUploadedFile("photo.jpg", jpeg(), content_type="image/jpeg")
    answer = client.post("/api/v1/uploads/images", {"file": upload})
    assert answer.status_code == 201, answer.content
    assert answer.json()["url"].startswith(f"{BASE}/media/uploads/members/{buyer.pk}/")
    # and the platform logo in the start-up config
    row = SystemSettings.objects.get_or_create(id=1)[0]
    row.logo.save("logo.jpg", io.BytesIO(jpeg()))
    assert Client().get("/api/v1/config").json()["logo_url"].startswith(f"{BASE}/media/")


@pytest.mark.django_db
def test_without_a_public_base_url_addresses_stay_the_storages_own(
    settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.PUBLIC_BASE_URL = ""
    product = factories.product()
    catalog_services.add_image(product=product, upload=jpeg(), actor=None)
    page = Client().get(f"/api/v1/products/{product.pk}").json()
    assert page["cover"].startswith("/media/catalog/products/")
