"""Shared pieces of the catalog console."""

from __future__ import annotations

from django.utils.html import format_html

from miniops.core.permissions import P

MANAGE: dict[str, str | None] = {
    "view": P.CATALOG_VIEW,
    "add": P.CATALOG_MANAGE,
    "change": P.CATALOG_MANAGE,
    "delete": P.CATALOG_MANAGE,
}


def _thumb(url: str | None, size: int = 40) -> str:
    if not url:
        return "—"
    return format_html(
        '<img src="{}" width="{}" height="{}" style="object-fit:cover;border-radius:4px" alt="">',
        url,
        size,
        size,
    )
