"""Uploaded images: checked by content (not by name), bounded, re-encoded.

Re-encoding with Pillow drops anything that is not pixels (EXIF with GPS
positions, embedded scripts, polyglot payloads) and normalises the format.
Files go through Django's storage: the local filesystem by default, S3-compatible
object storage when ``MEDIA_STORAGE=s3`` (django-storages).
"""

from __future__ import annotations

import io
import uuid
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from miniops.core.errors import InvalidInput

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
MAX_SIDE = 2400
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}


def reencode_image(data: bytes, *, max_side: int = MAX_SIDE) -> tuple[bytes, str]:
    """Validate and re-encode; returns (bytes, extension)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(
            fields={"image": _("Images must be at most %d MB.") % (MAX_IMAGE_BYTES // 1024 // 1024)}
        )
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format
            width, height = probe.size
        if fmt not in ALLOWED_FORMATS:
            raise InvalidInput(fields={"image": _("Use a JPEG, PNG, WebP or GIF image.")})
        if width * height > MAX_PIXELS:
            raise InvalidInput(fields={"image": _("The image has too many pixels.")})
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
            image.thumbnail((max_side, max_side))
            has_alpha = image.mode in ("RGBA", "LA") or (
                image.mode == "P" and "transparency" in image.info
            )
            out = io.BytesIO()
            if has_alpha:
                image.convert("RGBA").save(out, "PNG", optimize=True)
                return out.getvalue(), "png"
            image.convert("RGB").save(out, "JPEG", quality=85, optimize=True, progressive=True)
            return out.getvalue(), "jpg"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInput(fields={"image": _("This file is not a readable image.")}) from exc


def save_image(upload: Any, *, folder: str) -> str:
    """Store an uploaded image (file object or bytes) and return its storage name."""
    data = upload if isinstance(upload, bytes) else upload.read()
    content, extension = reencode_image(data)
    name = f"{folder.strip('/')}/{uuid.uuid4().hex}.{extension}"
    return default_storage.save(name, ContentFile(content))
