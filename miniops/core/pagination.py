"""Paginating a queryset whose rows are shaped by a function, lazily: only the
slice a page takes is fetched and transformed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Mapped:
    def __init__(self, queryset: Any, transform: Callable[[Any], Any]) -> None:
        self.queryset = queryset
        self.transform = transform

    def __len__(self) -> int:
        return int(self.queryset.count())

    def __getitem__(self, item: slice) -> list[Any]:
        return [self.transform(row) for row in self.queryset[item]]
