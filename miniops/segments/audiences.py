"""The ``segment`` kind of ``miniops.core.audiences`` (coupon issue,
notifications and CMS list segments with their counts): ``segment:<id>``."""

from __future__ import annotations

import importlib
from typing import Any


def _choices() -> list[Any]:
    from miniops.segments.selectors import active

    audiences = importlib.import_module("miniops.core.audiences")
    return [
        audiences.Audience(
            ref=f"segment:{segment.pk}",
            label=segment.name,
            count=segment.member_count,
        )
        for segment in active()
    ]


def _id(ref: Any) -> int:
    from miniops.core.errors import InvalidInput

    text = str(ref).removeprefix("segment:")
    if not text.isdigit():
        raise InvalidInput(code="unknown_audience")
    return int(text)


def _member_ids(ref: Any) -> Any:
    from miniops.segments.selectors import get, member_ids

    return member_ids(get(_id(ref)).pk)


def _count(ref: Any) -> int:
    from miniops.segments.selectors import count, get

    return count(get(_id(ref)).pk)


def register() -> None:
    try:
        audiences = importlib.import_module("miniops.core.audiences")
    except ImportError:  # the registry lands on main separately
        return
    from django.utils.translation import gettext_lazy as _

    audiences.register(
        "segment", label=_("Segment"), choices=_choices, member_ids=_member_ids, count=_count
    )
