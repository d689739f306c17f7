"""The ``segment`` audience kind (``segment:<id>``): coupon issue, push
campaigns and CMS sections target segments through ``miniops.core.audiences``
without importing segments. Member ids come from the current membership
version; counts from the segment row (kept by every recompute)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from miniops.core import audiences
from miniops.segments import selectors
from miniops.segments.models import Segment


def _segment(ref: str) -> Segment:
    text = str(ref).strip()
    segment = Segment.objects.filter(pk=int(text)).first() if text.isdigit() else None
    if segment is None or not segment.is_active:
        raise audiences.UnknownAudience(
            _("No active segment has the id “%(ref)s”.") % {"ref": text[:40]},
            fields={"audience": _("Pick an audience from the list.")},
        )
    return segment


def _choices() -> list[audiences.Choice]:
    return [
        audiences.Choice(str(segment.pk), segment.name, segment.member_count)
        for segment in selectors.active()
    ]


def _member_ids(ref: str) -> list[int]:
    return list(selectors.member_ids(_segment(ref).pk))


def _count(ref: str) -> int:
    return selectors.count(_segment(ref).pk)


def _contains(ref: str, member_id: int) -> bool:
    return selectors.is_member(_segment(ref).pk, member_id)


def _describe(ref: str) -> str:
    return str(_("Segment: %(name)s") % {"name": _segment(ref).name})


def register() -> None:
    audiences.register(
        "segment",
        label=_("Segment"),
        choices=_choices,
        member_ids=_member_ids,
        count=_count,
        contains=_contains,
        describe=_describe,
    )
