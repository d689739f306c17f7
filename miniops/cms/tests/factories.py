"""Objects for the CMS tests and the permission matrix (written through the services)."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from miniops.testing import factories


def png(colour: str = "#d33", size: tuple[int, int] = (60, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def manager() -> Any:
    return factories.operator_with_role("super_admin")


def banner(**fields: Any) -> Any:
    from miniops.cms import services

    fields.setdefault("title", "春季上新")
    fields.setdefault("image", png())
    return services.save_banner(actor=manager(), **fields)


def article(**fields: Any) -> Any:
    from miniops.cms import services

    fields.setdefault("title", "新品指南")
    fields.setdefault("body", "<p>本周新品 <strong>限时</strong> 优惠。</p>")
    fields.setdefault("status", "published")
    return services.save_article(actor=manager(), **fields)


def home_section(kind: str = "banners", **fields: Any) -> Any:
    from miniops.cms import services

    return services.save_section(actor=manager(), kind=kind, **fields)
