"""Paginating API lists: ``@paginate(Pagination)`` (limit/offset, bounded), and
``Mapped`` for a queryset whose rows are shaped by a function, lazily: only the
slice a page takes is fetched and transformed."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

from miniops.core.errors import InvalidInput


class Pagination(LimitOffsetPagination):
    """``?limit=`` (1-200, default 50) and ``?offset=`` (at most a million: deeper
    pages are an export's job); answers ``{"items": [...], "count": n}``."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=200)
        offset: int = Field(0, ge=0, le=1_000_000)


class Mapped:
    def __init__(self, queryset: Any, transform: Callable[[Any], Any]) -> None:
        self.queryset = queryset
        self.transform = transform

    def __len__(self) -> int:
        return int(self.queryset.count())

    def __getitem__(self, item: slice) -> list[Any]:
        return [self.transform(row) for row in self.queryset[item]]


# --- keyset cursors: "(sort value, id) the page ended at", opaque to clients -------------------
def encode_cursor(value: Any, pk: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    return base64.urlsafe_b64encode(orjson.dumps([value, pk])).decode().rstrip("=")


def _fits(value: Any, kind: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return abs(value) < 2**63
    return kind == "number"


def decode_cursor(cursor: str, kind: str) -> tuple[Any, int]:
    """The (sort value, id) of ``cursor``; the value must be of ``kind``: "time" (a
    datetime), "int" (a 64-bit integer) or "number" (an integer or a float), else
    ``InvalidInput`` on ``cursor``."""
    try:
        value, pk = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(pk, bool) or not isinstance(pk, int) or not 0 < pk < 2**63:
            raise ValueError
        if kind == "time":
            value = parse_datetime(value) if isinstance(value, str) else None
            if value is None:
                raise ValueError
        elif not _fits(value, kind):
            raise ValueError
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput(fields={"cursor": gettext("Invalid cursor.")}) from exc
    return value, pk
