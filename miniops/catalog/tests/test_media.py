"""Uploaded images: checked by content, bounded, re-encoded (no EXIF, no payloads),
and stored for products, categories and brands."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from miniops.catalog import services
from miniops.catalog.models import Product, ProductImage
from miniops.core import media
from miniops.core.errors import InvalidInput
from miniops.testing import factories


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (no real pixel data)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def jpeg_with_exif(size: tuple[int, int] = (40, 20), orientation: int = 1) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 0.0), 3: "E", 4: (116.0, 23.0, 0.0)}  # GPS
    return encode(image, "JPEG", exif=exif.tobytes())


# --- refusals ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello, not an image", id="text"),
        pytest.param(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", id="pdf"),
        pytest.param(
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>', id="svg"
        ),
        pytest.param(b"GIF89a" + b"\x00" * 3, id="truncated-gif-header"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, id="broken-png"),
    ],
)
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        media.reencode_image(data)
    assert set(caught.value.fields) == {"image"}


def test_a_truncated_jpeg_is_refused() -> None:
    whole = encode(Image.new("RGB", (300, 300), (1, 2, 3)), "JPEG")
    with pytest.raises(InvalidInput):
        media.reencode_image(whole[: len(whole) // 3])


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO"])
def test_images_in_other_formats_are_refused(fmt: str) -> None:
    data = encode(Image.new("RGB", (16, 16), (0, 0, 255)), fmt)
    with pytest.raises(InvalidInput) as caught:
        media.reencode_image(data)
    assert "image" in caught.value.fields


def test_oversized_files_are_refused_before_decoding() -> None:
    # given a valid JPEG padded past the size limit
    data = encode(Image.new("RGB", (8, 8)), "JPEG")
    data += b"\x00" * (media.MAX_IMAGE_BYTES + 1 - len(data))
    assert len(data) == media.MAX_IMAGE_BYTES + 1
    # when / then
    with pytest.raises(InvalidInput) as caught:
        media.reencode_image(data)
    assert "image" in caught.value.fields


def test_a_file_just_under_the_limit_is_accepted() -> None:
    data = encode(Image.new("RGB", (8, 8)), "JPEG")
    padded = data + b"\x00" * (media.MAX_IMAGE_BYTES - len(data))
    _, extension = media.reencode_image(padded)
    assert extension == "jpg"


def test_too_many_pixels_are_refused_from_the_header() -> None:
    # given a small file claiming 8000 x 6000 (48 M pixels > 40 M)
    data = png_header_only(8000, 6000)
    assert len(data) < 200
    # when / then
    with pytest.raises(InvalidInput) as caught:
        media.reencode_image(data)
    assert "image" in caught.value.fields


def test_a_real_decompression_bomb_is_refused() -> None:
    # given a tiny 1-bit PNG that decodes to 7000 x 7000 pixels
    data = encode(Image.new("1", (7000, 7000)), "PNG", optimize=True)
    assert len(data) < media.MAX_IMAGE_BYTES
    # when / then
    with pytest.raises(InvalidInput):
        media.reencode_image(data)


def test_a_header_beyond_pillows_own_bomb_limit_is_refused() -> None:
    with pytest.raises(InvalidInput):
        media.reencode_image(png_header_only(100_000, 100_000))


# --- re-encoding ---------------------------------------------------------------------------
def test_exif_is_stripped() -> None:
    # given
    data = jpeg_with_exif()
    assert opened(data).getexif().get(0x010F) == "SpyCam Inc."
    # when
    out, extension = media.reencode_image(data)
    # then
    assert extension == "jpg"
    result = opened(out)
    assert result.format == "JPEG"
    assert dict(result.getexif()) == {}
    assert b"SpyCam" not in out
    assert b"Exif" not in out


def test_the_exif_orientation_is_applied_before_it_is_dropped() -> None:
    # given a 40 x 20 picture marked "rotate 90°"
    out, _ = media.reencode_image(jpeg_with_exif((40, 20), orientation=6))
    # then the pixels are turned upright
    assert opened(out).size == (20, 40)


def test_png_with_alpha_stays_png_with_alpha() -> None:
    # given a half-transparent PNG
    image = Image.new("RGBA", (30, 30), (255, 0, 0, 0))
    image.paste((0, 255, 0, 255), (0, 0, 15, 30))
    # when
    out, extension = media.reencode_image(encode(image, "PNG"))
    # then
    assert extension == "png"
    result = opened(out)
    assert (result.format, result.mode) == ("PNG", "RGBA")
    assert result.getpixel((25, 5))[3] == 0
    assert result.getpixel((5, 5)) == (0, 255, 0, 255)


def test_a_gif_with_transparency_becomes_png() -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    out, extension = media.reencode_image(encode(image, "GIF", transparency=0))
    assert extension == "png"
    assert opened(out).format == "PNG"


def test_jpeg_stays_jpeg() -> None:
    out, extension = media.reencode_image(encode(Image.new("RGB", (50, 40), (9, 9, 9)), "JPEG"))
    assert extension == "jpg"
    result = opened(out)
    assert (result.format, result.mode, result.size) == ("JPEG", "RGB", (50, 40))


@pytest.mark.parametrize(("fmt", "mode"), [("PNG", "RGB"), ("WEBP", "RGB"), ("GIF", "P")])
def test_opaque_images_are_normalised_to_jpeg(fmt: str, mode: str) -> None:
    out, extension = media.reencode_image(encode(Image.new(mode, (12, 12)), fmt))
    assert extension == "jpg"
    assert opened(out).format == "JPEG"


def test_large_images_are_shrunk_keeping_their_shape() -> None:
    data = encode(Image.new("RGB", (3000, 1500), (5, 5, 5)), "JPEG")
    out, _ = media.reencode_image(data)
    assert opened(out).size == (media.MAX_SIDE, media.MAX_SIDE // 2)
    small, _ = media.reencode_image(data, max_side=300)
    assert opened(small).size == (300, 150)


def test_a_payload_appended_after_the_image_is_dropped() -> None:
    data = encode(Image.new("RGB", (20, 20)), "JPEG") + b"<script>alert(1)</script>"
    out, _ = media.reencode_image(data)
    assert b"<script>" not in out


# --- storing -------------------------------------------------------------------------------
@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def test_save_image_stores_the_reencoded_file(media_root: Path) -> None:
    # given an upload named like a script
    upload = SimpleUploadedFile("evil.php", jpeg_with_exif(), content_type="image/jpeg")
    # when
    name = media.save_image(upload, folder="/catalog/products/")
    # then
    assert name.startswith("catalog/products/")
    assert name.endswith(".jpg")
    assert "evil" not in name
    assert (media_root / name).is_file()
    with default_storage.open(name) as stored:
        data = stored.read()
    assert b"SpyCam" not in data
    assert opened(data).format == "JPEG"
    # and bytes work as well
    assert media.save_image(encode(Image.new("RGBA", (4, 4)), "PNG"), folder="x").endswith(".png")


@pytest.mark.django_db
def test_product_images_set_the_cover(media_root: Path) -> None:
    # given
    product = factories.product()
    first_upload = encode(Image.new("RGB", (20, 20), (255, 0, 0)), "JPEG")
    # when
    first = services.add_image(product=product, upload=first_upload, actor=None)
    second = services.add_image(product=product, upload=first_upload, actor=None)
    # then
    assert (first.sort, second.sort) == (0, 1)
    assert Product.objects.get(pk=product.pk).cover == first.image.name
    # when the first goes
    first.delete()
    services.refresh_cover(product)
    # then
    assert Product.objects.get(pk=product.pk).cover == second.image.name


@pytest.mark.django_db
def test_a_bad_product_image_is_refused_and_nothing_is_stored(media_root: Path) -> None:
    product = factories.product()
    with pytest.raises(InvalidInput):
        services.add_image(product=product, upload=b"<?php system($_GET['c']); ?>", actor=None)
    assert not ProductImage.objects.exists()
    assert Product.objects.get(pk=product.pk).cover == ""
    assert not any(media_root.rglob("*.*"))


@pytest.mark.django_db
def test_category_icons_and_brand_logos_are_reencoded(media_root: Path) -> None:
    png = encode(Image.new("RGBA", (8, 8), (1, 2, 3, 100)), "PNG")
    category = services.save_category(actor=None, name="图标", icon=png)
    assert category.icon.name.startswith("catalog/categories/")
    assert category.icon.name.endswith(".png")
    brand = services.save_brand(actor=None, name="带标", logo=jpeg_with_exif())
    assert brand.logo.name.startswith("catalog/brands/")
    with default_storage.open(brand.logo.name) as stored:
        assert b"SpyCam" not in stored.read()
    # an empty value clears the icon
    cleared = services.save_category(actor=None, category=category, name="图标", icon=b"")
    assert cleared.icon.name == ""
    with pytest.raises(InvalidInput):
        services.save_brand(actor=None, name="坏标", logo=b"not an image")
