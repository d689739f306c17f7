"""Uploaded images: checked by content (not by name), bounded, re-encoded.

Re-encoding with Pillow drops anything that is not pixels (EXIF with GPS
positions, embedded scripts, polyglot payloads) and normalises the format.
Files go through Django's storage: the local filesystem by default, S3-compatible
object storage when ``MEDIA_STORAGE=s3`` (django-storages). The API gives their
addresses through ``public_url``: absolute under ``PUBLIC_BASE_URL``, as a
mini-program needs them.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

from django.conf import settings
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


def public_url(name: str | None) -> str | None:
    """The address a client loads the stored file ``name`` from (None for none):
    the one function the API builds media URLs with."""
    return absolute_url(default_storage.url(name)) if name else None


def absolute_url(url: str) -> str:
    """``url`` under ``PUBLIC_BASE_URL`` when it is relative to this server
    (``/media/…``, local storage); absolute URLs (object storage, a CDN) and an
    empty ``PUBLIC_BASE_URL`` leave it as it is."""
    base = settings.PUBLIC_BASE_URL
    if base and url.startswith("/") and not url.startswith("//"):
        return base + url
    return url


def save_image(upload: Any, *, folder: str) -> str:
    """Store an uploaded image (file object or bytes) and return its storage name."""
    data = upload if isinstance(upload, bytes) else upload.read()
    content, extension = reencode_image(data)
    name = f"{folder.strip('/')}/{uuid.uuid4().hex}.{extension}"
    return default_storage.save(name, ContentFile(content))
