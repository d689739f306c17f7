"""The routers and what every marketing endpoint shares."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from ninja import Path, Router

from miniops.orders.schemas import OrderOut
from miniops.orders.selectors import order_detail

#: a group's share code (``secrets.token_urlsafe``)
GROUP_CODE = Path(..., min_length=4, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
router = Router(tags=["marketing"])
manage_router = Router(tags=["manage: marketing"])


def _json(status: int, body: bytes) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="application/json")


def _order(order: Any) -> dict[str, Any]:
    return OrderOut(**order_detail(order)).dict()
