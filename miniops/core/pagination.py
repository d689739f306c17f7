"""Paginating API lists: ``@paginate(Pagination)`` (limit/offset, bounded), and
``Mapped`` for a queryset whose rows are shaped by a function, lazily: only the
slice a page takes is fetched and transformed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination


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
