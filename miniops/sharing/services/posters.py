"""Posters for Moments: the target's image, title and price, the sharer's
nickname and the mini-program code, drawn with Pillow.

Chinese text needs a font with CJK glyphs. miniops does not ship one in the
wheel; it uses ``MINIOPS_POSTER_FONT`` or the first of the system fonts below —
Debian's ``fonts-wqy-microhei`` (WenQuanYi Micro Hei, Apache-2.0 or GPLv3 with
the font exception, so it may be installed next to us and embedded in images)
or Noto Sans CJK (OFL). With none, Pillow's built-in font draws Latin text and
the poster says so in the log once (Chinese would show as boxes): the code and
the price stay readable.
"""

from __future__ import annotations

import hashlib
import io
import logging
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from miniops.core.money import fen_to_yuan
from miniops.sharing import targets
from miniops.sharing.models import ShareLink
from miniops.sharing.services.links import QR_WIDTH, minicode

logger = logging.getLogger("miniops.sharing")

FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
WIDTH, HEIGHT = 750, 1200
POSTER_VERSION = "1"


def font_path() -> str | None:
    """The CJK font posters use, or None (Pillow's built-in Latin font)."""
    for candidate in (settings.MINIOPS_POSTER_FONT, *FONT_PATHS):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


@lru_cache(maxsize=16)
def _font(size: int) -> Any:
    path = font_path()
    if path is None:
        logger.warning("no CJK font found for posters; set MINIOPS_POSTER_FONT")
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def _open_image(name: str) -> Image.Image | None:
    if not name or name.startswith(("http://", "https://")):
        return None
    try:
        with default_storage.open(name) as handle:
            image = Image.open(io.BytesIO(handle.read()))
            image.load()
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def _cover(image: Image.Image, size: int) -> Image.Image:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size))


def render(card: targets.Card, *, nickname: str, code: str, qr_png: bytes) -> bytes:
    """The poster's PNG bytes."""
    poster = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(poster)
    picture = _open_image(card.image)
    if picture is not None:
        poster.paste(_cover(picture, WIDTH), (0, 0))
    else:
        draw.rectangle((0, 0, WIDTH, WIDTH), fill="#f2f3f5")
    y = WIDTH + 24
    for line in textwrap.wrap(card.title or code, width=18)[:2]:
        draw.text((32, y), line, fill="#1f2329", font=_font(36))
        y += 50
    if card.price_fen is not None:
        draw.text((32, y + 8), f"¥{fen_to_yuan(card.price_fen)}", fill="#e02e24", font=_font(48))
    qr = Image.open(io.BytesIO(qr_png)).convert("RGB").resize((220, 220))
    poster.paste(qr, (WIDTH - 220 - 32, HEIGHT - 220 - 40))
    footer = f"{nickname[:16]} 推荐" if nickname else "好友推荐"
    draw.text((32, HEIGHT - 160), footer, fill="#646a73", font=_font(30))
    draw.text((32, HEIGHT - 110), "长按识别小程序码", fill="#8f959e", font=_font(26))
    draw.text((32, HEIGHT - 70), code, fill="#c9cdd4", font=_font(22))
    out = io.BytesIO()
    poster.save(out, "PNG", optimize=True)
    return out.getvalue()


def poster(link: ShareLink) -> str:
    """The storage name of the link's poster: drawn when the target, its price or
    the nickname changed, kept otherwise. NotFound when the target is gone."""
    card = targets.describe(link.target_type, link.target_id, link.page)
    nickname = link.sharer.nickname
    digest = hashlib.sha256(
        "|".join(
            [POSTER_VERSION, link.code, card.title, card.image, str(card.price_fen), nickname]
        ).encode()
    ).hexdigest()[:24]
    name = f"sharing/posters/{link.code}-{digest}.png"
    if default_storage.exists(name):
        return name
    qr_name = minicode(link, width=QR_WIDTH)
    with default_storage.open(qr_name) as handle:
        qr_png = handle.read()
    data = render(card, nickname=nickname, code=link.code, qr_png=qr_png)
    return default_storage.save(name, ContentFile(data))
