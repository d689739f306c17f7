"""Product images: added, replaced, removed and re-sorted through the catalog
services, from the console's gallery inline too; each change is audited with the
operator, and the cover is always the first image."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from miniops.catalog import services
from miniops.catalog.models import Product, ProductImage, ProductStatus
from miniops.core.errors import Conflict, Forbidden, InvalidInput
from miniops.testing import factories

pytestmark = pytest.mark.django_db

Console = Callable[..., Client]


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def jpeg(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 24), colour).save(out, "JPEG")
    return out.getvalue()


def gallery(product: Product) -> list[str]:
    return [image.image.name for image in product.images.order_by("sort", "id")]


def cover_of(product: Product) -> str:
    return Product.objects.get(pk=product.pk).cover


def rows(model: type[Any], **filters: Any) -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(model), **filters
        ).order_by("pk")
    )


def product_with_images(count: int) -> tuple[Product, list[ProductImage]]:
    product = factories.product(status=ProductStatus.DRAFT)
    images = [
        services.add_image(product=product, upload=jpeg((i * 40, 0, 0)), actor=None)
        for i in range(count)
    ]
    return product, images


def change_form(product: Product, images: list[ProductImage], **rows: dict[str, Any]) -> dict:
    """The product form with its gallery inline: ``rows`` keyed ``"0"``, ``"1"``...
    override an existing row's fields, or add a new row after the existing ones."""
    data: dict[str, Any] = {
        "title": product.title,
        "subtitle": "",
        "category": str(product.category_id),
        "brand": "",
        "specs_text": "",
        "default_price": "",
        "description": "",
        "sort_weight": "0",
        "publish_at_0": "",
        "publish_at_1": "",
        "unpublish_at_0": "",
        "unpublish_at_1": "",
        "skus-TOTAL_FORMS": "0",
        "skus-INITIAL_FORMS": "0",
        "skus-MIN_NUM_FORMS": "0",
        "skus-MAX_NUM_FORMS": "0",
        "images-INITIAL_FORMS": str(len(images)),
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "12",
    }
    for index, image in enumerate(images):
        data[f"images-{index}-id"] = str(image.pk)
        data[f"images-{index}-product"] = str(product.pk)
        data[f"images-{index}-sort"] = str(image.sort)
    total = len(images)
    for key, fields in rows.items():
        index = int(key)
        total = max(total, index + 1)
        for name, value in fields.items():
            data[f"images-{index}-{name}"] = value
    data["images-TOTAL_FORMS"] = str(total)
    return data


# --- the console -----------------------------------------------------------------------------
def test_the_gallery_inline_removes_adds_and_resorts_through_the_services(
    console_as: Console,
) -> None:
    # given a product with images A, B, C (A is the cover), and an operator
    product, (a, b, c) = product_with_images(3)
    assert cover_of(product) == a.image.name
    client = console_as("ops_staff")
    before = LogEntry.objects.count()
    # when they remove A, move C to the front and add D at the end, in one save
    data = change_form(
        product,
        [a, b, c],
        **{
            "0": {"DELETE": "on"},
            "2": {"sort": "-1"},
            "3": {"sort": "9", "image": SimpleUploadedFile("d.jpg", jpeg((0, 0, 200)))},
        },
    )
    response = client.post(f"/console/catalog/product/{product.pk}/change/", data)
    # then the gallery is C, B, D and C is the cover
    assert response.status_code == 302, response.content[:2000]
    names = gallery(product)
    assert names[:2] == [c.image.name, b.image.name]
    assert len(names) == 3
    assert cover_of(product) == c.image.name
    # and every change has its audit row naming the operator
    new = LogEntry.objects.order_by("pk")[before:]
    assert {entry.actor_id for entry in new} == {client.operator.pk}
    image_type = ContentType.objects.get_for_model(ProductImage)
    product_type = ContentType.objects.get_for_model(Product)
    kinds = {
        (entry.content_type_id, entry.action, tuple(sorted(entry.changes_dict)))
        for entry in new
        if entry.content_type_id == image_type.pk
        or "images" in entry.changes_dict
        or "cover" in entry.changes_dict
    }
    assert (image_type.pk, LogEntry.Action.DELETE, ("id", "image", "product", "sort")) in kinds
    assert (image_type.pk, LogEntry.Action.CREATE, ("id", "image", "product", "sort")) in kinds
    assert (product_type.pk, LogEntry.Action.UPDATE, ("images",)) in kinds
    assert (product_type.pk, LogEntry.Action.UPDATE, ("cover",)) in kinds
    reorder = next(e for e in new if "images" in e.changes_dict)
    assert reorder.changes_dict["images"][1][:2] == [c.image.name, b.image.name]
    deleted = next(e for e in new if e.action == LogEntry.Action.DELETE)
    assert deleted.object_pk == str(a.pk)


def test_replacing_the_first_image_in_the_console_keeps_its_place_and_moves_the_cover(
    console_as: Console,
) -> None:
    # given images A, B
    product, (a, b) = product_with_images(2)
    client = console_as("ops_staff")
    # when A's file is replaced
    upload = SimpleUploadedFile("new.jpg", jpeg((0, 200, 0)))
    data = change_form(product, [a, b], **{"0": {"image": upload}})
    response = client.post(f"/console/catalog/product/{product.pk}/change/", data)
    # then the same row holds a new file, still first, and the cover follows
    assert response.status_code == 302, response.content[:2000]
    replaced = ProductImage.objects.get(pk=a.pk)
    assert replaced.image.name != a.image.name
    assert gallery(product) == [replaced.image.name, b.image.name]
    assert cover_of(product) == replaced.image.name
    (update,) = rows(ProductImage, object_pk=str(a.pk), action=LogEntry.Action.UPDATE)
    assert update.actor_id == client.operator.pk
    assert update.changes_dict["image"] == [a.image.name, replaced.image.name]


def test_a_read_only_role_cannot_change_the_gallery(console_as: Console) -> None:
    product, (a, b) = product_with_images(2)
    data = change_form(product, [a, b], **{"0": {"DELETE": "on"}})
    response = console_as("customer_service").post(
        f"/console/catalog/product/{product.pk}/change/", data
    )
    assert response.status_code == 403
    assert gallery(product) == [a.image.name, b.image.name]


# --- the services ----------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["customer_service", "analyst", "finance"])
def test_the_image_services_refuse_operators_without_catalog_manage(role: str) -> None:
    # given a product with two images and an operator who may only look
    product, (a, b) = product_with_images(2)
    reader = factories.operator_with_role(role)
    before = LogEntry.objects.count()
    # when / then every image service refuses
    with pytest.raises(Forbidden):
        services.add_image(product=product, upload=jpeg(), actor=reader)
    with pytest.raises(Forbidden):
        services.replace_image(image=a, upload=jpeg(), actor=reader)
    with pytest.raises(Forbidden):
        services.remove_image(image=a, actor=reader)
    with pytest.raises(Forbidden):
        services.reorder_images(product=product, sorts={b.pk: -5}, actor=reader)
    # and nothing changed or was logged
    assert gallery(product) == [a.image.name, b.image.name]
    assert cover_of(product) == a.image.name
    assert LogEntry.objects.count() == before


def test_removing_the_last_image_clears_the_cover_and_is_audited() -> None:
    product, (only,) = product_with_images(1)
    operator = factories.operator_with_role("ops_staff")
    services.remove_image(image=only, actor=operator)
    assert cover_of(product) == ""
    assert not ProductImage.objects.exists()
    (deleted,) = rows(ProductImage, object_pk=str(only.pk), action=LogEntry.Action.DELETE)
    assert deleted.actor_id == operator.pk
    (cover,) = [
        e
        for e in rows(Product, object_pk=str(product.pk), actor=operator)
        if "cover" in e.changes_dict
    ]
    assert cover.changes_dict["cover"] == [only.image.name, ""]


def test_reordering_refuses_another_products_image_and_changes_nothing() -> None:
    product, (a, b) = product_with_images(2)
    _other, (foreign,) = product_with_images(1)
    with pytest.raises(InvalidInput):
        services.reorder_images(product=product, sorts={b.pk: -1, foreign.pk: -2}, actor=None)
    assert gallery(product) == [a.image.name, b.image.name]
    assert ProductImage.objects.get(pk=foreign.pk).sort == 0


@pytest.mark.parametrize("sort", [True, "1", 10**7])
def test_reordering_refuses_a_bad_position(sort: Any) -> None:
    product, (a, b) = product_with_images(2)
    with pytest.raises(InvalidInput):
        services.reorder_images(product=product, sorts={b.pk: sort}, actor=None)
    assert gallery(product) == [a.image.name, b.image.name]


def test_a_reorder_that_changes_nothing_writes_no_row() -> None:
    product, (a, b) = product_with_images(2)
    before = LogEntry.objects.count()
    services.reorder_images(product=product, sorts={a.pk: 0, b.pk: 1}, actor=None)
    assert LogEntry.objects.count() == before


def test_a_thirteenth_image_is_refused() -> None:
    product, _images = product_with_images(services.MAX_IMAGES)
    with pytest.raises(Conflict) as refused:
        services.add_image(product=product, upload=jpeg(), actor=None)
    assert "image" in refused.value.fields
    assert product.images.count() == services.MAX_IMAGES
